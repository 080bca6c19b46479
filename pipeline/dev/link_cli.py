"""`finsent link`: which tickers a text is about, and how each was found; `--eval` measures the
linker on a labelled JSONL set; `--bench` measures matching throughput.

Usage:
    finsent link "JP Morgan Downgrades AbbVie to Neutral"      # one text
    finsent link --file texts.txt --json                      # one text per line (or JSONL)
    echo "Visa and Mastercard settle" | finsent link          # stdin
    finsent link --eval tests/data/linking/linking_set.jsonl  # precision, recall, by cause
    finsent link --bench                                      # texts/s per core, with load

1. the symbol table is `FINSENT_SYMBOLS_PATH` or the shipped one (`--symbols` overrides);
2. each text goes through `pipeline.core.tickers.explain`, the same code the worker runs;
3. `--eval` compares companies (by CIK, so GOOG and GOOGL are one company) with the labels.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import explain


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent link`'s options: the texts to link, or `--eval` / `--bench` instead."""
    parser.add_argument("text", nargs="*", help="text(s) to link; none: read --file or stdin")
    parser.add_argument("--file", type=Path, help="one text per line, or JSONL with a 'text' field")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--eval", type=Path, metavar="FILE", help="labelled JSONL to score")
    parser.add_argument("--bench", action="store_true", help="measure texts/s per core")
    parser.add_argument("--symbols", type=Path, help="symbol table CSV (default: settings)")
    parser.add_argument("--misses", action="store_true", help="with --eval: print the errors")


def _table(path: Path | None) -> SymbolTable:
    """The symbol table: `--symbols`, else FINSENT_SYMBOLS_PATH, else the shipped one."""
    from pipeline.reference import load_symbols

    if path is None:
        from pipeline.config import Settings

        path = Settings().symbols_path
    return load_symbols(path)


def _texts(args: argparse.Namespace) -> Iterator[str]:
    """The texts to link: the arguments, else `--file` or stdin, one per line (a JSON line gives its
    `text`), blank lines skipped."""
    if args.text:
        yield from args.text
        return
    with args.file.open(encoding="utf-8") if args.file else contextlib.nullcontext(sys.stdin) as f:
        lines: Iterable[str] = f
        for line in lines:
            line = line.rstrip("\n")
            if line.startswith("{"):
                line = json.loads(line).get("text", "")
            if line.strip():
                yield line


TEXT_FIELDS = ("text", "title", "headline")
TICKER_FIELDS = ("tickers", "ticker", "stock", "symbol", "provider_tickers")


def read_labelled(path: Path) -> list[dict[str, object]]:
    """Labelled rows from JSONL or CSV. Our sets carry `text` and `tickers`; a provider feed
    (e.g. analyst-rating headlines with `title` and `stock`) is read as text + its tickers."""
    import csv

    with path.open(encoding="utf-8", newline="") as f:
        raw: list[dict[str, object]] = (
            list(csv.DictReader(f))
            if path.suffix.lower() == ".csv"
            else [json.loads(x) for x in f if x.strip()]
        )
    rows = []
    for r in raw:
        text = next((r[k] for k in TEXT_FIELDS if r.get(k)), "")
        tickers = next((r[k] for k in TICKER_FIELDS if r.get(k)), [])
        if isinstance(tickers, str):
            tickers = [t for t in tickers.replace(";", ",").replace(" ", ",").split(",") if t]
        rows.append({**r, "text": text, "tickers": tickers})
    return rows


def link_text(text: str, symbols: SymbolTable) -> dict[str, object]:
    """The CLI's view of one text: tickers with relevance and how, issuers, rejections."""
    e = explain(Item(id="cli", source="cli", published_at_ms=0, text=text), symbols)
    return {
        "text": text,
        "tickers": [
            {"ticker": m.ticker, "relevance": m.relevance, "how": m.how} for m in e.mentions
        ],
        "issuers": e.issuers,
        "rejected": [{"ticker": s, "why": why} for s, why in e.rejected],
    }


def run(args: argparse.Namespace) -> int:
    """Evaluate (`--eval`), benchmark (`--bench`), or link each text, printing one line or one
    JSON object per text; 0."""
    symbols = _table(args.symbols)
    if args.eval:
        from pipeline.dev.link_eval import evaluate, format_report

        report = evaluate(read_labelled(args.eval), symbols)
        print(json.dumps(report, indent=2) if args.json else format_report(report, args.misses))
        return 0
    if args.bench:
        from pipeline.dev.link_bench import bench

        bench(symbols, as_json=args.json)
        return 0
    for text in _texts(args):
        out = link_text(text, symbols)
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            tickers = out["tickers"]
            assert isinstance(tickers, list)
            found = " ".join(f"{t['ticker']}({t['how']},{t['relevance']})" for t in tickers)
            issuers = " ".join(f"{s}(issuer)" for s in out["issuers"])  # type: ignore[attr-defined]
            print(f"{found or '-'} {issuers}".rstrip() + f"\t{text}")
    return 0
