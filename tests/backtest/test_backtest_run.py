"""The backtest driver: the core over a feed, independent of micro-batch size, and the whole
`finsent backtest` command on generated data (shipped model, synthetic prices): with the default
windows and with FINSENT_WINDOWS=15m,4h (series named by the configured windows, never by fixed
ones)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.backtest import evaluate as ev
from pipeline.backtest.report import windows_frame
from pipeline.backtest.run import run_core
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.core.records import Score
from pipeline.core.scoring import score_from_probs
from pipeline.dev import sample
from pipeline.feeds import load_feed
from pipeline.reference import load_symbols
from pipeline.rules import load_ticker_rules
from pipeline.scoring.onnx import OnnxScorer

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


def _prices_dir(tmp_path: Path) -> Path:
    """Random-walk daily prices for every sample ticker around the feeds' dates (2015-01)."""
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
    return pdir


def test_backtest_command_writes_report(tmp_path: Path) -> None:
    feed = _feed_file(tmp_path, 300, 20 * 60_000)  # 100 hours of event time
    pdir = _prices_dir(tmp_path)
    out = tmp_path / "out"
    assert (
        main(["backtest", str(feed), "--prices", str(pdir), "--out", str(out), "--no-progress"])
        == 0
    )
    for name in (
        "report.md",
        "metrics.json",
        "alerts.jsonl",
        "series_1d.parquet",
        "series_1h.csv",
        "series_1m.parquet",
        "series_5m.csv",
        "ic_over_time.png",
        "event_study.png",
        "sentiment_vs_price.png",
    ):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["items"] == 300 and m["meta"]["unique_texts_scored"] <= 300
    daily = pd.read_parquet(out / "series_1d.parquet")
    assert set(daily["window"]) == {"1d"} and daily["count"].sum() >= 300
    report = (out / "report.md").read_text()
    assert "Information coefficient" in report and "the core's `1d` window [D 00:00" in report
    assert m["signal_window"] == "1d" and m["meta"]["windows"] == ["1m", "5m", "1h", "1d"]


def test_daily_signal_from_4h_windows_is_the_1d_windows_signal(tmp_path: Path) -> None:
    """Adding up a day's 4h windows by weight gives the score the 1d window has."""
    items = load_feed([_feed_file(tmp_path, 400, 10 * 60_000)]).items
    cfg = Settings(windows="4h,1d", baseline_window="4h").core_config(())
    windows = windows_frame(run_core(items, load_symbols(), KeywordScorer(), cfg))
    assert ev.daily_window(cfg.aggregation.windows_ms) == "1d"
    from_4h = ev.signal_frame(windows, "4h", min_items=1)
    from_1d = ev.signal_frame(windows, "1d", min_items=1)
    assert len(from_1d) > 10
    pd.testing.assert_frame_equal(from_4h, from_1d, check_exact=False, atol=1e-12)
    with pytest.raises(ValueError, match="tiles a UTC day"):
        ev.daily_window({"7h": 7 * 3_600_000, "2d": 2 * 86_400_000})


RULES_4H = """\
ticker_rules:
  - {name: VolumeSpike, signal: volume_z, op: ">", threshold: 4.0, window: 4h, min_items: 10}
"""


def test_backtest_follows_the_configured_windows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_finsent_env: dict[str, str],
    shipped_scorer: OnnxScorer,
) -> None:
    """FINSENT_WINDOWS=15m,4h: one series per configured window, both filled, the daily signal
    from the 4h windows; nothing is looked up under 1h or 1d."""
    monkeypatch.setattr(OnnxScorer, "load", classmethod(lambda cls, *a, **k: shipped_scorer))
    (tmp_path / "rules.yaml").write_text(RULES_4H)
    monkeypatch.setenv("FINSENT_WINDOWS", "15m,4h")
    monkeypatch.setenv("FINSENT_BASELINE_WINDOW", "4h")
    monkeypatch.setenv("FINSENT_RULES_PATH", str(tmp_path / "rules.yaml"))
    feed = _feed_file(tmp_path, 300, 20 * 60_000)
    out = tmp_path / "out"
    argv = ["backtest", str(feed), "--prices", str(_prices_dir(tmp_path)), "--out", str(out)]
    assert main([*argv, "--no-progress", "--min-tickers", "3"]) == 0
    for window in ("15m", "4h"):
        series = pd.read_parquet(out / f"series_{window}.parquet")
        assert len(series) > 0 and set(series["window"]) == {window}, window
        assert series["count"].sum() >= 300 and (out / f"series_{window}.csv").is_file()
    assert not list(out.glob("series_1[dh].*"))
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["windows"] == ["15m", "4h"] and m["meta"]["baseline_window"] == "4h"
    assert m["signal_window"] == "4h" and m["signal_days"] >= 4 and m["aligned_rows"] > 0
    assert "`4h` windows of [D 00:00, D+1 00:00) UTC, added up" in (out / "report.md").read_text()


def test_backtest_refuses_rules_on_a_window_not_configured(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_finsent_env: dict[str, str],
) -> None:
    """The shipped rules read the 1h window: without it the core could not evaluate them, so
    the command says so in one line before reading anything."""
    monkeypatch.setenv("FINSENT_WINDOWS", "15m,4h")
    monkeypatch.setenv("FINSENT_BASELINE_WINDOW", "4h")
    (tmp_path / "prices").mkdir()
    argv = ["backtest", "feed.jsonl", "--prices", str(tmp_path / "prices"), "--out", "out"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "finsent backtest: error: alert rule SentimentCollapse reads window 1h, which "
        "FINSENT_WINDOWS=15m,4h does not have"
    ), err


def test_report_does_not_import_the_driver() -> None:
    """run -> report -> result, one way: the report reads a result and never imports run."""
    import subprocess
    import sys

    code = "import sys, pipeline.backtest.report; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "pipeline.backtest.result" in loaded and "pipeline.backtest.run" not in loaded
