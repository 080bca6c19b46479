"""The agents' glue, isolated from Kafka: bad input goes to the dead-letter topic with its reason,
a record that breaks the model is isolated without losing its batch, and the aggregate handler
writes state back to the table. Topic and event doubles only; the core, metrics and symbol table
are real (the real broker path is tests/integration/test_stream_e2e.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.core.records import Score
from pipeline.core.scoring import score_from_probs
from pipeline.metrics import PipelineMetrics
from pipeline.reference import load_symbols
from pipeline.stream.app import Runtime
from pipeline.stream.handlers import handle_raw_batch, handle_scored
from pipeline.stream.topics import Topics


@dataclass
class FakeTopic:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


@dataclass
class Msg:
    topic: str
    value: bytes
    key: bytes | None = None
    partition: int = 0
    offset: int = 0


@dataclass
class Event:
    message: Msg


class PickyScorer:
    """Scores like a model, except that it breaks on one poisonous text."""

    version = "picky-1"

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        if any("POISON" in t for t in texts):
            raise RuntimeError("model blew up")
        return [score_from_probs((0.7, 0.2, 0.1)) for _ in texts]


def _runtime() -> tuple[Runtime, Topics]:
    s = Settings()
    topics = Topics(
        raw_topic=None,
        dlq_topics={t: FakeTopic() for t in s.topics_in()},
        scored_topic=FakeTopic(),
        aggregates_topic=FakeTopic(),
        alerts_topic=FakeTopic(),
    )
    rt = Runtime(
        settings=s,
        app=None,
        scorer=PickyScorer(),
        symbols=load_symbols(),  # type: ignore[arg-type]
        core=s.core_config(),
        metrics=PipelineMetrics.create(CollectorRegistry(), s.watchlist_set()),
    )
    return rt, topics


def _ev(obj: Any, topic: str = "news.raw") -> Event:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return Event(Msg(topic, raw, b"k"))


def test_bad_records_dead_lettered_with_reason_and_poison_isolated() -> None:
    rt, topics = _runtime()
    ts = 1_714_564_800_000
    events = [
        _ev({"id": "1", "text": "$AAPL slumps", "published_at": ts}),
        _ev(b"{broken"),
        _ev({"id": "2", "text": "$MSFT POISON headline", "published_at": ts}, "social.raw"),
        _ev({"id": "3", "text": "Weather is nice", "published_at": ts}),
    ]
    asyncio.run(handle_raw_batch(rt, topics, events))
    dlq_news, dlq_social = topics.dlq_topics["news.raw"].sent, topics.dlq_topics["social.raw"].sent
    assert [d["headers"]["finsent-reason"] for d in dlq_news] == [b"not_json"]
    assert dlq_news[0]["value"] == b"{broken"
    assert [d["headers"]["finsent-reason"] for d in dlq_social] == [b"processing_error"]
    scored = [json.loads(m["value"]) for m in topics.scored_topic.sent]
    assert [(r["id"], r["ticker"]) for r in scored] == [("1", "AAPL")]  # batch survived
    reg = rt.metrics.registry
    assert reg.get_sample_value("finsent_dead_letters_total", {"reason": "processing_error"}) == 1
    assert reg.get_sample_value("finsent_items_unlinked_total") == 1


def test_scored_record_updates_table_and_publishes_windows() -> None:
    rt, topics = _runtime()
    table: dict[str, Any] = {}
    rec = {
        "id": "1",
        "source": "wire",
        "ticker": "AAPL",
        "relevance": 1.0,
        "label": "negative",
        "score": -0.6,
        "confidence": 0.7,
        "published_at_ms": 1_714_564_800_000,
        "model_version": "m",
        "text": "Apple slumps",
    }
    asyncio.run(handle_scored(rt, topics, table, _ev(rec, "sentiment.scored")))
    assert table["AAPL"]["totals"]["items"] == 1
    windows = [json.loads(m["value"]) for m in topics.aggregates_topic.sent]
    assert {w["window"] for w in windows} == {"1m", "5m", "1h", "1d"}
    assert all(
        w["mean_score"] == -0.6 and m["key"] == b"AAPL"
        for w, m in zip(windows, topics.aggregates_topic.sent, strict=True)
    )
    reg = rt.metrics.registry
    assert reg.get_sample_value("finsent_ticker_mentions_total", {"ticker": "AAPL"}) == 1
    # the same record again (at-least-once redelivery) changes nothing
    asyncio.run(handle_scored(rt, topics, table, _ev(rec, "sentiment.scored")))
    assert table["AAPL"]["totals"]["items"] == 1
    assert reg.get_sample_value("finsent_mentions_total", {"verdict": "redelivery"}) == 1


def test_cancelled_agent_finishes_its_batch_before_stopping() -> None:
    from pipeline.stream.agents import finish_even_if_stopped

    done: list[str] = []

    async def batch() -> None:
        await asyncio.sleep(0.05)
        done.append("batch")

    async def agent() -> None:
        await finish_even_if_stopped(batch())

    async def main() -> None:
        task = asyncio.ensure_future(agent())
        await asyncio.sleep(0.01)
        task.cancel()  # what faust does to agents on SIGTERM
        try:
            await task
        except asyncio.CancelledError:
            done.append("cancelled")

    asyncio.run(main())
    assert done == ["batch", "cancelled"]
