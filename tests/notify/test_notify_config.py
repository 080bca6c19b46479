"""`finsent notify`'s settings: each mistake is one line naming the FINSENT_* variable, the value
(secrets masked) and what is accepted; the command exits 2 before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.errors import ConfigError


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_notify_without_a_target_says_which_variable(
    capsys: pytest.CaptureFixture[str], clean_finsent_env: dict[str, str]
) -> None:
    assert main(["notify"]) == 2
    err = _error_line(capsys)
    assert err.startswith("finsent notify: error: FINSENT_NOTIFY_TARGET_URL is not set")
    assert "FINSENT_NOTIFY_TARGET_URL_FILE" in err


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FINSENT_NOTIFY_FORMAT", "Slack", "FINSENT_NOTIFY_FORMAT='Slack' is invalid: expected "
         "one of slack, json, case-sensitive (did you mean slack?)"),
        ("FINSENT_NOTIFY_API_URL", "finsent-worker:6066", "FINSENT_NOTIFY_API_URL="
         "'finsent-worker:6066' is invalid: expected an http(s) URL"),
        ("FINSENT_NOTIFY_TARGET_URL", "hooks.slack.com/T0/B0/secret", "FINSENT_NOTIFY_TARGET_URL="
         "'***' is invalid: expected an http(s) URL"),
        ("FINSENT_NOTIFY_TIMEOUT_S", "0", "FINSENT_NOTIFY_TIMEOUT_S='0' is invalid"),
        ("FINSENT_NOTIFY_HEADLINES", "50", "FINSENT_NOTIFY_HEADLINES='50' is invalid"),
    ],
)  # fmt: skip
def test_a_bad_notify_setting_is_one_line(
    variable: str,
    value: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["notify"]) == 2
    err = _error_line(capsys)
    assert expected in err
    assert "secret" not in err  # a webhook URL is a credential


def test_target_from_a_mounted_file(tmp_path: Path, clean_finsent_env: dict[str, str]) -> None:
    secret = tmp_path / "url"
    secret.write_text("https://hooks.example/T0/B0/xyz\n")
    assert Settings(notify_target_url_file=secret).notify_target() == (
        "https://hooks.example/T0/B0/xyz"
    )
    secret.write_text("not a url")
    with pytest.raises(ConfigError, match="expected the file to hold an http"):
        Settings(notify_target_url_file=secret).notify_target()
    with pytest.raises(ConfigError, match="FINSENT_NOTIFY_TARGET_URL_FILE='.*missing' is inv"):
        Settings(notify_target_url_file=tmp_path / "missing").notify_target()


def test_notify_is_a_listed_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "notify" in capsys.readouterr().out


def test_a_missing_api_token_file_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    """Reads behind the token (FINSENT_API_READ_AUTH) need the file; Kafka's files are not
    asked for (the enricher never talks to Kafka)."""
    monkeypatch.setenv("FINSENT_NOTIFY_TARGET_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("FINSENT_SASL_PASSWORD_FILE", str(tmp_path / "not-mounted-here"))
    monkeypatch.setenv("FINSENT_API_READ_AUTH", "true")
    monkeypatch.setenv("FINSENT_API_TOKEN_FILE", str(tmp_path / "token"))
    assert main(["notify"]) == 2
    err = _error_line(capsys)
    assert "FINSENT_API_TOKEN_FILE=" in err and "no such file" in err


def test_a_port_in_use_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("FINSENT_NOTIFY_TARGET_URL", "http://127.0.0.1:9/hook")
        monkeypatch.setenv("FINSENT_WEB_HOST", "127.0.0.1")
        monkeypatch.setenv("FINSENT_NOTIFY_PORT", str(port))
        assert main(["notify"]) == 2
    err = _error_line(capsys)
    assert f"FINSENT_NOTIFY_PORT={port} is invalid: cannot listen on 127.0.0.1:{port}" in err
