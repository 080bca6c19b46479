"""Topic declarations. Inputs are keyed by source item id; outputs by ticker (so a ticker's state
lives in exactly one partition, next to its table partition)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from pipeline.config import Settings


@dataclass(frozen=True)
class Topics:
    raw_topic: Any  # news.raw + social.raw, one stream
    dlq_topics: dict[str, Any]  # consumed topic name (inputs, scored) -> its dead-letter topic
    scored_topic: Any
    aggregates_topic: Any
    alerts_topic: Any


def declare(app: faust.App, settings: Settings) -> Topics:
    def topic(*names: str, acks: bool = True) -> Any:
        return app.topic(
            *names,
            key_type=bytes,
            value_type=bytes,
            value_serializer="raw",
            key_serializer="raw",
            internal=False,
            acks=acks,
        )

    consumed = (*settings.topics_in(), settings.scored_topic)
    return Topics(
        # acks=False: faust never commits what the agents consume; pipeline/stream/delivery.py
        # commits each partition's contiguous finished prefix instead.
        raw_topic=topic(*settings.topics_in(), acks=False),
        dlq_topics={t: topic(t + settings.dlq_suffix) for t in consumed},
        scored_topic=topic(settings.scored_topic, acks=False),
        aggregates_topic=topic(settings.aggregates_topic),
        alerts_topic=topic(settings.alerts_topic),
    )
