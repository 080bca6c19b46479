"""`finsent score` takes its model and provider from the settings (as the worker), flags winning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main


@pytest.fixture(autouse=True)
def _clean_env(clean_finsent_env: dict[str, str]) -> None:
    """No FINSENT_* variable or `.env` of the developer's leaks in; the cwd is an empty dir."""


def test_model_dir_comes_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINSENT_MODEL_DIR", "/no/such/model")
    assert main(["score", "Apple beats"]) == 2
    assert "/no/such/model" in capsys.readouterr().err


def test_dotenv_is_read_too(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".env").write_text("FINSENT_MODEL_DIR=/no/dotenv/model\n")
    assert main(["score", "Apple beats"]) == 2
    assert "/no/dotenv/model" in capsys.readouterr().err


def test_flags_win_over_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.scoring.onnx import DEFAULT_MODEL_DIR

    monkeypatch.setenv("FINSENT_MODEL_DIR", "/no/such/model")
    monkeypatch.setenv("FINSENT_PROVIDER", "cuda")
    assert main(["score", "--model", str(DEFAULT_MODEL_DIR), "--provider", "cpu", "ok"]) == 0
    assert "on CPUExecutionProvider" in capsys.readouterr().err


def test_empty_model_dir_means_the_shipped_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINSENT_MODEL_DIR", "")
    monkeypatch.setenv("FINSENT_PROVIDER", "cpu")
    assert main(["score", "--json", "Apple beats on revenue"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["model_version"].startswith("finsent-minilm-")


def test_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINSENT_PROVIDER", "gpu")
    assert main(["score", "x"]) == 2
    err = capsys.readouterr().err
    assert "FINSENT_PROVIDER='gpu'" in err and len(err.strip().splitlines()) == 1
