"""Daily prices for the evaluation: the backtest's one reader that needs pandas (the feed readers,
shared with `finsent replay`, are `pipeline.feeds`, which the worker image imports without it)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd


def read_prices(directory: str | Path, tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """Daily OHLCV CSVs named `<TICKER>.csv` (Date, Open, High, Low, Close, Adj Close, Volume) ->
    long frame [date, ticker, adj_open, adj_close]. The open is adjusted with the close's factor
    (Adj Close / Close) so splits and dividends do not show up as returns."""
    want = {t.upper() for t in tickers} if tickers is not None else None
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        ticker = path.stem.upper()
        if want is not None and ticker not in want:
            continue
        df = pd.read_csv(path)
        factor = df["Adj Close"] / df["Close"]
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(df["Date"]).dt.normalize(),
                    "ticker": ticker,
                    "adj_open": df["Open"] * factor,
                    "adj_close": df["Adj Close"],
                }
            )
        )
    if not frames:
        raise FileNotFoundError(f"no <TICKER>.csv price files in {directory}")
    out = pd.concat(frames, ignore_index=True).dropna()
    return out.sort_values(["ticker", "date"]).reset_index(drop=True)
