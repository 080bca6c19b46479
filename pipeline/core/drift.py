"""Model drift: is what the model scores now, per source, still like what it was tested on?

The model's own predictions on its held-out validation split (the training reference, stored in
the model manifest as `reference`, written by `python -m models.reference`) give two
distributions: the label mix (shares of negative / neutral / positive) and a histogram of the
confidence (max softmax, which for three classes lies in [1/3, 1]; `CONFIDENCE_BINS` equal bins).
Live, the scoring stage folds every scored item into a per-source window (`observe`) and
`readings` compares each window with the reference:

- **PSI** (population stability index) = sum_i (p_i - q_i) ln(p_i / q_i), p live, q reference.
  The usual reading: **< 0.1 stable, 0.1 - 0.25 moderate shift, > 0.25 significant shift**
  (`PSI_MODERATE`, `PSI_SIGNIFICANT`; the `FinsentModelDrift` alert fires above 0.25).
- **Jensen-Shannon divergence** in bits: bounded in [0, 1] and symmetric, so it stays readable
  when PSI explodes (a bin the reference never saw). For small shifts JS ~ PSI / 8 nats, i.e.
  PSI 0.25 ~ JS 0.045 bits.

Empty bins: every share is smoothed as (p_i + EPSILON) / (1 + k EPSILON) before PSI's logarithm,
so a bin with no items costs a large but finite term instead of a division by zero; JS needs no
smoothing (0 log 0 = 0).

**The window is an exponentially decayed count** (half-life `DEFAULT_HALF_LIFE_MS`, set by
FINSENT_DRIFT_HALF_LIFE) rather than the last N items: an item counted at time t weighs
2^-((now - t) / half_life), so the window says "what was scored in about the last hour" at any
volume, a source that goes quiet fades out of it (its window items fall below the alert's volume
gate) instead of holding an old verdict for days, and one pass keeps a few floats per source
(no ring buffer of N items). The times are passed in (the stream passes the broker's arrival
time of each record, which a payload cannot push ahead); `now` is the newest time seen over all
sources. The decayed sum of weights (`Reading.items`) is the volume gate: below a few hundred
items a histogram's PSI is mostly sampling noise (about (bins - 1) / n).

State in, new state out: `observe` never changes its input and costs O(1) per item plus
O(bins) per source and batch; `DriftState.to_dict` / `from_dict` round-trip it through JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.records import LABELS

CONFIDENCE_BINS = 10
CONFIDENCE_LOW = 1.0 / len(LABELS)  # the smallest max softmax of three classes
EPSILON = 1e-4
DEFAULT_HALF_LIFE_MS = 3_600_000
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
DISTRIBUTIONS = ("labels", "confidence")
_LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}
_BIN_WIDTH = (1.0 - CONFIDENCE_LOW) / CONFIDENCE_BINS

# One scored item: (source, label, confidence, time in ms it is counted at).
Observation = tuple[str, str, float, int]


def confidence_edges() -> list[float]:
    """The bins' upper edges, CONFIDENCE_LOW excluded (the histogram buckets of the gauges)."""
    return [CONFIDENCE_LOW + (i + 1) * _BIN_WIDTH for i in range(CONFIDENCE_BINS - 1)] + [1.0]


def confidence_bin(confidence: float) -> int:
    """The bin of a confidence: equal bins over [1/3, 1], anything outside clamped to the ends
    (rounding can put a max softmax a hair below 1/3 or above 1)."""
    i = int((confidence - CONFIDENCE_LOW) / _BIN_WIDTH)
    return min(max(i, 0), CONFIDENCE_BINS - 1)


def shares(counts: Sequence[float]) -> tuple[float, ...]:
    """Counts as shares of their sum; all zero (no data) when the sum is 0."""
    total = sum(counts)
    return tuple(c / total for c in counts) if total > 0 else tuple(0.0 for _ in counts)


def _smoothed(p: Sequence[float]) -> list[float]:
    k = len(p)
    return [(x + EPSILON) / (1.0 + k * EPSILON) for x in p]


def psi(live: Sequence[float], reference: Sequence[float]) -> float:
    """Population stability index of two share vectors (see the module docstring); ~0 for equal
    ones, finite for empty bins."""
    if len(live) != len(reference):
        raise ValueError(f"psi: {len(live)} live bins vs {len(reference)} reference bins")
    p, q = _smoothed(live), _smoothed(reference)
    return sum((a - b) * math.log(a / b) for a, b in zip(p, q, strict=True))


def js(live: Sequence[float], reference: Sequence[float]) -> float:
    """Jensen-Shannon divergence of two share vectors, in bits (0 equal, 1 disjoint)."""
    if len(live) != len(reference):
        raise ValueError(f"js: {len(live)} live bins vs {len(reference)} reference bins")

    def kl(a: Sequence[float], m: Sequence[float]) -> float:
        return sum(x * math.log2(x / y) for x, y in zip(a, m, strict=True) if x > 0)

    mid = [(a + b) / 2 for a, b in zip(live, reference, strict=True)]
    return max(0.0, 0.5 * kl(live, mid) + 0.5 * kl(reference, mid))


@dataclass(frozen=True)
class Reference:
    """The training reference: label shares (LABELS order) and confidence-bin shares of the
    model's own predictions on `n` held-out texts."""

    labels: tuple[float, ...]
    confidence: tuple[float, ...]
    n: int

    @classmethod
    def of(cls, predictions: Iterable[tuple[str, float]]) -> Reference:
        """The reference of (label, confidence) predictions: what `models.reference` stores."""
        labels = [0] * len(LABELS)
        conf = [0] * CONFIDENCE_BINS
        for label, confidence in predictions:
            labels[_label_index(label)] += 1
            conf[confidence_bin(confidence)] += 1
        if not sum(labels):
            raise ValueError("a reference needs at least one prediction")
        return cls(shares(labels), shares(conf), sum(labels))

    def to_dict(self) -> dict[str, Any]:
        """The manifest's `reference` entries this module reads back (`from_dict`)."""
        return {
            "n": self.n,
            "labels": dict(zip(LABELS, self.labels, strict=True)),
            "confidence": {
                "low": CONFIDENCE_LOW,
                "high": 1.0,
                "bins": CONFIDENCE_BINS,
                "shares": list(self.confidence),
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reference:
        """Read a manifest's `reference`; a ValueError says what is wrong with it."""
        try:
            labels = tuple(float(d["labels"][label]) for label in LABELS)
            conf = d["confidence"]
            if (
                int(conf["bins"]) != CONFIDENCE_BINS
                or abs(float(conf["low"]) - CONFIDENCE_LOW) > 1e-9
            ):
                raise ValueError(
                    f"confidence bins {conf['bins']} from {conf['low']}: this finsent reads "
                    f"{CONFIDENCE_BINS} bins from 1/3 (recompute with python -m models.reference)"
                )
            confidence = tuple(float(x) for x in conf["shares"])
            n = int(d["n"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"reference lacks or mistypes {e}") from None
        if len(confidence) != CONFIDENCE_BINS:
            raise ValueError(
                f"reference confidence: {len(confidence)} shares, not {CONFIDENCE_BINS}"
            )
        for name, values in (("labels", labels), ("confidence", confidence)):
            if min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
                raise ValueError(f"reference {name} shares must be >= 0 and sum to 1: {values}")
        if n < 1:
            raise ValueError(f"reference n must be >= 1, got {n}")
        return cls(labels, confidence, n)


@dataclass(frozen=True)
class Window:
    """One source's decayed counts, all decayed to `at_ms` (its newest item's time)."""

    at_ms: int
    labels: tuple[float, ...]
    confidence: tuple[float, ...]


@dataclass(frozen=True)
class DriftState:
    """Every source's window and the newest time seen (`now_ms`); never mutated (`observe`
    returns a new state; the `windows` dict is copied, not changed)."""

    half_life_ms: int = DEFAULT_HALF_LIFE_MS
    now_ms: int | None = None
    windows: Mapping[str, Window] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`from_dict` reads it back)."""
        return {
            "half_life_ms": self.half_life_ms,
            "now_ms": self.now_ms,
            "windows": {
                s: {"at_ms": w.at_ms, "labels": list(w.labels), "confidence": list(w.confidence)}
                for s, w in self.windows.items()
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftState:
        """The state `to_dict` wrote."""
        return cls(
            half_life_ms=int(d["half_life_ms"]),
            now_ms=None if d["now_ms"] is None else int(d["now_ms"]),
            windows={
                s: Window(int(w["at_ms"]), tuple(w["labels"]), tuple(w["confidence"]))
                for s, w in d["windows"].items()
            },
        )


def _label_index(label: str) -> int:
    try:
        return _LABEL_INDEX[label]
    except KeyError:
        raise ValueError(f"unknown label {label!r}; expected one of {LABELS}") from None


def _decay(dt_ms: int, half_life_ms: int) -> float:
    return 2.0 ** (-dt_ms / half_life_ms)


def observe(state: DriftState, observations: Sequence[Observation]) -> DriftState:
    """The state after counting `observations` (one per scored item, any order).

    Two passes, no per-item allocation: the newest time per source first, then each item added
    with its weight relative to that time. An item older than its source's window counts with
    a weight below 1; a newer one first decays the window to its time.
    """
    if not observations:
        return state
    hl = state.half_life_ms
    newest: dict[str, int] = {}
    for source, _label, _conf, t in observations:
        if t > newest.get(source, t - 1):
            newest[source] = t
    acc: dict[str, tuple[int, list[float], list[float]]] = {}
    for source, t_new in newest.items():
        old = state.windows.get(source)
        if old is None:
            acc[source] = (t_new, [0.0] * len(LABELS), [0.0] * CONFIDENCE_BINS)
            continue
        at = max(old.at_ms, t_new)
        f = _decay(at - old.at_ms, hl)
        acc[source] = (at, [x * f for x in old.labels], [x * f for x in old.confidence])
    for source, label, conf, t in observations:
        at, labels, bins = acc[source]
        w = _decay(at - t, hl)
        labels[_label_index(label)] += w
        bins[confidence_bin(conf)] += w
    windows = dict(state.windows)
    for source, (at, labels, bins) in acc.items():
        windows[source] = Window(at, tuple(labels), tuple(bins))
    now = max(a for a, _l, _b in acc.values())
    if state.now_ms is not None:
        now = max(now, state.now_ms)
    return DriftState(hl, now, windows)


@dataclass(frozen=True)
class Reading:
    """One source's window against the reference: what the gauges show."""

    source: str
    items: float  # decayed count at the state's `now_ms`: the volume gate
    label_shares: tuple[float, ...]
    psi: Mapping[str, float]  # distribution ("labels" | "confidence") -> PSI
    js: Mapping[str, float]  # distribution -> Jensen-Shannon divergence, bits


def readings(state: DriftState, reference: Reference) -> list[Reading]:
    """Every source's reading, sorted by source; a window whose weights all decayed to 0 reads
    as 0 items and no divergence (empty dicts)."""
    out = []
    for source in sorted(state.windows):
        w = state.windows[source]
        total = sum(w.labels)
        now = state.now_ms if state.now_ms is not None else w.at_ms
        items = total * _decay(now - w.at_ms, state.half_life_ms)
        if total <= 0:
            out.append(Reading(source, 0.0, shares(w.labels), {}, {}))
            continue
        live = {"labels": shares(w.labels), "confidence": shares(w.confidence)}
        ref = {"labels": reference.labels, "confidence": reference.confidence}
        out.append(
            Reading(
                source,
                items,
                live["labels"],
                {d: psi(live[d], ref[d]) for d in DISTRIBUTIONS},
                {d: js(live[d], ref[d]) for d in DISTRIBUTIONS},
            )
        )
    return out
