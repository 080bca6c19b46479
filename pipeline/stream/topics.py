"""Topic declarations. Inputs are keyed by source item id; outputs by ticker (so a ticker's state
lives in exactly one partition, next to its table partition)."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from pipeline.config import Settings


@dataclass(frozen=True)
class Topics:
    """The faust topics of one worker (`declare`); tests use `pipeline.testing.InMemoryTopic`."""

    raw_topic: TopicT  # news.raw + social.raw, one stream
    dlq_topics: dict[str, TopicT]  # consumed topic name (inputs, scored) -> its dead-letter topic
    scored_topic: TopicT
    aggregates_topic: TopicT
    alerts_topic: TopicT
    alert_marks_topic: TopicT  # false-positive marks (API), keyed by alert id
    review_topic: TopicT  # items picked for human labelling


def declare(app: faust.App, settings: Settings) -> Topics:
    """Declare every topic the agents read or write, as raw bytes (the handlers decode)."""

    def topic(*names: str, acks: bool = True) -> TopicT:
        """A topic of raw bytes both ways (the handlers decode and encode); `acks=False` for a
        consumed topic, whose offsets faust must never commit."""
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
        alert_marks_topic=topic(settings.alert_marks_topic),
        review_topic=topic(settings.review_topic),
    )
