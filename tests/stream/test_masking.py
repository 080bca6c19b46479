"""Personal data leaves the worker masked: the text on `sentiment.scored` (and so the evidence
built from it) has placeholders, while the dead-letter topic keeps the original bytes."""

from __future__ import annotations

import asyncio
import json

from pipeline.stream.handlers import handle_raw_batch
from pipeline.stream.runtime import Runtime
from pipeline.stream.topics import Topics
from pipeline.testing import Event, Message, stream_runtime

TS = 1_714_564_800_000


def _runtime() -> tuple[Runtime, Topics]:
    return stream_runtime()  # type: ignore[no-any-return]


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
