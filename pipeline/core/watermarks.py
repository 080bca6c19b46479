"""Event-time progress across input partitions: the watermark. Pure, no clock.

Why: a ticker's records come from every input partition, and partitions do not move together (a
replay, a restart, a rebalance or one slow consumer puts one behind the others). Judging
lateness against the newest event time seen anywhere made every lagging partition's records
late. As in Flink and Beam, the aggregation instead trusts only what *every* input partition has
reached: the watermark is the minimum, over the input partitions, of the largest event time each
has delivered. Everything older than the watermark has arrived (unless its own partition was out
of order), so it can be folded in a fixed order and windows that end before it can close.

The scoring stage reports, for each input partition it owns, `[event_ms, idle]`: the largest
event time it has fully processed (its scored records are on the broker before the report) and
whether the partition has had nothing to read for the idleness timeout. Reports are idempotent:
merging keeps the largest event time ever reported, so a report repeated, reordered with an old
one or sent by a new owner after a rebalance never moves the watermark back.

- A partition that never reported holds the watermark at None: at start nothing is released
  until every input partition has been heard from (no record is judged against a partial view).
- An idle partition stops holding time back (Flink's `withIdleness`), until it reports again.
- When every partition is idle, everything delivered is released: the watermark is one past the
  largest event time reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Report = tuple[int | None, bool]  # (largest event time delivered, idle)


def source_name(topic: str, partition: int) -> str:
    """The key of one input partition in reports and state: `news.raw/3`."""
    return f"{topic}/{partition}"


def merge(progress: Mapping[str, list[Any]], reports: Mapping[str, Report]) -> dict[str, list[Any]]:
    """`progress` with `reports` folded in; copy-on-write (`progress` is not modified).

    `progress` maps `source_name` -> [event_ms or None, idle], the JSON-friendly form kept in the
    table. Event times (epoch ms) only move forward, so a repeated or stale report never moves
    time back; the idle flag, though, is simply the latest one merged."""
    out = dict(progress)
    for source, (event_ms, idle) in reports.items():
        old = out.get(source)
        old_ms = old[0] if old else None
        if event_ms is None or (old_ms is not None and old_ms >= event_ms):
            event_ms = old_ms
        out[source] = [event_ms, bool(idle)]
    return out


def watermark(progress: Mapping[str, list[Any]], expected: Iterable[str]) -> int | None:
    """Records with an event time below the returned value have all been delivered (except an
    out-of-order partition's stragglers); None while some input partition is unheard of.

    `expected` is every input partition (`source_name`), not just those reported so far: a
    partition missing from `progress` must hold time back. Busy partitions give the minimum;
    idle ones are skipped; when all are idle, one past the largest event time reported."""
    active: list[int] = []
    reached: list[int] = []
    for source in expected:
        entry = progress.get(source)
        if entry is None:
            return None
        event_ms, idle = entry
        if event_ms is not None:
            reached.append(event_ms)
        if not idle:
            if event_ms is None:
                return None  # owned and busy, but nothing delivered yet
            active.append(event_ms)
    if active:
        return min(active)
    return max(reached) + 1 if reached else None
