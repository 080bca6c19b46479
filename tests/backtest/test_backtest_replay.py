"""Replay: records keyed by item id, event time as timestamp and value, speed-factor schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.records import Item
from pipeline.core.validate import parse_item
from pipeline.replay import encode, publish, resolve_topic
from pipeline.testing import InMemoryProducer

T0 = 1_700_000_000_000


def _items(offsets_ms: list[int]) -> list[Item]:
    return [
        Item(
            id=f"i{n}",
            source="wire",
            published_at_ms=T0 + o,
            text=f"text {n}",
            provider_tickers=("AAPL",),
        )
        for n, o in enumerate(offsets_ms)
    ]


def test_encode_round_trips_through_the_worker_parser() -> None:
    item = _items([5])[0]
    key, value, ts = encode(item)
    assert key == b"i0" and ts == T0 + 5
    assert json.loads(value)["published_at"] == T0 + 5
    assert parse_item(value) == item


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_speed_sleeps_event_gaps_divided_by_speed() -> None:
    clock, sent = FakeClock(), []
    n = publish(
        _items([0, 60_000, 60_000, 180_000]),
        lambda k, v, t: sent.append(t),
        speed=60,
        clock=clock,
        sleep=clock.sleep,
    )
    assert n == 4 and sent == [T0, T0 + 60_000, T0 + 60_000, T0 + 180_000]
    assert clock.sleeps == pytest.approx([1.0, 2.0])


def test_as_fast_as_possible_never_sleeps() -> None:
    clock = FakeClock()
    assert publish(_items([0, 10**9]), lambda *a: None, clock=clock, sleep=clock.sleep) == 2
    assert clock.sleeps == []


def test_bad_speed_and_topic_names() -> None:
    with pytest.raises(ValueError):
        publish(_items([0]), lambda *a: None, speed=0)
    assert resolve_topic("news.raw", "p.news.raw", "p.social.raw") == "p.news.raw"
    assert resolve_topic("social.raw", "p.news.raw", "p.social.raw") == "p.social.raw"
    assert resolve_topic("other", "a", "b") == "other"


def test_replay_command_reports_bad_rows_and_counts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pipeline import kafka_clients, replay
    from pipeline.cli import main

    f = tmp_path / "feed.jsonl"
    f.write_text(
        "\n".join(
            [
                json.dumps({"id": "b", "text": "Apple up", "published_at": T0 + 10}),
                "{broken",
                json.dumps({"id": "a", "text": "Apple down", "published_at": T0}),
                json.dumps({"id": "c", "text": "", "published_at": T0}),
            ]
        )
        + "\n"
    )
    fake = InMemoryProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    monkeypatch.setattr(replay, "prepare_topic", lambda *a: [])  # tests/test_replay.py
    monkeypatch.setenv("FINSENT_NEWS_TOPIC", "x.news.raw")
    assert main(["replay", str(f), "--topic", "news.raw", "--no-progress", "--live"]) == 0
    out, err = capsys.readouterr()
    assert f"{f}:2: not_json" in err and f"{f}:4: empty_text" in err
    assert "replayed 2 records to x.news.raw; skipped 2 bad rows" in out
    assert [(t, k, ts) for t, k, _v, ts in fake.sent] == [
        ("x.news.raw", b"a", T0),
        ("x.news.raw", b"b", T0 + 10),
    ]
    assert fake.flushed and fake.closed


def test_a_send_that_failed_after_its_retries_fails_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """kafka-python's flush does not raise for it: without checking each send, the replay said
    "replayed 3" with one record missing from the broker."""
    from pipeline import kafka_clients, replay
    from pipeline.cli import main

    f = tmp_path / "feed.jsonl"
    rows = [{"id": str(i), "text": "Apple up", "published_at": T0 + i} for i in range(3)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake = InMemoryProducer(fail_from=2)
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    monkeypatch.setattr(replay, "prepare_topic", lambda *a: [])
    assert main(["replay", str(f), "--topic", "news.raw", "--no-progress", "--live"]) == 2
    out, err = capsys.readouterr()
    assert "replayed" not in out
    assert err.strip().splitlines()[-1].startswith("finsent replay: error: sending to news.raw")
    assert fake.closed
