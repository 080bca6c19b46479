"""The ticker universe: symbols, company names and aliases. Built from rows; reading a file is the
caller's job (`pipeline.reference.load_symbols`). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Tickers that are also ordinary English words or abbreviations. They are linked only as cashtags
# ($ALL) or with an exchange prefix (NYSE:ALL), never as a bare word: "ALL" in a headline is not
# Allstate. Every one-letter symbol is treated the same way (DESIGN.md, ticker linking).
COMMON_WORD_SYMBOLS: frozenset[str] = frozenset(
    """
    A ALL AM AN AMP ANY APP ARE AS AT BE BIG BIO BY CAN CAR CASH CAT CEO COST DAY DD DE DO ED EL
    ELSE ES EV EW FAST FOR FUN GO GOOD HAS HD HE HOLD HOME HOPE HUGE ICE IF IN IP IR IS IT JOB KEY
    KEYS KIM LIFE LIN LOVE LOW LUV MA MAN MAR MAS MET MO MS NEW NI NICE NOW OK ON ONE OR OUT PEAK
    PEG PH PLAY PM POOL REAL RE RF RL RUN SEE SO STAR SUN TAP TECH TEL TRUE TT TWO UP US USA WELL
    YOU
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@dataclass(frozen=True, slots=True)
class Company:
    symbol: str
    name: str
    aliases: tuple[str, ...] = ()
    sector: str = ""


@dataclass(frozen=True)
class SymbolTable:
    """Symbol -> company, plus one compiled alias matcher (longest alias wins)."""

    companies: Mapping[str, Company]
    alias_to_symbol: Mapping[str, str] = field(default_factory=dict)
    common_words: frozenset[str] = COMMON_WORD_SYMBOLS
    _alias_re: re.Pattern[str] | None = None

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, str]],
        *,
        common_words: frozenset[str] = COMMON_WORD_SYMBOLS,
    ) -> SymbolTable:
        """Rows with `symbol`, `name`, optional `aliases` (';'-separated) and `sector`."""
        companies: dict[str, Company] = {}
        alias_to_symbol: dict[str, str] = {}
        for row in rows:
            symbol = row["symbol"].strip().upper()
            aliases = tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip())
            company = Company(
                symbol, row["name"].strip(), aliases, (row.get("sector") or "").strip()
            )
            companies[symbol] = company
            for alias in (company.name, *aliases):
                # First writer wins: an alias shared by two companies is ambiguous, so drop it.
                if alias in alias_to_symbol and alias_to_symbol[alias] != symbol:
                    alias_to_symbol[alias] = ""
                else:
                    alias_to_symbol.setdefault(alias, symbol)
        clean = {a: s for a, s in alias_to_symbol.items() if s}
        pattern = None
        if clean:
            alts = sorted(clean, key=len, reverse=True)
            # Case-sensitive: "Apple" the company, not "apple" the fruit in lower-case prose.
            pattern = re.compile(r"(?<![\w$])(" + "|".join(map(re.escape, alts)) + r")(?![\w])")
        return cls(companies, clean, common_words | _one_letter(companies), pattern)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.companies

    def __len__(self) -> int:
        return len(self.companies)

    def is_common_word(self, symbol: str) -> bool:
        return symbol in self.common_words

    def find_names(self, text: str) -> list[tuple[str, int]]:
        """(symbol, char offset) for every company name / alias found in `text`."""
        if self._alias_re is None:
            return []
        return [
            (self.alias_to_symbol[m.group(1)], m.start()) for m in self._alias_re.finditer(text)
        ]


def _one_letter(companies: Mapping[str, Company]) -> frozenset[str]:
    return frozenset(s for s in companies if len(s) == 1)
