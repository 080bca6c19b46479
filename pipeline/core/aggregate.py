"""Per-ticker aggregation in event time: tumbling windows, decayed score, baseline z-scores. Pure.

Shape borrowed from Quix Streams' aggregations: `initialize() -> state`, `add(state, value, ts)
-> state`, `snapshot(state) -> result`, with the state a plain JSON-serializable dict, so the faust
table changelog and the in-memory backtest hold exactly the same value. Bump `STATE_VERSION` when
the state's meaning changes, so a changelog recovery never feeds old-shaped state to new code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import novelty
from pipeline.core.records import TEXT_CHARS, Evidence, Scored, Snapshot, WindowStats
from pipeline.core.windows import WINDOWS_MS, is_closed, window_start_ms

# 2: "clock_ms" (latest event time folded in) replaces the per-ticker max-seen watermark, and
# "pending" holds records waiting for the input partitions' watermark (core/watermarks.py).
STATE_VERSION = 2


@dataclass(frozen=True)
class AggregationConfig:
    """What the aggregation computes, in event-time milliseconds: window sizes by name, grace,
    decay half-lives, and the baseline that z-scores compare against.

    Plain values (the drivers build them with `Settings.core_config`), so the stream and the
    backtest aggregate with identical settings."""

    windows_ms: dict[str, int] = field(default_factory=lambda: dict(WINDOWS_MS))
    grace_ms: int = 60_000
    half_lives_ms: dict[str, int] = field(
        default_factory=lambda: {"1h": 3_600_000, "1d": 86_400_000}
    )
    baseline_window: str = "1h"  # z-scores compare this window with its own history
    baseline_half_life_windows: float = 168.0  # one week of hourly windows
    baseline_min_windows: int = 24  # no z-score before a day of history
    baseline_max_gap_windows: int = 720  # empty windows filled in at most (30 days of hours)
    min_volume: int = 5  # no sentiment z-score from fewer unique items in the window
    sentiment_std_floor: float = 0.05
    volume_std_floor: float = 1.0
    evidence_items: int = 5


def initialize(ticker: str) -> dict[str, Any]:
    """A fresh state for `ticker`: a plain JSON-serializable dict stamped with `STATE_VERSION`.

    One dict per ticker is the whole ticker: the stream's table value (one changelog key, plus
    the pending chunks) and the backtest's in-memory state are the same thing, so they can be
    compared and a worker can recover it exactly."""
    return {
        "v": STATE_VERSION,
        "ticker": ticker,
        "clock_ms": None,  # the latest event time folded in: "now" for this ticker's snapshot
        "pending": [],  # scored records (dicts) waiting for the watermark to pass them
        "pending_bytes": 0,  # their size as JSON (bounded: `CoreConfig.max_pending_bytes`)
        "pending_first_ms": None,  # the earliest event time among them
        "novelty": novelty.initialize(),
        "windows": {},
        "decay": {},
        "baseline": {
            "n": 0,
            "score_n": 0,
            "score_mean": 0.0,
            "score_var": 0.0,
            "vol_mean": 0.0,
            "vol_var": 0.0,
            "last_start_ms": None,
        },
        "fired": {},
        "totals": {"items": 0, "duplicates": 0, "late": 0, "redelivered": 0, "forced": 0},
    }


def _new_acc() -> dict[str, Any]:
    """An empty window accumulator: counts, weight sum `w`, weighted score sum `ws`, label counts
    and the `top` evidence rows ([|w*score|, id, source, score, w, text])."""
    return {
        "count": 0,
        "unique": 0,
        "duplicates": 0,
        "w": 0.0,
        "ws": 0.0,
        "pos": 0,
        "neu": 0,
        "neg": 0,
        "top": [],
    }


def window_stats(
    ticker: str, name: str, size_ms: int, start_ms: int, acc: dict[str, Any], final: bool = False
) -> WindowStats:
    """The published form of one window accumulator. `mean_score` is the relevance x
    confidence weighted mean of new stories' scores, None when no new story carries weight
    (say, only repeats): "no opinion", not a neutral 0. `final` only for a closed window
    (`close_until`, `flush`)."""
    return WindowStats(
        ticker=ticker,
        window=name,
        start_ms=start_ms,
        end_ms=start_ms + size_ms,
        count=acc["count"],
        unique=acc["unique"],
        duplicates=acc["duplicates"],
        mean_score=acc["ws"] / acc["w"] if acc["w"] > 0 else None,
        weight=acc["w"],
        positive=acc["pos"],
        neutral=acc["neu"],
        negative=acc["neg"],
        final=final,
    )


def evidence(acc: dict[str, Any]) -> tuple[Evidence, ...]:
    """The items that moved the window most (|weight x score|, ties by item id), new stories
    only, at most `evidence_items`: what an alert carries so an analyst can read why."""
    return tuple(Evidence(t[1], t[2], t[3], t[4], t[5]) for t in acc["top"])


def _added(acc: dict[str, Any], s: Scored, repeat: bool, top_n: int) -> dict[str, Any]:
    """`acc` with `s` counted in: a new dict, `acc` is left as it was (copy-on-write)."""
    out = dict(acc)
    out["count"] += 1
    if repeat:  # volume, not sentiment: a syndicated copy is not a second opinion
        out["duplicates"] += 1
        return out
    w = s.relevance * s.confidence
    out["unique"] += 1
    out["w"] += w
    out["ws"] += w * s.score
    key = {"positive": "pos", "neutral": "neu", "negative": "neg"}[s.label]
    out[key] += 1
    top = [
        *acc["top"],
        [abs(w * s.score), s.item_id, s.source, s.score, w, s.text[:TEXT_CHARS]],
    ]
    top.sort(key=lambda t: (-t[0], t[1]))
    out["top"] = top[:top_n]
    return out


def _decayed(decay: dict[str, Any], s: Scored, cfg: AggregationConfig) -> dict[str, list[float]]:
    """Continuous-time exponentially decayed weighted mean; order-independent by construction."""
    w = s.relevance * s.confidence
    out = dict(decay)
    for name, half_life in cfg.half_lives_ms.items():
        sw, ww, t = decay.get(name, [0.0, 0.0, s.published_at_ms])
        if s.published_at_ms >= t:
            f = 0.5 ** ((s.published_at_ms - t) / half_life)
            sw, ww, t = sw * f + w * s.score, ww * f + w, s.published_at_ms
        else:  # out of order: age the newcomer instead of rewinding the sums
            f = 0.5 ** ((t - s.published_at_ms) / half_life)
            sw, ww = sw + f * w * s.score, ww + f * w
        out[name] = [sw, ww, t]
    return out


def _ew_update(mean: float, var: float, x: float, alpha: float) -> tuple[float, float]:
    """Exponentially weighted mean and variance after observing `x` (Finch 2009, "Incremental
    calculation of weighted mean and variance", eq. 143): constant-size state per ticker."""
    diff = x - mean
    incr = alpha * diff
    return mean + incr, (1 - alpha) * (var + diff * incr)


def _alpha(cfg: AggregationConfig, n: int) -> float:
    """The weight of the `n+1`-th window: the plain running mean and variance (1 / (n+1)) while
    the history is young, then the EW weight at which an observation weighs half after
    `baseline_half_life_windows` windows. Why not the EW weight from the start: begun at 0, an
    EW variance after 24 of a week's half-life of windows holds only ~10-20 % of the spread it
    estimates, so a young baseline's z-scores came out 2-3x too large and paged on normal news;
    the running statistics are exact from the first window (the switch is where they meet)."""
    return max(1 - 0.5 ** (1 / cfg.baseline_half_life_windows), 1 / (n + 1))


def _fill_quiet(b: dict[str, Any], upto_start_ms: int, cfg: AggregationConfig) -> None:
    """Closed windows without a single item are observations too: zero volume. Updates `b`."""
    if b["last_start_ms"] is None:
        return
    size = cfg.windows_ms[cfg.baseline_window]
    gap = (upto_start_ms - b["last_start_ms"]) // size - 1
    for _ in range(min(max(gap, 0), cfg.baseline_max_gap_windows)):
        alpha = _alpha(cfg, b["n"])
        b["vol_mean"], b["vol_var"] = _ew_update(b["vol_mean"], b["vol_var"], 0.0, alpha)
        b["n"] += 1
    if gap > 0:
        b["last_start_ms"] = upto_start_ms - size


def _update_baseline(b: dict[str, Any], stats: WindowStats, cfg: AggregationConfig) -> None:
    """Fold one closed baseline window into the baseline `b` (the caller's own copy)."""
    _fill_quiet(b, stats.start_ms, cfg)
    b["vol_mean"], b["vol_var"] = _ew_update(
        b["vol_mean"], b["vol_var"], float(stats.count), _alpha(cfg, b["n"])
    )
    b["n"] += 1
    if stats.mean_score is not None:
        b["score_mean"], b["score_var"] = _ew_update(
            b["score_mean"], b["score_var"], stats.mean_score, _alpha(cfg, b["score_n"])
        )
        b["score_n"] += 1
    b["last_start_ms"] = stats.start_ms


def add(
    state: dict[str, Any], s: Scored, repeat: bool, cfg: AggregationConfig
) -> tuple[dict[str, Any], list[WindowStats]]:
    """Add one (non-late) scored record; return (new state, the windows it updated).

    `repeat` (novelty's verdict) counts the record as volume only: no weight in `mean_score`,
    no decay, no evidence. The ticker's clock moves to the record's event time if later.

    Closing windows is `close_until`'s job, driven by event time (the caller closes up to the
    record's own time first, so a record never lands in a window that should have closed).
    Copy-on-write: `state` itself is never modified, only the parts that change are copied
    (a few small dicts, not the novelty chain), so a caller whose later step fails still holds
    the old state intact and memory never disagrees with the changelog.
    """
    ticker = state["ticker"]
    new = dict(state)
    totals = dict(state["totals"])
    totals["items"] += 1
    totals["duplicates"] += int(repeat)
    new["totals"] = totals
    if not repeat:
        new["decay"] = _decayed(state["decay"], s, cfg)
    clock = state["clock_ms"]
    new["clock_ms"] = s.published_at_ms if clock is None else max(clock, s.published_at_ms)
    windows = {name: dict(per) for name, per in state["windows"].items()}
    new["windows"] = windows
    updated = []
    for name, size in cfg.windows_ms.items():
        per_size = windows.setdefault(name, {})
        start = window_start_ms(s.published_at_ms, size)
        acc = _added(per_size.get(str(start)) or _new_acc(), s, repeat, cfg.evidence_items)
        per_size[str(start)] = acc
        updated.append(window_stats(ticker, name, size, start, acc))
    return new, updated


def close_until(
    state: dict[str, Any], until_ms: int, cfg: AggregationConfig
) -> tuple[dict[str, Any], list[WindowStats]]:
    """Close every window that ends at least `grace_ms` before `until_ms`; return (new state,
    the windows closed, as final). The baseline takes each closed baseline window in order, and
    quiet windows (no item at all) up to the newest closed one count as zero volume.

    Closing is a function of event time only: closing up to t1 and then t2 leaves the same
    state as closing up to t2 at once, so it does not matter how the watermark jumped.
    """
    newest_closed_end = until_ms - cfg.grace_ms  # windows ending at or before this are closed
    due = any(
        int(key) + cfg.windows_ms[name] <= newest_closed_end
        for name, per in state["windows"].items()
        if name in cfg.windows_ms
        for key in per
    )
    b = state["baseline"]
    size = cfg.windows_ms[cfg.baseline_window]
    quiet = b["last_start_ms"] is not None and b["last_start_ms"] + 2 * size <= newest_closed_end
    if not due and not quiet:
        return state, []
    new = dict(state)
    windows = {name: dict(per) for name, per in state["windows"].items()}
    new["windows"] = windows
    baseline = dict(b)
    new["baseline"] = baseline
    closed = []
    for name, size_ms in cfg.windows_ms.items():
        per_size = windows.get(name, {})
        for key in sorted(per_size, key=int):
            if not is_closed(int(key), size_ms, until_ms, cfg.grace_ms):
                break
            final = window_stats(
                state["ticker"], name, size_ms, int(key), per_size.pop(key), final=True
            )
            closed.append(final)
            if name == cfg.baseline_window:
                _update_baseline(baseline, final, cfg)
    # every window up to the newest closed one is closed now, items or not
    _fill_quiet(baseline, window_start_ms(newest_closed_end, size), cfg)
    return new, closed


def due_ms(state: dict[str, Any], cfg: AggregationConfig) -> int | None:
    """The smallest watermark at which `advance` would change this state (a pending record to
    fold or a window to close), so a driver can skip the tickers with nothing due. None: no
    record waits and no window is open.

    It ignores the zero-volume baseline filling of a ticker with no open window: that is caught
    up, to the same result, by the next `close_until` (closing is compositional)."""
    first = state.get("pending_first_ms")
    candidates = [first + 1] if first is not None and state["pending"] else []
    for name, per in state["windows"].items():
        if name in cfg.windows_ms and per:
            first = min(int(k) for k in per)
            candidates.append(first + cfg.windows_ms[name] + cfg.grace_ms)
    return min(candidates) if candidates else None


def _filling(count: int, typical: float) -> float:
    """How much more the mean of a window still filling varies than that of a typical closed
    one: typical / count while it holds fewer items (a mean of n items varies as 1/n), else 1.
    Without it, an hour judged on its first 5 stories against the spread of full hours' means
    crossed |z| > 3 in 3 % of ordinary hours (0 % once full)."""
    return typical / count if 0 < count < typical else 1.0


def _z(x: float, mean: float, var: float, floor: float) -> float:
    """z-score with the std floored at `floor`: a flat history must not turn noise into alerts."""
    return (x - mean) / max(math.sqrt(max(var, 0.0)), floor)


def snapshot(state: dict[str, Any], cfg: AggregationConfig) -> Snapshot:
    """Current analytics of a ticker, as of the latest event time folded in (`clock_ms`).

    "Current" windows are those holding `clock_ms`, possibly still open; the z-scores compare
    the current baseline window with the baseline of closed ones, and stay None until
    `baseline_min_windows` windows of history and `min_volume` items (unique items for the
    sentiment z) are there. Reads only event time, never a clock: replays give the same values."""
    ticker, wm = state["ticker"], state["clock_ms"] or 0
    current: dict[str, WindowStats] = {}
    for name, size in cfg.windows_ms.items():
        start = window_start_ms(wm, size)
        acc = state["windows"].get(name, {}).get(str(start))
        current[name] = window_stats(ticker, name, size, start, acc or _new_acc())
    decayed = {}
    for name in cfg.half_lives_ms:
        sw, ww, _t = state["decay"].get(name, [0.0, 0.0, 0])
        decayed[name] = sw / ww if ww > 0 else None
    b, base = state["baseline"], current[cfg.baseline_window]
    ready = b["n"] >= cfg.baseline_min_windows
    sentiment_z = volume_z = None
    if ready and base.count >= cfg.min_volume:
        volume_z = _z(base.count, b["vol_mean"], b["vol_var"], cfg.volume_std_floor)
        if base.unique >= cfg.min_volume and base.mean_score is not None and b["score_n"] > 0:
            sentiment_z = _z(
                base.mean_score,
                b["score_mean"],
                b["score_var"] * _filling(base.count, b["vol_mean"]),
                cfg.sentiment_std_floor,
            )
    return Snapshot(ticker, wm, current, decayed, sentiment_z, volume_z, b["n"])
