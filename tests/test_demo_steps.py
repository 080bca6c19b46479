"""`finsent demo`'s steps without a broker: the settings it runs on are explicit (this process'
environment is left alone), the sample feed is validated and paced in event time, and the feed
goes out through replay's `publish`, news and social to their own topics."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline.dev import demo


def test_demo_config_is_explicit_and_leaves_os_environ_alone(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    before = dict(os.environ)
    settings, env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    assert dict(os.environ) == before
    assert settings.bootstrap_servers == env["FINSENT_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert settings.web_port == 7001 and env["FINSENT_WEB_PORT"] == "7001"
    assert settings.app_id == env["FINSENT_APP_ID"] and settings.app_id.startswith("finsent-demo-")
    assert settings.data_dir == tmp_path / "worker" == Path(env["FINSENT_DATA_DIR"])
    assert settings.baseline_min_windows == 3 and env["FINSENT_BASELINE_MIN_WINDOWS"] == "3"
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment goes to the worker


def test_demo_config_keeps_the_users_own_baseline(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_BASELINE_MIN_WINDOWS", "7")
    settings, env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    assert settings.baseline_min_windows == 7 and env["FINSENT_BASELINE_MIN_WINDOWS"] == "7"


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []
        self.closed = False

    def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> None:
        self.sent.append((topic, key, timestamp_ms))

    def flush(self) -> None: ...

    def close(self) -> None:
        self.closed = True


def test_feed_publishes_in_event_time_to_news_and_social(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import kafka_clients

    fake = FakeProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    settings, _env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    items = demo.sample_items(30, 200.0, 1_700_000_000_000)
    assert [it.published_at_ms for it in items[:3]] == [1_700_000_000_000 + i * 5 for i in range(3)]
    demo.feed(settings, items, lambda: None, deadline=time.monotonic() + 1.0)
    assert [k.decode() for _t, k, _ts in fake.sent] == [it.id for it in items] and fake.closed
    for (topic, _k, ts), it in zip(fake.sent, items, strict=True):
        news = it.source == "newswire"
        assert topic == (settings.news_topic if news else settings.social_topic)
        assert ts == it.published_at_ms


def test_feed_stops_at_the_deadline(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--duration ends the feed where it is (10 items/s for 5 s of items, stopped after 0.35 s),
    and the table is redrawn while waiting."""
    from pipeline import kafka_clients

    fake = FakeProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    monkeypatch.setattr(demo, "REDRAW_S", 0.1)
    settings, _env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    redraws: list[float] = []
    t0 = time.monotonic()
    items = demo.sample_items(50, 10.0, 1_700_000_000_000)
    demo.feed(settings, items, lambda: redraws.append(time.monotonic()), deadline=t0 + 0.35)
    assert time.monotonic() - t0 < 2.0 and 2 <= len(fake.sent) <= 6 and fake.closed
    assert redraws
