"""Micro-batches close on size or on delay, whichever first (faust `take_events`), observed
through the worker's own batch-size histogram on a real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.dev.sample import generate
from tests.integration.harness import Env, Worker, produce, sample_value, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _batches(worker: Worker) -> tuple[float, float, float]:
    text = worker.metrics()
    count = sample_value(text, "finsent_batch_size_count") or 0
    le8 = sample_value(text, "finsent_batch_size_bucket", {"le": "8.0"}) or 0
    total = sample_value(text, "finsent_batch_size_sum") or 0
    return count, le8, total


def test_size_trigger_caps_batches_and_delay_trigger_flushes_small_ones(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = Env(
        kafka_bootstrap,
        tmp_path,
        overrides={
            "FINSENT_MAX_BATCH": "8",
            "FINSENT_MAX_DELAY_MS": "200",
            "FINSENT_PARTITIONS": "1",
        },
    )
    env.create_topics()
    topic = env.settings().news_topic
    now = int(time.time() * 1000)
    worker = Worker(env)
    try:
        worker.wait_ready()
        burst = list(generate(120, now, spacing_ms=10, seed=3))
        produce(env, topic, [(r["id"].encode(), json.dumps(r).encode(), None) for r in burst])
        wait_for(lambda: _batches(worker)[2] >= 120, timeout_s=120)
        count, le8, total = _batches(worker)
        assert total == 120
        assert le8 == count  # no batch larger than max_batch
        assert count >= 120 / 8  # so the size trigger split the burst

        # Three records, far below max_batch: only the delay trigger can flush them.
        trickle = list(generate(3, now + 10_000, seed=4))
        t0 = time.monotonic()
        produce(env, topic, [(r["id"].encode(), json.dumps(r).encode(), None) for r in trickle])
        wait_for(lambda: _batches(worker)[2] >= 123, timeout_s=30, interval_s=0.1)
        assert time.monotonic() - t0 < 10
    finally:
        worker.stop()
