"""The stream end to end on a real Apache Kafka broker with a real worker and the shipped model:
exact per-ticker counts on /metrics and on sentiment.scored, every malformed record on the DLQ
with its reason and original bytes, nothing else lost. Restarts and other faults:
tests/integration/test_delivery.py."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.dev.sample import COMPANIES, generate, malformed
from tests.integration.harness import (
    Env,
    Worker,
    consume_all,
    produce,
    sample_value,
    scored_only,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
NAMES = {name: sym for sym, (name, _product) in COMPANIES.items()}


def intended_ticker(text: str) -> str:
    """The company the generator wrote about, read independently of the linking code."""
    (sym,) = {s for name, s in NAMES.items() if name in text}
    return sym


def feed(n: int, seed: int, start_ms: int) -> list[dict]:
    return list(generate(n, start_ms, spacing_ms=100, seed=seed))


def records_for(items: list[dict]) -> list[tuple[bytes, bytes, int]]:
    return [(r["id"].encode(), json.dumps(r).encode(), r["published_at"]) for r in items]


def test_500_records_exact_counts_dlq_and_nothing_lost(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = Env(kafka_bootstrap, tmp_path)
    env.create_topics()
    s = env.settings()
    start = int(time.time() * 1000) - 3_600_000
    items = feed(520, seed=7, start_ms=start)
    bad = list(malformed(24))
    expected = Counter(intended_ticker(r["text"]) for r in items)
    assert len(expected) >= 5

    worker = Worker(env)
    try:
        worker.wait_ready()
        news = [r for r in items if r["source"] == "newswire"]
        social = [r for r in items if r["source"] != "newswire"]
        produce(env, s.news_topic, records_for(news) + [(b"bad", raw, None) for _, raw in bad[:12]])
        produce(
            env, s.social_topic, records_for(social) + [(None, raw, None) for _, raw in bad[12:]]
        )

        def all_aggregated() -> bool:
            total = sample_value(worker.metrics(), "finsent_mentions_total", {"verdict": "new"})
            rep = sample_value(worker.metrics(), "finsent_mentions_total", {"verdict": "repeat"})
            return (total or 0) + (rep or 0) >= len(items)

        wait_for(all_aggregated, timeout_s=240)
        text = worker.metrics()
    finally:
        worker.stop()

    for ticker, n in expected.items():
        assert sample_value(text, "finsent_ticker_mentions_total", {"ticker": ticker}) == n, ticker
    assert sample_value(text, "finsent_ticker_mentions_total", {"ticker": "other"}) == 0
    for reason, n in Counter(r for r, _ in bad).items():
        assert sample_value(text, "finsent_dead_letters_total", {"reason": reason}) == n

    scored = [
        json.loads(r.value)
        for r in consume_all(env, s.scored_topic, expect=len(items), keep=scored_only)
    ]
    assert Counter(r["ticker"] for r in scored) == expected
    assert {r["id"] for r in scored} == {r["id"] for r in items}
    for r in scored:
        assert -1.0 <= r["score"] <= 1.0 and 0 < r["confidence"] <= 1.0
        assert r["label"] in ("negative", "neutral", "positive") and r["model_version"]
        assert 0 < r["relevance"] <= 1.0

    dlq = consume_all(env, s.news_topic + ".dlq", expect=12) + consume_all(
        env, s.social_topic + ".dlq", expect=12
    )
    got = sorted((dict(r.headers)["finsent-reason"].decode(), r.value) for r in dlq)
    assert got == sorted(bad)
