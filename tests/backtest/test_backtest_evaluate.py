"""Evaluation maths on hand-made data where the answer is known: Spearman IC, t-stat, the
no-look-ahead alignment of signals with returns, hit rates, and the event study."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.backtest import evaluate as ev


def _prices(
    days: list[str], closes: dict[str, list[float]], opens: dict[str, list[float]] | None = None
) -> pd.DataFrame:
    rows = []
    for t, cs in closes.items():
        os_ = (opens or {}).get(t, cs)
        for d, c, o in zip(days, cs, os_, strict=True):
            rows.append({"date": pd.Timestamp(d), "ticker": t, "adj_open": o, "adj_close": c})
    return pd.DataFrame(rows)


def test_cross_sectional_ic_hand_case() -> None:
    d1, d2 = pd.Timestamp("2015-03-02"), pd.Timestamp("2015-03-03")
    aligned = pd.DataFrame(
        {
            "date": [d1] * 5 + [d2] * 5,
            "ticker": list("ABCDE") * 2,
            "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3, 0.4, 0.5],
            # day 1: ranks 2,1,4,3,5 -> rho = 1 - 6*4/(5*24) = 0.8 ; day 2: exactly reversed -> -1
            "ret_1d": [0.02, 0.01, 0.04, 0.03, 0.05, 5, 4, 3, 2, 1],
        }
    )
    ic = ev.cross_sectional_ic(aligned, "ret_1d", min_tickers=5)
    assert ic.loc[d1] == pytest.approx(0.8) and ic.loc[d2] == pytest.approx(-1.0)
    assert ev.cross_sectional_ic(aligned, "ret_1d", min_tickers=6).empty


def test_ic_stats_mean_std_t() -> None:
    s = ev.ic_stats(pd.Series([0.8, -0.2, 0.5, 0.1]))
    assert s["n"] == 4 and s["mean"] == pytest.approx(0.3)
    std = float(np.std([0.8, -0.2, 0.5, 0.1], ddof=1))
    assert s["std"] == pytest.approx(std) and s["t_stat"] == pytest.approx(0.3 / (std / 2))
    assert s["share_positive"] == 0.75
    assert ev.ic_stats(pd.Series(range(10), dtype=float), every=5)["n"] == 2


# Thu 2015-01-08 .. Wed 2015-01-14: no trading on Sat 10 / Sun 11.
DAYS = [
    "2015-01-08",
    "2015-01-09",
    "2015-01-12",
    "2015-01-13",
    "2015-01-14",
    "2015-01-15",
    "2015-01-16",
    "2015-01-20",
]


def test_alignment_never_uses_prices_of_the_signal_day() -> None:
    # Friday 9th has a huge close-to-close jump; a signal dated Friday must not see it.
    closes = [100, 200, 210, 220, 230, 240, 250, 260]
    opens = [100, 110, 200, 215, 225, 235, 245, 255]
    prices = _prices(DAYS, {"A": closes}, {"A": opens})
    signal = pd.DataFrame(
        {
            "date": pd.to_datetime(["2015-01-09", "2015-01-10", "2015-01-16", "2015-01-20"]),
            "ticker": "A",
            "score": [0.5, 0.6, 0.7, 0.8],
            "n": 5,
        }
    )
    a = ev.align(signal, prices)
    # Saturday is not a trading day (dropped); the last day has no next session (dropped).
    assert a["date"].dt.strftime("%Y-%m-%d").tolist() == ["2015-01-09", "2015-01-16"]
    fri = a.iloc[0]
    assert fri["entry"] == pd.Timestamp("2015-01-12")  # Monday's open, after Friday 24:00 UTC
    assert fri["ret_1d"] == pytest.approx(210 / 200 - 1)  # Monday open -> Monday close
    assert fri["ret_5d"] == pytest.approx(250 / 200 - 1)  # Monday open -> close 4 sessions on
    assert fri["ret_0d"] == pytest.approx(1.0)  # same day, diagnostic only
    assert math.isnan(a.iloc[1]["ret_5d"])  # not enough history after the 16th


def test_signal_frame_gates_on_unique_items() -> None:
    w = pd.DataFrame(
        {
            "window": "1d",
            "ticker": ["A", "B", "C"],
            "start_ms": [1420761600000] * 3,
            "unique": [3, 2, 5],
            "mean_score": [0.1, 0.2, None],
        }
    )
    s = ev.signal_frame(w, "1d", min_items=3)
    assert s["ticker"].tolist() == ["A"] and s["date"].iloc[0] == pd.Timestamp("2015-01-09")


def test_hit_rates() -> None:
    d = pd.Timestamp("2015-01-09")
    a = pd.DataFrame(
        {
            "date": d,
            "ticker": list("ABCD"),
            "score": [0.5, 0.4, -0.1, 0.2],
            "ret_1d": [0.03, -0.01, -0.02, 0.0],
        }
    )
    h = ev.hit_rates(a, "ret_1d")
    assert h["raw"] == pytest.approx(2 / 3)  # A right, B wrong, C right, D return 0 left out
    # relative: score mean .25 -> +,+,-,- ; return mean 0 -> +,-,-,0 : A,C right, B wrong
    assert h["relative"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("utc", "day0"),
    [
        ("2015-01-09T20:59:00Z", "2015-01-09"),  # winter: 15:59 New York, before the close
        ("2015-01-09T21:00:00Z", "2015-01-12"),  # 16:00 New York: after the close -> Monday
        ("2015-07-10T19:59:00Z", "2015-07-10"),  # summer (EDT): 15:59 New York
        ("2015-07-10T20:30:00Z", "2015-07-13"),  # summer: 16:30 New York
        ("2015-01-10T12:00:00Z", "2015-01-12"),  # Saturday
    ],
)
def test_event_day0_uses_the_new_york_close(utc: str, day0: str) -> None:
    days = pd.DatetimeIndex(pd.bdate_range("2015-01-01", "2015-12-31"))
    ms = int(pd.Timestamp(utc).timestamp() * 1000)
    assert ev.event_day0(ms, days) == pd.Timestamp(day0)


def test_event_study_on_synthetic_prices() -> None:
    days = pd.bdate_range("2015-02-02", periods=40)
    n = len(days)
    # Market drifts +1%/day for everyone; X jumps an extra +5% on day 20 and +1%/day after.
    base = np.cumprod(np.full(n, 1.01))
    extra = np.ones(n)
    extra[20:] *= 1.05
    for i in range(21, n):
        extra[i:] *= 1.01
    closes = {"X": list(100 * base * extra), "Y": list(50 * base), "Z": list(20 * base)}
    prices = _prices([d.strftime("%Y-%m-%d") for d in days], closes)
    ar = ev.abnormal_returns(prices)
    t_alert = int(pd.Timestamp(f"{days[20].date()}T15:00:00Z").timestamp() * 1000)
    events = pd.DataFrame(
        {
            "rule": ["Surge", "Surge", "Surge"],
            "ticker": ["X", "X", "NOPE"],
            "event_ms": [t_alert, t_alert + 60_000, t_alert],
        }
    )
    paths = ev.event_study(events, ar, pre=5, post=10)
    assert len(paths) == 1  # duplicate of the same day counted once; unknown ticker skipped
    curve = ev.car_curve(paths).set_index("day")
    # market-adjusted: X's extra return minus the equal-weighted mean (X counted in it)
    ar0 = (1.01 * 1.05 - 1) - ((1.01 * 1.05 - 1) + 2 * 0.01) / 3
    assert curve.loc[-1, "car"] == pytest.approx(0.0, abs=1e-12)
    assert paths.iloc[0][0] == pytest.approx(ar0)
    assert curve.loc[10, "car"] > curve.loc[0, "car"] > 0
    w = ev.car_windows(paths)
    assert w["day0"]["mean"] == pytest.approx(ar0) and w["pre"]["mean"] == pytest.approx(0.0)


def test_event_study_drops_events_near_the_edges() -> None:
    days = pd.bdate_range("2015-02-02", periods=12)
    prices = _prices(
        [d.strftime("%Y-%m-%d") for d in days],
        {"X": list(np.linspace(10, 12, 12)), "Y": list(np.linspace(5, 4, 12))},
    )
    t = int(pd.Timestamp(f"{days[3].date()}T15:00:00Z").timestamp() * 1000)
    ar = ev.abnormal_returns(prices)
    assert ev.event_study(pd.DataFrame({"rule": ["R"], "ticker": ["X"], "event_ms": [t]}), ar).empty


def test_versus_own_history_uses_only_past_days() -> None:
    dates = pd.bdate_range("2015-01-05", periods=8)
    sig = pd.DataFrame(
        {"date": dates, "ticker": "A", "score": [1, 2, 3, 4, 5, 6, 7, 100.0], "n": 3}
    )
    rel = ev.versus_own_history(sig, lookback=3, min_obs=2)
    # first row has no past, second has one observation (< min_obs): both dropped
    assert rel["date"].iloc[0] == dates[2]
    assert rel["score"].tolist() == pytest.approx([3 - 1.5, 4 - 2, 5 - 3, 6 - 4, 7 - 5, 100 - 6])
