"""Alert rules on per-ticker analytics, evaluated in-stream. Pure.

The same rule definitions (`pipeline/alert_rules.yaml`) are rendered into Prometheus alerting
rules (`pipeline.rules`), so the pager and the `sentiment.alerts` topic agree on what an alert is.
Prometheus adds `for:` (the condition must hold across scrapes); in-stream, a rule fires at most
once per ticker, rule and window, with the items that moved the window as evidence.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.records import Alert, Evidence, Snapshot, WindowStats

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Signals a ticker rule may read from a Snapshot, and the gauge Prometheus reads for it.
SIGNALS = ("sentiment_z", "volume_z", "decayed_score", "mean_score")
# Which window items explain an alert (`_pick_evidence`).
EVIDENCE = ("negative", "positive", "any")


@dataclass(frozen=True)
class Rule:
    """One ticker alert rule from `alert_rules.yaml`: fire when `signal` `op` `threshold` holds
    and the rule's `window` has at least `min_items` items (repeats included) and at least
    `min_unique` unique stories (repeats and near-duplicates excluded: `WindowStats.unique`).

    `min_unique` is the gate that matters: ten retweets of one tweet are ten items but one
    story, and must not page. The same definition is rendered for Prometheus
    (`pipeline.rules_render`); an unknown signal or operator or a negative gate is refused when
    the rule is built, so a typo fails the load, not the pager."""

    name: str
    signal: str
    op: str
    threshold: float
    window: str = "1h"
    min_items: int = 0
    min_unique: int = 0
    severity: str = "warning"
    summary: str = ""
    evidence: str = "any"  # which items explain it: negative | positive | any
    decay: str = "1h"  # half-life name, for signal decayed_score

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"rule {self.name}: unknown signal {self.signal!r}; one of {SIGNALS}")
        if self.op not in OPS:
            raise ValueError(f"rule {self.name}: unknown op {self.op!r}; one of {tuple(OPS)}")
        for gate in ("min_items", "min_unique"):
            value = getattr(self, gate)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"rule {self.name}: {gate} must be a whole number >= 0, not {value!r}"
                )
        if self.evidence not in EVIDENCE:
            raise ValueError(
                f"rule {self.name}: unknown evidence {self.evidence!r}; one of {EVIDENCE}"
            )

    def gated(self, win: WindowStats) -> bool:
        """Whether `win` is too thin for this rule: fewer items or fewer unique stories than
        the rule's gates. A retweet storm of one story has many items but one unique."""
        return win.count < self.min_items or win.unique < self.min_unique


def value_of(rule: Rule, snap: Snapshot) -> float | None:
    """The value `rule` compares, or None when the snapshot has none yet (no baseline, no new
    story): a None never fires. `sentiment_z` and `volume_z` are always those of the baseline
    window, whatever `rule.window`; `decayed_score` reads the half-life `rule.decay`."""
    if rule.signal == "sentiment_z":
        return snap.sentiment_z
    if rule.signal == "volume_z":
        return snap.volume_z
    if rule.signal == "decayed_score":
        return snap.decayed.get(rule.decay)
    return snap.windows[rule.window].mean_score


def _pick_evidence(rule: Rule, items: Iterable[Evidence], n: int) -> tuple[Evidence, ...]:
    """The `n` items that explain the rule's direction: the most negative (or positive) by
    score x weight, or, for "any", the window's strongest movers in their own order."""
    if rule.evidence == "negative":
        chosen = sorted((e for e in items if e.score < 0), key=lambda e: e.score * e.weight)
    elif rule.evidence == "positive":
        chosen = sorted((e for e in items if e.score > 0), key=lambda e: -e.score * e.weight)
    else:
        chosen = list(items)
    return tuple(chosen[:n])


def evaluate(
    rules: Iterable[Rule],
    snap: Snapshot,
    fired: dict[str, Any],
    evidence_by_window: Mapping[str, Iterable[Evidence]],
    evidence_items: int = 5,
) -> list[Alert]:
    """Alerts that fire now; `fired` (rule -> window start ms) is updated: once per window.

    Mutates `fired` in place, so a copy-on-write caller passes a copy (`step._fold` does). A
    rule fires the first time its condition holds in a window and not again in that window,
    even if the value keeps moving; Prometheus' `for:` has no counterpart here."""
    alerts = []
    for rule in rules:
        value = value_of(rule, snap)
        win = snap.windows[rule.window]
        if value is None or rule.gated(win) or not OPS[rule.op](value, rule.threshold):
            continue
        if fired.get(rule.name) == win.start_ms:
            continue
        fired[rule.name] = win.start_ms
        values: dict[str, float | int | None] = {
            rule.signal: value,
            "threshold": rule.threshold,
            "count": win.count,
            "unique": win.unique,
            "mean_score": win.mean_score,
            "sentiment_z": snap.sentiment_z,
            "volume_z": snap.volume_z,
        }
        alerts.append(
            Alert(
                rule=rule.name,
                ticker=snap.ticker,
                severity=rule.severity,
                window=rule.window,
                window_start_ms=win.start_ms,
                event_ms=snap.event_ms,
                values=values,
                summary=(rule.summary or rule.name).format(ticker=snap.ticker, value=value),
                evidence=_pick_evidence(
                    rule, evidence_by_window.get(rule.window, ()), evidence_items
                ),
            )
        )
    return alerts
