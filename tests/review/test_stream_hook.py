"""The scoring stage's review hook (pipeline/stream/handlers.py): the picked items go to the
review topic keyed by item id, the counters count them and what the bucket refused, and the
selection state is kept only once the batch is stored. Doubles from `pipeline.testing`; the
core, metrics and symbol table are real (the broker path: tests/integration/test_review_loop.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from pipeline.core.review import ReviewConfig
from pipeline.stream.handlers import handle_raw_batch
from pipeline.stream.runtime import ReviewSelection, Runtime
from pipeline.stream.topics import Topics
from pipeline.testing import Event, FixedScorer, InMemoryTopic, Message, stream_runtime

TS = 1_714_564_800_000
UNSURE = (0.4, 0.35, 0.25)  # confidence 0.4


def _runtime(
    cfg: ReviewConfig, probs: tuple[float, float, float] = UNSURE
) -> tuple[Runtime, Topics]:
    rt, topics = stream_runtime(scorer=FixedScorer(probs))
    return replace(rt, review=ReviewSelection.of(cfg)), topics


def _ev(item_id: str, text: str, offset: int, ts: int = TS) -> Event:
    raw = json.dumps({"id": item_id, "text": text, "published_at": ts}).encode()
    return Event(Message("news.raw", raw, b"k", 0, offset, ts / 1000))


def _sample(rt: Runtime, name: str, reason: str) -> float | None:
    return rt.metrics.registry.get_sample_value(name, {"reason": reason})


BATCH = [
    _ev("a", "$AAPL Apple shares jump after earnings", 0),
    _ev("a-rt", "RT @trader: $AAPL Apple shares jump after earnings", 1),  # the same story
    _ev("b", "$MSFT Microsoft cuts jobs", 2),
    _ev("c", "$TSLA Tesla recalls cars", 3),
    _ev("d", "Weather is nice today", 4),  # no ticker: never scored, never reviewed
]


def test_picked_items_go_to_the_review_topic_keyed_by_item_id() -> None:
    cfg = ReviewConfig(confidence_below=0.6, sample_rate=0.0, max_per_minute=2)
    rt, topics = _runtime(cfg)
    asyncio.run(handle_raw_batch(rt, topics, BATCH))
    sent: list[dict[str, Any]] = topics.review_topic.sent  # type: ignore[attr-defined]
    assert [m["key"] for m in sent] == [b"a", b"b"]
    recs = [json.loads(m["value"]) for m in sent]
    assert [(r["reason"], r["tickers"]) for r in recs] == [
        ("low_confidence", ["AAPL"]),
        ("low_confidence", ["MSFT"]),
    ]
    assert recs[0]["model_confidence"] == pytest.approx(0.4)
    assert recs[0]["model_version"] == "fixed-1" and recs[0]["event_ms"] == TS
    assert _sample(rt, "finsent_review_items_total", "low_confidence") == 2
    assert _sample(rt, "finsent_review_rate_limited_total", "low_confidence") == 1  # c
    assert rt.review.state.remembered() == 2


def test_a_confident_model_sends_nothing_and_review_off_sends_nothing() -> None:
    rt, topics = _runtime(ReviewConfig(sample_rate=0.0), probs=(0.9, 0.05, 0.05))
    asyncio.run(handle_raw_batch(rt, topics, BATCH))
    assert topics.review_topic.sent == []  # type: ignore[attr-defined]
    assert len(topics.scored_topic.sent) == 4  # type: ignore[attr-defined]
    rt, topics = _runtime(ReviewConfig(max_per_minute=0))
    asyncio.run(handle_raw_batch(rt, topics, BATCH))
    assert topics.review_topic.sent == []  # type: ignore[attr-defined]
    assert _sample(rt, "finsent_review_rate_limited_total", "low_confidence") == 0


class _FailingTopic(InMemoryTopic):
    """A topic whose broker refuses every record."""

    async def send(self, **kwargs: Any) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_exception(RuntimeError("broker refused"))
        return fut


def test_the_state_is_kept_only_once_the_batch_is_stored() -> None:
    cfg = ReviewConfig(confidence_below=0.6, sample_rate=0.0, max_per_minute=10)
    rt, topics = _runtime(cfg)
    before = rt.review.state
    failing = replace(topics, review_topic=_FailingTopic("review"))
    with pytest.raises(RuntimeError, match="broker refused"):
        asyncio.run(handle_raw_batch(rt, failing, BATCH))
    assert rt.review.state is before  # the failed batch picked nothing for good
    asyncio.run(handle_raw_batch(rt, topics, BATCH))  # redelivered: picked again
    assert [m["key"] for m in topics.review_topic.sent] == [b"a", b"b", b"c"]  # type: ignore[attr-defined]
