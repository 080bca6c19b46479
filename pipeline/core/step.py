"""What both drivers call: `score_items` (link + score a batch of items), then per scored
item x ticker either `step` (the backtest: one sorted source, folded at once) or `accept` and
`advance` (the stream: input partitions interleaved, folded when the watermark passes). Pure
apart from the injected `Scorer`.

Both paths fold a ticker's records with the same `_fold`, in the same order: event time, then
item id. The stream gets there by holding records until every input partition is past them
(`core/watermarks.py`); the backtest by sorting its file. Same code, same order, same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import aggregate, novelty
from pipeline.core.aggregate import AggregationConfig
from pipeline.core.alerts import Rule, evaluate
from pipeline.core.privacy import mask_personal_data as mask_pii
from pipeline.core.records import (
    TEXT_CHARS,
    Alert,
    Item,
    Rejected,
    Scored,
    Snapshot,
    Verdict,
    WindowStats,
)
from pipeline.core.scoring import Scorer
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link
from pipeline.core.windows import is_late

DEFAULT_MAX_TICKERS = 10


@dataclass(frozen=True)
class CoreConfig:
    """Everything the core decides with, as plain values: the stream and the backtest both
    build it with `Settings.core_config`, so they decide alike. Durations are event-time
    milliseconds."""

    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    novelty_ttl_ms: int = 86_400_000
    novelty_max_entries: int = 256
    novelty_max_hamming: int = 12
    rules: tuple[Rule, ...] = ()
    # An item linked to more tickers than this is spam (a cashtag list), not news about each.
    max_tickers_per_item: int = DEFAULT_MAX_TICKERS
    # Input records dated further ahead of their arrival (Kafka timestamp) are rejected.
    max_event_ahead_ms: int = 86_400_000
    # E-mails, phone numbers and handles masked in the text on scored records (core/privacy.py).
    mask_personal_data: bool = True
    # Records waiting for the watermark live in the ticker's state: past this many bytes of
    # them the oldest half is folded before the watermark reaches them (counted as "forced"),
    # a last guard on memory.
    max_pending_bytes: int = 64_000_000


@dataclass(frozen=True)
class Outputs:
    """What folding records into a ticker produced. `verdicts` has one entry per record whose
    fate is now known (new | repeat | redelivery | correction | late); a record waiting for the
    watermark has none yet."""

    verdicts: tuple[Verdict, ...] = ()
    updated: list[WindowStats] = field(default_factory=list)
    closed: list[WindowStats] = field(default_factory=list)
    snapshot: Snapshot | None = None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict | None:
        """The verdict of a one-record fold (`step`)."""
        return self.verdicts[-1] if self.verdicts else None

    def then(self, later: Outputs) -> Outputs:
        """These outputs followed by `later`'s (the latest snapshot wins)."""
        return Outputs(
            self.verdicts + later.verdicts,
            self.updated + later.updated,
            self.closed + later.closed,
            later.snapshot or self.snapshot,
            self.alerts + later.alerts,
        )


def score_items(
    items: Sequence[Item],
    symbols: SymbolTable,
    scorer: Scorer,
    *,
    max_batch: int = 32,
    max_tickers: int = DEFAULT_MAX_TICKERS,
    origins: Sequence[tuple[str, int, int] | None] | None = None,
    mask_personal_data: bool = True,
    fingerprint: Callable[[str], tuple[int, int]] = novelty.fingerprint,
) -> list[list[Scored] | Rejected]:
    """Link every item, score the texts of items that mention a ticker, one model call per batch.

    Returns, per input item, its `Scored` records (one per linked ticker; empty when none), or a
    `Rejected` ("too_many_tickers") for an item linked to more than `max_tickers` tickers: one
    post with every S&P cashtag must not move 500 tickers. `origins[i]` is item i's Kafka
    (topic, partition, offset), carried on its records for exact redelivery detection.
    `mask_personal_data` masks only the text carried on the records: linking, the model and the
    fingerprint see the original, so masking changes no score and no verdict. `fingerprint`
    computes each item's novelty fingerprints once, here in the scoring stage (the drivers pass
    the NumPy version, `pipeline.scoring.fingerprints`, which gives the same values).
    """
    mentions = [link(item, symbols) for item in items]
    out: list[list[Scored] | Rejected] = [[] for _ in items]
    for i, m in enumerate(mentions):
        if max_tickers and len(m) > max_tickers:
            out[i] = Rejected(
                "too_many_tickers", f"linked to {len(m)} tickers (max {max_tickers})", b""
            )
            mentions[i] = []
    todo = [i for i, m in enumerate(mentions) if m]
    scores = scorer.score([items[i].text for i in todo], max_batch=max_batch) if todo else []
    for i, sc in zip(todo, scores, strict=True):
        item = items[i]
        fp = fingerprint(item.text)
        origin = origins[i] if origins is not None else None
        out[i] = [
            Scored(
                item_id=item.id,
                source=item.source,
                ticker=m.ticker,
                relevance=m.relevance,
                label=sc.label,
                score=sc.score,
                confidence=sc.confidence,
                published_at_ms=item.published_at_ms,
                model_version=scorer.version,
                text=(mask_pii(item.text) if mask_personal_data else item.text)[:TEXT_CHARS],
                origin=origin,
                fingerprint=fp,
            )
            for m in mentions[i]
        ]
    return out


def _with_totals(state: dict[str, Any], key: str, **changes: Any) -> dict[str, Any]:
    """`state` with `totals[key]` counted up once and `changes` applied; copy-on-write."""
    totals = dict(state["totals"])
    totals[key] = totals.get(key, 0) + 1
    return {**state, "totals": totals, **changes}


def _fresh(state: dict[str, Any] | None, ticker: str) -> dict[str, Any]:
    """`state`, or a new one when there is none or it has another `STATE_VERSION`: a state of
    an older shape (from a changelog) is started over, never misread."""
    if state is None or state.get("v") != aggregate.STATE_VERSION:
        return aggregate.initialize(ticker)
    return state


def _redelivered(state: dict[str, Any], s: Scored) -> tuple[dict[str, Any], bool]:
    """Exact redelivery check by source offset: a record from an input partition at or below
    the highest offset already taken in for that partition was counted before (at-least-once
    Kafka after a crash): never new, never late, whatever the burst size. Returns the state with
    the partition's mark moved, and whether `s` is such a redelivery."""
    src = s.source_partition
    if src is None or s.origin is None:
        return state, False
    offsets = state.get("offsets", {})
    mark = offsets.get(src)
    if mark is not None and s.origin[2] <= mark:
        return _with_totals(state, "redelivered"), True
    return {**state, "offsets": {**offsets, src: s.origin[2]}}, False


def _fold(state: dict[str, Any], s: Scored, cfg: CoreConfig) -> tuple[dict[str, Any], Outputs]:
    """Fold one record in, at its event time: close the windows that end before it, judge its
    novelty against the chain, add it to its windows, decay and baseline, evaluate the rules."""
    agg = cfg.aggregation
    state, closed = aggregate.close_until(state, s.published_at_ms, agg)
    chain, verdict = novelty.observe(
        state["novelty"],
        s.item_id,
        s.fingerprint or novelty.fingerprint(s.text),
        s.published_at_ms,
        ttl_ms=cfg.novelty_ttl_ms,
        max_entries=cfg.novelty_max_entries,
        max_hamming=cfg.novelty_max_hamming,
    )
    if verdict in (Verdict.REDELIVERY, Verdict.CORRECTION):
        key = "redelivered" if verdict == Verdict.REDELIVERY else "corrections"
        return _with_totals(state, key, novelty=chain), Outputs((verdict,), closed=closed)
    state, updated = aggregate.add({**state, "novelty": chain}, s, verdict == Verdict.REPEAT, agg)
    snap = aggregate.snapshot(state, agg)
    evidence = {
        name: aggregate.evidence(acc)
        for name, size in agg.windows_ms.items()
        if (acc := state["windows"].get(name, {}).get(str(snap.windows[name].start_ms)))
    }
    fired = dict(state["fired"])
    alerts = evaluate(cfg.rules, snap, fired, evidence, agg.evidence_items)
    state = {**state, "fired": fired}
    return state, Outputs((verdict,), updated, closed, snap, alerts)


def step(
    state: dict[str, Any] | None, s: Scored, cfg: CoreConfig
) -> tuple[dict[str, Any], Outputs]:
    """Fold one record from a single source read in (event time, id) order, at once.

    The backtest's path (its feed is sorted), and the reference the stream's `accept` /
    `advance` must agree with. Copy-on-write: `state` is never modified, so when anything here
    raises, the caller still holds the state as it was and can dead-letter just this record.

    Order of the checks: redelivery by source offset; lateness against the ticker's own clock
    (an unsorted single source); then `_fold`.
    """
    state, again = _redelivered(_fresh(state, s.ticker), s)
    if again:
        return state, Outputs((Verdict.REDELIVERY,))
    if is_late(s.published_at_ms, state["clock_ms"], cfg.aggregation.grace_ms):
        return _with_totals(state, "late"), Outputs((Verdict.LATE,))
    return _fold(state, s, cfg)


def _order(record: dict[str, Any]) -> tuple[int, str, list[Any]]:
    """The fold order of waiting records: event time, then item id (then source offset, for a
    feed that sent one id twice). Not arrival order, so the partition interleaving cannot
    change which copy of a story is the original."""
    return (int(record["published_at_ms"]), str(record["id"]), record.get("origin") or [])


def _waiting(state: dict[str, Any], s: Scored, cfg: CoreConfig) -> tuple[dict[str, Any], Outputs]:
    """`s` joins the records waiting for the watermark. A hot ticker behind a watermark that
    does not move (a partition held back for long) cannot grow its state without bound: past
    `max_pending_bytes` the oldest half is folded now, in order."""
    entry = s.to_dict()
    entry["bytes"] = len(json.dumps(entry))
    pending = [*state["pending"], entry]
    total = state.get("pending_bytes", 0) + entry["bytes"]
    first = state.get("pending_first_ms")
    first = s.published_at_ms if first is None else min(first, s.published_at_ms)
    state = {**state, "pending": pending, "pending_bytes": total, "pending_first_ms": first}
    if total <= cfg.max_pending_bytes:
        return state, Outputs()
    ordered = sorted(pending, key=_order)
    cut, kept = 0, total
    while kept > cfg.max_pending_bytes // 2:
        kept -= ordered[cut]["bytes"]
        cut += 1
    totals = {**state["totals"], "forced": state["totals"].get("forced", 0) + cut}
    rest = ordered[cut:]
    first = int(rest[0]["published_at_ms"]) if rest else None
    state = {**state, "pending": rest, "pending_bytes": kept, "pending_first_ms": first}
    state["totals"] = totals
    out = Outputs()
    for record in ordered[:cut]:
        state, now = _fold(state, Scored.from_dict(record), cfg)
        out = out.then(now)
    return state, out


def accept(
    state: dict[str, Any] | None, s: Scored, watermark_ms: int | None, cfg: CoreConfig
) -> tuple[dict[str, Any], Outputs]:
    """Take one record from the stream, where input partitions interleave in any order.

    `watermark_ms` is the input partitions' watermark (`core.watermarks`). A record older than
    it by more than the grace period is late. Otherwise it waits in the ticker's `pending` list
    until the watermark passes it (`advance`), and records are folded in `_order`, so within
    the watermark the arrival order changes nothing. A record already behind the watermark (its
    own partition was out of order, within the grace period) is folded at once, after the
    records the watermark releases. While `watermark_ms` is None (some input partition not yet
    heard from) every record waits and nothing is late. Copy-on-write, like `step`.
    """
    state, again = _redelivered(_fresh(state, s.ticker), s)
    if again:
        return state, Outputs((Verdict.REDELIVERY,))
    if watermark_ms is None:
        return _waiting(state, s, cfg)
    if is_late(s.published_at_ms, watermark_ms, cfg.aggregation.grace_ms):
        return _with_totals(state, "late"), Outputs((Verdict.LATE,))
    state, out = advance(state, watermark_ms, cfg)
    if s.published_at_ms < watermark_ms:
        state, now = _fold(state, s, cfg)
        return state, out.then(now)
    state, now = _waiting(state, s, cfg)
    return state, out.then(now)


def advance(
    state: dict[str, Any], watermark_ms: int, cfg: CoreConfig
) -> tuple[dict[str, Any], Outputs]:
    """The watermark reached `watermark_ms`: fold every waiting record older than it, in
    `_order`, then close the windows it passed. The result depends only on the records and the
    final watermark, not on the steps the watermark took to get there."""
    ready = [p for p in state["pending"] if int(p["published_at_ms"]) < watermark_ms]
    out = Outputs()
    if ready:
        rest = [p for p in state["pending"] if int(p["published_at_ms"]) >= watermark_ms]
        size = sum(int(p.get("bytes", 0)) for p in rest)
        first = min((int(p["published_at_ms"]) for p in rest), default=None)
        state = {**state, "pending": rest, "pending_bytes": size, "pending_first_ms": first}
        for record in sorted(ready, key=_order):
            state, now = _fold(state, Scored.from_dict(record), cfg)
            out = out.then(now)
    state, closed = aggregate.close_until(state, watermark_ms, cfg.aggregation)
    return state, out.then(Outputs(closed=closed)) if closed else out


def flush(state: dict[str, Any], cfg: CoreConfig) -> list[WindowStats]:
    """Every window still open, as final: the end of a backtest (the stream never flushes).

    Reads `state`, changes nothing, and does not fold `pending` records: only `accept` leaves
    any, and the backtest folds with `step`."""
    out = []
    for name, size in cfg.aggregation.windows_ms.items():
        for key in sorted(state["windows"].get(name, {}), key=int):
            acc = state["windows"][name][key]
            out.append(aggregate.window_stats(state["ticker"], name, size, int(key), acc, True))
    return out
