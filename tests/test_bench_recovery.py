"""`finsent bench --recovery`'s pure parts: the feed it folds, the pooled scores, and the
changelog it writes, which must read back as the states it came from (the broker path is the
benchmark itself)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pipeline.config import Settings
from pipeline.core.scoring import score_from_probs
from pipeline.dev.bench_recovery import (
    PoolScorer,
    build_states,
    changelog_entries,
    week_feed,
)
from pipeline.stream.handlers import Tickers
from pipeline.testing import InMemoryTable


class Counting:
    """A scorer that counts what it is asked and scores by length (deterministic)."""

    version = "counting"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score(self, texts: Any, *, max_batch: int = 32) -> list[Any]:
        self.asked += list(texts)
        return [score_from_probs([0.2, 0.3, 0.5] if len(t) % 2 else [0.6, 0.3, 0.1]) for t in texts]


def test_the_feed_is_in_time_order_over_the_span_and_busy_names_come_first() -> None:
    items = week_feed(3_000, ["AAA", "BBB", "CCC", "DDD"], ["up", "down"], days=7, end_ms=10**12)
    times = [it.published_at_ms for it in items]
    assert times == sorted(times) and times[0] >= 10**12 - 7 * 86_400_000 and times[-1] < 10**12
    counts = Counter(it.text.split()[0] for it in items)
    assert counts["$AAA"] > counts["$BBB"] > counts["$DDD"]  # weight 1/rank
    assert week_feed(10, ["AAA"], ["x"], 1, 10**12) == week_feed(10, ["AAA"], ["x"], 1, 10**12)


def test_each_body_is_scored_once_and_an_item_gets_its_bodys_score() -> None:
    inner = Counting()
    pool = PoolScorer(inner, ["odd", "even", "odd"])
    assert sorted(inner.asked) == ["even", "odd"]
    got = pool.score(["$AAA odd", "$BBB even", "$CCC odd"])
    assert got[0] == got[2] != got[1] and pool.version == "counting"


def test_the_changelog_reads_back_as_the_states_it_was_written_from() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    items = week_feed(400, ["AAPL", "MSFT", "NVDA"], ["shares rose", "profit fell"], 2, 10**12)
    states = build_states(settings, items, PoolScorer(Counting(), ["shares rose", "profit fell"]))
    assert {"AAPL", "MSFT", "NVDA"} <= set(states)
    entries = changelog_entries(settings, states)
    store = InMemoryTable()
    partitions: dict[str, int] = {}
    for p, key, value in entries:
        store.data[json.loads(key)] = json.loads(value)
        partitions[json.loads(key)] = p
    read = Tickers(store, {}, {})  # type: ignore[arg-type]
    from aiokafka.partitioner import DefaultPartitioner

    parts = list(range(settings.partitions))
    for ticker, state in states.items():
        back = read.get(ticker)
        assert back is not None
        bookkeeping = ("partition", "due", "pending_count")  # what the stage adds
        assert {k: v for k, v in back.items() if k not in bookkeeping} == state
        assert partitions[ticker] == DefaultPartitioner()(ticker.encode(), parts, parts)
