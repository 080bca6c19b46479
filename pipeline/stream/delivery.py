"""At-least-once delivery that cannot lose a record, for one agent's consumed topics.

faust hands records to the agents; finsent decides what is done and commits it. The consumed
topics are declared with `acks=False`, so faust never commits them (see `offsets.py` for the
faust behaviours that made this necessary). This object owns, per partition:

- the start: the group's committed offset, read from the broker at assignment;
- admission: records below the cursor are skipped, a hole above it is read straight from Kafka
  and processed first, records of partitions not (or no longer) owned are skipped;
- the commit: every FINSENT_COMMIT_INTERVAL_MS, on revocation and at stop, the producer is flushed
  (outputs and table changelog writes are on the broker) and then the cursor is committed;
- the tail: when the agent has been idle for a while and a partition's log end is past its
  cursor, the missing records are read from Kafka and processed (a record faust dropped with
  nothing after it would otherwise never reveal its gap).

Why it cannot lose a record: an offset is committed only when it is the cursor, and the cursor
moves one offset at a time, only after that record's handler returned with its outputs
acknowledged by the broker. A record that never reaches a handler keeps the cursor below it;
it is read directly, or, after a crash, delivered again from the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from faust.types import TP, AppT, EventT, StreamT
from faust.types.tuples import Message

from pipeline.config import Settings
from pipeline.kafka_clients import read_range, start_offsets
from pipeline.stream.offsets import Admission, PartitionCursor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refetched:
    """A record read straight from Kafka (a hole or the tail): what handlers use of an Event."""

    message: Message


# What a handler receives: events from faust, or records read straight from Kafka (holes, tail).
Delivered = EventT | Refetched
Work = Callable[[Sequence[Delivered]], Awaitable[None]]


class Delivery:
    """Cursor, commits and gap filling for the partitions of `topics` that this worker owns,
    around one agent's `work` (its batch handler).

    The agent's whole body is `await delivery.consume(stream)`; a timer calls `maintain` every
    FINSENT_COMMIT_INTERVAL_MS; the rebalance signals call `on_assigned` / `on_revoked`.
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        topics: Iterable[str],
        work: Work,
        *,
        on_refetched: Callable[[str, int], None] = lambda topic, n: None,
        on_committed: Callable[[], None] = lambda: None,
        before_commit: Callable[[], Awaitable[None]] | None = None,
        idle_s: float = 3.0,
    ) -> None:
        self.app = app
        self.settings = settings
        self.topics = frozenset(topics)
        self.work = work
        self.cursor = PartitionCursor()
        # partitions whose start offset is being read (`on_assigned`): their records wait for it
        self.assigning: dict[TP, asyncio.Event] = {}
        self.lock = asyncio.Lock()  # one batch, fill or commit at a time
        self.on_refetched = on_refetched
        self.on_committed = on_committed
        # awaited before the producer is flushed for a commit: what must be on the broker before
        # these offsets are (the scoring stage's watermark report, see stream/watermarks.py)
        self.before_commit = before_commit
        self.idle_s = idle_s
        self.last_event_monotonic = time.monotonic()
        self.last_commit_monotonic = time.monotonic()

    # -- the agent's loop and the timer's -------------------------------------------------------

    async def consume(self, stream: StreamT) -> None:
        """The agent: micro-batches of `max_batch` records or `max_delay_ms`, whichever first,
        admitted (holes filled, duplicates skipped), handled, then marked done. No acks: faust
        does not commit these topics (acks=False); `commit` does."""
        size, within = self.settings.max_batch, self.settings.max_delay_ms / 1000
        batches = stream.noack().noack_take(size, within=within)  # type: ignore[attr-defined]
        async for events in batches:
            async with self.lock:
                todo = await self.admit(events)
                if todo:
                    await self.work(todo)
                    self.done(todo)

    async def maintain(self, assignment: Iterable[TP]) -> None:
        """The timer's round: match the cursor to the assignment, commit what is done, and
        process what an idle agent's partitions still hold (then commit that too)."""
        await self.reconcile(assignment)
        await self.commit()
        if await self.fill_tail(self.settings.max_batch):
            await self.commit()

    # -- assignment ---------------------------------------------------------------------------

    async def on_assigned(self, assigned: Iterable[TP]) -> None:
        """Start each newly owned partition at the group's committed offset, asked of the broker in
        an executor (kafka-python blocks); partitions already owned keep their cursor. The idle
        clock restarts, so `fill_tail` reads a new partition directly only if faust then delivers
        nothing."""
        mine = [
            tp
            for tp in assigned
            if tp.topic in self.topics and not self.cursor.owns(tp) and tp not in self.assigning
        ]
        if not mine:
            return
        ready = asyncio.Event()
        self.assigning.update((tp, ready) for tp in mine)
        try:
            loop = asyncio.get_running_loop()
            starts = await loop.run_in_executor(
                None,
                start_offsets,
                self.settings,
                self.settings.app_id,
                [(tp.topic, tp.partition) for tp in mine],
            )
            self.cursor.assign({tp: starts[(tp.topic, tp.partition)] for tp in mine})
        finally:
            for tp in mine:
                self.assigning.pop(tp, None)
            ready.set()
        self.last_event_monotonic = time.monotonic()

    async def reconcile(self, assignment: Iterable[TP]) -> None:
        """Match the cursor to the consumer's actual assignment, in case a rebalance signal was
        missed: an owned partition the cursor does not know would be skipped for good (lag that
        never shrinks), one it still knows but no longer owns must not be committed."""
        if self.app.rebalancing:
            return
        current = {tp for tp in assignment if tp.topic in self.topics}
        gone = [tp for tp in self.cursor.next if tp not in current]
        if gone:
            log.warning("partitions %s no longer assigned; forgetting them", sorted(gone))
            self.cursor.forget(gone)
        await self.on_assigned(current)

    async def on_revoked(self, revoked: Iterable[TP]) -> None:
        """Rebalance: wait for the batch in flight (the lock), commit what is done, then forget the
        revoked partitions, so the next owner resumes right after this worker's finished prefix."""
        mine = [tp for tp in revoked if tp.topic in self.topics]
        async with self.lock:  # the batch in flight finishes first
            try:
                await self._commit_locked()
            finally:  # a failed commit still lets the partitions go (redelivered to the new owner)
                self.cursor.forget(mine)

    # -- admission ----------------------------------------------------------------------------

    async def admit(self, events: Sequence[EventT]) -> list[Delivered]:
        """The events to process now, in offset order per partition, holes filled from Kafka.

        Call with `lock` held, and `done(...)` with the same list once the handler returned.
        """
        self.last_event_monotonic = time.monotonic()
        if not self.tables_ready():
            # faust can hand over records (and a hole can be read) while the tables still load
            # from their changelogs: folded then, a ticker's state was overwritten by the
            # recovered one and the records were lost with the cursor past them (kill -9, then
            # a new worker: 156 of 1,100 items). Skipped, they stay below the cursor: faust
            # seeks back to the committed offsets after recovery, and holes and the tail are
            # read directly.
            return []
        todo: list[Delivered] = []
        expected: dict[TP, int] = {}  # cursor as it will be after `todo` is done
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            admission = self.cursor.admission(tp, offset, expected.get(tp))
            if admission is Admission.UNASSIGNED and tp in self.assigning:
                # faust fetches as soon as it is assigned, while `on_assigned` still reads the
                # start offset: skipped, a whole backlog went through the slow tail read one
                # partition at a time, and the watermark (the slowest partition) held every
                # window until the last partition's turn. Wait for the start instead.
                await self.assigning[tp].wait()
                admission = self.cursor.admission(tp, offset)
            if admission in (Admission.UNASSIGNED, Admission.SEEN):
                continue  # not ours (yet, or any more), or handled already: never redone
            if admission is Admission.HOLE:
                nxt = expected.get(tp, self.cursor.next[tp])
                log.warning("%s: offsets %d..%d never reached the agent; reading them", tp, nxt,
                            offset - 1)  # fmt: skip
                todo += await self.fill(tp, nxt, offset)
            todo.append(event)
            expected[tp] = offset + 1
        return todo

    def tables_ready(self) -> bool:
        """No rebalance under way and every table loaded from its changelog: only then may a
        record be processed. faust's `completed` is set once, after the first recovery;
        `in_recovery` covers the later ones. Never waited for under the lock: a rebalance's
        revocation (`on_revoked`) needs the lock before a recovery can end."""
        if self.app.rebalancing:
            return False
        recovery = getattr(getattr(self.app, "tables", None), "recovery", None)
        return recovery is None or (recovery.completed.is_set() and not recovery.in_recovery)

    def done(self, events: Sequence[Delivered], *, by_agent: bool = True) -> None:
        """`events` were handled and their outputs acknowledged: the cursor moves past them."""
        for event in events:
            self.cursor.done(event.message.tp, event.message.offset)
        if by_agent:  # a long batch is activity, not idleness
            self.last_event_monotonic = time.monotonic()

    async def fill(self, tp: TP, start: int, end: int) -> list[Refetched]:
        """The records at [start, end) of `tp`, read straight from Kafka."""
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(
            None, read_range, self.settings, tp.topic, tp.partition, start, end
        )
        self.on_refetched(tp.topic, len(records))
        # Offsets in [start, end) that Kafka did not return hold nothing a consumer can see
        # (transaction markers, compaction, retention): the cursor may step over exactly those.
        edge = start
        for r in records:
            if r.offset > edge:
                self.cursor.mark_absent(tp, edge, r.offset)
            edge = r.offset + 1
        if end > edge:
            self.cursor.mark_absent(tp, edge, end)
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

    async def fill_tail(self, max_records: int) -> int:
        """Process what an idle agent's owned partitions hold past their cursors; return count.

        Runs only when the agent received nothing for `idle_s` and no rebalance is under way:
        then anything between the cursor and the log end is a record faust will not deliver.
        """
        if time.monotonic() - self.last_event_monotonic < self.idle_s or not self.tables_ready():
            return 0  # tables still loading from their changelogs: the agent is paused, not idle
        owned = list(self.cursor.next)
        if not owned:
            return 0
        ends = await self.app.consumer.highwaters(*owned)
        n = 0
        for tp, (start, end) in self.cursor.behind(ends).items():
            async with self.lock:
                if time.monotonic() - self.last_event_monotonic < self.idle_s:
                    return n  # the agent got records while we waited for the lock
                if self.cursor.next.get(tp) != start:
                    continue  # the agent moved on meanwhile
                log.warning("%s: offsets %d..%d pending with the agent idle; reading them", tp,
                            start, end - 1)  # fmt: skip
                batch = await self.fill(tp, start, min(end, start + max_records))
                if batch:
                    await self.work(batch)
                    self.done(batch, by_agent=False)
                    n += len(batch)
        return n

    # -- commit -------------------------------------------------------------------------------

    async def commit(self) -> bool:
        """Flush the producer, then commit every partition whose cursor moved; True if done."""
        async with self.lock:
            return await self._commit_locked()

    async def _commit_locked(self) -> bool:
        """`commit` with `lock` already held: `before_commit`, flush, then commit the cursor. False
        when nothing moved, `before_commit` failed (nothing committed) or faust's commit failed."""
        offsets = self.cursor.to_commit()
        if not offsets:
            return False
        if self.before_commit is not None:
            try:
                await self.before_commit()
            except Exception:  # noqa: BLE001 - not committed now; redelivered or next time
                log.warning("could not prepare the commit; offsets not committed", exc_info=True)
                return False
        await self.app.producer.flush()  # outputs and changelog writes first, then the offsets
        ok = bool(await self.app.consumer._commit(offsets))  # type: ignore[attr-defined]  # noqa: SLF001
        if ok:
            self.cursor.mark_committed(offsets)
            self.last_commit_monotonic = time.monotonic()
            self.on_committed()
        return ok

    async def lag(self) -> dict[TP, int]:
        """Committed lag per owned partition: the log end minus what is committed."""
        owned = list(self.cursor.committed)
        if not owned:
            return {}
        ends = await self.app.consumer.highwaters(*owned)
        return self.cursor.lag(ends)
