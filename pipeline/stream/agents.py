"""The two stream agents, declared next to their topics and table. Each reads, calls the core
through `handlers`, and writes back. Reading guide: `handlers.py` for what happens per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from pipeline.stream.app import Runtime
from pipeline.stream.handlers import handle_raw_batch, handle_scored
from pipeline.stream.topics import Topics, declare

# Bump with aggregate.STATE_VERSION: a new table name means a new changelog topic, so old-shaped
# state is never recovered into new code (Quix Streams' `state_suffix` idea).
TABLE_NAME = "ticker_to_state_v1"


async def finish_even_if_stopped(work: Awaitable[None]) -> None:
    """Run `work` to the end even when the agent is cancelled (SIGTERM, rebalance), then re-raise.

    faust's `take_events` acks a taken batch in a `finally`, so a batch cancelled half-way would be
    acked, committed on shutdown and never processed: a graceful stop lost records (found by
    tests/integration/test_stream_e2e.py, restart after SIGTERM). Finishing the batch first keeps
    at-least-once; a record processed twice after a crash is recognised by the novelty chain.
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

    @app.agent(topics.raw_topic, name="score_items")
    async def score_items(stream: Any) -> None:
        # Micro-batches: `max_batch` records or `max_delay_ms`, whichever comes first.
        async for events in stream.take_events(s.max_batch, within=s.max_delay_ms / 1000):
            await finish_even_if_stopped(handle_raw_batch(rt, topics, events))

    @app.agent(topics.scored_topic, name="aggregate_scored")
    async def aggregate_scored(stream: Any) -> None:
        async for event in stream.events():
            await finish_even_if_stopped(handle_scored(rt, topics, ticker_to_state, event))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == s.scored_topic}
        for ticker in [t for t, p in rt.ticker_partition.items() if p in gone]:
            rt.metrics.forget_ticker(ticker)
            del rt.ticker_partition[ticker]

    return topics, ticker_to_state
