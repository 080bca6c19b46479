"""Fuzz through a real broker and worker (issue 10): 2,000 nasty records (tests/fuzz.py) among 600
good ones, on both input topics. The worker never crashes or stalls, every reject is on its
dead-letter topic with a reason from the closed set and its source offset, every good record
that links is scored exactly once, and the worker's memory stays bounded.

The expected verdict of each record comes from the core itself (`parse_item`, `check_arrival`,
`link`), the same code, so the test checks the stream machinery around it: nothing lost,
nothing stuck, nothing crashing."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.core.records import Item
from pipeline.core.tickers import link
from pipeline.core.validate import REASONS, check_arrival, parse_item
from pipeline.dev.bench_stream import rss_mb
from pipeline.reference import load_symbols
from pipeline.rules import load_ticker_rules
from tests.fuzz import corpus
from tests.integration.harness import Env, Worker, produce, read_to_end, scored_only, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
RSS_LIMIT_MB = 1500


def test_2000_nasty_records_no_crash_no_stall_every_reject_on_the_dlq(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = Env(kafka_bootstrap, tmp_path, overrides={"FINSENT_PARTITIONS": "4"})
    env.create_topics()
    s = env.settings()
    now = int(time.time() * 1000)
    records = list(corpus(n_nasty=2000, n_good=600, seed=20261201, now_ms=now))
    symbols, cfg = load_symbols(), s.core_config(load_ticker_rules(s.rules_path))
    expect_dlq: Counter[str] = Counter()
    expect_scored: set[str] = set()
    mentions = 0
    for value, _good in records:
        parsed = parse_item(value)
        if isinstance(parsed, Item):
            parsed = check_arrival(parsed, now, cfg.max_event_ahead_ms) or parsed
        if not isinstance(parsed, Item):
            expect_dlq[parsed.reason] += 1
            continue
        n = len(link(parsed, symbols))
        if n > cfg.max_tickers_per_item:
            expect_dlq["too_many_tickers"] += 1
        elif n:
            expect_scored.add(parsed.id)
            mentions += n
    assert sum(expect_dlq.values()) >= 1500 and len(expect_scored) >= 500  # the corpus bites

    worker = Worker(env)
    try:
        worker.wait_ready()
        half = len(records) // 2
        produce(env, s.news_topic, [(None, v, None) for v, _ in records[:half]])
        produce(env, s.social_topic, [(None, v, None) for v, _ in records[half:]])
        rss: list[float] = []

        def drained() -> bool:
            assert worker.proc.poll() is None, worker.log()  # zero crashes
            rss.append(rss_mb(worker.proc.pid))
            lag = json.loads(worker.get("/live")[1]).get("lag") or {}
            return set(lag) >= {s.news_topic, s.social_topic, s.scored_topic} and not any(
                lag.values()
            )

        wait_for(drained, timeout_s=300, interval_s=1.0)  # committed lag 0: no stall
        assert worker.get("/live")[0] == 200
    finally:
        assert worker.stop() == 0, worker.log()

    # The worker committed everything, and it commits only after its writes are acknowledged:
    # the topics are complete, so they are read to their end offsets.
    dead = [r for t in s.topics_in() for r in read_to_end(env, t + s.dlq_suffix)]
    headers = [dict(r.headers) for r in dead]
    got = Counter(h["finsent-reason"].decode() for h in headers)
    assert got == expect_dlq
    assert set(got) <= set(REASONS)
    assert all(h["finsent-source"].count(b"/") == 2 for h in headers)
    scored = [r for r in read_to_end(env, s.scored_topic) if scored_only(r)]
    ids = [json.loads(r.value)["id"] for r in scored]
    assert set(ids) == expect_scored and len(ids) == mentions  # each item x ticker once
    assert max(rss) < RSS_LIMIT_MB, f"worker RSS peaked at {max(rss):.0f} MB"
