"""The two stream agents, declared next to their topics and table. Each reads a micro-batch, lets
its `Delivery` admit it (holes filled, duplicates skipped), calls the handlers and marks the batch
done; `Delivery` commits. Reading guide: `handlers.py` for what happens per record,
`delivery.py` for why nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types import TP, AppT, StreamT, TableT

from pipeline.core import aggregate
from pipeline.core.watermarks import source_name
from pipeline.kafka_clients import end_offsets
from pipeline.stream import watermarks
from pipeline.stream.delivery import Delivered, Delivery, Work
from pipeline.stream.handlers import (
    handle_raw_batch,
    handle_scored_batch,
    publish_updates,
    write_changelog,
)
from pipeline.stream.runtime import Runtime
from pipeline.stream.topics import Topics, declare

# Derived from the state version: a new shape means a new table and changelog topic, so old-shaped
# state is never recovered into new code (Quix Streams' `state_suffix` idea).
TABLE_NAME = f"ticker_to_state_v{aggregate.STATE_VERSION}"
# The table's changelog as faust creates it (compacted) and Strimzi declares it
# (k8s/components/strimzi/kafkatopics.yaml, tested equal): segments roll hourly, so the cleaner
# can compact them and a recovery reads about one value per key, not every write since creation.
CHANGELOG_CONFIG = {"min.compaction.lag.ms": "60000", "segment.ms": "3600000"}
# The agents' names (in logs and crash reports), distinct from the core functions they call.
SCORE_AGENT, AGGREGATE_AGENT = "score_agent", "aggregate_agent"

log = logging.getLogger(__name__)


async def finish_even_if_stopped(work: Awaitable[None]) -> None:
    """Run `work` to the end even when the agent is cancelled (SIGTERM, rebalance), then re-raise.

    Not needed for correctness (the cursor moves only after the work), but a finished batch is
    not redelivered: fewer duplicates on the scored topic after a stop.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def crash_worker(rt: Runtime, name: str, exc: BaseException) -> None:
    """An agent that dies must take the worker with it: a zombie with green probes is worse.

    The worker exits non-zero (see `worker.run`) and Kubernetes restarts it; the records of the
    failed batch were not committed, so they are delivered again.
    """
    log.critical("agent %s crashed: %r; stopping the worker", name, exc, exc_info=exc)
    rt.health.fatal = f"agent {name} crashed: {exc!r}"
    os.kill(os.getpid(), signal.SIGTERM)


def _guarded(
    rt: Runtime, name: str, body: Callable[[StreamT], Awaitable[None]]
) -> Callable[[StreamT], Awaitable[None]]:
    """`body` as an agent whose crash stops the worker (`crash_worker`)."""

    async def agent(stream: StreamT) -> None:
        """The agent body: a cancellation (stop, rebalance) passes; other errors stop the worker."""
        try:
            await body(stream)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - see crash_worker
            crash_worker(rt, name, exc)
            raise

    agent.__name__ = name
    return agent


def _highwater(rt: Runtime, tp: TP) -> int | None:
    """The consumer's cached log end of `tp`; None when unknown, or when `tp` is no longer
    assigned (during a rebalance the cursor still holds partitions being revoked)."""
    try:
        end = rt.app.consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - aiokafka asserts the partition is assigned
        return None
    return end if isinstance(end, int) else None


async def send_progress(rt: Runtime, topics: Topics, raw: Delivery) -> None:
    """One watermark record per scored partition, when the owned input partitions' progress
    changed. Idle: nothing left to read and no record for a while."""
    owned = {source_name(tp.topic, tp.partition): tp for tp in raw.cursor.next}
    if not owned:
        return
    quiet = rt.progress.quiet(owned)
    # the consumer's cached log end (no round trip: this runs every 200 ms); a partition it has
    # never fetched anything from (an empty one) has none, and is asked of the broker
    ends: dict[str, int | None] = {src: _highwater(rt, owned[src]) for src in quiet}
    unknown = [src for src, end in ends.items() if end is None]
    if unknown and rt.progress.may_ask_broker():
        loop = asyncio.get_running_loop()
        asked = await loop.run_in_executor(
            None,
            end_offsets,
            rt.settings,
            [(owned[src].topic, owned[src].partition) for src in unknown],
        )
        ends.update({src: asked.get((owned[src].topic, owned[src].partition)) for src in unknown})
    caught_up = [
        src
        for src, end in ends.items()
        if end is not None and end <= raw.cursor.next.get(owned[src], -1)
    ]
    reports = rt.progress.report(owned, caught_up)
    if rt.progress.due(reports):
        await publish_progress(rt, topics, reports)


async def publish_progress(
    rt: Runtime, topics: Topics, reports: dict[str, watermarks.Report]
) -> None:
    """The same report on every scored partition (Flink broadcasts watermarks the same way)."""
    value = watermarks.encode(reports)
    for p in range(rt.layout.scored_partitions):
        await topics.scored_topic.send(
            key=None, value=value, partition=p, headers=[watermarks.HEADER]
        )
    rt.progress.sent(reports)


async def send_unreported_progress(rt: Runtime, topics: Topics, raw: Delivery) -> None:
    """Before the scoring stage commits: a committed input offset must never be ahead of the
    progress reported for it, or a record committed but never reported would hold the
    watermark below it forever once its worker dies (the next owner starts after it). Only
    what is unreported, and no broker query: this runs under the delivery lock."""
    owned = [source_name(tp.topic, tp.partition) for tp in raw.cursor.next]
    reports = rt.progress.unreported(owned)
    if reports:
        await publish_progress(rt, topics, reports)


@dataclass(frozen=True)
class Stages:
    """What `register` declared: the topics, the per-ticker table and each stage's Delivery."""

    topics: Topics
    table: TableT
    score: Delivery  # news.raw + social.raw -> sentiment.scored
    aggregate: Delivery  # sentiment.scored -> windows, alerts, the table

    @property
    def deliveries(self) -> tuple[Delivery, Delivery]:
        """Both stages' deliveries, for the timers and rebalance hooks that treat them alike."""
        return (self.score, self.aggregate)


def register(rt: Runtime) -> Stages:
    """Declare topics, the per-ticker table, both agents and their timers on `rt.app`.

    Each agent is its stage's `Delivery.consume` (admit, handle, mark done) guarded by
    `crash_worker`; the handlers in `handlers.py` say what happens to a batch.
    """
    app, settings = rt.app, rt.settings
    topics = declare(app, settings)
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.partitions,
        key_type=str,
        extra_topic_configs=CHANGELOG_CONFIG,
    )

    async def score_batch(events: Sequence[Delivered]) -> None:
        """The scoring stage's work: the batch finishes even if the agent is cancelled."""
        await finish_even_if_stopped(handle_raw_batch(rt, topics, events))

    async def aggregate_batch(events: Sequence[Delivered]) -> None:
        """The aggregation stage's work: the batch finishes even if the agent is cancelled."""
        await finish_even_if_stopped(handle_scored_batch(rt, topics, table, events))

    def delivery(stage: str, consumed: Sequence[str], work: Work, **hooks: Any) -> Delivery:
        """One stage's `Delivery`, wired to its metrics (hole counts, last commit); the holes
        counter is created at 0 for each consumed topic, so rate() has data from the start."""
        for topic in consumed:  # a zero series, so rate() has data
            rt.metrics.stream_holes.labels(topic=topic)
        return Delivery(
            app,
            settings,
            consumed,
            work,
            on_refetched=lambda topic, n: rt.metrics.stream_holes.labels(topic=topic).inc(n),
            on_committed=rt.metrics.last_commit.labels(stage=stage).set_to_current_time,
            **hooks,
        )

    async def report_before_commit() -> None:
        """The scoring stage's `before_commit`: progress for the records about to be committed is
        sent first (`send_unreported_progress`)."""
        await send_unreported_progress(rt, topics, stages.score)

    async def changelog_before_commit() -> None:
        """The aggregation's `before_commit`: what the batches since the last commit decided goes
        out first, once per key however many batches changed it: each open window's newest
        update, then each changed state to the changelog. A committed offset therefore always
        has its state on the changelog and its windows' updates on sentiment.aggregates."""
        await publish_updates(rt, topics)
        write_changelog(rt, table)

    stages = Stages(
        topics,
        table,
        score=delivery(
            "score", settings.topics_in(), score_batch, before_commit=report_before_commit
        ),
        aggregate=delivery(
            "aggregate",
            [settings.scored_topic],
            aggregate_batch,
            before_commit=changelog_before_commit,
        ),  # fmt: skip
    )
    app.agent(topics.raw_topic, name=SCORE_AGENT)(_guarded(rt, SCORE_AGENT, stages.score.consume))
    app.agent(topics.scored_topic, name=AGGREGATE_AGENT)(
        _guarded(rt, AGGREGATE_AGENT, stages.aggregate.consume)
    )

    @app.timer(settings.commit_interval_ms / 1000)
    async def commit_and_fill() -> None:
        """Commit finished offsets; read what an idle agent's partitions still hold."""
        try:
            for d in stages.deliveries:
                await d.maintain(app.consumer.assignment())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            crash_worker(rt, "commit", exc)

    if settings.update_interval_ms is not None and (
        settings.update_interval_ms < settings.commit_interval_ms
    ):

        @app.timer(settings.update_interval_ms / 1000)
        async def publish_open_windows() -> None:
            """FINSENT_UPDATE_INTERVAL_MS: open windows' newest updates between two commits
            (held under the aggregation's lock: no batch changes them meanwhile)."""
            try:
                async with stages.aggregate.lock:
                    await publish_updates(rt, topics)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - they stay queued; the next tick or commit sends
                log.warning("could not publish window updates", exc_info=True)

    @app.timer(settings.watermark_interval_ms / 1000)
    async def report_progress() -> None:
        """Tell every aggregation partition how far each owned input partition has got."""
        try:
            await send_progress(rt, topics, stages.score)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next tick reports again; time waits meanwhile
            log.warning("could not send watermark records", exc_info=True)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def track_assigned(sender: AppT, assigned: set[TP], **_: Any) -> None:
        """Rebalance: each stage starts its newly assigned partitions at the group's committed
        offset, read from the broker (not faust's fetch position, see `offsets.py`)."""
        for d in stages.deliveries:
            await d.on_assigned(assigned)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def commit_revoked(sender: AppT, revoked: set[TP], **_: Any) -> None:
        """Rebalance: each stage commits what it finished before its partitions go (the batch in
        flight completes first), then forgets them; the watermark progress of revoked inputs and the
        per-ticker gauges of revoked scored partitions go too, their new owner reports them."""
        for d in stages.deliveries:
            try:
                await d.on_revoked(revoked)
            except Exception as exc:  # noqa: BLE001 - forgotten anyway; the new owner redoes it
                log.warning("commit at revocation failed (%r); those records come again", exc)
        rt.progress.forget(source_name(tp.topic, tp.partition) for tp in revoked)
        gone = {tp.partition for tp in revoked if tp.topic == settings.scored_topic}
        rt.unpublished.forget(gone)  # only left if the commit failed: never written after
        for ticker in rt.tickers.forget(gone):
            rt.metrics.forget_ticker(ticker)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def commit_at_stop(sender: AppT, **_: Any) -> None:
        """Graceful stop: commit each stage's finished prefix, so a restart redelivers only what was
        not done; a failed commit is logged, not raised (at-least-once: they come again)."""
        # faust has paused fetching; the batch in flight finishes, then its offsets are committed
        # (without this a graceful stop redelivers up to FINSENT_COMMIT_INTERVAL_MS of records).
        for d in stages.deliveries:
            try:
                await d.commit()
            except Exception as exc:  # noqa: BLE001 - at-least-once: redelivered after restart
                log.warning("final commit failed (%r); records since the last commit will be "
                            "delivered again", exc)  # fmt: skip

    return stages
