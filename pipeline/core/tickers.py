"""Ticker linking: which companies an item is about, and how much (relevance in [0, 1]). Pure.

Signals, strongest first: cashtags ($AAPL) and exchange prefixes (NASDAQ:AAPL), company names and
aliases from the symbol table, provider-supplied tickers, bare upper-case symbols (AAPL).
Common-word symbols (ALL, IT, ON...) count only as cashtags or prefixed
(see `symbols.COMMON_WORD_SYMBOLS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.core.records import Item, Mention
from pipeline.core.symbols import SymbolTable

CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z]{1,5}(?:[.\-][A-Za-z]{1,2})?)(?![\w])")
PREFIXED_RE = re.compile(
    r"\b(?:NASDAQ|NYSE|NYSEARCA|NYSEAMERICAN|AMEX|BATS|CBOE|OTC)\s?:\s?"
    r"([A-Z]{1,5}(?:\.[A-Z]{1,2})?)(?![\w])",
    re.IGNORECASE,
)
BARE_SYMBOL_RE = re.compile(r"(?<![\w$:.])([A-Z]{2,5})(?![\w])")

# Base relevance by kind of evidence, before position and crowding.
BASE = {"cashtag": 1.0, "prefixed": 1.0, "name": 0.9, "provider": 0.8, "symbol": 0.75}
BODY_FACTOR = 0.7  # mentioned only after the headline
PROVIDER_ONLY = 0.5  # the provider says so, but the text never names it: a passing mention
HEADLINE_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class _Hit:
    symbol: str
    how: str
    offset: int


def headline_end(text: str) -> int:
    """Where the headline stops: the first line break, else the first 200 chars."""
    nl = text.find("\n")
    return nl if 0 <= nl < HEADLINE_MAX_CHARS else min(len(text), HEADLINE_MAX_CHARS)


def _hits(text: str, symbols: SymbolTable) -> list[_Hit]:
    hits: list[_Hit] = []
    for m in CASHTAG_RE.finditer(text):
        sym = m.group(1).upper().replace("-", ".")
        if sym in symbols:
            hits.append(_Hit(sym, "cashtag", m.start()))
    for m in PREFIXED_RE.finditer(text):
        sym = m.group(1).upper()
        if sym in symbols:
            hits.append(_Hit(sym, "prefixed", m.start()))
    for sym, offset in symbols.find_names(text):
        hits.append(_Hit(sym, "name", offset))
    # Shouting headlines ("APPLE BEATS ESTIMATES") would match every symbol-shaped word.
    letters = [c for c in text if c.isalpha()]
    mostly_upper = bool(letters) and sum(c.isupper() for c in letters) > 0.6 * len(letters)
    if not mostly_upper:
        for m in BARE_SYMBOL_RE.finditer(text):
            sym = m.group(1)
            if sym in symbols and not symbols.is_common_word(sym):
                hits.append(_Hit(sym, "symbol", m.start()))
    return hits


def link(item: Item, symbols: SymbolTable) -> list[Mention]:
    """Mentions of `item`, one per ticker, sorted by relevance (desc) then ticker."""
    text = item.text
    cut = headline_end(text)
    best: dict[str, tuple[float, str]] = {}
    counts: dict[str, int] = {}
    for hit in _hits(text, symbols):
        rel = BASE[hit.how] * (1.0 if hit.offset < cut else BODY_FACTOR)
        counts[hit.symbol] = counts.get(hit.symbol, 0) + 1
        if hit.symbol not in best or rel > best[hit.symbol][0]:
            best[hit.symbol] = (rel, hit.how)
    for sym in item.provider_tickers:
        if sym in symbols and sym not in best:
            best[sym] = (PROVIDER_ONLY, "provider")
        elif sym in best:  # provider agrees with the text: a little more confident
            rel, how = best[sym]
            best[sym] = (max(rel, BASE["provider"]), how)
    n = len(best)
    # An item about many tickers is about each of them less (lists, "movers" posts).
    crowd = 1.0 / (1.0 + 0.25 * (n - 1)) if n > 1 else 1.0
    mentions = []
    for sym, (rel, how) in best.items():
        repeat_bonus = 0.1 if counts.get(sym, 0) >= 2 else 0.0
        mentions.append(Mention(sym, round(min(1.0, (rel + repeat_bonus) * crowd), 4), how))
    mentions.sort(key=lambda m: (-m.relevance, m.ticker))
    return mentions
