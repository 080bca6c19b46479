"""Context rules against wrong entities (issue #12, wrong-entity links <= 1 %): the words around a
name or ticker say it is a unit, a place, another firm's name, an index, a recycled or cut-off
ticker. A small hand-made table, pure core."""

import pytest

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import explain

ROWS = [
    {"symbol": "CELH", "name": "Celsius", "aliases": "Celsius", "weak_aliases": ""},
    {"symbol": "NOK", "name": "Nokia", "aliases": "", "weak_aliases": "Nokia"},
    {"symbol": "IVZ", "name": "Invesco", "aliases": "", "weak_aliases": "Invesco", "sp500": "1"},
    {
        "symbol": "IVR",
        "name": "Invesco Mortgage Capital",
        "aliases": "Invesco Mortgage Capital;Invesco Mortgage",
        "weak_aliases": "",
    },
    {"symbol": "GOOGL", "name": "Alphabet", "aliases": "Alphabet", "cik": "1652044", "sp500": "1"},
    {"symbol": "GOOG", "name": "Alphabet Inc. Class C", "aliases": "Alphabet Inc. Class C"},
    {"symbol": "INDO", "name": "Indonesia Energy", "aliases": "Indonesia Energy"},
    {"symbol": "TGT", "name": "Target", "aliases": "", "weak_aliases": "Target", "sp500": "1"},
    {"symbol": "COMP", "name": "Compass", "aliases": "", "weak_aliases": "Compass"},
    {"symbol": "AAPL", "name": "Apple", "aliases": "Apple Inc.", "weak_aliases": "Apple"},
    {"symbol": "BWC", "name": "Blue Whale Acquisition", "aliases": "Blue Whale", "kind": "spac"},
    {"symbol": "E", "name": "Eni", "aliases": "", "weak_aliases": "Eni"},
    {"symbol": "TWLO", "name": "Twilio", "aliases": "Twilio", "weak_aliases": ""},
    {"symbol": "LOAN", "name": "Manhattan Bridge Capital", "aliases": "Manhattan Bridge Capital"},
    {"symbol": "NSTS", "name": "NSTS Bancorp", "aliases": "NSTS Bancorp;NSTS"},
    {"symbol": "FDS", "name": "FactSet", "aliases": "FactSet", "sp500": "1"},
    {"symbol": "TJX", "name": "TJX", "aliases": "TJX", "sp500": "1"},
    {"symbol": "MGYR", "name": "Magyar Bancorp", "aliases": "Magyar Bancorp;Magyar"},
    {"symbol": "TSLA", "name": "Tesla Inc", "aliases": "Tesla", "sp500": "1"},
    {"symbol": "MSFT", "name": "Microsoft", "aliases": "Microsoft", "sp500": "1"},
    {"symbol": "BALL", "name": "Ball", "aliases": "Ball Corporation", "weak_aliases": "Ball"},
    {"symbol": "GRPH", "name": "Graphite Bio", "aliases": "Graphite Bio;Graphite"},
]
for row in ROWS:
    row.setdefault("sp500", "")  # a row without the column would be an old S&P-only table
    row.setdefault("weak_aliases", "")
ROWS[5]["cik"] = "1652044"
ROWS[6]["aliases"] = "Indonesia Energy"
ROWS[6]["weak_aliases"] = "Indonesia"
ROWS[-2]["sp500"] = "1"
SYMBOLS = SymbolTable.from_rows(ROWS)


def _explain(text: str) -> tuple[set[str], dict[str, str]]:
    e = explain(Item(id="1", source="s", published_at_ms=0, text=text), SYMBOLS)
    return {m.ticker for m in e.mentions}, dict(e.rejected)


@pytest.mark.parametrize(
    ("text", "expected", "rejected", "why"),
    [
        # a measure word before a name: the unit
        ("The oven can reach 1,500 degrees Celsius.", set(), "CELH", "unit"),
        ("Celsius shares jump after earnings", {"CELH"}, "", ""),
        # a company mentioned as a place
        ("assets in the town of Nokia, southern Finland", set(), "NOK", "place"),
        ("while the plant in Nokia in Finland will make tyres", set(), "NOK", "place"),
        # a name that starts the name of a company the text tags is that company
        ("$IVR - Invesco says counterparties sold $3.5B", {"IVR"}, "IVZ", "name-of-tagged-company"),
        ("Invesco raises $2 billion for a new fund", {"IVZ"}, "", ""),
        ("Alphabet shares rise $GOOG", {"GOOG", "GOOGL"}, "", ""),  # one issuer, two classes
        # a small company's name cut to an ordinary first word needs more evidence
        ("Indonesia is grappling with surging garlic prices", set(), "INDO", ""),
        ("Indonesia Energy shares jump", {"INDO"}, "", ""),
        ("Target is cutting prices", {"TGT"}, "", ""),  # an S&P member: the usual evidence
        # index symbols written as cashtags
        ("$AAPL near support. $DJIA $SPX $COMP", {"AAPL"}, "COMP", "index-cashtag"),
        ("Compass $COMP beats on revenue", {"COMP"}, "", ""),
        # a blank-check company's recycled ticker needs SPAC context
        ("Get research on $BWC $AAPL", {"AAPL"}, "BWC", "spac-without-context"),
        ("$BWC shareholders approve the merger", {"BWC"}, "", ""),
        # a tweet cut inside a one- or two-letter cashtag
        ("Trending assets $AAPL $E… https://t.co/x", {"AAPL"}, "E", "cut-off-cashtag"),
        ("Downgrades: $AAPL $TWLO… https://t.co/x", {"AAPL", "TWLO"}, "", ""),
        # upper-case words that are not tickers around a bare symbol: shouting, not a ticker
        (
            "@TicToc Taxpayer Treatment UNFAIR TAX MONEY COLLECTED by IRS Recognized as LOAN to "
            "the IRS ALL MONEY be returned to… https://t.co/vQbZMoTmPz",
            set(),
            "LOAN",
            "shouted-words",
        ),
        # an acronym's possessive is not a name ending in s
        ("Of Bavelloni's and NST's joint ventures", set(), "NSTS", "acronym-possessive"),
        # the provider of a figure is not its subject
        ("TJX Q3 FactSet consensus 66 cents", {"TJX"}, "FDS", "data-source"),
        ("FactSet raises its outlook", {"FDS"}, "", ""),
        # a short form followed by another capitalised name is part of that name
        ("conditions of the Magyar Nemzeti Bank effective", set(), "MGYR", "part-of-a-name"),
        ("Magyar Bancorp reports results", {"MGYR"}, "", ""),
        ("Stocks - Disney, Tesla Rise Premarket; Uber Falls", {"TSLA"}, "", ""),  # Title Case
        ("The miner Northern Graphite said output rose", set(), "GRPH", "part-of-a-name"),
        # an article before a weak one-word name makes it the common noun
        ("Did hedge funds drop the ball on Tesla?", {"TSLA"}, "BALL", ""),
        ("Ball shares rise after earnings", {"BALL"}, "", ""),
    ],
)
def test_context_rules(text: str, expected: set[str], rejected: str, why: str) -> None:
    tickers, rejections = _explain(text)
    assert tickers == expected
    if rejected:
        assert rejected in rejections
    if why:
        assert rejections[rejected] == why


def test_a_capitalised_word_after_a_model_number_is_a_product_not_a_ticker() -> None:
    from pipeline.reference import load_symbols

    table = load_symbols()  # the shipped table: MAX is MediaAlpha there
    item = Item("1", "wire", 0, "Boeing reports record revenue as 737 MAX sales surge")
    out = explain(item, table)
    assert [m.ticker for m in out.mentions] == ["BA"]
    assert ("MAX", "model-number") in [(t, why) for t, why in out.rejected]
