"""The shipped symbol table, its builder, `finsent link` and the labelled sets (issue #12)."""

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.core.records import Item
from pipeline.core.tickers import explain
from pipeline.dev import symbols_build
from pipeline.dev.link_eval import evaluate
from pipeline.reference import DEFAULT_SYMBOLS, load_symbols

LINKING = Path(__file__).parent / "data" / "linking"


def _rows(name: str) -> list[dict[str, Any]]:
    text = (LINKING / name).read_text(encoding="utf-8")
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_shipped_table_covers_the_listed_universe_with_cik_and_kind() -> None:
    table = load_symbols()
    assert len(table) > 6000
    assert table.companies["AAPL"].cik == 320193 and table.companies["AAPL"].sp500
    assert table.companies["SPY"].kind == "fund"
    assert table.companies["AAP"].name == "Advance Auto Parts"  # a former S&P member
    assert table.resolve("ABC") == "COR"  # AmerisourceBergen is Cencora now
    assert DEFAULT_SYMBOLS.stat().st_size < 600_000


@pytest.mark.parametrize(
    ("sec_name", "clean"),
    [
        ("AMAZON COM INC", "Amazon.com"),
        ("BANK OF AMERICA CORP /DE/", "Bank of America"),
        ("VERTEX PHARMACEUTICALS INC / MA", "Vertex Pharmaceuticals"),
        ("NOVO NORDISK A S", "Novo Nordisk"),
        ("Meta Platforms, Inc.", "Meta Platforms"),
        ("CSX CORP", "CSX"),
    ],
)
def test_clean_name(sec_name: str, clean: str) -> None:
    assert symbols_build.clean_name(sec_name) == clean


def test_build_keeps_former_tickers_and_names_and_flags_funds(tmp_path: Path) -> None:
    sec = tmp_path / "sec.json"
    sec.write_text(
        json.dumps(
            {
                "fields": ["cik", "name", "ticker", "exchange"],
                "data": [
                    [1140859, "AMERISOURCEBERGEN CORP", "ABC", "NYSE"],
                    [884394, "SPDR S&P 500 ETF TRUST", "SPY", "NYSE"],
                    [19617, "JPMORGAN CHASE & CO", "JPM", "NYSE"],
                    [19617, "JPMORGAN CHASE & CO", "JPM-PD", "NYSE"],
                    [111, "TINY OTC CO", "TINY", "OTC"],
                ],
            }
        )
    )
    sp = tmp_path / "sp.csv"
    sp.write_text("Symbol,Security,GICS Sector,CIK\nCOR,Cencora,Health Care,1140859\n")
    out = tmp_path / "symbols.csv"
    symbols_build.build(sec, sp, out)
    table = load_symbols(out)
    assert set(table.companies) == {"COR", "SPY", "JPM"}  # no OTC row, no preferred
    assert table.resolve("ABC") == "COR"
    assert table.find_names("Amerisourcebergen beats") == [("COR", 0)]
    assert table.companies["SPY"].kind == "fund"


def test_cli_links_one_text_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", "--json", "JP Morgan Downgrades AbbVie to Neutral"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["ticker"] for t in out["tickers"]] == ["ABBV"]
    assert out["tickers"][0]["how"] == "name" and 0 < out["tickers"][0]["relevance"] <= 1
    assert out["issuers"] == ["JPM"]


def test_cli_reads_a_file_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "texts.txt"
    f.write_text("Visa and Mastercard settle\n\nAmazon rainforest fires\n")
    assert main(["link", "--file", str(f)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("MA(") and "V(" in lines[0] and lines[1].startswith("-\t")
    labelled = tmp_path / "gold.jsonl"
    labelled.write_text(json.dumps({"text": "Apple Inc. beats", "tickers": ["AAPL"]}) + "\n")
    assert main(["link", "--eval", str(labelled), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["precision"] == 1.0 and report["totals"]["recall"] == 1.0


def test_eval_reads_a_provider_feed_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "ratings.csv"
    feed.write_text(
        "title,date,stock\n"
        "JP Morgan Downgrades AbbVie to Neutral,2019-01-02,ABBV\n"
        "AmerisourceBergen upgraded at Goldman,2019-01-03,ABC\n"  # a former ticker: same CIK
    )
    assert main(["link", "--eval", str(feed), "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["recall"] == 1.0 and totals["issuer_links"] == 0


def test_eval_compares_companies_by_cik_and_names_causes() -> None:
    rows = [
        {"text": "$GOOG rallies", "tickers": ["GOOGL"]},  # one company, two share classes
        {"text": "JP Morgan Downgrades AbbVie to Neutral", "tickers": ["ABBV"], "issuers": ["JPM"]},
        {"text": "Tiny Widgets soars", "tickers": ["ZZZZQ"]},
    ]
    report = evaluate(rows, load_symbols())
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["precision"] == 1.0 and totals["recall"] == pytest.approx(2 / 3, abs=1e-3)
    assert report["causes"] == {"miss: not in table": 1}


def test_labelled_set_is_large_licensed_and_well_formed() -> None:
    rows = _rows("linking_set.jsonl")
    assert len(rows) >= 600
    rows += _rows("linking_heldout.jsonl")
    assert len({r["id"] for r in rows}) == len(rows)  # no text in both sets
    assert {r["license"] for r in rows} == {"MIT", "CC BY-NC-SA 3.0"}
    table = load_symbols()
    for r in rows:
        assert set(r) >= {"id", "text", "tickers", "subject", "issuers", "source", "license"}
        assert all(table.resolve(str(t)) for t in r["tickers"]), r
        assert not set(r["tickers"]) & set(r["issuers"])


def test_linker_on_the_labelled_set_stays_at_its_measured_level() -> None:
    """A regression guard at the measured figures (README, Ticker linking), not a target."""
    for name in ("linking_set.jsonl", "linking_heldout.jsonl"):
        totals = evaluate(_rows(name), load_symbols())["totals"]
        assert isinstance(totals, dict)
        assert totals["precision"] >= 0.97 and totals["recall"] >= 0.96, name
        assert totals["wrong_entity_share"] <= 0.01, name


def test_fresh_link_audit_stays_at_its_measured_level() -> None:
    """600 texts drawn after the sets above and checked link by link (tests/data/linking/
    README.md): the linker makes no link judged wrong beyond the 6 recorded, and no text of the
    audit is in the labelled sets."""
    rows = _rows("link_audit_fresh.jsonl")
    assert len(rows) == 600 and {r["sample"] for r in rows} == {"fresh-1", "fresh-2"}
    labelled = {r["text"] for n in ("linking_set.jsonl", "linking_heldout.jsonl") for r in _rows(n)}
    assert not labelled & {r["text"] for r in rows}
    table = load_symbols()
    wrong_now = 0
    for r in rows:
        item = Item(id=r["id"], source=r["source"], published_at_ms=0, text=r["text"])
        linked = {m.ticker for m in explain(item, table).mentions}
        wrong_now += len(linked & set(r["wrong"]))
    assert wrong_now <= 6


def test_generated_ratings_never_link_the_issuer() -> None:
    totals = evaluate(_rows("ratings_generated.jsonl"), load_symbols())["totals"]
    assert isinstance(totals, dict)
    assert totals["issuer_links"] == 0
    assert totals["recall"] >= 0.98


def test_explain_is_deterministic() -> None:
    table = load_symbols()
    item = Item(id="1", source="s", published_at_ms=0, text="Barclays Raises Apple PT to $200")
    assert explain(item, table) == explain(item, table)
