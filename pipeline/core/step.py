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
from pipeline.core.records import Alert, Item, Scored, Snapshot, WindowStats
from pipeline.core.scoring import Scorer
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link
from pipeline.core.windows import is_late

TEXT_CHARS = 280  # text carried on sentiment.scored, for evidence
NEW, REPEAT, REDELIVERY, LATE = novelty.NEW, novelty.REPEAT, novelty.REDELIVERY, "late"


@dataclass(frozen=True)
class CoreConfig:
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    novelty_ttl_ms: int = 86_400_000
    novelty_max_entries: int = 256
    novelty_max_hamming: int = 12
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Outputs:
    verdict: str  # new | repeat | redelivery | late
    updated: list[WindowStats] = field(default_factory=list)
    closed: list[WindowStats] = field(default_factory=list)
    snapshot: Snapshot | None = None
    alerts: list[Alert] = field(default_factory=list)


def score_items(
    items: Sequence[Item], symbols: SymbolTable, scorer: Scorer, *, max_batch: int = 32
) -> list[list[Scored]]:
    """Link every item, score the texts of items that mention a ticker, one model call per batch.

    Returns, per input item, its `Scored` records (one per linked ticker; empty when none).
    """
    mentions = [link(item, symbols) for item in items]
    todo = [i for i, m in enumerate(mentions) if m]
    scores = scorer.score([items[i].text for i in todo], max_batch=max_batch) if todo else []
    out: list[list[Scored]] = [[] for _ in items]
    for i, sc in zip(todo, scores, strict=True):
        item = items[i]
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
                text=item.text[:TEXT_CHARS],
            )
            for m in mentions[i]
        ]
    return out


def step(
    state: dict[str, Any] | None, s: Scored, cfg: CoreConfig
) -> tuple[dict[str, Any], Outputs]:
    """Fold one scored record into its ticker's state. `state` is modified and returned."""
    if state is None or state.get("v") != aggregate.STATE_VERSION:
        state = aggregate.initialize(s.ticker)
    agg = cfg.aggregation
    if is_late(s.published_at_ms, state["watermark_ms"], agg.grace_ms):
        state["totals"]["late"] += 1
        return state, Outputs(LATE)
    state["novelty"], verdict = novelty.observe(
        state["novelty"],
        s.item_id,
        novelty.fingerprint(s.text),
        s.published_at_ms,
        ttl_ms=cfg.novelty_ttl_ms,
        max_entries=cfg.novelty_max_entries,
        max_hamming=cfg.novelty_max_hamming,
    )
    if verdict == REDELIVERY:
        state["totals"]["redelivered"] += 1
        return state, Outputs(REDELIVERY)
    updated, closed = aggregate.add(state, s, verdict == REPEAT, agg)
    snap = aggregate.snapshot(state, agg)
    evidence = {
        name: aggregate.evidence(acc)
        for name, size in agg.windows_ms.items()
        if (acc := state["windows"].get(name, {}).get(str(snap.windows[name].start_ms)))
    }
    alerts = evaluate(cfg.rules, snap, state["fired"], evidence, agg.evidence_items)
    return state, Outputs(verdict, updated, closed, snap, alerts)


def flush(state: dict[str, Any], cfg: CoreConfig) -> list[WindowStats]:
    """Every window still open, as final: the end of a backtest (the stream never flushes)."""
    out = []
    for name, size in cfg.aggregation.windows_ms.items():
        for key in sorted(state["windows"].get(name, {}), key=int):
            acc = state["windows"][name][key]
            out.append(aggregate.window_stats(state["ticker"], name, size, int(key), acc, True))
    return out
