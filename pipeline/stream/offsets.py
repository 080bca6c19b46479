"""Per-partition offset cursor: notice records that never reached an agent.

Why: while a restarted worker's rebalance settles, faust's stream iterator now and then drops a
record (its generation / flow-control check) and trusts that it will be fetched again; it is
not. With auto-ack it was even committed, so it was lost for good (found by
tests/integration/test_stream_e2e.py, restart after SIGTERM: 1-7 records in most runs). Each
agent therefore knows the next offset it must see per partition (the consumer's position when
the partition was assigned). A later offset arriving first is a hole: the agents count it in
`finsent_stream_holes_total`, read the missing records straight from Kafka and process them
first, in order (`pipeline/stream/agents.py`). Records delivered twice within one assignment
are recognised too.

Plain bookkeeping with no I/O, unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Verdict(Enum):
    PROCESS = "process"  # the expected record (or a partition without a known position)
    SEEN = "seen"  # below the cursor: already handled in this assignment; ack, do not redo
    HOLE = "hole"  # past the cursor: records in between never arrived; handle this one anyway


@dataclass
class PartitionCursor:
    """Next offset each assigned partition must deliver."""

    next: dict[Any, int] = field(default_factory=dict)

    def assign(self, positions: dict[Any, int]) -> None:
        """The whole new assignment: its start positions replace everything known before."""
        self.next = dict(positions)

    def forget(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self.next.pop(tp, None)

    def check(self, tp: Any, offset: int) -> Verdict:
        expected = self.next.get(tp)
        if expected is None or offset == expected:
            return Verdict.PROCESS
        return Verdict.SEEN if offset < expected else Verdict.HOLE

    def done(self, tp: Any, offset: int) -> None:
        """`offset` was handled: expect the next one."""
        if tp in self.next:
            self.next[tp] = max(self.next[tp], offset + 1)
