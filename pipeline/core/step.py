"""The two functions both drivers call: `score_items` (link + score a batch of items) and `step`
(fold one scored item x ticker into that ticker's state). Pure apart from the injected `Scorer`.

The stream driver runs `score_items` in one agent and `step` in another (keyed by ticker); the
backtest driver runs them back to back over a file. Same code, same event time, same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import aggregate, novelty
from pipeline.core.aggregate import AggregationConfig
from pipeline.core.alerts import Rule, evaluate
from pipeline.core.privacy import mask_personal_data as mask_pii
from pipeline.core.records import Alert, Item, Rejected, Scored, Snapshot, WindowStats
from pipeline.core.scoring import Scorer
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link
from pipeline.core.windows import is_late

TEXT_CHARS = 280  # text carried on sentiment.scored, for evidence
NEW, REPEAT, REDELIVERY, CORRECTION = (
    novelty.NEW,
    novelty.REPEAT,
    novelty.REDELIVERY,
    novelty.CORRECTION,
)
LATE = "late"
VERDICTS = (NEW, REPEAT, REDELIVERY, CORRECTION, LATE)
DEFAULT_MAX_TICKERS = 10


@dataclass(frozen=True)
class CoreConfig:
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


@dataclass(frozen=True)
class Outputs:
    verdict: str  # new | repeat | redelivery | correction | late
    updated: list[WindowStats] = field(default_factory=list)
    closed: list[WindowStats] = field(default_factory=list)
    snapshot: Snapshot | None = None
    alerts: list[Alert] = field(default_factory=list)


def score_items(
    items: Sequence[Item],
    symbols: SymbolTable,
    scorer: Scorer,
    *,
    max_batch: int = 32,
    max_tickers: int = DEFAULT_MAX_TICKERS,
    origins: Sequence[tuple[str, int, int] | None] | None = None,
    mask_personal_data: bool = True,
) -> list[list[Scored] | Rejected]:
    """Link every item, score the texts of items that mention a ticker, one model call per batch.

    Returns, per input item, its `Scored` records (one per linked ticker; empty when none), or a
    `Rejected` ("too_many_tickers") for an item linked to more than `max_tickers` tickers: one
    post with every S&P cashtag must not move 500 tickers. `origins[i]` is item i's Kafka
    (topic, partition, offset), carried on its records for exact redelivery detection.
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
        fp = novelty.fingerprint(item.text)
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
    totals = dict(state["totals"])
    totals[key] = totals.get(key, 0) + 1
    return {**state, "totals": totals, **changes}


def step(
    state: dict[str, Any] | None, s: Scored, cfg: CoreConfig
) -> tuple[dict[str, Any], Outputs]:
    """Fold one scored record into its ticker's state; return (new state, outputs).

    Copy-on-write: `state` is never modified, so when anything here raises, the caller still
    holds the state as it was and can dead-letter just this record.

    Order of the checks, and why:
    1. redelivery by source offset: a record from an input partition at or below the highest
       offset already folded in for that partition was counted before (at-least-once Kafka
       after a crash): never new, never late, whatever the burst size;
    2. lateness against the ticker's watermark;
    3. novelty: repeat, correction or same-id resend (see `novelty`);
    4. windows, decay, baseline and alert rules.
    """
    if state is None or state.get("v") != aggregate.STATE_VERSION:
        state = aggregate.initialize(s.ticker)
    agg = cfg.aggregation
    offsets = state.get("offsets", {})
    src = s.source_partition
    if src is not None and s.origin is not None:
        mark = offsets.get(src)
        if mark is not None and s.origin[2] <= mark:
            return _with_totals(state, "redelivered"), Outputs(REDELIVERY)
        offsets = {**offsets, src: s.origin[2]}
    if is_late(s.published_at_ms, state["watermark_ms"], agg.grace_ms):
        return _with_totals(state, "late", offsets=offsets), Outputs(LATE)
    chain, verdict = novelty.observe(
        state["novelty"],
        s.item_id,
        s.fingerprint or novelty.fingerprint(s.text),
        s.published_at_ms,
        ttl_ms=cfg.novelty_ttl_ms,
        max_entries=cfg.novelty_max_entries,
        max_hamming=cfg.novelty_max_hamming,
    )
    if verdict in (REDELIVERY, CORRECTION):
        key = "redelivered" if verdict == REDELIVERY else "corrections"
        return _with_totals(state, key, offsets=offsets, novelty=chain), Outputs(verdict)
    state, updated, closed = aggregate.add(
        {**state, "offsets": offsets, "novelty": chain}, s, verdict == REPEAT, agg
    )
    snap = aggregate.snapshot(state, agg)
    evidence = {
        name: aggregate.evidence(acc)
        for name, size in agg.windows_ms.items()
        if (acc := state["windows"].get(name, {}).get(str(snap.windows[name].start_ms)))
    }
    fired = dict(state["fired"])
    alerts = evaluate(cfg.rules, snap, fired, evidence, agg.evidence_items)
    state = {**state, "fired": fired}
    return state, Outputs(verdict, updated, closed, snap, alerts)


def flush(state: dict[str, Any], cfg: CoreConfig) -> list[WindowStats]:
    """Every window still open, as final: the end of a backtest (the stream never flushes)."""
    out = []
    for name, size in cfg.aggregation.windows_ms.items():
        for key in sorted(state["windows"].get(name, {}), key=int):
            acc = state["windows"][name][key]
            out.append(aggregate.window_stats(state["ticker"], name, size, int(key), acc, True))
    return out
