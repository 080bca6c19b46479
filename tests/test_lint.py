"""Style is enforced, not suggested (STYLE.md habit 10): ruff lint + format, and mypy with
`disallow_untyped_defs` on the package code."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "pipeline", "models", "tests"],
        [sys.executable, "-m", "mypy", "pipeline", "models"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_lint(cmd: list[str]) -> None:
    if cmd[0] == "ruff" and shutil.which("ruff") is None:
        pytest.skip("ruff not installed (pip install -e '.[dev]')")
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
