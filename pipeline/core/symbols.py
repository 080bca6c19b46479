"""The ticker universe: symbols, company names and aliases, and the matcher over them. Built from
rows; reading a file is the caller's job (`pipeline.reference.load_symbols`). Pure: no I/O.

Names are matched on word tokens through a token trie (token -> child node, longest match): a
text costs one tokenizer pass plus one dict lookup per token (a few more where an alias starts),
whatever the table size, so ~7,000 companies and ~20,000 aliases match at tens of thousands of
texts per second per core (`finsent link --bench`). One compiled alternation of 20,000 names is
~50x slower in `re`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, NamedTuple

# Tickers that are also ordinary English words, abbreviations, job titles or finance acronyms.
# They are linked only as cashtags ($ALL), with an exchange prefix (NYSE:ALL) or inside a symbol
# list, never as a bare word: "ALL" in a headline is not Allstate, "COO" is not Cooper, "USB" is a
# plug, "ETN" an exchange-traded note, "CB" a central bank (issue #12). Every one-letter symbol is
# treated the same way.
COMMON_WORD_SYMBOLS: frozenset[str] = frozenset(
    """
    A ALL AM AN AMP ANY APP ARE AS AT BE BIG BIO BY CAN CAR CASH CAT CEO COST DAY DD DE DO ED EL
    ELSE ES EV EW FAST FOR FUN GO GOOD HAS HD HE HOLD HOME HOPE HUGE ICE IF IN IP IR IS IT JOB KEY
    KEYS KIM LIFE LIN LOVE LOW LUV MA MAN MAR MAS MET MO MS NEW NI NICE NOW OK ON ONE OR OUT PEAK
    PEG PH PLAY PM POOL REAL RE RF RL RUN SEE SO STAR SUN TAP TECH TEL TRUE TT TWO UP US USA WELL
    YOU CFO COO CTO CIO CMO EPS IPO ETF ETN SEC FDA FED GDP CPI PPI PMI USD EUR GBP JPY CNY CAD AUD
    UK EU UN AI API USB LED LCD TV PC CB ECB BOE BOJ IMF OPEC NYSE DJIA SPX NDX VIX QE FX ROI ROE
    YOY QOQ YTD EBIT ATH PT ET NFL NBA NHL MLB ESPN CNBC CNN BBC WSJ FT AP NATO WHO CDC IRS DOJ FTC
    FCC EPA DOE DOD NASA GOP RT DM HOT TOP BUY SELL LONG CALL PUT ATM IV PE EST NAV AUM ESG REIT
    CL RH LI BR CE EX FE GL HAL HUM MOS WAT WM GD DG EG Q1 Q2 Q3 Q4 H1 H2 FY JAN FEB APR MAY JUN
    JUL AUG SEP SEPT OCT NOV DEC FANG FAANG MAMAA BRIC BRICS
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# One token: a number with its decimals and unit ("$359.3M" is one token, so "3M" inside it never
# matches), a word, or one punctuation mark.
TOKEN_RE = re.compile(r"[^\W\d_]\w*|[$€£]?\d+(?:[.,]\d+)*[A-Za-z]*|[^\w\s]")
QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def tokens(text: str) -> list[str]:
    """Lower-cased tokens of `text` (the matcher's unit)."""
    return TOKEN_RE.findall(text.translate(QUOTES).lower())


@dataclass(frozen=True, slots=True)
class Company:
    """One row of the symbol table. `cik` (0 if unknown) identifies the issuer, so share classes
    of one issuer may share an alias; `sp500` members link as bare upper-case symbols, others
    only with the grammar of a subject (`tickers.py`)."""

    symbol: str
    name: str
    aliases: tuple[str, ...] = ()
    sector: str = ""
    cik: int = 0
    kind: str = "stock"  # stock | fund | spac
    sp500: bool = False
    weak_aliases: tuple[str, ...] = ()  # need evidence in the text (core/tickers.py)
    other_symbols: tuple[str, ...] = ()  # former tickers and other share classes


class NameHit(NamedTuple):
    """One alias found in a text: [start, end) in characters, `weak` if it needs evidence. A
    named tuple: made for every alias found, so it must be cheap (a frozen dataclass's
    `__init__` costs several times more)."""

    symbol: str
    start: int
    end: int
    weak: bool
    first_token: int
    n_tokens: int


# A token trie: token -> child node; the key "" (never a token) holds (symbol, weak) where an
# alias ends. Walking it from each candidate token finds the longest alias in a few dict lookups.
_Node = dict[str, Any]
_END = ""


@dataclass(frozen=True)
class SymbolTable:
    """Symbol -> company, plus the alias matcher (longest alias wins at each position)."""

    companies: Mapping[str, Company]
    alias_to_symbol: Mapping[str, str] = field(default_factory=dict)  # lower-cased alias
    common_words: frozenset[str] = COMMON_WORD_SYMBOLS
    other_to_symbol: Mapping[str, str] = field(default_factory=dict)
    weak: frozenset[str] = frozenset()  # lower-cased aliases that need evidence
    _index: _Node = field(default_factory=dict)
    # Per-table work done once, not per text: each company's lower-cased display name, and
    # the first three letters of each word of its name and aliases after the first ("Marinus
    # Pharma" continues "Marinus Pharmaceuticals").
    name_lower: Mapping[str, str] = field(default_factory=dict)
    own_words: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # lower-cased leading words of a name or alias -> the symbols whose name starts with them
    # ("invesco" -> IVR, from "Invesco Mortgage Capital")
    name_prefixes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, str]],
        *,
        common_words: frozenset[str] = COMMON_WORD_SYMBOLS,
    ) -> SymbolTable:
        """Rows with `symbol`, `name`; optional `aliases`, `weak_aliases`, `other_symbols`
        (';'-separated), `sector`, `cik`, `kind`, `sp500`. Older 4-column tables still load.

        A table with a `weak_aliases` column lists every form to match in `aliases` /
        `weak_aliases`, and `name` is for display only (the builder decided whether the name is
        safe to match); in an older table the name is matched too.
        """
        companies: dict[str, Company] = {}
        owner: dict[str, tuple[str, int]] = {}
        weak: set[str] = set()
        dropped: set[str] = set()
        for row in rows:
            company = _company(row)
            companies[company.symbol] = company
            weak_lower = {a.lower() for a in company.weak_aliases}
            display_only = "weak_aliases" in row
            forms = () if display_only else (company.name,)
            for alias in (*forms, *company.aliases, *company.weak_aliases):
                key = alias.lower()
                if key in dropped or not tokens(key):
                    continue
                prev = owner.get(key)
                # An alias shared by two companies is ambiguous, so drop it; share classes of
                # one issuer (same CIK) keep the first writer.
                if prev and prev[0] != company.symbol and (not prev[1] or prev[1] != company.cik):
                    dropped.add(key)
                    del owner[key]
                    continue
                owner.setdefault(key, (company.symbol, company.cik))
                if key in weak_lower:
                    weak.add(key)
        alias_to_symbol = {a: s for a, (s, _) in owner.items()}
        others: dict[str, str] = {}
        for company in companies.values():
            for other in company.other_symbols:
                if other not in companies:  # a current ticker beats a former one
                    others.setdefault(other, company.symbol)
        frozen: _Node = {}
        for alias, symbol in alias_to_symbol.items():
            node = frozen
            for tok in tokens(alias):
                node = node.setdefault(tok, {})
            node[_END] = (symbol, alias in weak)
        return cls(
            companies,
            alias_to_symbol,
            common_words | _one_letter(companies),
            others,
            frozenset(weak),
            frozen,
            {s: c.name.lower() for s, c in companies.items()},
            {s: _own_words(c) for s, c in companies.items()},
            _name_prefixes(companies),
        )

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.companies or symbol in self.other_to_symbol

    def __len__(self) -> int:
        return len(self.companies)

    def resolve(self, symbol: str) -> str | None:
        """The table's ticker for `symbol`, following former tickers and share classes."""
        if symbol in self.companies:
            return symbol
        return self.other_to_symbol.get(symbol)

    def is_common_word(self, symbol: str) -> bool:
        """Is `symbol` also a word or acronym ("ALL", "CEO", any one letter)? Such symbols link
        only as cashtags, with an exchange prefix or inside a symbol list."""
        return symbol in self.common_words

    def find_aliases(self, text: str) -> list[NameHit]:
        """Every alias in `text`, leftmost-longest, case-insensitive, on token boundaries."""
        norm = text.translate(QUOTES) if "’" in text or "‘" in text or "`" in text else text
        low = norm.lower()
        if len(low) != len(norm):  # lower() lengthened a letter ("İ"): keep offsets aligned
            matches = list(TOKEN_RE.finditer(norm))
            toks = [m.group().lower() for m in matches]
        else:
            matches = []
            toks = TOKEN_RE.findall(low)  # one C-level pass; offsets only if something matches
        root = self._index
        # most tokens start no alias; compress/map test them at C speed
        starts = list(compress(range(len(toks)), map(root.__contains__, toks)))
        n = len(toks)
        possessive: set[int] = set()
        if "'" in low:  # "Kohl's", "Children's Place": the SEC writes KOHLS, CHILDRENS PLACE
            possessive = {
                i
                for i in range(n - 2)
                if toks[i + 1] == "'" and toks[i + 2] == "s" and toks[i] + "s" in root
            }
            starts = sorted(set(starts) | possessive)
        if not starts:
            return []
        covered = 0
        found: list[tuple[int, int, str, bool]] = []
        for i in starts:
            if i < covered:
                continue
            # `_walk`, inlined: a call per candidate token is a good part of the matcher's cost
            best = None
            node = root.get(toks[i])
            if node is not None:
                j = i + 1
                end = node.get(_END)
                if end is not None:
                    best = (j, end[0], end[1])
                while j < n:
                    node = node.get(toks[j])
                    if node is None:
                        break
                    j += 1
                    end = node.get(_END)
                    if end is not None:
                        best = (j, end[0], end[1])
            if best is None and i in possessive:
                best = _walk(root[toks[i] + "s"], toks, i + 3)
            if best is not None:
                stop, symbol, weak = best
                found.append((i, stop - i, symbol, weak))
                covered = stop
        if not found:
            return []
        if matches:
            starts_at = [m.start() for m in matches]
        else:
            # Tokens cover every non-space character, so each one is the next occurrence of
            # its text after the previous one: str.find is cheaper than a second regex pass.
            starts_at, pos = [], 0
            last = found[-1][0] + found[-1][1]
            for tok in toks[:last]:
                pos = low.find(tok, pos)
                starts_at.append(pos)
                pos += len(tok)
        return [
            NameHit(symbol, starts_at[i], starts_at[i + k - 1] + len(toks[i + k - 1]), weak, i, k)
            for i, k, symbol, weak in found
        ]

    def find_names(self, text: str) -> list[tuple[str, int]]:
        """(symbol, char offset) for every company name / alias found in `text`."""
        return [(h.symbol, h.start) for h in self.find_aliases(text)]


def _walk(node: _Node | None, toks: list[str], j: int) -> tuple[int, str, bool] | None:
    """Longest alias continuing from `node` at token `j`: (end token, symbol, weak)."""
    if node is None:
        return None
    end = node.get(_END)
    best = (j, *end) if end is not None else None
    while j < len(toks):
        node = node.get(toks[j])
        if node is None:
            break
        j += 1
        end = node.get(_END)
        if end is not None:
            best = (j, *end)
    return best


NAME_WORD_RE = re.compile(r"[A-Za-z]{3,}")


def _own_words(company: Company) -> frozenset[str]:
    """First three letters of every name / alias word after the first, lower-cased: a short form
    followed by one of them continues the company's own name ("Marinus Pharma")."""
    words = NAME_WORD_RE.findall(" ".join((company.name, *company.aliases)))
    return frozenset(w[:3].lower() for w in words[1:])


def _name_prefixes(companies: Mapping[str, Company]) -> dict[str, frozenset[str]]:
    """Every proper leading run of words of a name or alias -> the symbols it starts, so
    "Invesco" can be recognised as the start of a name the text tags ($IVR)."""
    out: dict[str, set[str]] = {}
    for symbol, company in companies.items():
        for form in (company.name, *company.aliases):
            parts = form.lower().split(" ")
            for k in range(1, len(parts)):
                out.setdefault(" ".join(parts[:k]), set()).add(symbol)
    return {p: frozenset(s) for p, s in out.items()}


def _split(value: str | None) -> tuple[str, ...]:
    """A ';'-separated cell as a tuple, blanks dropped."""
    return tuple(a.strip() for a in (value or "").split(";") if a.strip())


def _company(row: Mapping[str, str]) -> Company:
    """A `Company` from one table row, cleaned. A table without an `sp500` column is the old
    S&P-only table, so each of its rows is a member."""
    cik = (row.get("cik") or "").strip()
    return Company(
        symbol=row["symbol"].strip().upper(),
        name=row["name"].strip(),
        aliases=_split(row.get("aliases")),
        sector=(row.get("sector") or "").strip(),
        cik=int(cik) if cik.isdigit() else 0,
        kind=(row.get("kind") or "stock").strip() or "stock",
        # A 4-column table (no `sp500` column) is the old S&P-only table: every row is a member.
        sp500=(row.get("sp500") or "").strip() in ("1", "true", "True") if "sp500" in row else True,
        weak_aliases=_split(row.get("weak_aliases")),
        other_symbols=tuple(s.upper() for s in _split(row.get("other_symbols"))),
    )


def _one_letter(companies: Mapping[str, Company]) -> frozenset[str]:
    """The one-letter symbols ("A", "C", "F"): treated as common words (`COMMON_WORD_SYMBOLS`)."""
    return frozenset(s for s in companies if len(s) == 1)
