"""`finsent_items_consumed_total{source}` takes its value from the configured list, never from
the payload: a feed with many sources makes at most len(FINSENT_SOURCES) + 2 series."""

from __future__ import annotations

import asyncio
import json

from pipeline.config import Settings
from pipeline.stream.handlers import handle_raw_batch
from pipeline.testing import Event, Message, stream_runtime

TS = 1_714_564_800_000


def test_payload_sources_beyond_the_list_count_as_other() -> None:
    s = Settings(_env_file=None, sources="newswire,reddit")  # type: ignore[call-arg]
    rt, topics = stream_runtime(s)
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
