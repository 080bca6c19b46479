"""`finsent replay` loses nothing and stays out of live: the retention check on the target topic
(a pure function, then on a real broker), and the namespace a replay writes into by default."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.replay import (
    RETENTION_MARGIN_MS,
    check_retention,
    replay_settings,
    target_topic,
    worker_hint,
)
from tests.test_config import LIVE_TOPICS  # the live default names, written once

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
NOW_MS = 1_750_000_000_000  # 2025-06-15T15:06Z
JAN_2014_MS = 1_388_620_800_000  # 2014-01-02T00:00Z


# -- the retention check, as a pure function ------------------------------------------------------


def test_create_time_with_finite_retention_refuses_an_old_feed_in_one_line() -> None:
    config = {"message.timestamp.type": "CreateTime", "retention.ms": str(WEEK_MS)}
    line = check_retention("news.raw", config, JAN_2014_MS, NOW_MS)
    assert line == (
        "message.timestamp.type=CreateTime with retention.ms=604800000 on news.raw: records "
        "dated before 2025-06-09T15:06Z would be deleted by time retention; recreate the topic "
        "with finsent topics or set message.timestamp.type=LogAppendTime"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"message.timestamp.type": "LogAppendTime", "retention.ms": str(WEEK_MS)},
        {"message.timestamp.type": "CreateTime", "retention.ms": "-1"},
        {"message.timestamp.type": "CreateTime", "cleanup.policy": "compact"},
    ],
    ids=["log-append-time", "no-time-retention", "compacted"],
)
def test_topics_that_keep_old_records_pass(config: dict[str, str]) -> None:
    assert check_retention("t", config, JAN_2014_MS, NOW_MS) is None


def test_retention_must_cover_the_oldest_record_plus_the_margin() -> None:
    age = 3 * DAY_MS
    enough = {
        "message.timestamp.type": "CreateTime",
        "retention.ms": str(age + RETENTION_MARGIN_MS),
    }
    short = {**enough, "retention.ms": str(age + RETENTION_MARGIN_MS - 1)}
    assert check_retention("t", enough, NOW_MS - age, NOW_MS) is None
    assert check_retention("t", short, NOW_MS - age, NOW_MS) is not None
    # compact,delete still deletes by time
    both = {**short, "cleanup.policy": "compact,delete"}
    assert check_retention("t", both, NOW_MS - age, NOW_MS) is not None


def test_a_key_the_broker_left_out_means_kafkas_default() -> None:
    """Kafka's defaults are CreateTime and 7 days: an unconfigured topic deletes a 2014 feed."""
    line = check_retention("t", {}, JAN_2014_MS, NOW_MS)
    assert line is not None and "CreateTime with retention.ms=604800000 on t:" in line


# -- where a replay writes ------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    from pipeline import replay

    parser = argparse.ArgumentParser()
    replay.configure(parser)
    return parser.parse_args(["feed.jsonl", "--topic", "news.raw", *argv])


@pytest.mark.usefixtures("clean_finsent_env")
def test_a_replay_goes_to_its_own_namespace_unless_live(monkeypatch: pytest.MonkeyPatch) -> None:
    assert replay_settings(_args()).namespace == "replay"
    assert replay_settings(_args("--namespace", "bt")).news_topic == "bt.news.raw"
    assert replay_settings(_args("--live")).news_topic == "news.raw"
    monkeypatch.setenv("FINSENT_NAMESPACE", "eu-replay")
    assert replay_settings(_args()).namespace == "eu-replay"  # FINSENT_NAMESPACE before `replay`
    assert replay_settings(_args("--live")).namespace == ""
    with pytest.raises(SystemExit):
        _args("--live", "--namespace", "bt")  # one or the other


@pytest.mark.usefixtures("clean_finsent_env")
def test_an_explicit_topic_is_namespaced_too() -> None:
    s = Settings(namespace="replay")
    assert target_topic("news.raw", s) == "replay.news.raw"
    assert target_topic("social.raw", s) == "replay.social.raw"
    assert target_topic("prod.news", s) == "replay.prod.news"  # never a live topic by accident
    assert target_topic("prod.news", Settings(namespace="")) == "prod.news"
    hint = worker_hint(s)
    assert hint.startswith("next: FINSENT_NAMESPACE=replay finsent worker ")
    assert "finsent-replay" in hint and "replay.sentiment.aggregates" in hint
    assert "\n" not in hint


# -- on a real broker -----------------------------------------------------------------------------


def _feed_2014(tmp_path: Path, n: int = 3) -> Path:
    rows = [
        {"id": f"n{i}", "text": f"Apple shares rise {i}", "published_at": JAN_2014_MS + i * 60_000}
        for i in range(n)
    ]
    f = tmp_path / "feed-2014.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


@pytest.fixture
def broker(
    kafka_bootstrap: str, clean_finsent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, list[str]]]:
    """Live settings on the (shared) test broker with every topic name and the app id of this
    test only; the topics appended to the list are deleted afterwards, never another's."""
    from pipeline.kafka_clients import admin

    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FINSENT_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("FINSENT_APP_ID", f"{prefix}-finsent")
    for name, topic in LIVE_TOPICS.items():
        monkeypatch.setenv(f"FINSENT_{name.upper()}", f"{prefix}.{topic}")
    monkeypatch.setenv("FINSENT_PARTITIONS", "1")
    settings = Settings()
    made: list[str] = []
    yield settings, made
    ours = [t for t in made if prefix in t]
    assert ours == made, "a test may delete only its own topics"
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        gone = [t for t in ours if t in existing]
        if gone:
            client.delete_topics(gone)
    finally:
        client.close()


def _topic_config(settings: Settings, topic: str) -> dict[str, str]:
    from kafka.admin import ConfigResource, ConfigResourceType

    from pipeline.kafka_clients import admin

    client = admin(settings)
    try:
        found = client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )
    finally:
        client.close()
    return {k: v["value"] for k, v in found["topic"][topic].items()}


@pytest.mark.kafka
def test_replay_refuses_a_create_time_topic_that_would_delete_the_feed(
    broker: tuple[Settings, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kafka.admin import NewTopic

    from pipeline.kafka_clients import admin, read_to_end

    settings, made = broker
    topic = settings.news_topic
    made.append(topic)
    client = admin(settings)
    try:
        config = {"message.timestamp.type": "CreateTime", "retention.ms": str(WEEK_MS)}
        client.create_topics([NewTopic(topic, 1, 1, topic_configs=config)])
    finally:
        client.close()

    argv = ["replay", str(_feed_2014(tmp_path)), "--topic", topic, "--live", "--no-progress"]
    assert main(argv) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith(
        f"finsent replay: error: message.timestamp.type=CreateTime with retention.ms=604800000 "
        f"on {topic}: records dated before "
    ), lines[0]
    assert lines[0].endswith("or set message.timestamp.type=LogAppendTime")
    assert out.out == ""
    assert read_to_end(settings, topic, timeout_s=30) == []  # refused before sending anything


@pytest.mark.kafka
def test_a_default_replay_creates_its_namespace_and_leaves_live_alone(
    broker: tuple[Settings, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.kafka_clients import read_to_end
    from pipeline.stream.admin import create_topics, topic_names

    live, made = broker
    ns = Settings(namespace="replay")
    made += topic_names(live) + topic_names(ns)
    create_topics(live)  # the live topics exist: the replay must not touch them

    assert main(["replay", str(_feed_2014(tmp_path)), "--topic", "news.raw", "--no-progress"]) == 0
    out = capsys.readouterr()
    target = f"replay.{live.news_topic}"
    assert ns.news_topic == target
    assert f"replayed 3 records to {target};" in out.out
    hint = out.out.strip().splitlines()[-1]
    assert hint.startswith("next: FINSENT_NAMESPACE=replay finsent worker "), out.out
    # the namespace was created as `finsent topics` creates it: inputs stamped on arrival
    assert f"created: {', '.join(topic_names(ns))}" in out.err
    assert _topic_config(live, target)["message.timestamp.type"] == "LogAppendTime"

    records = read_to_end(live, target, timeout_s=30)
    assert sorted(r.key for r in records) == [b"n0", b"n1", b"n2"]
    assert sorted(json.loads(r.value)["published_at"] for r in records) == [
        JAN_2014_MS + i * 60_000 for i in range(3)
    ]
    assert all(r.timestamp > NOW_MS for r in records)  # the broker's arrival time, not 2014
    assert read_to_end(live, live.news_topic, timeout_s=30) == []
