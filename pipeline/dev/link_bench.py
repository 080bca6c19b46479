"""Benchmark ticker linking: texts per second per core, at the shipped size and at issue #12's
scale (~7,500 symbols, ~20,000 aliases), against one compiled alternation and, when installed,
pyahocorasick.

Usage:
    finsent link --bench [--json]
    python -m pipeline.dev.link_bench

1. texts: the labelled linking set and the generated ratings headlines (tests/data/linking/);
2. each matcher runs over all texts for at least 1 s of CPU (`time.process_time`, one core);
3. the machine's load average is printed before and after, since the CPUs may be shared.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "linking"
SYLLABLES = "ka lo mi ra ve tu xo ne fi zor quin dal bex tr ion ar um ex ly os".split()  # noqa: SIM905


def _texts() -> list[str]:
    """The texts to link: the labelled sets under tests/data/linking, or three built-in lines when
    they are absent (an installed package has no tests/)."""
    out: list[str] = []
    for name in ("linking_set.jsonl", "ratings_generated.jsonl"):
        p = DATA / name
        if p.is_file():
            lines = p.read_text(encoding="utf-8").splitlines()
            out += [json.loads(x)["text"] for x in lines if x.strip()]
    return out or ["JP Morgan Downgrades AbbVie to Neutral", "$AAPL beats", "Amazon rainforest"]


def _code(i: int) -> str:
    """A unique lower-case suffix per made-up company, so no two share an alias."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += chr(97 + r)
        if not i:
            return out


def scaled(symbols: SymbolTable, n_symbols: int = 7500, n_aliases: int = 20000) -> SymbolTable:
    """The shipped table plus made-up companies until it has the sizes issue #12 asks about."""
    rng = random.Random(12)
    rows = [
        {
            "symbol": c.symbol,
            "name": c.name,
            "aliases": ";".join(c.aliases),
            "weak_aliases": ";".join(c.weak_aliases),
            "cik": str(c.cik),
            "kind": c.kind,
            "sp500": "1" if c.sp500 else "",
            "other_symbols": ";".join(c.other_symbols),
        }
        for c in symbols.companies.values()
    ]
    n_alias = len(symbols.alias_to_symbol)
    i = 0
    while len(rows) < n_symbols or n_alias < n_aliases:
        word = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize() + _code(i)
        forms = [f"{word} Holdings", f"{word} Therapeutics", word + "ex"]
        rows.append({"symbol": f"Z{i:04d}", "name": forms[0], "aliases": ";".join(forms)})
        rows[-1]["weak_aliases"] = ""
        n_alias += len(forms)
        i += 1
    return SymbolTable.from_rows(rows)


def _alternation(symbols: SymbolTable) -> Callable[[str], int]:
    """The approach this replaced: one case-insensitive pattern of every alias, longest first."""
    alts = sorted(symbols.alias_to_symbol, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w$])(" + "|".join(map(re.escape, alts)) + r")(?![\w])", re.IGNORECASE
    )
    return lambda text: sum(1 for _ in pattern.finditer(text))


def _ahocorasick(symbols: SymbolTable) -> Callable[[str], int] | None:
    """pyahocorasick over the same lower-cased aliases, or None when not installed. Matching only
    (end-of-word check, no start boundary, no evidence rules): a speed reference, not a linker."""
    try:
        import ahocorasick  # type: ignore[import-not-found]
    except ImportError:
        return None
    automaton = ahocorasick.Automaton()
    for alias, sym in symbols.alias_to_symbol.items():
        automaton.add_word(alias, sym)
    automaton.make_automaton()

    def count(text: str) -> int:
        low, n = text.lower(), 0
        for end, _sym in automaton.iter_long(low):
            n += 1 if end + 1 == len(low) or not low[end + 1].isalnum() else 0
        return n

    return count


def _link_one(table: SymbolTable, item: Item) -> object:
    """`link` with the table bound first (for `partial`): the whole linker, per item."""
    return link(item, table)


def _rate(fn: Callable[[str], object], texts: Sequence[str], min_cpu_s: float = 1.0) -> float:
    """Texts per CPU-second of this process (one core): the best of five rounds, as `timeit`
    advises, because other processes on a shared machine only ever slow a round down."""
    best = 0.0
    for _ in range(5):
        done, start = 0, time.process_time()
        while True:
            for t in texts:
                fn(t)
            done += len(texts)
            spent = time.process_time() - start
            if spent >= min_cpu_s / 5:
                break
        best = max(best, done / spent)
    return best


def bench(symbols: SymbolTable, as_json: bool = False, min_cpu_s: float = 1.0) -> dict[str, object]:
    """Texts per CPU-second of each matcher on the shipped and on the scaled table, printed (or as
    JSON with `as_json`); returns the figures."""
    texts = _texts()
    load_before = os.getloadavg()
    results: dict[str, object] = {
        "texts": len(texts),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
    }
    for label, table in (("shipped", symbols), ("scaled", scaled(symbols))):
        n_alias = len(table.alias_to_symbol)
        items = [Item(id="b", source="b", published_at_ms=0, text=t) for t in texts]
        rates = {
            "link": _rate(partial(_link_one, table), items, min_cpu_s),  # type: ignore[arg-type]
            "find_aliases": _rate(table.find_aliases, texts, min_cpu_s),
        }
        alternation = _alternation(table)
        rates["one_alternation_regex"] = _rate(alternation, texts[:200], min_cpu_s)
        ac = _ahocorasick(table)
        if ac is not None:
            rates["pyahocorasick_matching_only"] = _rate(ac, texts, min_cpu_s)
        results[label] = {
            "symbols": len(table),
            "aliases": n_alias,
            "texts_per_cpu_s": {k: round(v) for k, v in rates.items()},
        }
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{results['texts']} texts, Python {results['python']}, {results['cpus']} CPUs, ")
        print(f"load average before {results['load_before']} after {results['load_after']}")
        for label in ("shipped", "scaled"):
            r = results[label]
            assert isinstance(r, dict)
            print(f"{label}: {r['symbols']} symbols, {r['aliases']} aliases")
            for k, v in r["texts_per_cpu_s"].items():
                print(f"  {k:32s} {v:>10,} texts/s per core")
    return results


if __name__ == "__main__":  # pragma: no cover
    from pipeline.reference import load_symbols

    bench(load_symbols())
