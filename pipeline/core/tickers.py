"""Ticker linking: which companies an item is about, and how much (relevance in [0, 1]). Pure.

Signals, by base relevance (`BASE`): cashtags ($AAPL) and exchange prefixes (NASDAQ:AAPL),
company names and aliases from the symbol table (case-insensitive), provider tickers, bare
upper-case symbols of S&P 500 members (AAPL), symbol lists ("(A, SVA, CADC)"); a provider ticker
the text never names comes last. The precision rules of issue #12:

- a rating's issuer is not its subject: in "JP Morgan Downgrades AbbVie to Neutral" JPM gets *no
  link* (it is reported as an issuer by `explain`, never passed to scoring);
- no match inside numbers or amounts ("$359.3M" is one token) or drug codes ("ABT-494");
- job titles, finance acronyms and word-like symbols link only as cashtags, prefixed or in lists;
  a bare symbol that is part of a capitalised name ("CL King", "Austrian CB") is not a ticker;
- exchange and index names (Nasdaq, Dow, Cboe) are the venue unless a company suffix follows;
- weak aliases (ordinary words, places, people: Target, Visa, Amazon, Edison, Republic) need
  evidence, summed in `_evidence`: one small score, not a pile of special cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pipeline.core.records import Item, Mention
from pipeline.core.symbols import NameHit, SymbolTable

# Patterns start with a literal or a character class, not a look-behind, so `re` can skip ahead
# fast; the left boundary is checked in Python (`_left_ok`).
CASHTAG_RE = re.compile(r"\$([A-Za-z]{1,5}(?:[.\-][A-Za-z]{1,2})?)(?![\w])")
PREFIXED_RE = re.compile(
    r"\b(?:NASDAQ|NYSE|NYSEARCA|NYSEAMERICAN|NYSEMKT|AMEX|BATS|CBOE|OTC)\s?:\s?"
    r"([A-Z]{1,5}(?:\.[A-Z]{1,2})?)(?![\w])",
    re.IGNORECASE,
)
EXCHANGE_WORDS = ("NASDAQ", "NYSE", "AMEX", "BATS", "CBOE", "OTC")
BARE_SYMBOL_RE = re.compile(r"[A-Z](?<!\$[A-Z])[A-Z]+")  # not the letters of a $cashtag
LIST_RE = re.compile(
    r"\(\s*((?:[A-Z]{1,5}(?:\.[A-Z])?\s*,\s*)*[A-Z]{1,5}(?:\.[A-Z])?)\s*(?:,\s*)?(?:…|\.\.\.)?\s*\)"
)
RUN_RE = re.compile(r"[A-Z]{1,5}(?:\s*,\s*[A-Z]{1,5}){2,}(?![\w])")
# Sentence and clause breaks; "J.P. Morgan" and "Inc." are not breaks (a word of 2+ letters must
# end before the full stop).
# (The look-behind comes after the full stop, so `re` scans for the punctuation first.)
CLAUSE_RE = re.compile(r"[.!?](?<=[a-z0-9]{3}[.!?])\s|[;:|\n]\s?|\s[-–—]\s")

# Rating actions. Active verbs put the issuer before ("Barclays Upgrades X"); passive ones after
# "at" / "by" ("X upgraded to Buy at Barclays").
ACTIVE_RE = re.compile(
    r"\b(?:upgrades|downgrades|initiates|reiterates|maintains|reinstates|resumes|assumes|raises|"
    r"lowers|cuts|boosts|lifts|trims|hikes|sets|starts|reaffirms|keeps|adjusts|upgrade|downgrade|"
    r"reels in|rates|slashes|ups|gives)\b",
    re.IGNORECASE,
)
PASSIVE_RE = re.compile(
    r"\b(?:upgraded|downgraded|initiated|reiterated|maintained|reinstated|resumed|assumed|raised|"
    r"lowered|cut|boosted|lifted|trimmed|hiked|rated|started|set|added|removed|upped)\b"
    r"[^;:|\n]{0,60}?\b(?:at|by|from)\s",
    re.IGNORECASE,
)
# Verbs that are a rating action only with a rating object: "Raises PT on", "Cuts to Neutral".
_SOFT = "raises lowers cuts boosts lifts trims hikes sets starts keeps adjusts slashes ups gives"
SOFT_VERBS = frozenset(_SOFT.split())
RATING_OBJECT_RE = re.compile(
    r"[^;:|\n]{0,60}?\b(?:pt|price target|target|rating|estimates?|coverage|to (?:buy|sell|hold|"
    r"neutral|outperform|underperform|overweight|underweight|equal[- ]weight|market perform|"
    r"sector perform|peer perform|in-line|accumulate|reduce|strong buy))\b",
    re.IGNORECASE,
)
# Verbs that are a rating action by themselves; the others need a rating word after them.
PLAIN_RATING_VERBS = frozenset(("upgrades", "downgrades", "upgrade", "downgrade"))
RATING_WORD_RE = re.compile(
    r"[^;:|\n]{0,60}?\b(?:buy|sell|hold|neutral|outperform|underperform|overweight|"
    r"underweight|equal[- ]weight|market perform|sector perform|peer perform|in-line|accumulate|"
    r"reduce|strong buy|pt|price target|target|rating|estimates?|coverage|expectations)\b",
    re.IGNORECASE,
)
# Between an issuer and its verb: nothing, another issuer's separator, or "analyst Jane Doe".
ISSUER_GAP_RE = re.compile(
    r"[\s,]*(?:(?:and|&)\s*)?(?:(?:'s\s+)?(?:analysts?|research|securities|capital(?: markets)?)?"
    r"(?:\s*[A-Z][\w.'&-]+){0,3})?\s*"
)
# Rating vocabulary: without one of these words the clause analysis cannot fire (a set test).
GATE_WORDS = frozenset(
    """buy sell hold neutral outperform underperform overweight underweight weight perform line
    accumulate reduce conviction rating coverage target pt estimate estimates expectations
    upgrade upgrades downgrade downgrades upgraded downgraded analyst analysts pick initiates
    reiterates maintains reinstates resumes assumes raises lowers cuts boosts lifts trims hikes
    sets starts reaffirms keeps adjusts reels rates slashes ups gives initiated reiterated
    maintained reinstated resumed assumed raised lowered cut boosted lifted trimmed hiked rated
    started set added removed upped""".split()  # noqa: SIM905
)
WORD_RE = re.compile(r"[a-z0-9%]+")
ACTIVE_WORDS = frozenset(
    """upgrades downgrades initiates reiterates maintains reinstates resumes assumes raises lowers
    cuts boosts lifts trims hikes sets starts reaffirms keeps adjusts upgrade downgrade reels
    rates slashes ups gives""".split()  # noqa: SIM905
)
PASSIVE_WORDS = frozenset(
    """upgraded downgraded initiated reiterated maintained reinstated resumed assumed raised
    lowered cut boosted lifted trimmed hiked rated started set added removed upped""".split()  # noqa: SIM905
)
ACTIVE_WORDS = ACTIVE_WORDS | {"reels in"}
VERB_WORDS = ACTIVE_WORDS | PASSIVE_WORDS
WORD_CI_RE = re.compile(r"[A-Za-z0-9%]+")
PASSIVE_TAIL_RE = re.compile(r"[^;:|\n]{0,60}?\b(?:at|by|from)\s", re.IGNORECASE)
CUE_FIRST = frozenset(("price", "market"))  # of "price target", "market cap"
# Banks and brokers whose research is quoted: "Goldman's Currie sees", "..., says BofA", "- UBS".
BROKERS = frozenset(
    """GS MS JPM C BAC WFC BCS DB UBS CS RY TD BMO JEF RJF SF PIPR COWN OPY EVR KEY MFG NMR TFC
    LAZ AB HSBC RILY JMP BNS CM MCO SPGI""".split()  # noqa: SIM905
)
BROKER_AFTER_RE = re.compile(
    r"(?:'s\s+[A-Z][a-z]+|\s+(?:says|sees|expects|predicts|warns|thinks|forecasts|likes|prefers|"
    r"recommends|is (?:bullish|bearish))\b(?!\s+(?:it|its|the bank|the firm|they|we)\b)|"
    r"(?i:\s+(?:double\s+)?(?:downgrade|upgrade|target cut|price target|pt|rating|analysts?|"
    r"bullish|bearish|positive|negative|cautious|upbeat)\b))",
)
BROKER_BEFORE_RE = re.compile(r"(?:[-–—:]\s*|says\s+(?:bullish\s+|bearish\s+)?)$", re.IGNORECASE)
TAIL_RE = re.compile(r"\s*(?:https?://\S+\s*)*$")
RATING_CUE_RE = re.compile(
    r"\b(?:buy|sell|hold|neutral|outperform|underperform|overweight|underweight|equal[- ]weight|"
    r"market perform|sector perform|peer perform|in-line|accumulate|reduce|conviction|rating|"
    r"coverage|price target|target price|pt|estimates?|expectations|upgrades?|downgrades?|"
    r"upgraded|downgraded|analysts?|top pick)\b",
    re.IGNORECASE,
)
ANALYST_AFTER_RE = re.compile(
    r"^\s*(?:'s\s+)?(?:analysts?|research|securities|capital markets|equity research|strategists?|"
    r"economists?)\b",
    re.IGNORECASE,
)
ANALYST_AFTER_WORDS = frozenset(
    """analyst analysts research securities capital equity strategist strategists economist
    economists""".split()  # noqa: SIM905
)
ANALYST_BEFORE_WORDS = frozenset("analyst analysts strategist strategists".split())  # noqa: SIM905
ANALYST_BEFORE_RE = re.compile(r"\b(?:analysts?|strategists?)\s+(?:at|from|with)\s+$", re.I)

# Evidence for weak aliases (issue #12: "a small scored disambiguation").
SUFFIX_AFTER_RE = re.compile(
    r"^(?:'s)?\s*(?:inc\b|corp\b|co\b\.?|cos\b\.?|corporation\b|ltd\b|plc\b|group\b|holdings?\b|"
    r"upgraded|downgraded|initiated|reiterated|started at|assumed|rated|"
    r"stock|shares|share price|stake|earnings|revenue|sales|profit|results|quarter|q[1-4]\b|"
    r"guidance|ceo\b|cfo\b|investors|shareholders|dividend|ipo\b|market cap|options|pt\b|"
    r"price target|rating|to (?:buy|sell|hold|neutral|outperform|overweight|underweight)\b|"
    r"\(\s*(?:nyse|nasdaq)|\(\s*[A-Z]{1,5}\s*\))",
    re.IGNORECASE,
)
# The word(s) right before a name that make it the object of a rating or trade ("Upgrades X",
# "Coverage On X", "shares of X"); and those that make "3M" a quantity ("sold 3M shares").
SLOT_WORDS = frozenset(
    """upgrades downgrades initiates reiterates maintains resumes reinstates assumes raises lowers
    cuts boosts trims on buy sell short long""".split()  # noqa: SIM905
)
SLOT_PHRASES = frozenset(("shares of", "stake in"))
FINANCE_CUE_RE = re.compile(
    r"\b(?:earnings|revenue|sales|profit|shares?|stocks?|quarter|quarterly|analysts?|upgrade[sd]?|"
    r"downgrade[sd]?|price target|rating|eps|beats?|miss(?:es)?|guidance|dividend|acqui\w+|"
    r"merger|deal|ipo|ceo|investors?|results|forecast|outlook|buy|sell|rall(?:y|ies)|"
    r"surges?|jumps?|falls?|drops?|slumps?|soars?|tumbles?|plunges?|gains?|layoffs?|"
    r"lawsuit|settle\w*|sues?|fined?|q[1-4]|fy\d*|market|trading|nyse|nasdaq|valuation|"
    r"retailer|lender|bank|carrier|insurer|chipmaker|automaker|maker|company|firm|stores?|"
    r"shareholders?|filing|offering|bonds?|officer|chief|executive|orders?|contracts?|"
    r"announce[sd]?|unveils?|launch(?:es)?|partnership|buyback|split|listing|approval|recall|"
    r"antitrust|regulators?|subscribers|customers|users|billion|million|bn|mln|percent|%)",
    re.IGNORECASE,
)
QUANTITY_WORDS = frozenset(
    """of over about nearly almost than sold sells bought buys issues repurchases raised added
    another additional extra with for by to up down some roughly around approximately""".split()  # noqa: SIM905
)
VERB_AFTER_RE = re.compile(
    r"^\s+(?:to|will|says|said|is|has|plans|reports|posts|announces|agrees|wins|seeks|sues|"
    r"cuts|raises|beats|misses|launches|unveils|buys|sells|hires|names|opens|closes|expands|"
    r"pushes|joins|invests|acquires|files|faces|gets|takes|makes|sees|raise|cut|beat|miss|"
    r"report|buy|sell|upgraded|downgraded|initiated|reiterated|assumed|resumed|rated|raised|"
    r"lowered)\b",
    re.IGNORECASE,
)
# A name followed by more capitalised words ending in Fund / Trust / ETF is a fund's name
# ("Wells Fargo Advantage Utilities & High Income Fund"), not the company.
FUND_NAME_RE = re.compile(
    r"(?:\s+(?:[A-Z][\w&'-]*|&|and|of)){1,7}?\s+(?:Fund|Trust|ETF|Portfolio)\b"
)
LISTED_WITH_RE = re.compile(r"[\w.)](?:,|,? and|,? &)\s+$|^\s+(?:and|&)\s+[A-Z]")
WORD_BEFORE_RE = re.compile(r"([\w&'.-]+)\s+$")
WORD_AFTER_RE = re.compile(r"\s+([\w&'.-]+)")
LOWER_NEXT_RE = re.compile(r"\s+[a-z]")
UPPER_BYTES = bytes(range(65, 91))
LOWER_BYTES = bytes(range(97, 123))
WORD4_RE = re.compile(r"[A-Za-z]{4,}")
CAPS_WORD_RE = re.compile(r"(?<![\w$])[A-Z]{2,}(?![\w])")
STOP = frozenset("a an and at by for from in of on or the to with vs via as is are".split())  # noqa: SIM905
# Exchange and index names: the venue, not the company, unless a company suffix follows.
VENUES = frozenset("nasdaq nyse dow cboe cme msci russell amex ice lse tsx ftse nikkei s&p".split())  # noqa: SIM905
VENUE_COMPANY_RE = re.compile(r",?\s*(?:inc\b|group\b|omx\b|global\b|corp)", re.IGNORECASE)
EVIDENCE_NEEDED = 2
# A weak alias that cuts the name of a company outside the S&P 500 to its first word needs one
# point more: "Indonesia", "Powell", "Definitive" are far more often the ordinary word than a
# small-cap (a base rate); a whole name ("Nokia") does not.
SMALL_CAP_PRIOR = 1
# Index symbols written as cashtags by traders ($COMP is the Nasdaq Composite, like $SPX): the
# index, unless the company's own name is in the text too.
INDEX_CASHTAGS = frozenset("COMP SPX NDX DJI DJIA INDU RUT VIX NYA TNX TRAN OEX SOX".split())  # noqa: SIM905
# A name before these is the source of a figure, not its subject ("FactSet consensus").
SOURCE_AFTER = frozenset(("consensus", "polled", "survey", "compiled"))
SPAC_WORDS = frozenset(
    """spac spacs blank check merger merge merges combination deal units warrants acquisition
    acquire acquires de trust redemption redemptions ipo""".split()  # noqa: SIM905
)
# A name right after a measure word is the unit ("1,500 degrees Celsius", "minus 5 °C").
UNIT_BEFORE = frozenset(("degrees", "degree", "°"))
# A name after these is a place: "the town of Nokia", "the city of Orion".
PLACE_BEFORE_RE = re.compile(
    r"\b(?:town|city|village|municipality|region|province|county|suburb|port)\s+of\s+$",
    re.IGNORECASE,
)
# "a plant in Nokia in Finland", "in Nokia, southern Finland": a place between two locatives.
PLACE_AROUND_RE = re.compile(r"\s*(?:,\s*(?:[a-z]+\s+)?|in\s+)[A-Z][a-z]+")

# Base relevance by kind of evidence, before position and crowding.
BASE = {
    "cashtag": 1.0,
    "prefixed": 1.0,
    "name": 0.9,
    "alias": 0.8,
    "provider": 0.8,
    "symbol": 0.75,
    "list": 0.6,
}
BODY_FACTOR = 0.7  # mentioned only after the headline
PROVIDER_ONLY = 0.5  # the provider says so, but the text never names it: a passing mention
HEADLINE_MAX_CHARS = 200


class _Hit(NamedTuple):  # a named tuple: several per text, and cheap to make
    """One candidate link: `symbol` found as `how` (a `BASE` key) at [offset, end) of the text."""

    symbol: str
    how: str
    offset: int
    end: int = -1


@dataclass(frozen=True, slots=True)
class Explained:
    """What `link` decided for a text, and why: subjects, issuers and rejected candidates."""

    mentions: list[Mention]
    issuers: list[str]
    rejected: list[tuple[str, str]]  # (symbol, reason)


def headline_end(text: str) -> int:
    """Where the headline stops: the first line break, else the first 200 chars."""
    nl = text.find("\n")
    return nl if 0 <= nl < HEADLINE_MAX_CHARS else min(len(text), HEADLINE_MAX_CHARS)


@lru_cache(maxsize=65536)
def _is_cue(word: str) -> bool:
    """Is `word` a finance cue? Memoised: words repeat, and the regex is long. Pure."""
    w = word.lower()
    return FINANCE_CUE_RE.match(w) is not None or w in CUE_FIRST or "%" in w


def _capitalised_word(s: str) -> bool:
    """A Capitalised word that is not a stop word or all capitals: a sign of a proper name."""
    return bool(s) and s[0].isupper() and s.lower() not in STOP and not s.isupper()


_WORD_CHARS = "_&'.-"


def _word_before(text: str, start: int) -> str:
    """The word (letters, digits, _&'.-) ending where whitespace before `start` begins, or "";
    what `WORD_BEFORE_RE.search(text[start - 40 : start])` finds, with no regex scan (a
    search for a pattern anchored at the end retries at every position)."""
    seg = text[max(0, start - 40) : start]
    if not seg or not seg[-1].isspace():
        return ""
    parts = seg.split()
    if not parts:
        return ""
    last = parts[-1]
    k = len(last)
    while k and (last[k - 1].isalnum() or last[k - 1] in _WORD_CHARS):
        k -= 1
    return last[k:]


def _neighbour_words(text: str, start: int, end: int) -> tuple[str, str]:
    """The words right before `start` and right after `end` ("" where there is none)."""
    after = WORD_AFTER_RE.match(text, end, end + 40)
    return _word_before(text, start), (after.group(1) if after else "")


def _clause_start(text: str, pos: int) -> bool:
    """Is `pos` the first word of the text or of a sentence / clause?"""
    i = pos - 1
    while i >= 0 and text[i].isspace():  # no copy of the prefix: most names are near the start
        i -= 1
    return i < 0 or text[i] in ".:;!?|-–—\n(\"'"


def _evidence(
    text: str,
    hit: NameHit,
    strong: set[str],
    titled: Callable[[], bool],
    own: frozenset[str],
    cue_spans: Callable[[], list[tuple[int, int]]],
) -> int:
    """Score the evidence that a weak alias names the company here (>= EVIDENCE_NEEDED links).
    `titled` and `cue_spans` are computed on first use: the cheap vetoes come first."""
    surface = text[hit.start : hit.end]
    before, nxt = _neighbour_words(text, hit.start, hit.end)
    if RATING_CUE_RE.fullmatch(f"{before} {surface}") or RATING_CUE_RE.fullmatch(
        f"{surface} {nxt}"
    ):
        return 0  # "Price Target", "Target Price": a rating term, not the retailer
    after, before_text = text[hit.end : hit.end + 40], text[max(0, hit.start - 40) : hit.start]
    suffix = bool(SUFFIX_AFTER_RE.match(after))
    if len(surface) <= 2 and surface.isalpha() and hit.symbol not in strong:
        return 0  # "TD", "GE": two letters name a company only next to its ticker
    score = 2 if hit.symbol in strong else 0
    if surface.isupper() and surface == hit.symbol:
        score += 1  # "BP", "HSBC": the company writes its name as its ticker
    score += 2 if suffix else 0
    w1, w2 = _words_before(before_text)
    score += 2 if w1 in SLOT_WORDS or f"{w2} {w1}" in SLOT_PHRASES else 0
    if w1 == "the" and not suffix and not any(c.isdigit() for c in after[:6]):
        # "drop the ball", "hit the target": an article makes it the common noun (but "the
        # Nokia N8" is a product of the company)
        score -= 2
    if surface[:1].isdigit():  # "3M": an amount unless the context says otherwise
        if w1 in QUANTITY_WORDS or (not suffix and LOWER_NEXT_RE.match(after)):
            score -= 2
    elif surface[:1].isupper() and not (surface.isupper() and len(surface) <= 4) and not titled():
        score += 1  # capitalised; an acronym ("TD", "BRP") is capitalised anyway
    elif surface.islower() and text != text.lower():
        score -= 2  # "price target", "an apple": lower case in cased prose is the common noun
    if VERB_AFTER_RE.match(after):
        score += 1  # "Amazon to create", "Shell plans": the alias is a sentence subject
    if any(e <= hit.start or s >= hit.end for s, e in cue_spans()):
        score += 1
    if strong - {hit.symbol}:
        score += 1  # another company named plainly: company context
        if LISTED_WITH_RE.search(before_text) or LISTED_WITH_RE.match(" " + after[:12]):
            score += 1  # in a list of companies: "Netflix, Nvidia, Lyft", "Visa and Mastercard"
    # Part of a longer proper name: "Dominican Republic", "Constellation Software", "Price Target".
    if nxt[:3].lower() in own:  # "Marinus Pharma": the company's own longer name
        score += 1
    elif not suffix and not titled():
        if _capitalised_word(nxt) and not (_is_cue(nxt) or VERB_AFTER_RE.match(" " + nxt)):
            score -= 2
        other_name = _capitalised_word(before) and not _is_cue(before)
        if other_name and not _clause_start(text, hit.start - len(before) - 1):
            score -= 0 if before.lower() in SLOT_WORDS else 2
    return score


def _own_words(symbols: SymbolTable, symbol: str) -> frozenset[str]:
    """First three letters of each word of the company's name: "Marinus Pharma" continues
    "Marinus Pharmaceuticals" (computed once per table)."""
    return symbols.own_words.get(symbol, frozenset())


def _words_before(before_text: str) -> tuple[str, str]:
    """The last two words before a name, lower-cased ("" when the name is glued to a mark)."""
    if not before_text or not before_text[-1].isspace():
        return "", ""
    parts = before_text.split()
    w1 = parts[-1].lower().lstrip("(\"'[") if parts else ""
    w2 = parts[-2].lower() if len(parts) > 1 else ""
    return w1, w2


def _left_ok(text: str, start: int, also: str) -> bool:
    """No word character (or one of `also`) right before `start`."""
    if start == 0:
        return True
    c = text[start - 1]
    return not (c.isalnum() or c == "_" or c in also)


def _bare_ok(text: str, start: int, end: int) -> bool:
    """A bare symbol: 2-5 capitals standing alone, not "ABT-494", "BRK.B", "AT&T", "$X", "x:Y"."""
    if end - start > 5 or not _left_ok(text, start, "$:.&/-"):
        return False
    nxt = text[end : end + 2]
    if not nxt:
        return True
    c = nxt[0]
    if c.isalnum() or c in "_&":
        return False
    return not (
        len(nxt) == 2 and ((c == "-" and nxt[1].isdigit()) or (c == "." and nxt[1].isupper()))
    )


def _hits(text: str, symbols: SymbolTable, rejected: list[tuple[str, str]]) -> list[_Hit]:
    """Every candidate link in `text` (cashtags, prefixes, lists, names, aliases, bare symbols),
    before issuers are set aside; each candidate refused is appended to `rejected` with its
    reason (what `explain` shows)."""
    hits: list[_Hit] = []
    # Cheap membership tests first: most texts have no "$", ":" or "(" (keeps link() fast).
    for m in CASHTAG_RE.finditer(text) if "$" in text else ():
        if not _left_ok(text, m.start(), "$"):
            continue
        if text.startswith(("…", "..."), m.end()) and len(m.group(1)) <= 2:
            # "$E…": a tweet cut mid-symbol; every one or two letters is some ticker
            rejected.append((m.group(1).upper(), "cut-off-cashtag"))
            continue
        sym = symbols.resolve(m.group(1).upper().replace("-", "."))
        if sym and sym in INDEX_CASHTAGS and not _names_itself(text, symbols, sym):
            rejected.append((sym, "index-cashtag"))
        elif sym and _is_spac(symbols, sym) and not _spac_context(text, symbols, sym):
            rejected.append((sym, "spac-without-context"))
        elif sym:
            hits.append(_Hit(sym, "cashtag", m.start(), m.end()))
    upper = text.upper() if ":" in text else ""
    for m in PREFIXED_RE.finditer(text) if any(x in upper for x in EXCHANGE_WORDS) else ():
        sym = symbols.resolve(m.group(1).upper())
        if sym:
            hits.append(_Hit(sym, "prefixed", m.start(), m.end()))
    listed: set[int] = set()
    # A parenthesised list needs "(" and ")"; a run of symbols needs two commas.
    lists = (
        *(LIST_RE.finditer(text) if "(" in text and ")" in text else ()),
        *(RUN_RE.finditer(text) if text.count(",") >= 2 else ()),
    )
    for m in lists:
        if m.re is RUN_RE and not _left_ok(text, m.start(), "$"):
            continue
        parts = [p.strip() for p in m.group(m.lastindex or 0).split(",")]
        known = [p for p in parts if symbols.resolve(p)]
        # A run of capitals is a symbol list when most are known tickers; in parentheses, when
        # most are ticker-like rather than acronyms ("(A, SVA, CADC)" yes, "(CEO, CFO)" no).
        plain = [p for p in parts if not symbols.is_common_word(p)]
        many = len(parts) >= 2 and (
            len(known) * 3 >= 2 * len(parts)
            or (m.re is LIST_RE and bool(known) and len(plain) * 2 >= len(parts))
        )
        one = len(parts) == 1 and known and not symbols.is_common_word(known[0])
        if many or (one and m.re is LIST_RE):
            for p in known:
                sym = symbols.resolve(p) or p
                hits.append(_Hit(sym, "list", m.start(), m.end()))
            listed.update(range(m.start(), m.end()))
    names = symbols.find_aliases(text)
    bare = [m for m in BARE_SYMBOL_RE.finditer(text) if _bare_ok(text, m.start(), m.end())]
    # Shouting headlines ("APPLE BEATS ESTIMATES") would match every symbol-shaped word. Counted
    # only when a rule needs it (most texts have neither weak names nor bare symbols).
    shouting = False
    if bare or any(h.weak for h in names):
        ascii_text = text.encode("ascii", "ignore")  # counting via bytes.translate: C speed
        n_upper = len(ascii_text) - len(ascii_text.translate(None, UPPER_BYTES))
        n_lower = len(ascii_text) - len(ascii_text.translate(None, LOWER_BYTES))
        shouting = n_upper > 1.5 * n_lower and n_upper > 0
    # In a Title Case Headline capitals say nothing: treat it like shouting for case evidence.
    # Counted only when a rule asks (weak names, short forms).
    titled_cache: list[bool] = []

    def titled() -> bool:
        if not titled_cache:
            words = () if shouting else WORD4_RE.findall(text)
            titled_cache.append(
                shouting
                or (len(words) >= 4 and sum(w[0].isupper() for w in words) >= 0.7 * len(words))
            )
        return titled_cache[0]

    # In proper-cased prose a lower-case one-word name is a common noun ("an apple"); in an
    # all-lower-case tweet it is not evidence of anything.
    if any(not h.weak and text[h.start : h.end].islower() for h in names) and (
        text != text.lower()
    ):
        names = [
            NameHit(h.symbol, h.start, h.end, True, h.first_token, 1)
            if not h.weak and text[h.start : h.end].islower()
            else h
            for h in names
        ]
    strong = {h.symbol for h in hits} | {h.symbol for h in names if not h.weak}
    has_fund_word = "Fund" in text or "Trust" in text or "ETF" in text or "Portfolio" in text
    cache: list[list[tuple[int, int]]] = []

    def cue_spans() -> list[tuple[int, int]]:
        if not cache:  # finance cues of the whole text, found once and only if needed
            low = text.lower()
            spans = [
                m.span()
                for m in WORD_RE.finditer(low)
                if _is_cue(m.group()) and not (m.start() and low[m.start() - 1] == "#")
            ]  # a hashtag (#stocks) is a topic tag, not a sentence about a company
            # the two-word cues ("price target", "market cap") count as their first word
            cache.append(spans)
        return cache[0]

    tagged = {h.symbol for h in hits if h.how != "list"}
    for h in names:
        start, end = h.start, h.end
        key = text[start:end].lower()
        if (text[end : end + 1] == "-" and text[end + 1 : end + 2].isdigit()) or (
            start and (text[start - 1].isdigit() or text[start - 1] in "$€£")
        ):  # a drug or product code ("ABT-494") or a piece of a number ("$3M"), not a company
            rejected.append((h.symbol, "code-or-amount"))
        elif tagged and h.symbol not in tagged and _of_tagged(symbols, tagged, key):
            rejected.append((h.symbol, "name-of-tagged-company"))  # "$IVR - Invesco says"
        elif (reason := _context_says_other(text, h, key, titled, symbols)) is not None:
            rejected.append((h.symbol, reason))
        elif key in VENUES and not VENUE_COMPANY_RE.match(text, h.end):
            rejected.append((h.symbol, "exchange-or-index"))  # "Nasdaq" the market, "S&P 500"
        elif has_fund_word and FUND_NAME_RE.match(text, h.end):
            rejected.append((h.symbol, "fund-name"))
        elif not h.weak:
            hits.append(_Hit(h.symbol, "name", h.start, h.end))
        elif symbols.is_common_word(key.upper()):
            rejected.append((h.symbol, "acronym"))  # "ECB", "CEO": an acronym, not a name
        elif _evidence(
            text, h, strong, titled, _own_words(symbols, h.symbol), cue_spans
        ) >= EVIDENCE_NEEDED + _prior(symbols, h.symbol, key):
            hits.append(_Hit(h.symbol, "alias", h.start, h.end))
        else:
            rejected.append((h.symbol, "weak-alias-without-evidence"))
    if not shouting:
        for m in bare:
            sym, start = m.group(), m.start()
            company = symbols.companies.get(sym)
            if start in listed or company is None:
                continue
            if symbols.is_common_word(sym):
                continue
            # Outside the S&P 500 a bare symbol needs the grammar of a subject: "SAIC to
            # acquire", "ASND earnings call".
            if not company.sp500 and not (
                len(sym) >= 3
                and (
                    VERB_AFTER_RE.match(text[m.end() : m.end() + 20])
                    or SUFFIX_AFTER_RE.match(text[m.end() :].lstrip())
                )
            ):
                continue
            if not company.sp500 and _shouted_words(text, symbols, start, m.end()):
                rejected.append((sym, "shouted-words"))  # "... as LOAN to the IRS ALL MONEY"
                continue
            before, nxt = _neighbour_words(text, start, m.end())
            if before[-1:].isdigit():
                rejected.append((sym, "model-number"))  # "737 MAX", "Model 3 LR": a product
                continue
            if (_capitalised_word(nxt) and not _is_cue(nxt)) or (
                _capitalised_word(before) and not _is_cue(before)
            ):
                rejected.append((sym, "part-of-a-name"))
                continue
            hits.append(_Hit(sym, "symbol", start, m.end()))
    return hits


def _prior(symbols: SymbolTable, symbol: str, alias: str) -> int:
    """Extra evidence a weak alias needs: a small company's name cut to its first word
    ("Indonesia" of Indonesia Energy, "Powell" of Powell Industries) is usually the word."""
    company = symbols.companies.get(symbol)
    if company is None or company.sp500 or symbols.name_lower.get(symbol) == alias:
        return 0
    return SMALL_CAP_PRIOR


def _names_itself(text: str, symbols: SymbolTable, symbol: str) -> bool:
    """Does the text name the company (not just its ticker)?"""
    company = symbols.companies.get(symbol)
    low = text.lower()
    return company is not None and any(
        a.lower() in low for a in (company.name, *company.aliases, *company.weak_aliases)
    )


def _is_spac(symbols: SymbolTable, symbol: str) -> bool:
    """Is `symbol` a blank-check company (`kind` "spac")? Its ticker may be a recycled one."""
    company = symbols.companies.get(symbol)
    return company is not None and company.kind == "spac"


def _spac_context(text: str, symbols: SymbolTable, symbol: str) -> bool:
    """A blank-check company's ticker is often a recycled one ($BWC was Babcock & Wilcox): it
    counts when the text names it or talks about SPACs, mergers, units or warrants."""
    return _names_itself(text, symbols, symbol) or not SPAC_WORDS.isdisjoint(
        WORD_RE.findall(text.lower())
    )


def _of_tagged(symbols: SymbolTable, tagged: set[str], alias: str) -> bool:
    """Is `alias` the start of the name of a company the text tags ($IVR "Invesco Mortgage
    Capital" makes "Invesco" that company, not IVZ)? Share classes of the alias's own issuer
    ("Alphabet Inc. - Class C", $GOOG) do not count."""
    starting = symbols.name_prefixes.get(alias)
    if not starting or starting.isdisjoint(tagged):
        return False
    owner = symbols.companies.get(symbols.alias_to_symbol.get(alias, ""))
    for sym in starting & tagged:
        company = symbols.companies.get(sym)
        if company is not None and not (owner is not None and company.cik == owner.cik != 0):
            return True
    return False


def _context_says_other(
    text: str, hit: NameHit, key: str, shouting: Callable[[], bool], symbols: SymbolTable
) -> str | None:
    """The words around a name say it is something else: a unit, a place, another firm."""
    before_text = text[max(0, hit.start - 40) : hit.start]
    # Substring tests first: the word before is looked at only when it can be one that matters.
    low_before = before_text.lower()
    w1 = ""
    if "degree" in low_before or "°" in low_before or "of" in low_before or "in" in low_before:
        w1, _ = _words_before(before_text)
    if w1 in UNIT_BEFORE or before_text.endswith("°"):
        return "unit"  # "1,500 degrees Celsius"
    if w1 == "of" and PLACE_BEFORE_RE.search(before_text):
        return "place"  # "the town of Nokia"
    if hit.weak and w1 == "in" and PLACE_AROUND_RE.match(text, hit.end):
        nxt = WORD_AFTER_RE.match(text, hit.end)
        word = nxt.group(1) if nxt else ""
        if word.lower() == "in" or not _is_cue(word):
            return "place"  # "a plant in Nokia in Finland"
    surface = text[hit.start : hit.end]
    if "'" in surface and surface.partition("'")[0].isupper():
        return "acronym-possessive"  # "NST's" is not "NSTS"
    nxt = WORD_AFTER_RE.match(text, hit.end)
    word = nxt.group(1) if nxt else ""
    if word.lower() in SOURCE_AFTER:
        return "data-source"  # "FactSet consensus": the provider of the figure
    if hit.n_tokens != 1 or hit.weak or symbols.name_lower.get(hit.symbol, key) == key:
        return None  # several words, weak (scored in `_evidence`) or the whole name
    if shouting():
        return None  # in a Title Case or upper-case text capitals say nothing
    # A short form ("Magyar" of Magyar Bancorp) inside a longer capitalised name is that name.
    if (
        word
        and not _is_cue(word)
        and word[:3].lower() not in _own_words(symbols, hit.symbol)
        and _capitalised_word(word)
        and not VERB_AFTER_RE.match(" " + word)
    ):
        return "part-of-a-name"  # "Magyar Nemzeti Bank"
    prev = _word_before(text, hit.start)
    if (
        _capitalised_word(prev)
        and not _is_cue(prev)
        and prev.lower() not in SLOT_WORDS
        and not _clause_start(text, hit.start - len(prev) - 1)
    ):
        return "part-of-a-name"  # "Northern Graphite" is not Graphite Bio
    return None


def _shouted_words(text: str, symbols: SymbolTable, start: int, end: int) -> bool:
    """Two or more upper-case words that are not tickers near a bare symbol: a shouted phrase
    ("Recognized as LOAN to the IRS ALL MONEY"), not a ticker."""
    near = text[max(0, start - 30) : start] + " " + text[end : end + 30]
    loud = [w for w in CAPS_WORD_RE.findall(near) if symbols.is_common_word(w) or w not in symbols]
    return len(loud) >= 2


def _issuers(text: str, hits: list[_Hit]) -> set[str]:
    """Symbols that issue a rating or opinion in `text` rather than being its subject."""
    tagged = {h.symbol for h in hits if h.how in ("cashtag", "prefixed")}
    out: set[str] = set()
    if all(h.how in ("cashtag", "prefixed", "list") for h in hits):
        return out  # an issuer is always written as a name or a bare symbol
    for h in hits:
        if h.symbol not in BROKERS or h.how in ("cashtag", "prefixed"):
            continue
        after = text[h.end : h.end + 40]
        at_end = TAIL_RE.fullmatch(text, h.end) is not None
        before = text[max(0, h.offset - 20) : h.offset]
        if BROKER_AFTER_RE.match(after) or (at_end and BROKER_BEFORE_RE.search(before)):
            out.add(h.symbol)
    low = text.lower()
    words = set(WORD_RE.findall(low))
    if GATE_WORDS.isdisjoint(words):
        return out - tagged
    active = not ACTIVE_WORDS.isdisjoint(words)  # skip what cannot match
    passive = not PASSIVE_WORDS.isdisjoint(words)
    # The verbs, found on the word tokens (one pass, then set lookups) rather than by scanning
    # the text with a long case-insensitive alternation per clause: (word, start, end).
    analyst_after = not ANALYST_AFTER_WORDS.isdisjoint(words)
    analyst_before = not ANALYST_BEFORE_WORDS.isdisjoint(words)
    verbs = _verbs(text, low, words & VERB_WORDS) if active or passive else []
    if not verbs and not analyst_after and not analyst_before:
        return out - tagged  # "buy", "target" alone: no clause rule can fire
    bounds = [0, *(m.end() for m in CLAUSE_RE.finditer(text)), len(text) + 1]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        clause = [h for h in hits if lo <= h.offset < hi and h.how not in ("cashtag", "prefixed")]
        if not clause:
            continue
        for verb, v_start, v_end in verbs:
            if not (lo <= v_start and v_end <= hi) or verb not in ACTIVE_WORDS:
                continue
            if verb in SOFT_VERBS and not RATING_OBJECT_RE.match(text, v_end):
                continue  # "Microsoft raises guidance" is news, not a rating
            if verb not in PLAIN_RATING_VERBS and not RATING_WORD_RE.match(text, v_end):
                continue  # "HP reiterates rejection of proposal": no rating in sight
            edge = v_start
            for h in sorted((h for h in clause if h.end <= v_start), key=lambda h: -h.end):
                if not ISSUER_GAP_RE.fullmatch(text[h.end : edge]):
                    break
                out.add(h.symbol)
                edge = h.offset
            break
        for verb, v_start, v_end in verbs:
            if lo <= v_start and v_end <= hi and verb in PASSIVE_WORDS:
                p = PASSIVE_TAIL_RE.match(text, v_end, hi)
                if p is not None:  # the first passive verb with "at/by/from" after it
                    out.update(h.symbol for h in clause if h.offset >= p.end() - 1)
                    break
        for h in clause if analyst_after or analyst_before else ():
            if (analyst_after and ANALYST_AFTER_RE.match(text[h.end : h.end + 30])) or (
                analyst_before and ANALYST_BEFORE_RE.search(text[max(0, h.offset - 30) : h.offset])
            ):
                out.add(h.symbol)
    return out - tagged


def _verbs(text: str, low: str, present: set[str]) -> list[tuple[str, int, int]]:
    """Where the rating verbs in `present` occur, as (verb, start, end) in text order; "reels
    in" is one verb. `str.find` per verb present (one or two), not a pass over every token."""
    if len(low) != len(text):  # lower() lengthened a letter: tokenise the text itself
        found = [(m.group().lower(), m.start(), m.end()) for m in WORD_CI_RE.finditer(text)]
        return _reels_in(text, [v for v in found if v[0] in present])
    out = []
    for w in present:
        pos = low.find(w)
        while pos != -1:
            end = pos + len(w)
            if (not pos or not _is_word_char(low[pos - 1])) and (
                end == len(low) or not _is_word_char(low[end])
            ):
                out.append((w, pos, end))
            pos = low.find(w, end)
    out.sort(key=lambda v: v[1])
    return _reels_in(text, out) if "reels" in present else out


def _is_word_char(c: str) -> bool:
    """A character of `WORD_RE` (lower-case ASCII letter, digit, "%"): a verb's boundary test."""
    return c in "%0123456789" or "a" <= c <= "z"


def _reels_in(text: str, verbs: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """`verbs` with "reels" joined to a following " in" as one verb, and a bare "reels" dropped."""
    out = []
    for w, start, end in verbs:
        if w == "reels":
            if text[end : end + 3].lower() != " in" or text[end + 3 : end + 4].isalnum():
                continue
            w, end = "reels in", end + 3
        out.append((w, start, end))
    return out


def explain(item: Item, symbols: SymbolTable) -> Explained:
    """`link`, with the issuers it set aside and the candidates it rejected."""
    rejected: list[tuple[str, str]] = []
    mentions, issuers = _link(item, symbols, rejected)
    return Explained(mentions, sorted(issuers), rejected)


def _link(
    item: Item, symbols: SymbolTable, rejected: list[tuple[str, str]]
) -> tuple[list[Mention], set[str]]:
    """`link` and `explain` in one: (mentions, issuers). Relevance is the best hit's `BASE`
    (x `BODY_FACTOR` after the headline), raised to the provider's when a provider ticker
    agrees, +0.1 when named twice, then scaled by 1 / (1 + 0.25 (n - 1)) for n tickers."""
    text = item.text
    hits = _hits(text, symbols, rejected)
    if not hits and not item.provider_tickers:
        return [], set()  # nothing to weigh
    cut = headline_end(text)
    issuers = _issuers(text, hits)
    subjects = [h for h in hits if h.symbol not in issuers]
    best: dict[str, tuple[float, str]] = {}
    counts: dict[str, int] = {}
    for hit in subjects:
        rel = BASE[hit.how] * (1.0 if hit.offset < cut else BODY_FACTOR)
        counts[hit.symbol] = counts.get(hit.symbol, 0) + 1
        if hit.symbol not in best or rel > best[hit.symbol][0]:
            best[hit.symbol] = (rel, hit.how)
    for raw in item.provider_tickers:
        sym = symbols.resolve(raw)
        if sym is None or sym in issuers:
            continue
        if sym not in best:
            best[sym] = (PROVIDER_ONLY, "provider")
        else:  # provider agrees with the text: a little more confident
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
    return mentions, issuers


def link(item: Item, symbols: SymbolTable) -> list[Mention]:
    """Mentions of `item`, one per ticker, sorted by relevance (desc) then ticker.

    What `score_items` links with, in the stream and the backtest alike: pure and
    deterministic for a given table. Issuers of a rating are never returned; relevance is in
    [0, 1], rounded to 4 places, and weighs the item's score in the windows."""
    return _link(item, symbols, [])[0]
