"""The two stream agents, declared next to their topics and table. Each reads, calls the core
through `handlers`, and writes back. Reading guide: `handlers.py` for what happens per event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types.tuples import Message

from pipeline.kafka_clients import read_range
from pipeline.stream.app import Runtime
from pipeline.stream.handlers import handle_raw_batch, handle_scored
from pipeline.stream.offsets import PartitionCursor, Verdict
from pipeline.stream.topics import Topics, declare

# Bump with aggregate.STATE_VERSION: a new table name means a new changelog topic, so old-shaped
# state is never recovered into new code (Quix Streams' `state_suffix` idea).
TABLE_NAME = "ticker_to_state_v1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refetched:
    """A record the stream skipped, read back from Kafka: what the handlers use of an Event."""

    message: Message


async def finish_even_if_stopped(work: Awaitable[None]) -> None:
    """Run `work` to the end even when the agent is cancelled (SIGTERM, rebalance), then re-raise.

    Not needed for correctness (a batch is acked only after it is processed, see `register`),
    but a finished batch is not redelivered: fewer duplicates on the scored topic after a stop.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def register(rt: Runtime) -> tuple[Topics, Any]:
    """Declare topics, the per-ticker table and both agents on `rt.app`."""
    app, s = rt.app, rt.settings
    topics = declare(app, s)
    ticker_to_state = app.Table(
        TABLE_NAME, default=None, partitions=s.partitions, key_type=str
    )  # ticker -> plain JSON state

    cursor = PartitionCursor()  # next offset per partition: see pipeline/stream/offsets.py
    stream_topics = {s.news_topic, s.social_topic, s.scored_topic}
    for topic in stream_topics:  # a zero series, so the dashboard's rate() has data
        rt.metrics.stream_holes.labels(topic=topic)

    async def fill(tp: Any, start: int, end: int) -> list[Refetched]:
        """The records at [start, end) that the stream never delivered, read straight from Kafka."""
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(
            None, read_range, s, tp.topic, tp.partition, start, end
        )
        return [
            Refetched(
                Message(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.timestamp / 1000,
                    r.timestamp_type,
                    list(r.headers or []),
                    r.key,
                    r.value,
                    None,
                    tp=tp,
                )
            )
            for r in records
        ]

    async def admit(events: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Split events into (to process, already processed).

        A hole in the offsets is counted, logged and filled by reading the missing records
        directly, so they are processed now, in order, and faust can commit past them.
        """
        todo: list[Any] = []
        seen: list[Any] = []
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            verdict = cursor.check(tp, offset)
            if verdict is Verdict.SEEN:
                seen.append(event)
                continue
            if verdict is Verdict.HOLE:
                expected = cursor.next[tp]
                log.warning("%s: offsets %d..%d never reached the agent; reading them", tp,
                            expected, offset - 1)  # fmt: skip
                rt.metrics.stream_holes.labels(topic=tp.topic).inc(offset - expected)
                todo += await fill(tp, expected, offset)
            todo.append(event)
            cursor.done(tp, offset)
        return todo, seen

    async def ack(stream: Any, events: Sequence[Any]) -> None:
        for event in events:
            if isinstance(event, Refetched):
                app.consumer.ack(event.message)  # never went through the stream
            else:
                await stream.ack(event)

    # Both agents ack by hand, after the work is done: only then may faust commit an offset.
    # faust's own `take_events` acks a batch in a `finally` and, when its generator is closed on
    # stop, switches auto-ack back on while its background reader still holds the next record:
    # that record was committed unprocessed and lost (found by the restart-after-SIGTERM test).
    @app.agent(topics.raw_topic, name="score_items")
    async def score_items(stream: Any) -> None:
        manual = stream.noack()
        # Micro-batches: `max_batch` records or `max_delay_ms`, whichever comes first.
        async for events in manual.noack_take(s.max_batch, within=s.max_delay_ms / 1000):
            todo, seen = await admit(events)
            if todo:
                await finish_even_if_stopped(handle_raw_batch(rt, topics, todo))
            await ack(manual, todo + seen)

    @app.agent(topics.scored_topic, name="aggregate_scored")
    async def aggregate_scored(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            todo, seen = await admit([event])
            for one in todo:  # refetched records first, in offset order
                await finish_even_if_stopped(handle_scored(rt, topics, ticker_to_state, one))
            await ack(manual, todo + seen)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def track_assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        # Where consumption of each newly assigned partition starts (its committed offset).
        mine = [tp for tp in assigned if tp.topic in stream_topics]
        positions = {tp: await app.consumer.position(tp) for tp in mine}
        cursor.assign({tp: p for tp, p in positions.items() if p is not None})

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        cursor.forget(revoked)
        gone = {tp.partition for tp in revoked if tp.topic == s.scored_topic}
        for ticker in [t for t, p in rt.ticker_partition.items() if p in gone]:
            rt.metrics.forget_ticker(ticker)
            del rt.ticker_partition[ticker]

    return topics, ticker_to_state
