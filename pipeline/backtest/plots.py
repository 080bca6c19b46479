"""PNG plots of a backtest (matplotlib, Agg backend: no display needed). Each function takes frames
and a path and writes one small image; nothing here computes a figure that the report quotes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 72  # keeps each PNG under ~250 KB


def sentiment_vs_price(
    signal: pd.DataFrame, prices: pd.DataFrame, path: Path, smooth_days: int = 20
) -> Path:
    """One panel per ticker: adjusted close (left axis) and the 20-day mean daily sentiment."""
    tickers = sorted(set(signal["ticker"]) & set(prices["ticker"]))
    cols = 2
    rows = max(1, (len(tickers) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.1 * rows), squeeze=False, sharex=True)
    lo, hi = signal["date"].min(), signal["date"].max()
    for ax, t in zip(axes.flat, tickers, strict=False):
        p = prices[(prices["ticker"] == t) & prices["date"].between(lo, hi)]
        ax.plot(p["date"], p["adj_close"], color="0.35", lw=0.9)
        ax.set_ylabel(t, fontsize=9)
        s = signal[signal["ticker"] == t].set_index("date")["score"].sort_index()
        sm = s.rolling(f"{smooth_days}D", min_periods=1).mean()
        ax2 = ax.twinx()
        ax2.plot(sm.index, sm.values, color="tab:blue", lw=0.9)
        ax2.axhline(0, color="tab:blue", lw=0.4, ls=":")
        ax2.tick_params(labelsize=7, colors="tab:blue")
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelbottom=True)
    for ax in list(axes.flat)[len(tickers) :]:
        ax.axis("off")
    for ax in axes.flat:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.suptitle(
        f"Adjusted close (grey) and {smooth_days}-day mean daily sentiment (blue)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def ic_over_time(ics: Mapping[str, pd.Series], path: Path, roll: int = 60) -> Path:
    """Daily cross-sectional IC (dots) and its rolling mean (line), one colour per horizon."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for (name, ic), color in zip(ics.items(), ("tab:blue", "tab:orange", "0.55"), strict=False):
        if ic.empty:
            continue
        ax.scatter(ic.index, ic.values, s=3, color=color, alpha=0.25)
        ax.plot(
            ic.index,
            ic.rolling(roll, min_periods=roll // 3).mean(),
            color=color,
            lw=1.4,
            label=f"{name} ({roll}-day rolling mean; overall {ic.mean():+.3f})",
        )
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("Spearman IC across tickers")
    if any(not ic.empty for ic in ics.values()):
        ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Daily information coefficient of sentiment with returns", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def event_study(curves: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Mean cumulative abnormal return around alerts, with a 95% band, one line per rule."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, c in curves.items():
        if c.empty:
            continue
        line = ax.plot(
            c["day"], c["car"] * 100, marker="o", ms=3, label=f"{name} (n={int(c['n'].iloc[0])})"
        )[0]
        ax.fill_between(
            c["day"],
            (c["car"] - 1.96 * c["se"]) * 100,
            (c["car"] + 1.96 * c["se"]) * 100,
            color=line.get_color(),
            alpha=0.12,
        )
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("trading days relative to the alert (day 0: first close after it)")
    ax.set_ylabel("mean CAR, % (market-adjusted)")
    if curves:
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5, 0.5, "no alerts with enough price history", ha="center", transform=ax.transAxes
        )
    ax.set_title("Event study: cumulative abnormal return around alerts", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
