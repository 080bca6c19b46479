"""Judge a sentiment series against prices: information coefficient, hit rate, event study. Pure:
frames in, frames and numbers out; no file or network I/O (reading is `prices.read_prices`).

Timing convention (no look-ahead), written down once here and in the report:
- The daily signal of ticker X on UTC day D covers [D 00:00, D+1 00:00) UTC: the relevance- and
  confidence-weighted mean score of that day's unique items. It comes from the longest configured
  window that tiles a UTC day (`daily_window`): the `1d` window itself by default, else that
  day's windows added up by weight (exactly what a `1d` window would hold; epoch-aligned windows
  whose size divides 24 h never straddle midnight). It is known at D 23:59:59 UTC (+ the grace),
  which is after the US close of D (16:00 New York = 21:00 UTC in winter, 20:00 UTC in summer):
  day D's close cannot be traded on it.
- The first price after the signal is the OPEN of the first trading day strictly after D (`entry`,
  09:30 New York = 13:30/14:30 UTC of D+1 or later). Forward returns start there:
  `ret_1d` = adj_close(entry) / adj_open(entry) - 1 (the entry day, open to close);
  `ret_5d` = adj_close(entry + 4 trading days) / adj_open(entry) - 1 (five sessions).
  Opens are adjusted with the close's split/dividend factor (`prices.read_prices`).
- Only signal days D that are trading days are evaluated, so each entry day is used once (Friday,
  Saturday and Sunday would otherwise all map to Monday's open and count it three times).
- `ret_0d` (close D-1 to close D) is the same-day return: it overlaps the signal, so it is a
  diagnostic of whether sentiment follows price, never a tradable figure.
- Event study: an alert at time T has day 0 = the first trading day whose 16:00 New York close is
  after T; abnormal return = the ticker's close-to-close return minus the equal-weighted mean of
  all tickers that day (market-adjusted model, MacKinlay 1997, "Event Studies in Economics and
  Finance", sec. 4.1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
CLOSE_HOUR_NY = 16
DAY_MS = 86_400_000


def daily_window(windows_ms: Mapping[str, int]) -> str:
    """The window the daily signal is built from: the longest of `windows_ms` (name -> size) that
    tiles a UTC day (its size divides 24 h), so a day is a whole number of windows and none
    reaches into the next day (no look-ahead). Raises ValueError when none does."""
    tiling = [(size, name) for name, size in windows_ms.items() if size > 0 and DAY_MS % size == 0]
    if not tiling:
        raise ValueError(
            "the daily evaluation needs a window that tiles a UTC day (a divisor of 24 h such as "
            "1h, 4h or 1d); none of " + ",".join(windows_ms) + " does"
        )
    return max(tiling)[1]


SIGNAL_COLUMNS = ["date", "ticker", "score", "n"]


def signal_frame(windows: pd.DataFrame, window: str, min_items: int = 3) -> pd.DataFrame:
    """Rows of `window` (the `daily_window`) -> [date, ticker, score, n], one row per ticker and
    UTC day with >= `min_items` unique items. A window shorter than a day is added up per day,
    weighted by each window's `weight` (the sum of relevance x confidence behind its mean), so
    the day's score is the one a `1d` window would have."""
    if windows.empty:  # no ticker linked at all: no signal, and no columns to read
        return pd.DataFrame(columns=SIGNAL_COLUMNS)
    w = windows[windows["window"] == window] if "window" in windows else windows
    date = pd.to_datetime(w["start_ms"], unit="ms").dt.normalize()
    day = pd.DataFrame({"date": date.values, "ticker": w["ticker"].values})
    if day.duplicated().any():  # several windows per day: add them up as one day's window
        weight = w["weight"].astype(float).to_numpy()
        score = w["mean_score"].astype(float).to_numpy()
        day["unique"] = w["unique"].to_numpy()
        day["w"] = weight
        day["ws"] = np.where(np.isnan(score), 0.0, score * weight)
        day = day.groupby(["date", "ticker"], as_index=False)[["unique", "w", "ws"]].sum()
        day["mean_score"] = day["ws"] / day["w"].where(day["w"] > 0)  # NaN: no weight that day
    else:
        day["unique"] = w["unique"].to_numpy()
        day["mean_score"] = w["mean_score"].astype(float).to_numpy()
    day = day[(day["unique"] >= min_items) & day["mean_score"].notna()]
    return (
        pd.DataFrame(
            {
                "date": day["date"].values,
                "ticker": day["ticker"].values,
                "score": day["mean_score"].astype(float).values,
                "n": day["unique"].values,
            },
            columns=SIGNAL_COLUMNS,
        )
        .sort_values(["date", "ticker"])
        .reset_index(drop=True)
    )


def versus_own_history(signal: pd.DataFrame, lookback: int = 20, min_obs: int = 5) -> pd.DataFrame:
    """Score minus the ticker's own mean over its previous `lookback` signal days (strictly
    before D, so no look-ahead). Why: tickers differ in their usual tone (bots, retail fans), and
    a cross-sectional IC of levels mostly ranks those constant habits; the change is the news."""
    out = []
    for _t, g in signal.sort_values("date").groupby("ticker", sort=True):
        past = g["score"].shift(1).rolling(lookback, min_periods=min_obs).mean()
        out.append(g.assign(score=g["score"] - past).dropna(subset=["score"]))
    if not out:
        return signal.iloc[0:0]
    return pd.concat(out).sort_values(["date", "ticker"], ignore_index=True)


def forward_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Per ticker and trading day t (as entry): ret_1d, ret_5d from t's open; ret_0d = the
    close-to-close return of t (the same-day diagnostic when t is the signal day)."""
    out = []
    for ticker, p in prices.sort_values("date").groupby("ticker", sort=True):
        o, c = p["adj_open"].to_numpy(float), p["adj_close"].to_numpy(float)
        c5 = np.full_like(c, np.nan)
        c5[: len(c) - 4] = c[4:]
        c_prev = np.concatenate([[np.nan], c[:-1]])
        out.append(
            pd.DataFrame(
                {
                    "date": p["date"].values,
                    "ticker": ticker,
                    "ret_1d": c / o - 1,
                    "ret_5d": c5 / o - 1,
                    "ret_0d": c / c_prev - 1,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def align(signal: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Join each signal (date D, ticker) with the returns that start after it (module docstring).

    Keeps only D that are trading days of that ticker; `entry` = next trading day after D.
    """
    fwd = forward_returns(prices)
    rows = []
    for ticker, sig in signal.groupby("ticker", sort=True):
        f = fwd[fwd["ticker"] == ticker].reset_index(drop=True)
        if f.empty:  # linked, but no prices: not part of the evaluated universe
            continue
        days = pd.DatetimeIndex(f["date"])
        pos = days.searchsorted(pd.DatetimeIndex(sig["date"]), side="left")
        found = days[np.minimum(pos, len(days) - 1)]
        is_trading = (pos < len(days)) & (found == sig["date"].values)
        s = sig[is_trading].copy()
        p = pos[is_trading]
        nxt = p + 1  # the first trading day strictly after D
        ok = nxt < len(days)
        s, p, nxt = s[ok], p[ok], nxt[ok]
        s["entry"] = days[nxt]
        s["ret_1d"] = f["ret_1d"].to_numpy()[nxt]
        s["ret_5d"] = f["ret_5d"].to_numpy()[nxt]
        s["ret_0d"] = f["ret_0d"].to_numpy()[p]
        rows.append(s)
    cols = ["date", "ticker", "score", "n", "entry", "ret_1d", "ret_5d", "ret_0d"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows, ignore_index=True)[cols]
    return out.sort_values(["date", "ticker"], ignore_index=True)


def _spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman correlation of the pairs present in both; NaN under 3 pairs or for a constant side,
    so such a date drops out of the IC series instead of counting as 0."""
    ok = x.notna() & y.notna()
    if ok.sum() < 3:
        return math.nan
    rx, ry = x[ok].rank(), y[ok].rank()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])  # Spearman = Pearson of (average) ranks


def cross_sectional_ic(aligned: pd.DataFrame, ret: str, min_tickers: int = 5) -> pd.Series:
    """Per signal date: Spearman correlation across tickers of score with `ret`."""
    out = {}
    for date, g in aligned.groupby("date", sort=True):
        g = g.dropna(subset=[ret])
        if len(g) >= min_tickers:
            out[date] = _spearman(g["score"], g[ret])
    return pd.Series(out, dtype=float, name=f"ic_{ret}").dropna()


def ic_stats(ic: pd.Series, every: int = 1) -> dict[str, float]:
    """Mean, std and t-stat (mean / (std / sqrt n)) of an IC series.

    Args:
        every: use every k-th observation; k = horizon makes 5-day ICs non-overlapping, whose
            naive t-stat would otherwise count the same return up to five times.
    """
    x = ic.iloc[::every].dropna()
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    t = mean / (std / math.sqrt(n)) if n > 1 and std > 0 else math.nan
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "t_stat": t,
        "share_positive": float((x > 0).mean()) if n else math.nan,
    }


def time_series_ic(aligned: pd.DataFrame, ret: str, min_days: int = 20) -> pd.Series:
    """Per ticker: Spearman correlation over days of its score with its own `ret`."""
    out = {
        t: _spearman(g["score"], g[ret])
        for t, g in aligned.groupby("ticker", sort=True)
        if g[ret].notna().sum() >= min_days
    }
    return pd.Series(out, dtype=float, name=f"ts_ic_{ret}")


def hit_rates(aligned: pd.DataFrame, ret: str) -> dict[str, float]:
    """Share of (ticker, day) where the sign is right. `raw`: sign(score) vs sign(return);
    `relative`: score above the day's cross-sectional mean vs return above the day's mean (the
    question IC asks; immune to tweets being bullish on average). Zeros are left out."""
    a = aligned.dropna(subset=[ret])
    raw = np.sign(a["score"]) * np.sign(a[ret])
    ds = a["score"] - a.groupby("date")["score"].transform("mean")
    dr = a[ret] - a.groupby("date")[ret].transform("mean")
    rel = np.sign(ds) * np.sign(dr)
    return {
        "raw": float((raw[raw != 0] > 0).mean()) if (raw != 0).any() else math.nan,
        "relative": float((rel[rel != 0] > 0).mean()) if (rel != 0).any() else math.nan,
        "n": int(len(a)),
    }


def abnormal_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Wide (date x ticker) close-to-close returns minus the equal-weighted mean across tickers."""
    wide = prices.pivot(index="date", columns="ticker", values="adj_close").sort_index()
    ret = wide.pct_change(fill_method=None)
    return ret.sub(ret.mean(axis=1), axis=0)


def event_day0(event_ms: int, trading_days: pd.DatetimeIndex) -> pd.Timestamp | None:
    """The first trading day whose 16:00 New York close is strictly after the event."""
    t = pd.Timestamp(event_ms, unit="ms", tz="UTC").tz_convert(NEW_YORK)
    day = t.tz_localize(None).normalize()
    if t.hour >= CLOSE_HOUR_NY:
        day += pd.Timedelta(days=1)
    i = trading_days.searchsorted(day, side="left")
    return trading_days[i] if i < len(trading_days) else None


def event_study(
    events: pd.DataFrame, ar: pd.DataFrame, pre: int = 5, post: int = 10
) -> pd.DataFrame:
    """Abnormal-return paths around events: one row per (rule, ticker, day 0), columns
    rule, ticker, day0, then AR at relative days -pre..post. Events too close to the ends of the
    price history, or for tickers without prices, are left out. Several alerts of one rule on one
    ticker and day count once."""
    days = pd.DatetimeIndex(ar.index)
    seen: set[tuple[str, str, pd.Timestamp]] = set()
    rows: list[dict[Any, Any]] = []
    for ev in events.sort_values("event_ms").itertuples(index=False):
        if ev.ticker not in ar.columns:
            continue
        d0 = event_day0(int(ev.event_ms), days)
        if d0 is None or (ev.rule, ev.ticker, d0) in seen:
            continue
        seen.add((ev.rule, ev.ticker, d0))
        i0 = days.get_loc(d0)
        if i0 - pre < 1 or i0 + post >= len(days):
            continue
        path = ar[ev.ticker].iloc[i0 - pre : i0 + post + 1].to_numpy()
        if np.isnan(path).any():
            continue
        row: dict[Any, Any] = {"rule": ev.rule, "ticker": ev.ticker, "day0": d0}
        row.update({k: float(v) for k, v in zip(range(-pre, post + 1), path, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)


def car_curve(paths: pd.DataFrame) -> pd.DataFrame:
    """Mean cumulative abnormal return from the first day of the window to day k, with its
    standard error and 95% band, one row per relative day."""
    ks = [c for c in paths.columns if isinstance(c, int)]
    car = paths[ks].cumsum(axis=1)
    n = len(car)
    se = car.std(ddof=1) / math.sqrt(n) if n > 1 else car.mean() * math.nan
    return pd.DataFrame({"day": ks, "car": car.mean().values, "se": se.values, "n": n})


def car_windows(paths: pd.DataFrame) -> dict[str, dict[str, float]]:
    """CAR before (-5..-1), on (0) and after (+1..+10) the event: mean, se, t-stat, n."""
    ks = [c for c in paths.columns if isinstance(c, int)]
    spans = {"pre": [k for k in ks if k < 0], "day0": [0], "post": [k for k in ks if k > 0]}
    out = {}
    for name, cols in spans.items():
        x = paths[cols].sum(axis=1)
        n = len(x)
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        mean = float(x.mean()) if n else math.nan
        out[name] = {
            "mean": mean,
            "se": se,
            "t_stat": mean / se if se and se > 0 else math.nan,
            "n": n,
        }
    return out
