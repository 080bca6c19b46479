"""The alerts behind `GET /alerts`, the same on every worker: a bounded index that follows
`sentiment.alerts` (the alerts) and `sentiment.alert_marks` (false-positive marks).

Why follow the topics instead of asking the worker that fired an alert: an alert is fired by the
worker that owns the ticker *then*; after a rebalance or a restart that worker may hold other
tickers or be gone. The topics are the record of what fired, so every replica that reads them
gives the same answer, and a restarted one rebuilds its index from them (the alerts from
FINSENT_API_ALERTS_HORIZON back, by Kafka timestamp; every mark, the marks topic is compacted).

`AlertIndex` is plain data (tested alone); `follow` is the Kafka loop that fills it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Settings

log = logging.getLogger(__name__)


@dataclass
class AlertIndex:
    """At most `keep` alerts, newest event time first, and the false-positive marks by alert id.

    An alert seen twice (a worker that crashed after publishing, then re-fired it from its last
    commit) is kept once: its id names the rule, ticker and window, which fire at most once."""

    keep: int = 10_000
    _order: list[tuple[int, str]] = field(default_factory=list)  # (event_ms, id), ascending
    _alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: bool = False  # caught up with the topics' end offsets at start

    def add(self, alert: dict[str, Any]) -> None:
        """Index one alert event (the JSON on sentiment.alerts); the oldest go past `keep`."""
        alert_id = alert.get("id") or _legacy_id(alert)
        if alert_id in self._alerts:
            return
        self._alerts[alert_id] = {**alert, "id": alert_id}
        insort(self._order, (int(alert.get("event_ms", 0)), alert_id))
        while len(self._order) > self.keep:
            _ms, old = self._order.pop(0)
            self._alerts.pop(old, None)

    def mark(self, alert_id: str, mark: dict[str, Any] | None) -> None:
        """Record (or, with None: a tombstone, withdraw) a false-positive mark."""
        if mark is None:
            self.marks.pop(alert_id, None)
        else:
            self.marks[alert_id] = mark

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """One alert with its mark, or None if it is not (or no longer) indexed."""
        alert = self._alerts.get(alert_id)
        return None if alert is None else {**alert, "false_positive": self.marks.get(alert_id)}

    def query(
        self, ticker: str | None = None, since_ms: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Alerts newest first, of `ticker` if given, with event time >= `since_ms`; each with
        `false_positive` (the mark, or None)."""
        out: list[dict[str, Any]] = []
        for event_ms, alert_id in reversed(self._order):
            if since_ms is not None and event_ms < since_ms:
                break
            alert = self._alerts[alert_id]
            if ticker is not None and alert.get("ticker") != ticker:
                continue
            out.append({**alert, "false_positive": self.marks.get(alert_id)})
            if len(out) >= limit:
                break
        return out

    def __len__(self) -> int:
        return len(self._order)


def _legacy_id(alert: dict[str, Any]) -> str:
    """The id of an alert published before alerts carried one: the same four fields."""
    return (
        f"{alert.get('rule')}:{alert.get('ticker')}:{alert.get('window')}:"
        f"{alert.get('window_start_ms')}"
    )


def apply(index: AlertIndex, topic: str, settings: Settings, records: Iterable[Any]) -> None:
    """Fold consumed records of the alerts or marks topic into `index`; a record that is not
    JSON (nothing finsent wrote) is skipped with a warning, never a crash of the follower."""
    for r in records:
        try:
            if topic == settings.alert_marks_topic:
                key = r.key.decode() if isinstance(r.key, bytes) else str(r.key)
                index.mark(key, None if r.value is None else json.loads(r.value))
            elif r.value is not None:
                value = json.loads(r.value)
                if isinstance(value, dict) and value.get("type") == "alert":
                    index.add(value)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("alert index: skipping %s@%s/%s: %s", topic, r.partition, r.offset, exc)


def consumer_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka options from the settings (the same broker and credentials as faust's)."""
    from pipeline.stream.app import ssl_context

    kw: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol.upper(),
        "enable_auto_commit": False,
        "group_id": None,
    }
    if settings.security_protocol.upper().startswith("SASL"):
        kw.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_secret(),
        )
    ctx = ssl_context(settings)
    if ctx is not None:
        kw["ssl_context"] = ctx
    return kw


async def _caught_up(consumer: Any, ends: dict[Any, int]) -> bool:
    """Whether every partition's position reached the end offset it had at start."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def follow(index: AlertIndex, settings: Settings, now_ms: int) -> None:
    """Fill `index` from both topics, then keep following them until cancelled.

    Alerts start at the first offset at or after `now_ms - FINSENT_API_ALERTS_HORIZON` (Kafka
    timestamps), marks at the beginning. `index.ready` turns True once both reached the end
    offsets they had at start. A broker error is logged and retried: the index only feeds
    an API, never the stream."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.kafka_clients import partition_counts

    topics = (settings.alerts_topic, settings.alert_marks_topic)
    loop = asyncio.get_running_loop()
    while True:
        consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
        try:
            # aiokafka knows a topic's partitions only once something asked for them: ask first
            counts = await loop.run_in_executor(None, partition_counts, settings, topics)
            missing = [t for t in topics if not counts.get(t)]
            if missing:
                raise LookupError(f"topics {missing} do not exist yet (`finsent topics`)")
            await consumer.start()
            tps = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
            consumer.assign(tps)
            alert_tps = [tp for tp in tps if tp.topic == settings.alerts_topic]
            since = now_ms - settings.alerts_horizon_ms()
            starts = await consumer.offsets_for_times({tp: since for tp in alert_tps})
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                found = starts.get(tp)
                if tp.topic == settings.alerts_topic:
                    # Nothing that recent: from the end offset as it is now. Not seek_to_end,
                    # which resolves later and would skip an alert published in between.
                    consumer.seek(tp, found.offset if found is not None else ends[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for tp, records in batches.items():
                    apply(index, tp.topic, settings, records)
                if not index.ready and await _caught_up(consumer, ends):
                    index.ready = True
                    log.info("alert index ready: %d alerts, %d marks", len(index), len(index.marks))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried: the API waits, the stream does not
            log.warning("alert index: %r; retrying in 5 s", exc)
            await asyncio.sleep(5)
        finally:
            await consumer.stop()
