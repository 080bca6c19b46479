"""Per-partition offset cursor: what each agent has finished, and therefore what may be committed.

Why this exists: finsent, not faust, commits the input and scored offsets. faust acks (and then
commits) records it never handed to a handler: a record fetched under one consumer generation and
seen by the stream under the next is skipped *and acked* (`Stream._py_aiter`, the generation
check), which at a fresh start against a backlog silently committed whole partitions that were
never processed (the startup race, "Missing sensor state for rebalance #1"); its drain loop also
drops re-fetched records below its read offset. So the consumed topics are declared with
`acks=False` (faust never commits them) and each agent keeps this cursor:

- on assignment, a partition starts at the group's committed offset read from the broker (or the
  log start when nothing is committed or retention deleted it);
- a record at the cursor is processed; one below it was already handled (SEEN); one above it
  means the records in between never arrived (HOLE): they are read straight from Kafka and
  processed first; a partition whose log end is past the cursor while no record arrives is
  read the same way (`behind`);
- `done` advances the cursor only one offset at a time, after the record's outputs are on the
  broker; what is committed is the cursor, so the committed offset of every partition is
  exactly the contiguous prefix the handlers finished. Nothing above a gap is ever committed.

Plain bookkeeping with no I/O and no clock, unit-tested on its own (tests/stream/test_offsets.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from faust.types import TP


class Admission(Enum):
    """What to do with a record the stream handed over, given the partition's cursor."""

    PROCESS = "process"  # the expected record
    SEEN = "seen"  # below the cursor: already handled in this assignment; do not redo
    HOLE = "hole"  # past the cursor: records in between never arrived; read them first
    UNASSIGNED = "unassigned"  # a partition this agent does not own (yet, or any more): skip


@dataclass
class PartitionCursor:
    """Next offset to process and last committed offset of each assigned partition."""

    next: dict[TP, int] = field(default_factory=dict)
    committed: dict[TP, int] = field(default_factory=dict)
    # [lo, hi) offset ranges that Kafka confirmed hold no record a consumer sees: transaction
    # markers, compaction, retention. The cursor may step over them, and only over them.
    absent: dict[TP, list[tuple[int, int]]] = field(default_factory=dict)

    def assign(self, starts: Mapping[TP, int]) -> None:
        """Partitions newly assigned, each starting at its committed offset."""
        for tp, offset in starts.items():
            self.next[tp] = offset
            self.committed[tp] = offset

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions revoked or no longer assigned: drop their cursor, commit mark and absent
        ranges, so their records are UNASSIGNED from now on and nothing of theirs is committed
        again."""
        for tp in tps:
            self.next.pop(tp, None)
            self.committed.pop(tp, None)
            self.absent.pop(tp, None)

    def mark_absent(self, tp: TP, lo: int, hi: int) -> None:
        """Kafka read [lo, hi) of `tp` and found no record there; step over it when reached."""
        if hi > lo and tp in self.next:
            self.absent.setdefault(tp, []).append((lo, hi))
            self._skip_absent(tp)

    def _skip_absent(self, tp: TP) -> None:
        """Move the cursor over every absent range it has reached (they may chain); drop ranges
        behind it."""
        ranges = self.absent.get(tp)
        moved = True
        while ranges and moved:
            moved = False
            for lo, hi in list(ranges):
                if lo <= self.next[tp] < hi:
                    self.next[tp] = hi
                    moved = True
                if hi <= self.next[tp]:
                    ranges.remove((lo, hi))

    def owns(self, tp: TP) -> bool:
        """Whether `tp` has a cursor here (assigned, not revoked since): only such partitions are
        processed and committed, and only their tickers are served (`/tickers`)."""
        return tp in self.next

    def admission(self, tp: TP, offset: int, expected: int | None = None) -> Admission:
        """How `offset` of `tp` relates to the cursor (or to `expected`, the cursor as it will
        be once records admitted earlier in the same batch are done)."""
        nxt = self.next.get(tp) if expected is None else expected
        if nxt is None:
            return Admission.UNASSIGNED
        if offset == nxt:
            return Admission.PROCESS
        return Admission.SEEN if offset < nxt else Admission.HOLE

    def done(self, tp: TP, offset: int) -> None:
        """`offset` was handled and its outputs are on the broker: expect the next one.

        Raises ValueError for an offset past the cursor: the contiguity the commit relies on.
        """
        expected = self.next.get(tp)
        if expected is None or offset < expected:
            return  # revoked meanwhile, or a SEEN record: nothing to advance
        if offset > expected:
            raise ValueError(f"{tp}: offset {offset} done before {expected}")
        self.next[tp] = offset + 1
        self._skip_absent(tp)

    def to_commit(self) -> dict[TP, int]:
        """Partitions whose cursor moved past the last commit, with the offset to commit."""
        return {tp: n for tp, n in self.next.items() if n > self.committed.get(tp, -1)}

    def mark_committed(self, offsets: Mapping[TP, int]) -> None:
        """The broker accepted `offsets`: the commit mark only moves forward, and only for
        partitions still owned (one revoked while the commit was in flight stays forgotten)."""
        for tp, offset in offsets.items():
            if tp in self.committed:
                self.committed[tp] = max(self.committed[tp], offset)

    def behind(self, log_ends: Mapping[TP, int]) -> dict[TP, tuple[int, int]]:
        """[next, log end) of every owned partition with records the agent has not processed."""
        return {
            tp: (n, log_ends[tp])
            for tp, n in self.next.items()
            if log_ends.get(tp) is not None and log_ends[tp] > n
        }

    def lag(self, log_ends: Mapping[TP, int]) -> dict[TP, int]:
        """Records between the committed offset and the log end, per owned partition."""
        return {tp: max(0, log_ends[tp] - c) for tp, c in self.committed.items() if tp in log_ends}
