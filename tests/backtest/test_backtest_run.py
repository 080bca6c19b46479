"""The backtest driver: the core over a feed, independent of micro-batch size, and the whole
`finsent backtest` command on generated data (shipped model, synthetic prices)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.backtest.run import run_core
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.core.records import Score
from pipeline.core.scoring import score_from_probs
from pipeline.dev import sample
from pipeline.feeds import load_feed
from pipeline.reference import load_symbols
from pipeline.rules import load_ticker_rules

T0 = 1_420_070_400_000  # 2015-01-01T00:00:00Z


class KeywordScorer:
    version = "kw-1"

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        return [
            score_from_probs(
                (0.1, 0.2, 0.7)
                if any(w in t for w in ("jump", "record", "raise"))
                else (0.6, 0.3, 0.1)
            )
            for t in texts
        ]


def _feed_file(tmp: Path, n: int, spacing_ms: int) -> Path:
    f = tmp / "feed.jsonl"
    f.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in sample.generate(n, T0, spacing_ms=spacing_ms, moods={"AAPL": "negative"})
        )
    )
    return f


def test_run_core_counts_and_batch_independence(tmp_path: Path) -> None:
    items = load_feed([_feed_file(tmp_path, 400, 30_000)]).items
    s = Settings()
    cfg, symbols = s.core_config(load_ticker_rules(s.rules_path)), load_symbols()
    a = run_core(items, symbols, KeywordScorer(), cfg, batch_items=256)
    b = run_core(items, symbols, KeywordScorer(), cfg, batch_items=1)
    key = [(w.ticker, w.window, w.start_ms, w.count, w.unique, w.mean_score) for w in a.windows]
    assert key == [
        (w.ticker, w.window, w.start_ms, w.count, w.unique, w.mean_score) for w in b.windows
    ]
    counted = a.verdicts["new"] + a.verdicts["repeat"]
    assert sum(w.count for w in a.windows if w.window == "1d") == counted
    assert a.linked_items == a.items == 400 and a.verdicts["late"] == 0
    assert all(w.final for w in a.windows)


def test_backtest_command_writes_report(tmp_path: Path) -> None:
    feed = _feed_file(tmp_path, 300, 20 * 60_000)  # 100 hours of event time
    pdir = tmp_path / "prices"
    pdir.mkdir()
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2014-12-15", "2015-01-31")
    for t in sample.COMPANIES:
        close = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(days)))
        pd.DataFrame(
            {
                "Date": days.strftime("%Y-%m-%d"),
                "Open": close * 0.999,
                "High": close,
                "Low": close,
                "Close": close,
                "Adj Close": close,
                "Volume": 1,
            }
        ).to_csv(pdir / f"{t}.csv", index=False)
    out = tmp_path / "out"
    assert (
        main(["backtest", str(feed), "--prices", str(pdir), "--out", str(out), "--no-progress"])
        == 0
    )
    for name in (
        "report.md",
        "metrics.json",
        "alerts.jsonl",
        "series_daily.parquet",
        "series_hourly.csv",
        "ic_over_time.png",
        "event_study.png",
        "sentiment_vs_price.png",
    ):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["items"] == 300 and m["meta"]["unique_texts_scored"] <= 300
    daily = pd.read_parquet(out / "series_daily.parquet")
    assert set(daily["window"]) == {"1d"} and daily["count"].sum() >= 300
    assert "Information coefficient" in (out / "report.md").read_text()


def test_report_does_not_import_the_driver() -> None:
    """run -> report -> result, one way: the report reads a result and never imports run."""
    import subprocess
    import sys

    code = "import sys, pipeline.backtest.report; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "pipeline.backtest.result" in loaded and "pipeline.backtest.run" not in loaded
