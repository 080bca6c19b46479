"""What the agents do with a batch or an event: thin glue between Kafka events and `core.step`.
Kept apart from the agent declarations so each agent stays a few lines (STYLE.md, habit 3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from pipeline.core.records import Item, Rejected, Scored
from pipeline.core.step import score_items, step
from pipeline.core.validate import parse_item
from pipeline.stream.app import Runtime
from pipeline.stream.topics import Topics

log = logging.getLogger(__name__)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


async def dead_letter(rt: Runtime, topics: Topics, event: Any, reason: str, detail: str) -> None:
    """Original bytes and key, untouched, with the reason in headers: nothing is lost."""
    msg = event.message
    headers = {
        "finsent-reason": reason.encode(),
        "finsent-detail": detail.encode()[:1000],
        "finsent-source": f"{msg.topic}/{msg.partition}/{msg.offset}".encode(),
    }
    await topics.dlq_topics[msg.topic].send(key=msg.key, value=msg.value or b"", headers=headers)
    rt.metrics.dead_letters.labels(reason=reason).inc()
    rt.metrics.items_produced.labels(topic=msg.topic + rt.settings.dlq_suffix).inc()


async def _score(rt: Runtime, items: Sequence[Item]) -> list[list[Scored]]:
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    # ONNX Runtime releases the GIL: run it off the event loop so heartbeats keep flowing.
    out = await loop.run_in_executor(
        None, lambda: score_items(items, rt.symbols, rt.scorer, max_batch=rt.settings.model_batch)
    )
    n_texts = sum(1 for o in out if o)
    if n_texts:
        rt.metrics.batch_size.observe(n_texts)
        rt.metrics.inference_seconds.observe(time.perf_counter() - t0)
    return out


async def handle_raw_batch(rt: Runtime, topics: Topics, events: Sequence[Any]) -> None:
    """Validate -> DLQ bad records; link + score the rest in one model call; publish scored."""
    m = rt.metrics
    good: list[tuple[Any, Item]] = []
    for event in events:
        parsed = parse_item(event.message.value or b"")
        if isinstance(parsed, Rejected):
            m.items_consumed.labels(topic=event.message.topic, source="invalid").inc()
            await dead_letter(rt, topics, event, parsed.reason, parsed.detail)
        else:
            m.items_consumed.labels(topic=event.message.topic, source=parsed.source).inc()
            good.append((event, parsed))
    scored: list[list[Scored] | None]
    try:
        scored = list(await _score(rt, [it for _, it in good]))
    except Exception:  # noqa: BLE001 - isolate the record that breaks the model, keep the rest
        log.exception("batch scoring failed; retrying item by item")
        scored = []
        for event, item in good:
            try:
                scored.extend(await _score(rt, [item]))
            except Exception as exc:  # noqa: BLE001
                await dead_letter(rt, topics, event, "processing_error", repr(exc)[:500])
                scored.append(None)  # dead-lettered, not "unlinked"
    for records in scored:
        if records is None:
            continue
        if not records:
            m.items_unlinked.inc()
        for s in records:
            await topics.scored_topic.send(key=s.ticker.encode(), value=_dumps(s.to_dict()))
            m.items_produced.labels(topic=rt.settings.scored_topic).inc()
    m.last_processed.labels(stage="score").set(time.time())
    rt.health.last_progress_monotonic = time.monotonic()


async def handle_scored(rt: Runtime, topics: Topics, table: Any, event: Any) -> None:
    """Fold one scored record into its ticker's state; publish windows and alerts."""
    m, s = rt.metrics, rt.settings
    try:
        scored = Scored.from_dict(json.loads(event.message.value))
    except (ValueError, KeyError, TypeError) as exc:
        log.error("unreadable record on %s: %s", event.message.topic, exc)
        m.dead_letters.labels(reason="processing_error").inc()
        return
    key = scored.ticker.encode()
    rt.ticker_partition[scored.ticker] = event.message.partition
    state, out = step(table.get(scored.ticker), scored, rt.core)
    table[scored.ticker] = (
        state  # write back, or the changelog misses the update (faust tables guide)
    )
    m.mentions.labels(verdict=out.verdict).inc()
    if out.verdict == "late":
        m.late_records.inc()
    elif out.verdict == "repeat":
        m.duplicate_records.inc()
    if out.verdict in ("new", "repeat"):
        m.ticker_mentions.labels(ticker=m.ticker_label(scored.ticker)).inc()
    for w in (*out.updated, *out.closed):
        await topics.aggregates_topic.send(key=key, value=_dumps(w.to_dict()))
        m.items_produced.labels(topic=s.aggregates_topic).inc()
    for alert in out.alerts:
        await topics.alerts_topic.send(key=key, value=_dumps(alert.to_dict()))
        m.items_produced.labels(topic=s.alerts_topic).inc()
        m.alerts_fired.labels(rule=alert.rule, severity=alert.severity).inc()
    if out.snapshot is not None:
        m.observe_snapshot(out.snapshot, rt.core.aggregation.baseline_window)
        m.last_event.set(out.snapshot.event_ms / 1000)
    m.last_processed.labels(stage="aggregate").set(time.time())
    rt.health.last_progress_monotonic = time.monotonic()
