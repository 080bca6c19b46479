"""`finsent_items_consumed_total{source}` takes its value from the configured list, never from
the payload: a feed with many sources makes at most len(FINSENT_SOURCES) + 2 series."""

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


def test_payload_sources_beyond_the_list_count_as_other() -> None:
    s = Settings(_env_file=None, sources="newswire,reddit")  # type: ignore[call-arg]
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
        metrics=PipelineMetrics.create(
            CollectorRegistry(), s.watchlist_set(), sources=s.sources_set()
        ),
    )
    sources = ["newswire", "Reddit", *(f"blog{i}" for i in range(40))]
    events = [
        Event(
            Message(
                "news.raw",
                json.dumps(
                    {"id": str(i), "text": "$AAPL up", "published_at": TS, "source": src}
                ).encode(),
                b"k",
                0,
                i,
                TS / 1000,
            )
        )
        for i, src in enumerate(sources)
    ]
    events.append(Event(Message("news.raw", b"{broken", b"k", 0, len(sources), TS / 1000)))
    asyncio.run(handle_raw_batch(rt, topics, events))
    got = {
        sample.labels["source"]: sample.value
        for fam in rt.metrics.registry.collect()
        if fam.name == "finsent_items_consumed"
        for sample in fam.samples
        if sample.name.endswith("_total")
    }
    assert got == {"newswire": 1, "reddit": 1, "other": 40, "invalid": 1}
