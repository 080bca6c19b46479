"""The `finsent` entry point: every subcommand is reachable, and user errors are one clear line."""

import subprocess
import sys

import pytest

from pipeline.cli import COMMANDS, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command_is_an_error() -> None:
    with pytest.raises(SystemExit):
        main(["frobnicate"])


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", name, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: finsent " + name in out.stdout


def test_missing_model_is_one_line_naming_the_path(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "score", "--model", "/no/such/model", "Apple beats"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "/no/such/model" in out.stderr and "Traceback" not in out.stderr
