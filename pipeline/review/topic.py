"""The review topic, read once: every partition from the beginning (or from the first record at
or after a time) up to the end offsets asked for first, then stop. A positive end, not an idle
timeout: what is on the topic when the export starts is exported, nothing more, nothing less."""

from __future__ import annotations

import json
import time
from typing import Any

from pipeline.config import Settings
from pipeline.errors import FinsentError
from pipeline.kafka_clients import consumer


def read_review(
    settings: Settings, since_ms: int | None = None, timeout_s: float = 120.0
) -> tuple[list[dict[str, Any]], int]:
    """(the JSON values on FINSENT_REVIEW_TOPIC, in (Kafka timestamp, partition, offset)
    order, and how many records were not JSON objects). `since_ms` (epoch ms) starts each
    partition at its first record stamped at or after it (the time it was picked, not the item's
    event time); a record stamped earlier but written later is left out too (producer
    timestamps need not grow with the offset). Raises FinsentError when the topic does not
    exist or cannot be read in time."""
    from kafka import TopicPartition

    topic = settings.review_topic
    c = consumer(settings, group_id=None)
    try:
        parts = c.partitions_for_topic(topic)
        if not parts:
            raise FinsentError(
                f"topic {topic} does not exist on {settings.bootstrap_servers} "
                "(FINSENT_REVIEW_TOPIC; a worker creates it when it starts)"
            )
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        ends = c.end_offsets(tps)
        if since_ms is None:
            starts = c.beginning_offsets(tps)
        else:
            found = c.offsets_for_times({tp: since_ms for tp in tps})
            starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}
        for tp in tps:
            c.seek(tp, starts[tp])
        got: list[tuple[int, int, int, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while any(c.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise FinsentError(f"could not read {topic} to its end in {timeout_s:.0f} s")
            for tp, records in c.poll(timeout_ms=500).items():
                got += [
                    (r.timestamp, tp.partition, r.offset, r.value)
                    for r in records
                    if r.offset < ends[tp] and (since_ms is None or r.timestamp >= since_ms)
                ]
    finally:
        c.close()
    got.sort(key=lambda g: g[:3])
    out: list[dict[str, Any]] = []
    bad = 0
    for _ts, _p, _o, value in got:
        try:
            obj = json.loads(value or b"")
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            out.append(obj)
        else:
            bad += 1
    return out, bad
