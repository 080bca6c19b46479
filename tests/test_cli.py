"""The `finsent` entry point: every subcommand is reachable, and user errors are one clear line."""

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS, main
from pipeline.core.records import Score
from pipeline.testing import InMemoryProducer


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


# -- CLI habits: --version, defaults in --help, progress bars, --json ---------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"finsent {__version__} ")
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "-V"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.startswith("finsent ")


def _help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([name, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_every_real_default(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import importlib

    from pipeline.cli import has_default

    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[name][0]).configure(parser)
    # argparse wraps long lines, also inside a path at a hyphen ("ci-\nclone"): compare without
    # any whitespace
    out = "".join(_help(name, capsys).split())
    for action in parser._actions:
        if action.option_strings and has_default(action) and action.default != "==SUPPRESS==":
            # argparse's "(default: X)", or the command's own wording ("(default %(default)s)")
            want = "".join(f"(default: {action.default})".split())
            shown = want in out or "default" in (action.help or "")
            assert shown, (name, action.option_strings, action.default)


def test_help_shows_defaults_of_options_without_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--log-level LOG_LEVEL" in (out := _help("worker", capsys))
    assert "(default: info)" in out
    assert "(default: jsonl)" in _help("replay", capsys)


def _feed(tmp_path: Path, bad: int = 1) -> Path:
    import json

    rows = [
        {"id": str(i), "text": f"Apple beats estimates {i}", "published_at": 1_700_000_000_000 + i}
        for i in range(3)
    ]
    f = tmp_path / "feed.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n" * bad)
    return f


@pytest.fixture
def fake_producer(
    monkeypatch: pytest.MonkeyPatch, clean_finsent_env: dict[str, str]
) -> InMemoryProducer:
    from pipeline import kafka_clients, replay

    p = InMemoryProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings, **kw: p)
    # the topic check is tested on a real broker (tests/test_replay.py)
    monkeypatch.setattr(replay, "prepare_topic", lambda *a: [])
    return p


def test_replay_json_summary(
    fake_producer: InMemoryProducer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["replay", str(_feed(tmp_path)), "--topic", "news.raw", "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary == {
        "topic": "replay.news.raw",
        "namespace": "replay",
        "sent": 3,
        "bad_rows": 1,
        "merged_ids": 0,
        "out_of_range": 0,
    }
    assert len(fake_producer.sent) == 3
    # the next step goes to stderr, so stdout stays one JSON object
    assert "next: FINSENT_NAMESPACE=replay finsent worker" in out.err


def test_replay_live_writes_the_live_topic(
    fake_producer: InMemoryProducer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    argv = ["replay", str(_feed(tmp_path)), "--topic", "news.raw", "--live", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["topic"] == "news.raw" and "next:" not in out.err
    assert {t for t, *_ in fake_producer.sent} == {"news.raw"}


@pytest.mark.parametrize(("tty", "bar"), [(False, False), (True, True)])
def test_replay_progress_bar_only_on_a_terminal(
    fake_producer: InMemoryProducer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tty: bool,
    bar: bool,
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    assert main(["replay", str(_feed(tmp_path, bad=0)), "--topic", "news.raw"]) == 0
    assert ("replay: " in capsys.readouterr().err) is bar


class _FakeScorer:
    version = "fake-1"
    provider = "cpu"

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        from pipeline.core.scoring import score_from_probs

        return [score_from_probs((0.6, 0.3, 0.1)) for _ in texts]

    def describe(self) -> dict[str, str]:
        return {"version": self.version}


def test_backtest_json_summary(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    import json

    pytest.importorskip("pandas")
    from pipeline.backtest import prices, report
    from pipeline.scoring.onnx import OnnxScorer

    written: list[Path] = []
    monkeypatch.setattr(OnnxScorer, "load", classmethod(lambda cls, *a, **k: _FakeScorer()))
    monkeypatch.setattr(prices, "read_prices", lambda d: None)
    monkeypatch.setattr(report, "write_all", lambda out, *a, **k: written.append(out))
    (tmp_path / "prices").mkdir()
    args = ["backtest", str(_feed(tmp_path)), "--prices", str(tmp_path / "prices")]
    assert main([*args, "--out", str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 3 and summary["bad_rows"] == 1
    assert summary["linked_items"] == 3 and summary["unique_texts_scored"] == 3
    assert summary["report"] == str(tmp_path / "out" / "report.md")
    assert written == [tmp_path / "out"]


# -- the same broker message from every command -------------------------------------------------


def test_every_command_gives_the_same_broker_message(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    import kafka
    from kafka.errors import KafkaTimeoutError

    def refuse(*a: object, **k: object) -> None:
        raise KafkaTimeoutError("Unable to bootstrap")

    monkeypatch.setattr(kafka, "KafkaAdminClient", refuse)
    monkeypatch.setattr(kafka, "KafkaProducer", refuse)
    monkeypatch.setenv("FINSENT_BOOTSTRAP_SERVERS", "broker.example:9093")
    feed = str(_feed(tmp_path, bad=0))
    messages = {}
    for argv in (["topics"], ["worker"], ["replay", feed, "--topic", "news.raw"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        prefix = f"finsent {argv[0]}: error: "
        assert err[0].startswith(prefix)
        messages[argv[0]] = err[0].removeprefix(prefix)
    assert len(set(messages.values())) == 1, messages
    assert "broker.example:9093" in messages["topics"]
    assert "FINSENT_BOOTSTRAP_SERVERS" in messages["topics"]


def test_topics_refused_after_connecting_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    from kafka.errors import InvalidReplicationFactorError

    from pipeline.stream import admin

    class Admin:
        def list_topics(self) -> list[str]:
            return []

        def create_topics(self, topics: object) -> None:
            raise InvalidReplicationFactorError()

        def close(self) -> None: ...

    monkeypatch.setattr(admin, "admin", lambda settings: Admin())
    monkeypatch.setenv("FINSENT_REPLICATION_FACTOR", "3")
    assert main(["topics"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FINSENT_REPLICATION_FACTOR" in err[0], err
