"""The precision rules of issue #12 on a small hand-made table (pure core, no files)."""

import pytest

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import explain, link

ROWS = [
    {"symbol": "ABBV", "name": "AbbVie", "aliases": "AbbVie", "weak_aliases": "", "sp500": "1"},
    {"symbol": "ABT", "name": "Abbott", "aliases": "Abbott Laboratories", "weak_aliases": ""},
    {"symbol": "JPM", "name": "JPMorgan", "aliases": "JPMorgan;JP Morgan", "weak_aliases": ""},
    {"symbol": "MS", "name": "Morgan Stanley", "aliases": "Morgan Stanley", "weak_aliases": ""},
    {"symbol": "GS", "name": "Goldman", "aliases": "Goldman Sachs", "weak_aliases": "Goldman"},
    {"symbol": "BAC", "name": "BofA", "aliases": "Bank of America;BofA", "weak_aliases": ""},
    {"symbol": "WFC", "name": "Wells Fargo", "aliases": "Wells Fargo", "weak_aliases": ""},
    {"symbol": "MMM", "name": "3M", "aliases": "", "weak_aliases": "3M", "sp500": "1"},
    {"symbol": "TGT", "name": "Target", "aliases": "Target Corporation", "weak_aliases": "Target"},
    {"symbol": "V", "name": "Visa", "aliases": "", "weak_aliases": "Visa", "sp500": "1"},
    {"symbol": "MA", "name": "Mastercard", "aliases": "Mastercard", "weak_aliases": ""},
    {"symbol": "AMZN", "name": "Amazon", "aliases": "Amazon.com", "weak_aliases": "Amazon"},
    {"symbol": "NDAQ", "name": "Nasdaq", "aliases": "Nasdaq Inc", "weak_aliases": "Nasdaq"},
    {"symbol": "ED", "name": "Con Ed", "aliases": "Con Edison", "weak_aliases": ""},
    {
        "symbol": "EIX",
        "name": "Edison",
        "aliases": "Edison International",
        "weak_aliases": "Edison",
    },
    {
        "symbol": "RSG",
        "name": "Republic",
        "aliases": "Republic Services",
        "weak_aliases": "Republic",
    },
    {"symbol": "STZ", "name": "Constellation", "aliases": "", "weak_aliases": "Constellation"},
    {"symbol": "CL", "name": "Colgate", "aliases": "Colgate", "weak_aliases": "", "sp500": "1"},
    {"symbol": "COO", "name": "Cooper", "aliases": "", "weak_aliases": "", "sp500": "1"},
    {"symbol": "USB", "name": "U.S. Bancorp", "aliases": "U.S. Bancorp", "sp500": "1"},
    {"symbol": "AAPL", "name": "Apple", "aliases": "Apple Inc.", "weak_aliases": "Apple"},
    {"symbol": "A", "name": "Agilent", "aliases": "Agilent", "weak_aliases": "", "sp500": "1"},
    {
        "symbol": "COR",
        "name": "Cencora",
        "aliases": "Cencora;AmerisourceBergen",
        "other_symbols": "ABC",
    },
    {"symbol": "XYZ", "name": "Block", "aliases": "", "weak_aliases": "Block", "sp500": "1"},
]
ROWS[-5]["sp500"] = "1"  # AAPL
SYMBOLS = SymbolTable.from_rows(ROWS)


def _tickers(text: str) -> set[str]:
    return {m.ticker for m in link(Item(id="1", source="s", published_at_ms=0, text=text), SYMBOLS)}


def _issuers(text: str) -> list[str]:
    return explain(Item(id="1", source="s", published_at_ms=0, text=text), SYMBOLS).issuers


@pytest.mark.parametrize(
    ("text", "subject", "issuer"),
    [
        ("JP Morgan Downgrades AbbVie to Neutral", "ABBV", "JPM"),
        (
            "Morgan Stanley Maintains Overweight on AbbVie, Raises Price Target to $200",
            "ABBV",
            "MS",
        ),
        ("AbbVie upgraded to buy from hold at Goldman Sachs", "ABBV", "GS"),
        ("AbbVie stock price target raised to $175 vs. $160 at BofA", "ABBV", "BAC"),
        ("Goldman Sachs analyst Jane Doe upgrades AbbVie", "ABBV", "GS"),
        ("Morgan Stanley, Wedbush Upgrade AbbVie", "ABBV", "MS"),
        ("AbbVie could win approval this year, says bearish BofA", "ABBV", "BAC"),
        ("Xerox bid could force AbbVie rethink - Wells Fargo", "ABBV", "WFC"),
        ("Goldman Sachs Upgrades Morgan Stanley to Buy", "MS", "GS"),
    ],
)
def test_rating_issuer_is_never_a_subject(text: str, subject: str, issuer: str) -> None:
    assert subject in _tickers(text)
    assert issuer not in _tickers(text)
    assert issuer in _issuers(text)


@pytest.mark.parametrize(
    "text",
    [
        "Goldman Sachs reports record quarterly earnings",
        "JPMorgan raises its dividend",  # a raise without a rating object is news
        "Morgan Stanley to cut 2,000 jobs",
    ],
)
def test_a_bank_in_its_own_news_is_the_subject(text: str) -> None:
    assert _tickers(text) and not _issuers(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Revenues $359.3M vs $350M estimate", set()),  # no alias inside amounts
        ("Sells 3M shares in a private placement", set()),
        ("3M shares fall after earnings miss", {"MMM"}),
        ("Will 3M Raise Its Dividend in 2020?", {"MMM"}),
        ("Phase 2 data for ABT-494 in Crohn's", set()),  # a drug code is not Abbott
        ("The COO of Agilent steps down", {"A"}),  # job title is not Cooper; name is Agilent
        ("USB sticks sell out; ETN flows", set()),
        ("CL King upgrades retailers", set()),  # a broker's name, not Colgate
        ("Nasdaq closes higher as tech rallies", set()),  # the index, not the company
        ("Nasdaq Inc reports record trading volumes", {"NDAQ"}),
        ("Earnings Scheduled For May 13 (A, SVA, CADC, AAPL)", {"A", "AAPL"}),
        ("Abbvie beats estimates", {"ABBV"}),  # case-insensitive for distinctive names
        ("ABBVIE AND AGILENT RALLY", {"ABBV", "A"}),
        ("Target shares fall after a weak quarter", {"TGT"}),
        ("Analyst raises the price target to $50", set()),
        ("Morgan Stanley Raises Price Target on Agilent", {"A"}),
        ("Amazon rainforest fires spread", set()),
        ("Amazon to create 500 new jobs in Florida", {"AMZN"}),
        ("Visa and Mastercard settle", {"V", "MA"}),
        ("Dominican Republic tourism booms", set()),
        ("Con Edison raises its dividend", {"ED"}),
        ("Constellation Software buys a vertical-market firm", set()),
        ("I ate an apple and read a block of text", set()),
        ("$ABC rallies after results", {"COR"}),  # a former ticker resolves to today's
        ("AmerisourceBergen beats", {"COR"}),
    ],
)
def test_precision_rules(text: str, expected: set[str]) -> None:
    assert _tickers(text) == expected


def test_rejections_say_why() -> None:
    e = explain(Item(id="1", source="s", published_at_ms=0, text="Nasdaq slips"), SYMBOLS)
    assert ("NDAQ", "exchange-or-index") in e.rejected


def test_aliases_are_leftmost_longest_with_offsets() -> None:
    text = "Edison International and Con Edison"
    hits = SYMBOLS.find_aliases(text)
    assert [(h.symbol, text[h.start : h.end]) for h in hits] == [
        ("EIX", "Edison International"),
        ("ED", "Con Edison"),
    ]


def test_offsets_survive_unicode_that_lower_lengthens() -> None:
    text = "İstanbul fund buys AbbVie"  # "İ".lower() is two characters
    (hit,) = SYMBOLS.find_aliases(text)
    assert text[hit.start : hit.end] == "AbbVie"


def test_share_classes_of_one_cik_keep_their_shared_alias() -> None:
    table = SymbolTable.from_rows(
        [
            {"symbol": "GOOGL", "name": "Alphabet A", "aliases": "Alphabet", "cik": "1652044"},
            {"symbol": "GOOG", "name": "Alphabet C", "aliases": "Alphabet", "cik": "1652044"},
        ]
    )
    assert table.find_names("Alphabet shares rise") == [("GOOGL", 0)]


def test_new_tables_match_only_listed_forms_not_the_display_name() -> None:
    table = SymbolTable.from_rows(
        [{"symbol": "ONON", "name": "On", "aliases": "On Holding", "weak_aliases": ""}]
    )
    assert table.find_names("Stocks on the move") == []
    assert table.find_names("On Holding beats") == [("ONON", 0)]
