"""Personal data leaves the worker masked: the text on `sentiment.scored` (and so the evidence
built from it) has placeholders, while the dead-letter topic keeps the original bytes."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.reference import load_symbols
from pipeline.stream.app import Runtime
from pipeline.stream.handlers import handle_raw_batch
from pipeline.stream.topics import Topics
from pipeline.testing import Event, FixedScorer, InMemoryTopic, Message

TS = 1_714_564_800_000


def _runtime() -> tuple[Runtime, Topics]:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    topics = Topics(
        raw_topic=None,
        dlq_topics={t: InMemoryTopic(t + ".dlq") for t in (*s.topics_in(), s.scored_topic)},
        scored_topic=InMemoryTopic(s.scored_topic),
        aggregates_topic=InMemoryTopic(s.aggregates_topic),
        alerts_topic=InMemoryTopic(s.alerts_topic),
    )
    rt = Runtime(
        settings=s,
        app=None,  # type: ignore[arg-type]
        scorer=FixedScorer(),
        symbols=load_symbols(),
        core=s.core_config(),
        metrics=PipelineMetrics.create(CollectorRegistry(), s.watchlist_set(), process=False),
    )
    return rt, topics


def test_scored_text_is_masked_and_the_dlq_keeps_original_bytes() -> None:
    rt, topics = _runtime()
    good = {
        "id": "1",
        "source": "twitter",
        "published_at": TS,
        "text": "@wsb_guru $AAPL calls printing, DM me at guru@gmail.com or +1 212-555-0199",
    }
    spam = json.dumps(
        {
            "id": "2",
            "published_at": TS,
            "text": "mail me at a.b@c.com "
            + " ".join(
                f"${t}"
                for t in [
                    "AAPL",
                    "MSFT",
                    "NVDA",
                    "AMZN",
                    "GOOGL",
                    "META",
                    "TSLA",
                    "JPM",
                    "V",
                    "UNH",
                    "XOM",
                    "WMT",
                ]
            ),
        }  # fmt: skip
    ).encode()
    events = [
        Event(Message("social.raw", json.dumps(good).encode(), b"k", 0, 0, TS / 1000)),
        Event(Message("social.raw", spam, b"k", 0, 1, TS / 1000)),
    ]
    asyncio.run(handle_raw_batch(rt, topics, events))
    (scored,) = [json.loads(m["value"]) for m in topics.scored_topic.sent]
    assert scored["text"] == "[handle] $AAPL calls printing, DM me at [email] or [phone]"
    (dead,) = topics.dlq_topics["social.raw"].sent
    assert dead["headers"]["finsent-reason"] == b"too_many_tickers"
    assert dead["value"] == spam  # the original bytes, e-mail included
