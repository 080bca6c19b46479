import pytest

from pipeline.core.records import Item
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link

ROWS = [
    {"symbol": "AAPL", "name": "Apple Inc.", "aliases": "Apple;iPhone maker"},
    {"symbol": "MSFT", "name": "Microsoft Corporation", "aliases": "Microsoft"},
    {"symbol": "ALL", "name": "Allstate", "aliases": ""},
    {"symbol": "T", "name": "AT&T", "aliases": ""},
    {"symbol": "IT", "name": "Gartner", "aliases": ""},
    {"symbol": "GE", "name": "General Electric", "aliases": "GE Aerospace"},
    {"symbol": "BRK.B", "name": "Berkshire Hathaway", "aliases": "Berkshire"},
]
SYMBOLS = SymbolTable.from_rows(ROWS)


def _link(text: str, tickers: tuple[str, ...] = ()) -> dict[str, float]:
    item = Item(id="1", source="s", published_at_ms=0, text=text, provider_tickers=tickers)
    return {m.ticker: m.relevance for m in link(item, SYMBOLS)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$AAPL to the moon", {"AAPL"}),
        ("$aapl to the moon", {"AAPL"}),
        ("NASDAQ:MSFT rallies", {"MSFT"}),
        ("Shares of NYSE: T slip", {"T"}),
        ("Apple unveils a new iPhone", {"AAPL"}),
        ("Apple Inc. and Microsoft sign a deal", {"AAPL", "MSFT"}),
        ("AAPL and MSFT both up", {"AAPL", "MSFT"}),
        ("Berkshire adds to its stake", {"BRK.B"}),
        ("$BRK.B hits a record", {"BRK.B"}),
        ("I ate an apple today", set()),  # lower-case fruit is not the company
        ("$ZZZZ unknown symbol", set()),
        ("", set()),
    ],
)
def test_linking_signals(text: str, expected: set[str]) -> None:
    assert set(_link(text)) == expected


@pytest.mark.parametrize(
    "text",
    ["ALL of it is priced in", "IT spending slows", "T minus ten", "Is IT ALL over"],
)
def test_common_word_symbols_never_match_as_bare_words(text: str) -> None:
    assert _link(text) == {}


@pytest.mark.parametrize(
    ("text", "ticker"), [("$ALL beats", "ALL"), ("NYSE:IT slides", "IT"), ("$T cuts dividend", "T")]
)
def test_common_word_symbols_match_as_cashtag_or_prefixed(text: str, ticker: str) -> None:
    assert set(_link(text)) == {ticker}


def test_shouting_headline_does_not_link_bare_symbols() -> None:
    assert _link("MARKETS RALLY AS GE AND AAPL SURGE") == {}


def test_relevance_headline_beats_body_beats_provider_only() -> None:
    headline = _link("Apple beats estimates\nAnalysts were surprised.")["AAPL"]
    body = _link("Markets were mixed today\nLater, Apple beat estimates.")["AAPL"]
    provider_only = _link("Markets were mixed today", tickers=("AAPL",))["AAPL"]
    assert 1.0 >= headline > body > provider_only > 0.0


def test_crowded_items_give_each_ticker_less_relevance() -> None:
    alone = _link("$AAPL rallies")["AAPL"]
    crowd = _link("$AAPL $MSFT $GE $T movers today")["AAPL"]
    assert crowd < alone


def test_relevance_always_in_unit_interval_and_sorted() -> None:
    item = Item(
        id="1",
        source="s",
        published_at_ms=0,
        text="$AAPL $AAPL Apple Apple AAPL\n$MSFT",
        provider_tickers=("AAPL", "GE"),
    )
    mentions = link(item, SYMBOLS)
    assert all(0.0 <= m.relevance <= 1.0 for m in mentions)
    assert [m.relevance for m in mentions] == sorted((m.relevance for m in mentions), reverse=True)


def test_ambiguous_alias_shared_by_two_companies_is_dropped() -> None:
    table = SymbolTable.from_rows(
        [
            {"symbol": "AAA", "name": "Acme", "aliases": "Star"},
            {"symbol": "BBB", "name": "Bolt", "aliases": "Star"},
        ]
    )
    item = Item(id="1", source="s", published_at_ms=0, text="Star shares rise")
    assert link(item, table) == []
