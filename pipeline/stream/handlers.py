"""What the agents do with a batch: thin glue between Kafka events and the core.
Kept apart from the agent declarations so each agent stays a few lines (STYLE.md, habit 3).

Every failure isolates one record: whatever raises while one record is parsed, validated,
linked, scored, published or aggregated sends that record (original bytes, key and a reason) to
its dead-letter topic and the batch moves on. A handler returns only when every record it
published is acknowledged by the broker, so the delivery cursor may advance past the batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from faust.types import RecordMetadata, TableT
from faust.types.tuples import Message

from pipeline.core import aggregate, review
from pipeline.core.aggregate import due_ms
from pipeline.core.records import Alert, Item, Rejected, Score, Scored, Verdict, WindowStats
from pipeline.core.scoring import Scorer
from pipeline.core.step import Outputs, accept, advance, score_items
from pipeline.core.validate import check_arrival, parse_item
from pipeline.core.watermarks import merge, source_name, watermark
from pipeline.scoring import fingerprints
from pipeline.stream import stored_state
from pipeline.stream.delivery import Delivered
from pipeline.stream.runtime import Runtime
from pipeline.stream.topics import Topics
from pipeline.stream.watermarks import decode, is_watermark, table_key

log = logging.getLogger(__name__)

# A dead-letter copy larger than this is truncated, with the source offset as the pointer to the
# original: Kafka's default max.message.bytes (1 MiB) must hold the value *and* the headers, so an
# input record close to the limit would not fit its DLQ untouched.
DLQ_MAX_VALUE_BYTES = 900_000


def _dumps(obj: Any) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8: the encoding of every value the handlers produce."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def dlq_record(msg: Message, reason: str, detail: str) -> tuple[bytes, dict[str, bytes]]:
    """(value, headers) of the dead-letter copy of `msg`: the original bytes, unless too large."""
    value: bytes = msg.value or b""
    headers = {
        "finsent-reason": reason.encode(),
        "finsent-detail": detail.encode("utf-8", "backslashreplace")[:1000],
        "finsent-source": f"{msg.topic}/{msg.partition}/{msg.offset}".encode(),
    }
    if len(value) > DLQ_MAX_VALUE_BYTES:
        headers["finsent-truncated-from-bytes"] = str(len(value)).encode()
        value = value[:DLQ_MAX_VALUE_BYTES]
    return value, headers


async def dead_letter(
    rt: Runtime, topics: Topics, event: Delivered, reason: str, detail: str
) -> Awaitable[RecordMetadata]:
    """Queue the record's dead-letter copy; the returned future resolves once it is stored."""
    msg = event.message
    value, headers = dlq_record(msg, reason, detail)
    dlq = topics.dlq_topics[msg.topic]
    key = msg.key if msg.key is None or len(msg.key) <= 10_000 else msg.key[:10_000]
    fut = await dlq.send(key=key, value=value, headers=headers)
    rt.metrics.dead_letters.labels(reason=reason).inc()
    rt.metrics.items_produced.labels(topic=dlq.get_topic_name()).inc()
    log.info("dead letter %s/%d/%d: %s", msg.topic, msg.partition, msg.offset, reason)
    return fut


class _TimedScorer:
    """The runtime's scorer, timing only its model calls: the inference histogram measures the
    model, not linking and fingerprints around it."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.version = inner.version
        self.seconds = 0.0

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        """The inner scorer's `score`, its wall time added to `seconds`."""
        t = time.perf_counter()
        try:
            return self.inner.score(texts, max_batch=max_batch)
        finally:
            self.seconds += time.perf_counter() - t


async def _score(
    rt: Runtime, items: Sequence[Item], origins: Sequence[tuple[str, int, int]]
) -> list[list[Scored] | Rejected]:
    """Link and score `items` in one call off the event loop (see below): per item, its scored
    records (empty: no ticker) or a Rejected. Observes the batch size and the model time."""
    loop = asyncio.get_running_loop()
    timed = _TimedScorer(rt.scorer)
    settings = rt.settings
    # ONNX Runtime releases the GIL: run it off the event loop so heartbeats keep flowing.
    out = await loop.run_in_executor(
        None,
        lambda: score_items(
            items,
            rt.symbols,
            timed,
            max_batch=settings.model_batch,
            max_tickers=rt.core.max_tickers_per_item,
            mask_personal_data=rt.core.mask_personal_data,
            origins=origins,
            fingerprint=fingerprints.fingerprint,
        ),
    )
    n_texts = sum(1 for o in out if o and not isinstance(o, Rejected))
    if n_texts:
        rt.metrics.batch_size.observe(n_texts)
        rt.metrics.inference_seconds.observe(timed.seconds)
    return out


def _origin(event: Delivered) -> tuple[str, int, int]:
    """(topic, partition, offset) of the input record, carried on its scored records as `origin`."""
    m = event.message
    return (m.topic, m.partition, m.offset)


def _arrival_ms(event: Delivered) -> int | None:
    """The record's Kafka timestamp in ms (on finsent's LogAppendTime inputs: its arrival at the
    broker), or None without one; `check_arrival` refuses events dated too far ahead of it."""
    ts = event.message.timestamp
    return int(ts * 1000) if isinstance(ts, int | float) and ts > 0 else None


async def handle_raw_batch(rt: Runtime, topics: Topics, events: Sequence[Delivered]) -> None:
    """Validate -> DLQ bad records; link + score the rest in one model call; publish scored."""
    m, settings = rt.metrics, rt.settings
    pending: list[Awaitable[RecordMetadata]] = []
    good: list[tuple[Delivered, Item]] = []
    for event in events:
        try:
            parsed = parse_item(event.message.value or b"")
            if not isinstance(parsed, Rejected):
                parsed = (
                    check_arrival(parsed, _arrival_ms(event), rt.core.max_event_ahead_ms) or parsed
                )
        except Exception as exc:  # noqa: BLE001 - parse_item never raises; belt and braces
            parsed = Rejected("processing_error", f"validation raised {exc!r}"[:500], b"")
        if isinstance(parsed, Rejected):
            m.items_consumed.labels(topic=event.message.topic, source="invalid").inc()
            pending.append(await dead_letter(rt, topics, event, parsed.reason, parsed.detail))
        else:
            m.items_consumed.labels(
                topic=event.message.topic, source=m.source_label(parsed.source)
            ).inc()
            good.append((event, parsed))
    results: list[list[Scored] | Rejected]
    published: list[list[Scored]] = []  # per item sent to the scored topic: the review candidates
    try:
        results = await _score(rt, [it for _, it in good], [_origin(e) for e, _ in good])
    except Exception:  # noqa: BLE001 - isolate the record that breaks linking or the model
        log.exception("batch scoring failed; retrying item by item")
        results = []
        for event, item in good:
            try:
                results.extend(await _score(rt, [item], [_origin(event)]))
            except Exception as exc:  # noqa: BLE001
                results.append(Rejected("processing_error", repr(exc)[:500], b""))
    for (event, _item), records in zip(good, results, strict=True):
        if isinstance(records, Rejected):
            pending.append(await dead_letter(rt, topics, event, records.reason, records.detail))
            continue
        if not records:
            m.items_unlinked.inc()
            continue
        try:
            values = [(r.ticker.encode(), _dumps(r.to_dict())) for r in records]
        except Exception as exc:  # noqa: BLE001 - e.g. a value json cannot encode
            pending.append(await dead_letter(rt, topics, event, "processing_error", repr(exc)))
            continue
        for key, value in values:
            pending.append(await topics.scored_topic.send(key=key, value=value))
            m.items_produced.labels(topic=settings.scored_topic).inc()
        published.append(records)
    review_state = await _queue_review(rt, topics, published, pending)
    await _all_stored(pending)
    rt.review.state = review_state  # kept only now: a failed batch is selected again
    # Only now, with every output on the broker, may the watermark vouch for these records.
    times = {id(event): item.published_at_ms for event, item in good}
    for event in events:
        msg = event.message
        rt.progress.delivered(source_name(msg.topic, msg.partition), times.get(id(event)))
    _observe_drift(rt, good, results)
    m.last_processed.labels(stage="score").set(time.time())


async def _queue_review(
    rt: Runtime,
    topics: Topics,
    published: Sequence[Sequence[Scored]],
    pending: list[Awaitable[RecordMetadata]],
) -> review.ReviewState:
    """Send the review records of a batch's scored items (`pipeline.core.review.select`, O(1) per
    item), their futures added to `pending`; returns the selection state to keep once the batch
    is stored. Best effort: a selection that fails costs the batch its review picks, never its
    scores."""
    sel, m = rt.review, rt.metrics
    if not sel.config.enabled or not published:
        return sel.state
    try:
        state, picked = review.select(sel.state, published, sel.config)
        values = [(r["id"].encode(), _dumps(r), r["reason"]) for r in picked.records]
    except Exception:  # noqa: BLE001 - never fail the scoring stage for a review pick
        log.exception("review selection failed; this batch sends no review items")
        return sel.state
    for key, value, reason in values:
        pending.append(await topics.review_topic.send(key=key, value=value))
        m.review_items.labels(reason=reason).inc()
        m.items_produced.labels(topic=rt.settings.review_topic).inc()
    for reason, n in picked.rate_limited.items():
        m.review_rate_limited.labels(reason=reason).inc(n)
    return state


def _observe_drift(
    rt: Runtime,
    good: Sequence[tuple[Delivered, Item]],
    results: Sequence[list[Scored] | Rejected],
) -> None:
    """Count a stored batch's scored items in the model-drift windows (`DriftMonitor`), one per
    item whatever its tickers, and set the drift gauges: O(1) per item, O(sources x bins) per
    batch. An item counts at its record's arrival at the broker (the Kafka timestamp, which no
    payload sets), else at its event time. A monitoring signal: a failure here is logged, never
    the batch's."""
    if rt.drift.reference is None:
        return
    m = rt.metrics
    try:
        observations = [
            (m.source_label(item.source), records[0].label, records[0].confidence,
             _arrival_ms(event) or item.published_at_ms)
            for (event, item), records in zip(good, results, strict=True)
            if records and not isinstance(records, Rejected)
        ]  # fmt: skip
        if observations:
            m.observe_drift(rt.drift.count(observations), observations)
    except Exception:  # noqa: BLE001 - drift never fails the scoring stage
        log.exception("model drift update failed; this batch is not counted")


async def _all_stored(pending: Sequence[Awaitable[RecordMetadata]]) -> None:
    """Wait until the broker acknowledged every record; raise if one could not be stored."""
    if pending:
        await asyncio.gather(*pending)


class Tickers:
    """The aggregation's view of the table during one batch: read once, written once per key.

    Why: a changelog write per record rewrites the ticker's whole state each time; one write per
    ticker per micro-batch bounds changelog bytes by batches, not by how hot a ticker is. The
    write names the partition explicitly (the scored topic's partition of the ticker), because
    the table's own routing follows faust's "current event", which in a batch is not the record
    being folded. Each state also records that partition and when it is next due (`due_ms`),
    so a watermark that moves visits only the states it changes, also after a recovery.
    """

    def __init__(
        self,
        table: TableT,
        index: dict[int, dict[str, int | None]],
        unpublished: dict[str, tuple[int, object]],
    ) -> None:
        self.table = table
        self.unpublished = unpublished  # changelog writes wait here for the commit

        self.index = index  # scored partition -> ticker -> when due (see `due`)
        # stored chunks of waiting records, as read: key -> [(chunk id, its records)]
        self.chunks: dict[str, list[tuple[int, list[dict[str, Any]]]]] = {}
        self.next_ids: dict[str, int] = {}  # key -> the next unused chunk id (`sticky_chunks`)
        self.states: dict[str, dict[str, Any] | None] = {}
        self.partition: dict[str, int] = {}
        self.text_ids: dict[str, set[str]] = {}  # key -> items whose evidence text is stored

    def get(self, key: str) -> dict[str, Any] | None:
        """A key's state as this batch sees it: read from the table once (waiting records
        reassembled from their chunk keys), then this batch's own copy; None when the key has no
        state yet."""
        if key not in self.states:
            stored = self.table.get(key)
            if isinstance(stored, dict) and "windows" in stored:  # a ticker, as stored
                self.text_ids[key] = set(stored.get("text_ids", ()))
                stored = stored_state.read(self.table, key, stored)
            if isinstance(stored, dict) and "pending_chunks" in stored:
                ids = list(stored.get("pending_chunk_ids", range(stored["pending_chunks"])))
                self.next_ids[key] = stored.get("pending_next_id", max(ids, default=-1) + 1)
                chunks = [
                    (i, (self.table.get(chunk_key(key, i)) or {}).get("records", [])) for i in ids
                ]
                self.chunks[key] = chunks
                pending = [r for _i, records in chunks for r in records]
                stored = {
                    k: v
                    for k, v in stored.items()
                    if not k.startswith("pending_chunk") and k != "pending_next_id"
                }
                stored["pending"] = pending
            self.states[key] = stored
        return self.states[key]

    def put(self, key: str, partition: int, state: dict[str, Any]) -> None:
        """Replace a key's state for the rest of the batch (stored by `write_back`) in `partition`,
        and keep that partition's due index current if it is built."""
        self.states[key] = state
        self.partition[key] = partition
        if partition in self.index and "due" in state:
            self.index[partition][key] = state["due"]

    def due(self, partition: int, watermark_ms: int) -> list[str]:
        """Tickers of `partition` that a watermark at `watermark_ms` changes.

        The index is built once per assigned partition from the table (so states recovered from
        the changelog are found too: the store decodes every value, too slow for each move).
        """
        if partition not in self.index:
            found = {
                key: state.get("due")
                for key, state in self.table.data.items()
                if isinstance(state, dict) and state.get("partition") == partition
                and "due" in state
            }  # fmt: skip
            found.update(
                (key, st["due"])
                for key, p in self.partition.items()
                if p == partition and (st := self.states[key]) is not None and "due" in st
            )
            self.index[partition] = found
        return sorted(
            k for k, due in self.index[partition].items() if due is not None and due <= watermark_ms
        )

    def write_back(self) -> None:
        """Write each changed state: the records waiting for the watermark go in chunks under
        keys of their own (one Kafka message each, whatever the backlog), and only the chunks
        that changed are rewritten (`sticky_chunks`); each evidence text is a key of its own,
        written once (`stored_state`). Order: new chunks and texts, the state (the commit
        point), then the deletions."""
        for key, partition in self.partition.items():
            state = self.states[key]
            if state is None or "pending" not in state:
                self._write(partition, key, state)
                continue
            old = self.chunks.get(key, [])
            new, next_id = sticky_chunks(
                old, state["pending"], CHUNK_BYTES, self.next_ids.get(key, 0)
            )
            before = {i for i, _r in old}
            for i, records in new:  # new chunks first, then the main state, then tombstones
                if i not in before:
                    self._write(partition, chunk_key(key, i), {"records": records})
            main = {k: v for k, v in state.items() if k != "pending"}
            main["pending_chunks"] = len(new)
            main["pending_chunk_ids"] = [i for i, _r in new]
            main["pending_next_id"] = next_id
            main["pending_count"] = len(state["pending"])
            main, texts = stored_state.split(main)
            had = self.text_ids.get(key, set())
            for item_id in sorted(texts.keys() - had):
                self._write(
                    partition, stored_state.text_key(key, item_id), {"text": texts[item_id]}
                )
            main["text_ids"] = sorted(texts)
            self._write(partition, key, stored_state.pack_novelty(main))
            for i in sorted(before - {i for i, _r in new}):
                self._write(partition, chunk_key(key, i), None)
            for item_id in sorted(had - texts.keys()):
                self._write(partition, stored_state.text_key(key, item_id), None)
            self.text_ids[key] = set(texts)

    def _write(self, partition: int, key: str, value: Any) -> None:
        """One key into the local store now and into the changelog of `partition` at the commit,
        bypassing faust's routing (see the class); None deletes the key (a tombstone)."""
        if value is None:
            self.table.data.pop(key, None)
        else:
            self.table.data[key] = value  # the local store, without faust's routing
        # the changelog gets it at the commit (`write_changelog`); re-inserted, so keys are
        # written in the order of their last write
        buffered = self.unpublished.pop(key, None)
        never_written = buffered is not None and buffered[1] is not None  # written once, these
        if value is None and never_written and ("/pending/" in key or stored_state.MARK in key):
            return  # a chunk or text made and dropped between two commits never reaches Kafka
        self.unpublished[key] = (partition, value)


CHUNK_BYTES = 256_000  # waiting records per changelog message, as JSON


def chunk_key(ticker: str, i: int) -> str:
    """Table key of chunk `i` of `ticker`'s waiting records (`Tickers.write_back`)."""
    return f"{ticker}/pending/{i}"


MAX_CHUNKS = 64  # past this many chunks, a ticker's waiting records are packed afresh


def sticky_chunks(
    old: Sequence[tuple[int, list[dict[str, Any]]]],
    pending: Sequence[dict[str, Any]],
    max_bytes: int,
    next_id: int,
) -> tuple[list[tuple[int, list[dict[str, Any]]]], int]:
    """`pending` as (chunk id, records), and the next unused id. Chunks are immutable: one that
    keeps all its records keeps its id; one that lost some is written under a new id; new
    records go into new chunks. Ids are never reused (`next_id` lives in the ticker's state).

    Why: the ticker's main state, written after its new chunks and before the old ones'
    tombstones, is the commit point. A crash between those writes leaves either the old state
    with all its chunks or the new one with all of its own, never a mix (one partition, so
    Kafka keeps the order). And releasing the oldest records rewrites only the chunks they
    left, not a backlog whose boundaries shifted. Past `MAX_CHUNKS` chunks (a trickle makes
    many small ones), everything is packed afresh once.
    """
    alive = {id(r) for r in pending}
    out: list[tuple[int, list[dict[str, Any]]]] = []
    placed: set[int] = set()
    for i, records in old:
        kept = [r for r in records if id(r) in alive]
        placed.update(id(r) for r in kept)
        if len(kept) == len(records):
            out.append((i, records))
        elif kept:
            out.append((next_id, kept))
            next_id += 1
    fresh = [r for r in pending if id(r) not in placed]
    if fresh:
        for run in _runs(fresh, max_bytes):
            out.append((next_id, run))
            next_id += 1
    if len(out) > MAX_CHUNKS:
        packed = _runs([r for _i, records in out for r in records], max_bytes)
        out = [(next_id + k, run) for k, run in enumerate(packed)]
        next_id += len(packed)
    return out, next_id


def _runs(records: Sequence[dict[str, Any]], max_bytes: int) -> list[list[dict[str, Any]]]:
    """`records` in order, cut into runs of at most `max_bytes` (their "bytes" field)."""
    runs: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in records:
        b = int(r.get("bytes", 0))
        if runs[-1] and size + b > max_bytes:
            runs.append([])
            size = 0
        runs[-1].append(r)
        size += b
    return runs if runs[-1] else []


Encoded = tuple[list[tuple[WindowStats, bytes]], list[tuple[Alert, bytes]]]


def encode_outputs(out: Outputs) -> Encoded:
    """The Kafka values of a fold's windows and alerts."""
    windows = [(w, _dumps(w.to_dict())) for w in (*out.updated, *out.closed)]
    return windows, [(a, _dumps(a.to_dict())) for a in out.alerts]


class _Aggregation:
    """One batch of the aggregation stage: folds records and progress reports, publishes."""

    def __init__(self, rt: Runtime, topics: Topics, table: TableT) -> None:
        self.rt, self.topics = rt, topics
        self.tickers = Tickers(table, rt.tickers.due, rt.unpublished.changelog)
        self.pending: list[Awaitable[RecordMetadata]] = []
        self.marks: dict[int, int | None] = {}  # scored partition -> its watermark
        self.moved: set[int] = set()  # partitions whose watermark moved in this batch

    def watermark(self, partition: int) -> int | None:
        """A scored partition's watermark: computed once per batch from the progress state in the
        table, then kept current by `progress`; None while some input partition has not reported."""
        if partition not in self.marks:
            progress = self.tickers.get(table_key(partition)) or {}
            self.marks[partition] = watermark(progress.get("sources", {}), self.rt.layout.sources)
        return self.marks[partition]

    def progress(self, partition: int, value: dict[str, Any]) -> None:
        """Fold one watermark record into the partition's progress state; a partition whose
        watermark moved is remembered for `advance_moved`."""
        before = self.watermark(partition)
        key = table_key(partition)
        old = self.tickers.get(key) or {}
        sources = merge(old.get("sources", {}), decode(value))
        self.tickers.put(key, partition, {"kind": "watermarks", "sources": sources})
        self.marks[partition] = watermark(sources, self.rt.layout.sources)
        if self.marks[partition] != before:
            self.moved.add(partition)

    def store(self, ticker: str, partition: int, state: dict[str, Any]) -> None:
        """Keep a ticker's new state for write-back, with its partition and next due time (the due
        index), and count the records it folded early (FINSENT_MAX_PENDING_BYTES)."""
        agg = self.rt.core.aggregation
        old = self.tickers.get(ticker)
        forced = state["totals"].get("forced", 0) - ((old or {}).get("totals") or {}).get(
            "forced", 0
        )
        if forced > 0:
            self.rt.metrics.forced_folds.inc(forced)
            log.warning("%s: %d records folded before the watermark (FINSENT_MAX_PENDING_BYTES)",
                        ticker, forced)  # fmt: skip
        due = due_ms(state, agg)
        self.tickers.put(ticker, partition, {**state, "partition": partition, "due": due})
        self.rt.tickers.hold(ticker, partition, len(state["pending"]))

    async def publish(self, ticker: str, partition: int, out: Outputs, encoded: Encoded) -> None:
        """Count a fold's verdicts and queue its outputs: final windows and alerts are sent now, in
        order; an open window keeps only its newest update in `rt.unpublished`, sent by the
        next commit (`publish_updates`): one message per window per commit, not per record."""
        m, settings = self.rt.metrics, self.rt.settings
        for verdict in out.verdicts:
            m.mentions.labels(verdict=verdict).inc()
            if verdict is Verdict.LATE:
                m.late_records.inc()
            elif verdict is Verdict.REPEAT:
                m.duplicate_records.inc()
            if verdict in (Verdict.NEW, Verdict.REPEAT):
                m.ticker_mentions.labels(ticker=m.ticker_label(ticker)).inc()
        key = ticker.encode()
        windows, alerts = encoded
        updates = self.rt.unpublished.updates
        for w, value in windows:
            if w.final:
                updates.pop((w.ticker, w.window, w.start_ms), None)
                self.pending.append(await self.topics.aggregates_topic.send(key=key, value=value))
                m.items_produced.labels(topic=settings.aggregates_topic).inc()
            else:
                updates[(w.ticker, w.window, w.start_ms)] = (partition, value)
        for alert, value in alerts:
            self.pending.append(await self.topics.alerts_topic.send(key=key, value=value))
            m.items_produced.labels(topic=settings.alerts_topic).inc()
            m.alerts_fired.labels(rule=alert.rule, severity=alert.severity).inc()
        if out.snapshot is not None:
            m.observe_snapshot(out.snapshot, self.rt.core.aggregation.baseline_window)
            m.last_event.set(out.snapshot.event_ms / 1000)

    async def advance_moved(self) -> None:
        """Fold what the moved watermarks released, in tickers no record of this batch named
        too: a quiet ticker's windows close and its waiting records are folded."""
        for partition in sorted(self.moved):
            wm = self.marks[partition]
            if wm is None:
                continue
            self.rt.metrics.watermark.labels(partition=str(partition)).set(wm / 1000)
            for ticker in self.tickers.due(partition, wm):
                state = self.tickers.get(ticker)
                if state is None or state.get("v") != aggregate.STATE_VERSION:
                    continue
                try:
                    state, out = advance(state, wm, self.rt.core)
                    encoded = encode_outputs(out)
                except Exception:  # noqa: BLE001 - every waiting record was read fine once
                    log.exception("%s: folding at watermark %d failed; kept as it was", ticker, wm)
                    continue
                self.store(ticker, partition, state)
                await self.publish(ticker, partition, out, encoded)

    async def finish(self) -> None:
        """End of the batch: write the states back (to the local store now, to the changelog at
        the commit) and wait until the broker acknowledged every output sent."""
        m = self.rt.metrics
        self.tickers.write_back()
        m.pending_records.set(self.rt.tickers.waiting())
        m.unpublished_updates.set(len(self.rt.unpublished.updates))
        await _all_stored(self.pending)


async def handle_scored_batch(
    rt: Runtime, topics: Topics, table: TableT, events: Sequence[Delivered]
) -> None:
    """Fold scored records into their tickers' states as the watermark allows; publish windows
    and alerts. Progress reports (watermark records) move the watermark of their partition."""
    batch = _Aggregation(rt, topics, table)
    for event in events:
        partition = event.message.partition
        try:
            value = json.loads(event.message.value or b"")
            if is_watermark(value):
                batch.progress(partition, value)
                continue
            scored = Scored.from_dict(value)
            old = batch.tickers.get(scored.ticker)
            state, out = accept(old, scored, batch.watermark(partition), rt.core)
            encoded = encode_outputs(out)  # a value json cannot encode fails this record only
        except Exception as exc:  # noqa: BLE001 - one record, not the partition
            reason = "processing_error" if isinstance(exc, RecursionError) else "unreadable_scored"
            batch.pending.append(await dead_letter(rt, topics, event, reason, repr(exc)[:500]))
            continue
        batch.store(scored.ticker, partition, state)
        await batch.publish(scored.ticker, partition, out, encoded)
    await batch.advance_moved()
    await batch.finish()
    rt.metrics.last_processed.labels(stage="aggregate").set(time.time())


async def publish_updates(rt: Runtime, topics: Topics) -> int:
    """Send the newest update of every open window changed since the last call; returns how
    many. Call with the aggregation's delivery lock held (no batch changes them meanwhile); on
    failure the updates stay and go with the next call."""
    updates = rt.unpublished.updates
    if not updates:
        return 0
    pending = [
        await topics.aggregates_topic.send(key=ticker.encode(), value=value)
        for (ticker, _w, _start), (_p, value) in updates.items()
    ]
    await _all_stored(pending)
    n = len(updates)
    rt.metrics.items_produced.labels(topic=rt.settings.aggregates_topic).inc(n)
    updates.clear()
    rt.metrics.unpublished_updates.set(0)
    return n


def write_changelog(rt: Runtime, table: TableT) -> int:
    """Queue the newest value of every table key changed since the last commit on the table's
    changelog (the producer flush that precedes the commit waits for them); returns how many."""
    changed = rt.unpublished.changelog
    for key, (partition, value) in changed.items():
        table.send_changelog(partition, key, value)
    n = len(changed)
    changed.clear()
    return n
