"""Event-time progress through Kafka: the scoring stage reports it, the aggregation reads it.

The aggregation sees a ticker's records from every input partition interleaved, so on its own it
cannot know how far event time has got (see `core/watermarks.py` for the rule). The scoring
stage does know, for each input partition it owns: the largest event time whose scored records
are already on the broker. Every `FINSENT_WATERMARK_INTERVAL_MS` it writes that progress, one
small record per partition of `sentiment.scored` (Flink and Beam broadcast watermarks to every
downstream channel the same way). Because a report is produced after the scored records it
covers, and Kafka keeps one producer's order within a partition, an aggregation partition that
reads a report has already read every record the report vouches for.

A watermark record is `{"watermarks": {"news.raw/0": [event_ms, idle], ...}}` with the header
`finsent-kind: watermark`; it is never counted as an item, and readers of `sentiment.scored`
skip it (`is_watermark`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pipeline.core.watermarks import Report

HEADER = ("finsent-kind", b"watermark")
KEY_PREFIX = "__watermarks__/"  # table key of one scored partition's progress state
BROKER_QUERY_S = 2.0  # log ends the consumer has not seen are asked of the broker this often


def is_watermark(value: Mapping[str, Any]) -> bool:
    """A decoded `sentiment.scored` value that is a progress report, not a scored record."""
    return "watermarks" in value


def is_watermark_record(record: Any) -> bool:
    """A Kafka record (kafka-python's or faust's) of `sentiment.scored` that is a progress
    report, judged by its header: for readers that do not decode every value."""
    headers = record.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return any(k == HEADER[0] and v == HEADER[1] for k, v in pairs)


def encode(reports: Mapping[str, Report]) -> bytes:
    """The value of a watermark record (module docstring); sources sorted, so equal reports give
    equal bytes."""
    body = {"watermarks": {s: [ms, idle] for s, (ms, idle) in sorted(reports.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode(value: Mapping[str, Any]) -> dict[str, Report]:
    """The reports in a decoded watermark value, converted to (int ms or None, bool); raises on a
    malformed value, which the aggregation then dead-letters like any unreadable record."""
    out: dict[str, Report] = {}
    for source, (ms, idle) in value["watermarks"].items():
        out[str(source)] = (int(ms) if ms is not None else None, bool(idle))
    return out


def table_key(partition: int) -> str:
    """The table key of a scored partition's merged progress, stored in that partition beside its
    tickers' states, so a new owner of the partition recovers it from the changelog."""
    return f"{KEY_PREFIX}{partition}"


class ProgressReporter:
    """The scoring stage's view of its input partitions: what it has delivered, and when each
    partition last had something to read. Bookkeeping only; the agents' timer sends."""

    def __init__(self, idle_timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.reached: dict[str, int] = {}
        self.active_at: dict[str, float] = {}  # last record, or when the partition was assigned
        self.last_sent: dict[str, Report] = {}
        self.asked_broker_at = -1e9

    def delivered(self, source: str, event_ms: int | None) -> None:
        """A record of `source` was processed and its outputs are on the broker."""
        if event_ms is not None and event_ms > self.reached.get(source, event_ms - 1):
            self.reached[source] = event_ms
        self.active_at[source] = self.clock()

    def forget(self, sources: Iterable[str]) -> None:
        """Partitions revoked: their next owner reports them."""
        for s in sources:
            self.reached.pop(s, None)
            self.active_at.pop(s, None)
            self.last_sent.pop(s, None)

    def may_ask_broker(self) -> bool:
        """At most one log-end query to the broker per `BROKER_QUERY_S`."""
        now = self.clock()
        if now - self.asked_broker_at < BROKER_QUERY_S:
            return False
        self.asked_broker_at = now
        return True

    def quiet(self, owned: Iterable[str]) -> list[str]:
        """Owned partitions without a record for the idleness timeout (idle if caught up), and
        those that never delivered one since assignment (their log end is looked at)."""
        now = self.clock()
        return [
            s
            for s in owned
            if now - self.active_at.setdefault(s, now) >= self.idle_timeout_s
            or s not in self.reached
        ]

    def report(self, owned: Iterable[str], caught_up: Iterable[str]) -> dict[str, Report]:
        """Progress of every owned partition: the event time reached (None before the first
        record) and whether it is idle: nothing left to read and no record for the idleness
        timeout. A log that has never held a record waits the timeout too, counted from
        assignment: idle at once, it let the watermark run hours ahead on the partitions written
        first, and the first records of one written a moment later were late (a replay's
        producers, a topic that fills partition by partition). An unused input topic so delays
        the start by one timeout. A partition just assigned is reported busy at once, so an idle
        flag its last owner sent cannot let the watermark run past records the new owner is
        about to deliver again."""
        now, done = self.clock(), set(caught_up)
        out: dict[str, Report] = {}
        for source in owned:
            since = self.active_at.setdefault(source, now)
            idle = source in done and now - since >= self.idle_timeout_s
            out[source] = (self.reached.get(source), idle)
        return out

    def unreported(self, owned: Iterable[str]) -> dict[str, Report]:
        """Owned partitions whose delivered progress is ahead of the last report: what must be
        sent before their offsets are committed. Busy by definition (they delivered records);
        no log ends needed, so it is cheap enough to run inside a commit."""
        out: dict[str, Report] = {}
        for source in owned:
            reached = self.reached.get(source)
            if reached is not None and self.last_sent.get(source, (None, False))[0] != reached:
                out[source] = (reached, False)
        return out

    def due(self, reports: Mapping[str, Report]) -> bool:
        """Send `reports` now? Only when they changed: the aggregation keeps what it was told
        in its table (a new owner of a scored partition recovers it), and a new owner of an
        input partition starts from nothing, so its first report is a change."""
        return bool(reports) and dict(reports) != self.last_sent

    def sent(self, reports: Mapping[str, Report]) -> None:
        """`reports` are on the broker: `due` and `unreported` compare against them from now on."""
        self.last_sent = {**self.last_sent, **reports}
