"""FINSENT_UPDATE_INTERVAL_MS on a real worker and broker: open windows' updates go out between
commits, so a long commit interval (fewer changelog writes) need not mean stale windows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kafka import TopicPartition

from pipeline.kafka_clients import consumer
from tests.integration.harness import Env, Worker, json_values, produce, read_to_end, wait_for

pytestmark = [pytest.mark.kafka]


def test_open_window_updates_are_published_before_anything_is_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = Env(
        kafka_bootstrap,
        tmp_path,
        overrides={"FINSENT_COMMIT_INTERVAL_MS": "60000", "FINSENT_UPDATE_INTERVAL_MS": "200"},
    )
    env.create_topics()
    s = env.settings()
    worker = Worker(env)
    try:
        worker.wait_ready()
        now = int(time.time() * 1000)
        text = "$AAPL shares rose after strong quarterly results"
        rows = [{"id": f"u{i}", "published_at": now + i, "text": text} for i in range(3)]
        produce(env, s.news_topic, [(None, json.dumps(r).encode(), None) for r in rows])

        def open_updates() -> list[dict] | None:
            values = json_values(read_to_end(env, s.aggregates_topic))
            ups = [v for v in values if v.get("ticker") == "AAPL" and v.get("final") is False]
            return ups if any(u["count"] == 3 for u in ups) else None  # all three folded

        updates = wait_for(open_updates, timeout_s=50, interval_s=0.5)
        c = consumer(s, group_id=s.app_id)  # not subscribed: never joins the worker's group
        try:
            committed = [c.committed(TopicPartition(s.scored_topic, p)) for p in range(2)]
        finally:
            c.close()
        # the first commit is a minute after the start: the updates did not wait for it
        assert committed == [None, None]
        assert all(u["window"] in s.windows.split(",") for u in updates)
    finally:
        worker.stop()
