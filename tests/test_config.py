"""Configuration that tells you what is wrong: every FINSENT_* value is checked when `Settings()`
is built, a bad one is ONE line naming the variable, the value and what is accepted, and an
unknown FINSENT_* name is warned about with the closest real one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_SOURCES, Settings, unknown_env
from pipeline.errors import ConfigError, FinsentError

pytestmark = pytest.mark.usefixtures("clean_finsent_env")


def _error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings()
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("FINSENT_WINDOWS", "5x", "1m,5m,1h,1d"),
        ("FINSENT_WINDOWS", "1h,,1d", "1m,5m,1h,1d"),
        ("FINSENT_WINDOWS", "0m,1h", "above zero"),
        ("FINSENT_WINDOWS", "1h,1h", "twice"),
        ("FINSENT_GRACE", "one minute", "ms|s|m|h|d"),
        ("FINSENT_HALF_LIVES", "1h,1week", "1m,5m,1h,1d"),
        ("FINSENT_NOVELTY_TTL", "0", "above zero"),
        ("FINSENT_MAX_FUTURE_SKEW", "-1d", "ms|s|m|h|d"),
        ("FINSENT_BASELINE_WINDOW", "2h", "FINSENT_WINDOWS"),
        ("FINSENT_SECURITY_PROTOCOL", "SASL_SSl", "SASL_SSL"),
        ("FINSENT_SECURITY_PROTOCOL", "sasl_ssl", "case-sensitive"),
        ("FINSENT_SECURITY_PROTOCOL", "TLS", "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ("FINSENT_SASL_MECHANISM", "SCRAM-SHA-1", "SCRAM-SHA-512"),
        ("FINSENT_PROVIDER", "gpu", "auto, cpu, cuda"),
        ("FINSENT_PROVIDER", "CUDA", "cuda"),
        ("FINSENT_PARTITIONS", "0", "greater than or equal to 1"),
        ("FINSENT_MAX_BATCH", "lots", "valid integer"),
        ("FINSENT_MODEL_BATCH", "-16", "greater than or equal to 1"),
        ("FINSENT_INTRA_OP_THREADS", "0", "greater than or equal to 1"),
        ("FINSENT_WEB_PORT", "70000", "less than or equal to 65535"),
        ("FINSENT_STALL_AFTER_S", "0", "greater than 0"),
        ("FINSENT_COMMIT_INTERVAL_MS", "10", "greater than or equal to 50"),
        ("FINSENT_UPDATE_INTERVAL_MS", "10", "greater than or equal to 50"),
        ("FINSENT_UPDATE_INTERVAL_MS", "2000", "at most FINSENT_COMMIT_INTERVAL_MS (1000)"),
        ("FINSENT_WEB_CANONICAL_URL", "worker-0:6066", "http://host:port"),
        ("FINSENT_API_ALERTS_HORIZON", "a week", "ms|s|m|h|d"),
        ("FINSENT_API_SCORE_MAX_TEXTS", "0", "greater than or equal to 1"),
        ("FINSENT_WATCHLIST", "", "empty"),
        ("FINSENT_WATCHLIST", " , ", "empty"),
        ("FINSENT_BOOTSTRAP_SERVERS", "kafka:90x2", "host:port"),
        ("FINSENT_BOOTSTRAP_SERVERS", "a:9092,,b:9092", "host:port"),
        ("FINSENT_NEWS_TOPIC", "news raw", "Kafka name"),
        ("FINSENT_SOURCES", "", "source names"),
        ("FINSENT_NAMESPACE", "re play", "A-Z a-z 0-9 . _ -"),
    ],
)
def test_bad_value_is_one_line_naming_variable_value_and_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepted: str
) -> None:
    msg = _error(monkeypatch, name, value)
    assert msg.startswith(f"{name}={value!r} is invalid: "), msg
    assert accepted in msg, msg
    assert "pydantic" not in msg and "validation error" not in msg


def test_config_error_is_a_finsent_error() -> None:
    assert issubclass(ConfigError, FinsentError)


def test_two_bad_values_both_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_PARTITIONS", "0")
    msg = _error(monkeypatch, "FINSENT_GRACE", "x")
    assert "FINSENT_PARTITIONS='0'" in msg and "FINSENT_GRACE='x'" in msg


def test_password_value_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    # An unparseable value cannot come from the environment for a str; build one directly.
    with pytest.raises(ConfigError) as info:
        Settings(sasl_password=["hunter2"])  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value) and "FINSENT_SASL_PASSWORD='***'" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FINSENT_WINDOWS", "1m,15m,1h,1d"),
        ("FINSENT_WINDOWS", "1h"),
        ("FINSENT_GRACE", "0"),
        ("FINSENT_GRACE", "90s"),
        ("FINSENT_HALF_LIVES", "30m,1d"),
        ("FINSENT_MAX_FUTURE_SKEW", "250ms"),
        ("FINSENT_SECURITY_PROTOCOL", "SASL_SSL"),
        ("FINSENT_SECURITY_PROTOCOL", "SSL"),
        ("FINSENT_BOOTSTRAP_SERVERS", "b-1.kafka:9096,b-2.kafka:9096,[::1]:9092"),
        ("FINSENT_BOOTSTRAP_SERVERS", "kafka"),
        ("FINSENT_WATCHLIST", "AAPL"),
        ("FINSENT_MAX_DELAY_MS", "0"),
    ],
)
def test_good_values_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    s = Settings()
    assert str(getattr(s, name.removeprefix("FINSENT_").lower())) == value


def test_defaults_are_valid_and_unchanged() -> None:
    s = Settings()
    assert (s.windows, s.grace, s.half_lives, s.security_protocol) == (
        "1m,5m,1h,1d",
        "1m",
        "1h,1d",
        "PLAINTEXT",
    )
    assert (s.partitions, s.max_batch, s.model_batch, s.web_port) == (4, 256, 16, 6066)
    assert s.sources == DEFAULT_SOURCES
    assert s.core_config(()).aggregation.windows_ms["1h"] == 3_600_000


def test_settings_stay_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.partitions = 8  # type: ignore[misc]


def test_dotenv_values_are_validated_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FINSENT_GRACE=soon\n")
    with pytest.raises(ConfigError, match="FINSENT_GRACE='soon'"):
        Settings()


# -- namespaces (FINSENT_NAMESPACE): a replay's own topics, consumer group and changelogs --------

LIVE_TOPICS = {
    "news_topic": "news.raw",
    "social_topic": "social.raw",
    "scored_topic": "sentiment.scored",
    "aggregates_topic": "sentiment.aggregates",
    "alerts_topic": "sentiment.alerts",
    "alert_marks_topic": "sentiment.alert_marks",
    "review_topic": "sentiment.review",
}


def _topics(s: Settings) -> dict[str, str]:
    return {name: getattr(s, name) for name in LIVE_TOPICS}


def test_no_namespace_is_live_and_unchanged() -> None:
    s = Settings()
    assert s.namespace == ""
    assert _topics(s) == LIVE_TOPICS
    assert s.app_id == "finsent"


def test_a_namespace_prefixes_every_topic_and_suffixes_the_app_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.stream.admin import topic_names

    monkeypatch.setenv("FINSENT_NAMESPACE", "replay")
    s = Settings()
    assert _topics(s) == {name: f"replay.{t}" for name, t in LIVE_TOPICS.items()}
    assert s.topics_in() == ("replay.news.raw", "replay.social.raw")
    # the consumer group and the table changelogs (<app_id>-<table>-changelog) are faust's app id
    assert s.app_id == "finsent-replay"
    # every topic `finsent topics` creates, the DLQs derived from the inputs included
    names = topic_names(s)
    assert names and all(n.startswith("replay.") for n in names)
    assert {"replay.news.raw.dlq", "replay.sentiment.scored.dlq"} <= set(names)
    assert not set(names) & set(topic_names(Settings(namespace="")))


def test_a_namespace_applies_to_configured_names_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_NEWS_TOPIC", "prod.news")
    monkeypatch.setenv("FINSENT_APP_ID", "finsent-eu")
    s = Settings(namespace="bt-2014")
    assert (s.news_topic, s.social_topic, s.app_id) == (
        "bt-2014.prod.news",
        "bt-2014.social.raw",
        "finsent-eu-bt-2014",
    )
    # an explicit empty namespace overrides FINSENT_NAMESPACE: `finsent replay --live`
    monkeypatch.setenv("FINSENT_NAMESPACE", "replay")
    assert (Settings(namespace="").news_topic, Settings().news_topic) == (
        "prod.news",
        "replay.prod.news",
    )


def test_a_namespaced_name_is_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_NAMESPACE", "replay")
    msg = _error(monkeypatch, "FINSENT_NEWS_TOPIC", "news raw")
    assert msg.startswith("FINSENT_NEWS_TOPIC='news raw' is invalid: "), msg  # the user's value
    monkeypatch.delenv("FINSENT_NEWS_TOPIC")
    msg = _error(monkeypatch, "FINSENT_NAMESPACE", "x" * 245)  # a valid name, too long a prefix
    assert "FINSENT_NEWS_TOPIC=" in msg and "a FINSENT_NAMESPACE prefix included" in msg, msg


# -- unknown variables --------------------------------------------------------------------------


def test_unknown_names_get_the_closest_setting() -> None:
    got = dict(
        unknown_env(
            [
                "FINSENT_MAXBATCH",
                "FINSENT_WINDOW",
                "FINSENT_BOOTSTRAP_SERVER",
                "FINSENT_ZZZQQQ",
                "FINSENT_MAX_BATCH",  # a setting
                "FINSENT_CACHE",  # read by kafka_local, not a setting
                "FINSENT_TEST_BOOTSTRAP",
                "PATH",
            ]
        )
    )
    assert got == {
        "FINSENT_MAXBATCH": "FINSENT_MAX_BATCH",
        "FINSENT_WINDOW": "FINSENT_WINDOWS",
        "FINSENT_BOOTSTRAP_SERVER": "FINSENT_BOOTSTRAP_SERVERS",
        "FINSENT_ZZZQQQ": None,
    }


def test_unknown_variable_warned_once_per_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINSENT_MAXBATCH", "1024")
    s = Settings()
    assert s.max_batch == 256  # ignored, as pydantic-settings does: but now said
    Settings()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "finsent: warning: FINSENT_MAXBATCH is not a finsent setting and is ignored; "
        "did you mean FINSENT_MAX_BATCH?"
    ]


def test_unknown_variable_in_dotenv_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("FINSENT_SECURITY_PROTOCLO=SSL\n")
    Settings()
    assert "FINSENT_SECURITY_PROTOCLO is not a finsent setting" in capsys.readouterr().err
    Settings(_env_file=None)  # type: ignore[call-arg]


def test_k8s_style_secret_files_checked_only_when_connecting(tmp_path: Path) -> None:
    s = Settings(ssl_cafile=tmp_path / "ca.crt")  # a pod's mounted file: not here at build time
    with pytest.raises(ConfigError, match="FINSENT_SSL_CAFILE=.*no such file"):
        s.require_files()
    (tmp_path / "ca.crt").write_text("x")
    s.require_files()


# -- through the CLI: exit 2, one line, before any broker connection ---------------------------


def _cli(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("command", "name", "value"),
    [
        (("worker",), "FINSENT_WINDOWS", "5x"),
        (("topics",), "FINSENT_SECURITY_PROTOCOL", "SASL_SSl"),
        (("worker",), "FINSENT_WATCHLIST", ""),
        (("replay", "x.jsonl", "--topic", "news.raw"), "FINSENT_PROVIDER", "gpu"),
    ],
)
def test_cli_bad_setting_exits_2_with_one_line(
    clean_finsent_env: dict[str, str], command: tuple[str, ...], name: str, value: str
) -> None:
    # A broker address where nothing listens: reaching it would take 30 s and say "Kafka".
    out = _cli(
        clean_finsent_env, *command, **{name: value, "FINSENT_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"finsent {command[0]}: error: {name}={value!r} is invalid: ")
    assert "Kafka" not in lines[0]


def test_cli_warns_about_a_misspelt_variable(clean_finsent_env: dict[str, str]) -> None:
    out = _cli(
        clean_finsent_env, "replay", "missing.jsonl", "--topic", "news.raw", FINSENT_PARTITONS="2"
    )
    assert "FINSENT_PARTITONS is not a finsent setting" in out.stderr
    assert "did you mean FINSENT_PARTITIONS?" in out.stderr


# -- replay / backtest: missing files and feeds with only bad rows ----------------------------


def test_replay_missing_file_is_one_line_exit_2(clean_finsent_env: dict[str, str]) -> None:
    out = _cli(clean_finsent_env, "replay", "/no/such/feed.jsonl", "--topic", "news.raw")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "finsent replay: error: no such feed file: /no/such/feed.jsonl"
    ]


def test_replay_with_only_bad_rows_exits_non_zero(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    feed = tmp_path / "bad.jsonl"
    feed.write_text('not json\n{"id": "1"}\n' + json.dumps({"id": "2", "text": 3}) + "\n")
    out = _cli(clean_finsent_env, "replay", str(feed), "--topic", "news.raw")
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("finsent replay: error: no valid record in ")
    assert "all 3 rows are bad" in last
    assert out.stderr.count("skipped ") == 3  # each bad row still reported with file:line
    assert "Kafka" not in out.stderr  # refused before connecting


def test_backtest_with_only_bad_rows_exits_non_zero(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    feed = tmp_path / "bad.jsonl"
    feed.write_text("not json\n")
    (tmp_path / "prices").mkdir()
    out = _cli(
        clean_finsent_env, "backtest", str(feed), "--prices", str(tmp_path / "prices"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "no valid record" in out.stderr and "Traceback" not in out.stderr


def test_backtest_missing_prices_folder_is_one_line(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    out = _cli(
        clean_finsent_env, "backtest", "f.jsonl", "--prices", "/no/prices", "--out", str(tmp_path)
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "finsent backtest: error: --prices /no/prices: no such folder"
    ]


def test_backtest_prices_folder_without_files_is_one_line_before_scoring(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": "1", "text": "$AAPL up", "published_at": 1_700_000_000_000}) + "\n"
    )
    (tmp_path / "prices").mkdir()
    out = _cli(
        clean_finsent_env,
        "backtest",
        str(feed),
        "--prices",
        str(tmp_path / "prices"),
        "--out",
        str(tmp_path / "out"),
        FINSENT_MODEL_DIR="/no/model",  # never reached: the prices are read first
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("finsent backtest: error: --prices ") and "price files" in line


def test_rules_on_a_window_that_is_not_configured_are_one_clear_error() -> None:
    """The shipped rules read the 1h window: without it the core would fail on every record."""
    from pipeline.rules import load_ticker_rules

    s = Settings(_env_file=None, windows="15m,4h", baseline_window="4h")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"reads window 1h, which FINSENT_WINDOWS=15m,4h"):
        s.core_config(load_ticker_rules(s.rules_path))
    ok = Settings(_env_file=None)  # type: ignore[call-arg]
    assert ok.core_config(load_ticker_rules(ok.rules_path)).rules


def test_a_rules_decay_is_read_from_the_yaml(tmp_path: Path) -> None:
    from pipeline.rules import load_ticker_rules

    path = tmp_path / "rules.yaml"
    path.write_text(
        "ticker_rules:\n  - {name: Slow, signal: decayed_score, op: '<', threshold: -0.5, "
        "window: 1h, decay: 1d}\n"
    )
    assert load_ticker_rules(path)[0].decay == "1d"
    s = Settings(_env_file=None, half_lives="1h")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="reads half-life 1d, which FINSENT_HALF_LIVES=1h"):
        s.core_config(load_ticker_rules(path))


def test_a_z_score_rule_must_read_the_baseline_window() -> None:
    """z-scores exist for the baseline window only (the core and the Prometheus gauges alike): a
    rule on another window would fire in-stream and never in Prometheus."""
    from pipeline.core.alerts import Rule

    rule = Rule(name="Z4h", signal="sentiment_z", op="<", threshold=-3.0, window="1d")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="z-scores exist for FINSENT_BASELINE_WINDOW=1h only"):
        s.core_config((rule,))
    padded = Settings(_env_file=None, baseline_window=" 1h")  # type: ignore[call-arg]
    assert padded.core_config(()).aggregation.baseline_window == "1h"
