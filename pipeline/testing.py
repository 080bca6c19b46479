"""Test doubles shipped with the code, so tests isolate one piece without writing their own fakes:
a scorer with fixed probabilities, an in-memory topic that records what was sent, an in-memory
table with faust's `data` / `send_changelog` surface, and event/message stand-ins. Unit tests use
them; the proof that a feature works is always a test on the real broker and model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.core.records import Score
from pipeline.core.scoring import Scorer, score_from_probs
from pipeline.rules import load_ticker_rules

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.stream.runtime import Runtime
    from pipeline.stream.topics import Topics


class FixedScorer:
    """Scores every text with the same probabilities; raises on texts containing `poison`."""

    version = "fixed-1"

    def __init__(
        self, probs: tuple[float, float, float] = (0.7, 0.2, 0.1), poison: str | None = None
    ) -> None:
        self.probs = probs
        self.poison = poison
        self.calls = 0

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        """The fixed scores, one per text; counts calls and raises for a batch holding `poison`."""
        self.calls += 1
        if self.poison and any(self.poison in t for t in texts):
            raise RuntimeError("model blew up")
        return [score_from_probs(self.probs) for _ in texts]


@dataclass
class InMemoryTopic:
    """What `send` was called with; every send is stored at once (a resolved future)."""

    name: str = "topic"
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kwargs: Any) -> asyncio.Future[Any]:
        """Record the send's arguments; the future is already resolved, as if the broker acked."""
        self.sent.append(kwargs)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def get_topic_name(self) -> str:
        """The name, as faust's `TopicT.get_topic_name` (the handlers label metrics with it)."""
        return self.name


class SentFuture:
    """kafka-python's send future once the producer was flushed: `get` returns, or raises the
    error the send ended with after its retries."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        """Raise the send's error, if it had one."""
        if self.error is not None:
            raise self.error


@dataclass
class InMemoryProducer:
    """kafka-python's `KafkaProducer` surface as replay uses it: `send` records (topic, key,
    value, timestamp) and returns a `SentFuture`; sends from index `fail_from` on fail after
    their retries (the error is only on their futures, as with kafka-python)."""

    sent: list[tuple[str, bytes | None, bytes, int | None]] = field(default_factory=list)
    fail_from: int | None = None
    flushed: bool = False
    closed: bool = False

    def send(
        self, topic: str, *, key: bytes | None = None, value: bytes, timestamp_ms: int | None = None
    ) -> SentFuture:
        """Record the send; its future fails if this send is at or past `fail_from`."""
        from kafka.errors import KafkaTimeoutError

        failed = self.fail_from is not None and len(self.sent) >= self.fail_from
        self.sent.append((topic, key, value, timestamp_ms))
        return SentFuture(KafkaTimeoutError("expired after retries") if failed else None)

    def flush(self) -> None:
        """Nothing waits: every send is already decided."""
        self.flushed = True

    def close(self) -> None:
        """Mark the producer closed, so tests can check it was."""
        self.closed = True


@dataclass
class InMemoryTable:
    """A faust table's surface as the aggregation uses it: `get`, `data`, `send_changelog`."""

    data: dict[str, Any] = field(default_factory=dict)
    changelog: list[tuple[int, str, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        """The stored value or None, as faust's `Table.get` on a table with `default=None`."""
        return self.data.get(key)

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        """Record (partition, key, value); as with faust, the caller writes `data` itself."""
        self.changelog.append((partition, key, value))


class TopicPartition(NamedTuple):
    """Like faust's `TP` (also a NamedTuple, so the two compare and hash equal)."""

    topic: str
    partition: int


@dataclass
class Message:
    """The fields of faust's `Message` the handlers read (timestamp in seconds, as faust's); no
    headers, so `watermarks.is_watermark_record` does not apply to it."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    partition: int = 0
    offset: int = 0
    timestamp: float | None = None

    @property
    def tp(self) -> TopicPartition:
        """(topic, partition): equal to faust's `TP` of that partition, which the cursor keys by."""
        return TopicPartition(self.topic, self.partition)


@dataclass
class Event:
    """A faust event as the handlers see it: only its `message`."""

    message: Message


def watermark_event(
    reports: dict[str, tuple[int | None, bool]], partition: int = 0, offset: int = 0
) -> Event:
    """A progress report on `sentiment.scored`, as the scoring stage's timer sends it."""
    from pipeline.stream.watermarks import encode

    return Event(Message("sentiment.scored", encode(reports), None, partition, offset))


def stream_runtime(
    settings: Settings | None = None,
    scorer: Scorer | None = None,
    sources: tuple[str, ...] | None = None,
) -> tuple[Runtime, Topics]:
    """A `Runtime` and `Topics` for the stream handlers, without faust or a broker: in-memory
    topics (a DLQ for every consumed topic), the shipped symbol table, metrics on a fresh
    registry without process collectors. `settings` defaults to the environment without `.env`;
    `sources` (the input partitions the watermark waits for) to every partition of both input
    topics."""
    from prometheus_client import CollectorRegistry

    from pipeline.config import Settings
    from pipeline.metrics import PipelineMetrics
    from pipeline.reference import load_symbols
    from pipeline.stream.runtime import InputLayout, Runtime
    from pipeline.stream.topics import Topics
    from pipeline.stream.watermarks import ProgressReporter

    s = settings if settings is not None else Settings(_env_file=None)  # type: ignore[call-arg]
    topics = Topics(
        raw_topic=None,  # type: ignore[arg-type]  # handlers never read the input topic
        dlq_topics={t: InMemoryTopic(t + s.dlq_suffix) for t in (*s.topics_in(), s.scored_topic)},  # type: ignore[misc]
        scored_topic=InMemoryTopic(s.scored_topic),  # type: ignore[arg-type]
        aggregates_topic=InMemoryTopic(s.aggregates_topic),  # type: ignore[arg-type]
        alerts_topic=InMemoryTopic(s.alerts_topic),  # type: ignore[arg-type]
        alert_marks_topic=InMemoryTopic(s.alert_marks_topic),  # type: ignore[arg-type]
        review_topic=InMemoryTopic(s.review_topic),  # type: ignore[arg-type]
    )
    metrics = PipelineMetrics.create(
        CollectorRegistry(), s.watchlist_set(), sources=s.sources_set(), process=False
    )
    layout = InputLayout.of(s)
    rt = Runtime(
        settings=s,
        app=None,  # type: ignore[arg-type]  # no faust: the handlers never touch the app
        scorer=scorer if scorer is not None else FixedScorer(),
        symbols=load_symbols(),
        core=s.core_config(load_ticker_rules(s.rules_path)),
        metrics=metrics,
        layout=InputLayout(sources, layout.scored_partitions) if sources else layout,
        progress=ProgressReporter(s.idle_timeout_s),
    )
    return rt, topics
