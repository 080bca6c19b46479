"""`finsent backtest`: the backtest driver. Runs the SAME core as the stream worker over a feed in
event time, in-process (no Kafka), then hands the series and alerts to the evaluation.

Usage:
    finsent backtest FEED... [--format jsonl|csv|stocknet] --prices DIR --out DIR
        [--start ISO] [--end ISO] [--model DIR]

1. read and validate the feed (`pipeline.feeds`, the readers and options `finsent replay` uses:
   event-time order; bad rows reported, skipped);
2. score every unique linked text once (`CachingScorer`, progress bar);
3. replay the items through `core.step.score_items` and `core.step.step` as the stream's two
   agents do (per micro-batch, then per scored record keyed by ticker), in (event time, id)
   order, the order the stream's watermark folds them in, with the core config and alert rules
   of `Settings().core_config(rules)`; at the end `flush` every ticker's open windows;
4. write series (one per configured window, FINSENT_WINDOWS), alerts, evaluation, plots and
   `report.md` into `--out` (`report.write_all`). The daily signal the evaluation judges is built
   from the longest configured window that tiles a UTC day (`evaluate.daily_window`).

Imports the core and the scorer; never Kafka or faust.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pipeline.backtest.result import BacktestResult
from pipeline.core.records import Item, Rejected
from pipeline.core.scoring import Scorer
from pipeline.core.step import CoreConfig, flush, score_items, step
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link
from pipeline.feeds import add_feed_arguments, load_feed_from_args
from pipeline.rules import load_ticker_rules
from pipeline.scoring import fingerprints

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["BacktestResult", "configure", "linked_texts", "run", "run_core", "windows_plan"]


def run_core(
    items: Sequence[Item],
    symbols: SymbolTable,
    scorer: Scorer,
    cfg: CoreConfig,
    *,
    max_batch: int = 32,
    batch_items: int = 256,
    keep_windows: Iterable[str] | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Drive the core over `items` as the stream does; pure apart from `scorer`.

    Items are folded in (event time, id) order: the order in which the stream's watermark
    releases a ticker's records (`core.step.accept`), whatever the partition interleaving.

    Args:
        batch_items: items per `score_items` call (the stream's micro-batch); with a caching
            scorer it only changes how often the cache is asked, not the result.
        keep_windows: window names to keep (a subset of `cfg`'s windows); None keeps every
            configured size.
    """
    from tqdm import tqdm

    keep = set(keep_windows) if keep_windows is not None else None
    items = sorted(items, key=lambda it: (it.published_at_ms, it.id))
    res = BacktestResult(items=len(items))
    states = res.states
    with tqdm(total=len(items), desc="core", unit="item", disable=not progress) as bar:
        for i in range(0, len(items), batch_items):
            chunk = items[i : i + batch_items]
            scored = score_items(
                chunk,
                symbols,
                scorer,
                max_batch=max_batch,
                max_tickers=cfg.max_tickers_per_item,
                mask_personal_data=cfg.mask_personal_data,
                fingerprint=fingerprints.fingerprint,  # as the stream's scoring stage
            )
            for records in scored:
                if isinstance(records, Rejected):  # spam: too many tickers, as the stream does
                    res.verdicts[records.reason] += 1
                    continue
                res.linked_items += bool(records)
                for s in records:
                    state, out = step(states.get(s.ticker), s, cfg)
                    states[s.ticker] = state
                    res.verdicts.update(out.verdicts)
                    res.windows.extend(w for w in out.closed if keep is None or w.window in keep)
                    res.alerts.extend(out.alerts)
            bar.update(len(chunk))
    for ticker in sorted(states):
        flushed = flush(states[ticker], cfg)
        res.windows.extend(w for w in flushed if keep is None or w.window in keep)
    return res


def linked_texts(items: Iterable[Item], symbols: SymbolTable) -> list[str]:
    """Texts the core will score (items that link to at least one ticker)."""
    return [it.text for it in items if link(it, symbols)]


def windows_plan(settings: Settings, cfg: CoreConfig) -> tuple[tuple[str, ...], str]:
    """(the windows written as series, the window the daily signal is built from), both from the
    configured windows (FINSENT_WINDOWS), never from fixed names: with FINSENT_WINDOWS=15m,4h the
    series are 15m and 4h and the daily signal adds up each day's 4h windows.

    Raises `FinsentError` before any slow work when no configured window tiles a UTC day.
    """
    from pipeline.backtest.evaluate import daily_window
    from pipeline.errors import FinsentError

    agg = cfg.aggregation  # rules on unconfigured windows: refused by Settings.core_config
    try:
        signal = daily_window(agg.windows_ms)
    except ValueError as exc:
        raise FinsentError(f"FINSENT_WINDOWS={settings.windows}: {exc}") from exc
    return tuple(agg.windows_ms), signal


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent backtest`'s options: the feed options shared with replay
    (`pipeline.feeds.add_feed_arguments`), then prices, output and evaluation."""
    add_feed_arguments(parser, "feeds")
    parser.add_argument("--prices", required=True, help="folder of <TICKER>.csv daily OHLCV")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--model", default=None, help="model folder (default: FINSENT_MODEL_DIR)")
    parser.add_argument(
        "--min-items",
        type=int,
        default=3,
        help="unique items a ticker-day needs to enter the evaluation",
    )
    parser.add_argument(
        "--min-tickers", type=int, default=5, help="tickers a day needs for a cross-sectional IC"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (they are also off when stdout or stderr is not a terminal)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout (the report is written as usual)",
    )


# What the evaluation, the report and the plots import: the [backtest] extra, not the worker.
BACKTEST_MODULES = ("pandas", "pyarrow", "matplotlib")


def require_backtest_extra() -> None:
    """One clear line instead of an ImportError deep in the report when the extra is missing."""
    import importlib.util

    from pipeline.errors import FinsentError

    missing = [m for m in BACKTEST_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise FinsentError(
            f"needs the [backtest] extra ({', '.join(missing)} missing): "
            "pip install 'finsent[backtest]' (from a checkout: pip install -e '.[backtest]')"
        )


def run(args: argparse.Namespace) -> int:
    """The whole backtest: settings and windows checked, feed and prices read, every unique text
    scored, the core run, the report written; 0 when written."""
    from pathlib import Path

    require_backtest_extra()

    from pipeline.backtest.prices import read_prices
    from pipeline.backtest.report import write_all
    from pipeline.config import Settings
    from pipeline.errors import FinsentError
    from pipeline.reference import load_symbols
    from pipeline.scoring.cache import CachingScorer
    from pipeline.scoring.onnx import OnnxScorer

    settings = Settings()
    cfg = settings.core_config(load_ticker_rules(settings.rules_path))
    series_windows, signal_window = windows_plan(settings, cfg)
    # Progress bars only for a person watching: never in a pipe, a log file or CI.
    progress = not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty()
    if not Path(args.prices).is_dir():
        raise FinsentError(f"--prices {args.prices}: no such folder")
    t0 = time.perf_counter()
    feed = load_feed_from_args(args, args.feeds)  # FinsentError when no row is usable
    try:  # before the slow scoring: a folder without price files is one line at once
        prices = read_prices(args.prices)
    except FileNotFoundError as exc:
        raise FinsentError(f"--prices {args.prices}: {exc}") from exc
    symbols = load_symbols(settings.symbols_path)
    inner = OnnxScorer.load(
        args.model or settings.model_dir,
        provider=settings.provider,
        intra_op_threads=settings.intra_op_threads,
    )
    scorer = CachingScorer(inner)
    t_read = time.perf_counter()
    scorer.prime(
        linked_texts(feed.items, symbols), max_batch=settings.model_batch, progress=progress
    )
    t_score = time.perf_counter()
    result = run_core(
        feed.items,
        symbols,
        scorer,
        cfg,
        max_batch=settings.model_batch,
        keep_windows=series_windows,
        progress=progress,
    )
    t_core = time.perf_counter()
    timing = {"read_s": t_read - t0, "score_s": t_score - t_read, "core_s": t_core - t_score}
    meta = {
        "feeds": [str(f) for f in args.feeds],
        "format": args.format,
        "items": len(feed.items),
        "bad_rows": len(feed.bad),
        "merged_ids": feed.merged,
        "out_of_range": feed.out_of_range,
        "linked_items": result.linked_items,
        "unique_texts_scored": len(scorer),
        "cache_hits": scorer.hits,
        "verdicts": dict(result.verdicts),
        "alerts": len(result.alerts),
        "model": inner.describe(),
        "start": args.start,
        "end": args.end,
        "windows": list(series_windows),
        "signal_window": signal_window,
        "baseline_window": cfg.aggregation.baseline_window,
    }
    write_all(
        Path(args.out),
        result,
        prices,
        meta,
        timing,
        t0,
        series=series_windows,
        signal_window=signal_window,
        min_items=args.min_items,
        min_tickers=args.min_tickers,
    )
    if args.json:
        summary = {
            **{k: meta[k] for k in ("items", "bad_rows", "merged_ids", "out_of_range")},
            **{k: meta[k] for k in ("linked_items", "unique_texts_scored", "alerts")},
            "seconds": round(time.perf_counter() - t0, 3),
            "report": str(Path(args.out) / "report.md"),
        }
        print(json.dumps(summary))
    else:
        print(
            f"backtest: {len(feed.items)} items ({len(feed.bad)} bad rows skipped), "
            f"{len(scorer)} unique texts scored, {len(result.alerts)} alerts, "
            f"{time.perf_counter() - t0:.0f}s -> {args.out}/report.md"
        )
    return 0
