"""Write a backtest's outputs: per-ticker series (`series_<window>`, Parquet + CSV, one per
configured window), alert events (JSONL), the evaluation (`metrics.json`), plots and `report.md`.
File output only; the numbers come from the pure functions in `evaluate`. Reads a
`BacktestResult` (`result.py`); never imports the driver (`run.py` imports this module)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.backtest import evaluate as ev
from pipeline.backtest.result import BacktestResult
from pipeline.core.windows import parse_duration_ms


def series_stem(window: str) -> str:
    """The file name (without suffix) of one window's series: named by the window itself, so any
    FINSENT_WINDOWS gives one file per window and no name is assumed."""
    return f"series_{window}"


def windows_frame(result: BacktestResult) -> pd.DataFrame:
    """Every window of the run, one row each, sorted (window, ticker, start) with a UTC `start`
    timestamp next to `start_ms` for people reading the CSV."""
    rows = [w.to_dict() for w in result.windows]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.drop(columns=["type"]).sort_values(["window", "ticker", "start_ms"], ignore_index=True)
    df.insert(3, "start", pd.to_datetime(df["start_ms"], unit="ms", utc=True))
    return df


def alerts_frame(result: BacktestResult) -> pd.DataFrame:
    """The alerts as the event study needs them (rule, ticker, times), columns even when none."""
    cols = ["rule", "ticker", "severity", "event_ms", "window_start_ms"]
    return pd.DataFrame([{c: getattr(a, c) for c in cols} for a in result.alerts], columns=cols)


def summarize(
    windows: pd.DataFrame,
    alerts: pd.DataFrame,
    prices: pd.DataFrame,
    signal_window: str,
    min_items: int = 3,
    min_tickers: int = 5,
) -> dict[str, Any]:
    """Every figure of the report, plus the frames the plots need (keys starting with '_'). The
    daily signal comes from `signal_window` (`evaluate.daily_window` of the configured ones)."""
    signal = ev.signal_frame(windows, signal_window, min_items=min_items)
    aligned = ev.align(signal, prices)
    ics = {
        r: ev.cross_sectional_ic(aligned, r, min_tickers) for r in ("ret_1d", "ret_5d", "ret_0d")
    }
    rel = ev.align(ev.versus_own_history(signal), prices)
    rel_ics = {r: ev.cross_sectional_ic(rel, r, min_tickers) for r in ("ret_1d", "ret_5d")}
    out: dict[str, Any] = {
        "signal_window": signal_window,
        "signal_days": int(signal["date"].nunique()),
        "signal_rows": len(signal),
        "aligned_rows": len(aligned),
        "min_items": min_items,
        "min_tickers": min_tickers,
        "ic": {
            "next_day": ev.ic_stats(ics["ret_1d"]),
            "next_5d": ev.ic_stats(ics["ret_5d"]),
            "next_5d_non_overlapping": ev.ic_stats(ics["ret_5d"], every=5),
            "same_day_diagnostic": ev.ic_stats(ics["ret_0d"]),
            "change_next_day": ev.ic_stats(rel_ics["ret_1d"]),
            "change_next_5d_non_overlapping": ev.ic_stats(rel_ics["ret_5d"], every=5),
        },
        "ts_ic": {
            r: ev.time_series_ic(aligned, r).round(4).to_dict() for r in ("ret_1d", "ret_5d")
        },
        "hit_rate": {r: ev.hit_rates(aligned, r) for r in ("ret_1d", "ret_5d")},
        "_signal": signal,
        "_ics": ics,
    }
    ar = ev.abnormal_returns(prices)
    paths = ev.event_study(alerts, ar) if not alerts.empty else pd.DataFrame()
    curves, windows_car = {}, {}
    if not paths.empty:
        groups = list(paths.groupby("rule", sort=True))
        if len(groups) > 1:
            groups.insert(0, ("all alerts", paths))
        for rule, g in groups:
            curves[str(rule)] = ev.car_curve(g)
            windows_car[str(rule)] = ev.car_windows(g)
    out["event_study"] = {
        "events": len(paths),
        "car": windows_car,
        "alerts_by_rule": alerts["rule"].value_counts().to_dict(),
    }
    out["_curves"] = curves
    return out


def _clean(x: Any) -> Any:
    """`x` with NaN as None and keys as strings: metrics.json is strict JSON, readable anywhere."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _f(x: float | None, fmt: str = "+.4f") -> str:
    """A figure for the report's tables, "n/a" when there is none (too few days or events)."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def signal_sentence(window: str) -> str:
    """How the report names the daily signal: a one-day window itself, or the day's shorter
    windows added up (the timing convention is the same either way: the UTC day)."""
    span = "[D 00:00, D+1 00:00) UTC"
    if parse_duration_ms(window) == ev.DAY_MS:
        return f"Signal of day D = the core's `{window}` window {span}"
    return (
        f"Signal of day D = the core's `{window}` windows of {span}, added up by weight (the "
        "score a `1d` window would have)"
    )


def render_markdown(s: dict[str, Any], meta: dict[str, Any], timing: dict[str, float]) -> str:
    """`report.md`: every figure of `s` with the conventions behind it, for a reader who has
    not seen the code; the series files listed are the ones `write_all` wrote."""
    ic = s["ic"]
    files = ", ".join(f"`{series_stem(w)}.parquet|csv`" for w in meta.get("windows", ()))
    lines = [
        "# finsent backtest report",
        "",
        f"Feed: {', '.join(meta['feeds'][:3])}{' ...' if len(meta['feeds']) > 3 else ''} "
        f"({meta['format']}); model `{meta['model']['version']}` on {meta['model']['provider']}.",
        f"{meta['items']} items ({meta['bad_rows']} bad rows skipped, {meta['merged_ids']} "
        f"duplicate ids merged), {meta['linked_items']} linked to a ticker, "
        f"{meta['unique_texts_scored']} unique texts scored; {meta['alerts']} alerts. "
        f"Runtime {timing['total_s']:.0f} s ({meta['items'] / timing['total_s']:.0f} items/s; "
        f"scoring {timing['score_s']:.0f} s, core {timing['core_s']:.0f} s).",
        "",
        "## Timing convention (no look-ahead)",
        "",
        f"{signal_sentence(s['signal_window'])}, known after the US "
        "close of D (16:00 New York = 21:00 UTC winter / 20:00 UTC summer). Returns start at the "
        "adjusted OPEN of the first trading day after D: next-day = that day's open to close, "
        "next-5-day = that open to the close four sessions later. Only trading days D are "
        f"evaluated; a ticker enters a day's cross-section with >= {s['min_items']} unique items, "
        f"a day needs >= {s['min_tickers']} tickers.",
        "",
        "## Information coefficient (Spearman across tickers, per day)",
        "",
        "| horizon | days | mean IC | std | t-stat | share IC > 0 |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "next_day": "next day (open→close)",
        "next_5d": "next 5 days",
        "next_5d_non_overlapping": "next 5 days, every 5th day",
        "same_day_diagnostic": "same day (close→close, NOT tradable)",
        "change_next_day": "change vs own 20-day mean: next day",
        "change_next_5d_non_overlapping": "change vs own 20-day mean: 5 days, every 5th",
    }
    for key, label in names.items():
        x = ic[key]
        lines.append(
            f"| {label} | {x['n']} | {_f(x['mean'])} | {_f(x['std'], '.4f')} | "
            f"{_f(x['t_stat'], '+.2f')} | {_f(x['share_positive'], '.3f')} |"
        )
    hr = s["hit_rate"]
    lines += [
        "",
        "Hit rate of the sign (pooled ticker-days): next day "
        f"{_f(hr['ret_1d']['relative'], '.3f')} relative to the cross-section, "
        f"{_f(hr['ret_1d']['raw'], '.3f')} raw; next 5 days "
        f"{_f(hr['ret_5d']['relative'], '.3f')} relative, {_f(hr['ret_5d']['raw'], '.3f')} raw.",
        "",
        "Per-ticker time-series IC (next day): "
        + ", ".join(f"{t} {_f(v, '+.3f')}" for t, v in s["ts_ic"]["ret_1d"].items()),
        "",
        "![IC over time](ic_over_time.png)",
        "",
        "## Event study around alerts (market-adjusted CAR)",
        "",
        f"{s['event_study']['events']} events (one per rule, ticker and day 0); alerts by rule: "
        f"{s['event_study']['alerts_by_rule']}.",
        "",
        "| rule | n | CAR −5..−1 | AR day 0 | CAR +1..+10 (t) |",
        "|---|---|---|---|---|",
    ]
    for rule, w in s["event_study"]["car"].items():
        lines.append(
            f"| {rule} | {w['post']['n']} | {_f(w['pre']['mean'], '+.2%')} | "
            f"{_f(w['day0']['mean'], '+.2%')} | {_f(w['post']['mean'], '+.2%')} "
            f"({_f(w['post']['t_stat'], '+.2f')}) |"
        )
    lines += [
        "",
        "![Event study](event_study.png)",
        "",
        "## Sentiment and price per ticker",
        "",
        "![Sentiment vs price](sentiment_vs_price.png)",
        "",
        f"Files: {files + ', ' if files else ''}`alerts.jsonl`, `metrics.json`.",
        "",
    ]
    return "\n".join(lines)


def write_all(
    out: Path,
    result: BacktestResult,
    prices: pd.DataFrame,
    meta: dict[str, Any],
    timing: dict[str, float],
    t0: float,
    *,
    series: Sequence[str],
    signal_window: str,
    min_items: int = 3,
    min_tickers: int = 5,
) -> dict[str, Any]:
    """Write every output file into `out`; return the summary (figures as in metrics.json).

    Args:
        series: the windows to write a series file for (the configured ones): a window without
            rows still gets its (empty) file, so the set of files never depends on the data.
        signal_window: the window the daily signal is built from (`evaluate.daily_window`).
    """
    from pipeline.backtest import plots

    out.mkdir(parents=True, exist_ok=True)
    windows = windows_frame(result)
    for name in series:
        part = windows[windows["window"] == name] if not windows.empty else windows
        part.to_parquet(out / f"{series_stem(name)}.parquet", index=False)
        part.to_csv(out / f"{series_stem(name)}.csv", index=False)
    with (out / "alerts.jsonl").open("w", encoding="utf-8") as f:
        for a in result.alerts:
            f.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
    s = summarize(windows, alerts_frame(result), prices, signal_window, min_items, min_tickers)
    every_day = ev.signal_frame(windows, signal_window, min_items=1)  # all days, smoothed
    plots.sentiment_vs_price(every_day, prices, out / "sentiment_vs_price.png")
    plots.ic_over_time(
        {
            "next day": s["_ics"]["ret_1d"],
            "next 5 days": s["_ics"]["ret_5d"],
            "same day (diagnostic, not tradable)": s["_ics"]["ret_0d"],
        },
        out / "ic_over_time.png",
    )
    plots.event_study(s["_curves"], out / "event_study.png")
    s["_ics"]["ret_1d"].rename("ic").to_csv(out / "ic_next_day.csv", index_label="date")
    timing = {**timing, "total_s": time.perf_counter() - t0}
    public = {k: v for k, v in s.items() if not k.startswith("_")}
    (out / "metrics.json").write_text(
        json.dumps(_clean({"meta": meta, "timing": timing, **public}), indent=2, default=str)
    )
    (out / "report.md").write_text(render_markdown(s, meta, timing), encoding="utf-8")
    return public
