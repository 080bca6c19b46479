"""Feed readers (`pipeline.feeds`, shared by replay and backtest): every format, bad rows reported
with file:line and reason, event-time order, StockNet's Twitter times and its per-ticker
duplicates; the shared options; and the module's place (no pandas, replay and backtest import it
and not each other). Data is generated here (fresh clone)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.feeds import (
    BadRow,
    add_feed_arguments,
    load_feed,
    load_feed_from_args,
    parse_csv_columns,
    read_csv,
    read_jsonl,
    stocknet_to_wire,
)

T0 = 1_700_000_000_000


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_bad_rows_carry_line_number_and_reason(tmp_path: Path) -> None:
    good = {"id": "a", "text": "Apple beats", "published_at": T0 + 2000, "tickers": ["aapl"]}
    f = _write(
        tmp_path / "feed.jsonl",
        [
            json.dumps(good),
            "not json {",
            json.dumps({"id": "b", "published_at": T0}),  # no text
            "",
            json.dumps({"id": "c", "text": "x", "published_at": 1_700_000_000}),  # seconds
            json.dumps(
                {"id": "d", "text": "Microsoft slides", "published_at": "2023-11-14T22:13:20Z"}
            ),
        ],
    )
    rows = list(read_jsonl(f))
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [(b.line, b.reason) for b in bad] == [
        (2, "not_json"),
        (3, "missing_field"),
        (5, "bad_timestamp"),
    ]
    assert str(bad[0]).startswith(f"{f}:2: not_json:")
    feed = load_feed([f])
    assert [it.id for it in feed.items] == ["d", "a"]  # event-time order
    assert feed.items[1].provider_tickers == ("AAPL",)
    assert feed.items[0].published_at_ms == T0 and len(feed.bad) == 3


def test_csv_named_columns_and_multi_line_rows(tmp_path: Path) -> None:
    f = tmp_path / "feed.csv"
    f.write_text(
        "tweet_id,body,when,syms\n"
        '1,"Apple up",2024-01-02T10:00:00Z,AAPL;MSFT\n'
        '2,"two\nlines",2024-01-02T09:00:00Z,\n'
        "3,,2024-01-02T11:00:00Z,AAPL\n"
        "4,Boeing falls,not a time,BA\n",
        encoding="utf-8",
    )
    cols = parse_csv_columns("id=tweet_id,text=body,published_at=when,tickers=syms")
    rows = list(read_csv(f, cols))
    assert [(r.line, r.reason) for r in rows if isinstance(r, BadRow)] == [
        (5, "missing_field"),
        (6, "bad_timestamp"),
    ]
    feed = load_feed([f], "csv", csv_columns=cols)
    assert [it.id for it in feed.items] == ["2", "1"]
    assert feed.items[1].provider_tickers == ("AAPL", "MSFT")


def test_csv_missing_header_column_is_one_bad_row(tmp_path: Path) -> None:
    f = _write(tmp_path / "f.csv", ["a,b", "1,2"])
    rows = list(read_csv(f))
    assert len(rows) == 1 and isinstance(rows[0], BadRow) and rows[0].line == 1


def test_bad_csv_columns_spec() -> None:
    with pytest.raises(ValueError):
        parse_csv_columns("identifier=x")


def _tweet(id_str: str, created: str, symbols: list[str], text: str = "$AAPL up") -> str:
    return json.dumps(
        {
            "id_str": id_str,
            "created_at": created,
            "text": text,
            "user_id_str": "9",
            "lang": "en",
            "is_retweet": False,
            "symbols": symbols,
        }
    )


def test_stocknet_time_sort_and_merge_across_files(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "AAPL.jsonl",
        [
            _tweet("2", "Thu Jan 02 15:00:00 +0000 2014", ["AAPL"]),
            _tweet("1", "Wed Jan 01 03:59:03 +0000 2014", ["AAPL", "GOOG"]),
            _tweet("3", "yesterday", ["AAPL"]),
            '{"id_str": "4"',
        ],
    )
    g = _write(
        tmp_path / "GOOG.jsonl", [_tweet("1", "Wed Jan 01 03:59:03 +0000 2014", ["GOOG", "MSFT"])]
    )
    feed = load_feed([a, g], "stocknet")
    assert [it.id for it in feed.items] == ["1", "2"]
    assert feed.items[0].published_at_ms == 1388548743000  # 2014-01-01T03:59:03Z
    assert feed.items[0].provider_tickers == ("AAPL", "GOOG", "MSFT")
    assert feed.items[0].source == "twitter" and feed.items[0].author == "9"
    assert feed.merged == 1
    assert [(b.line, b.reason) for b in feed.bad] == [(3, "bad_timestamp"), (4, "not_json")]


def test_stocknet_wire_keeps_extras() -> None:
    wire = stocknet_to_wire(json.loads(_tweet("7", "Fri Mar 04 20:00:00 +0000 2016", ["XOM"])))
    assert wire is not None and wire["is_retweet"] is False and wire["tickers"] == ["XOM"]


def test_time_range_is_half_open_and_limit_after_sort(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "f.jsonl",
        [
            json.dumps({"id": str(i), "text": "t", "published_at": T0 + (5 - i) * 1000})
            for i in range(6)
        ],
    )
    feed = load_feed([f], start_ms=T0 + 1000, end_ms=T0 + 4000, limit=2)
    assert [it.published_at_ms - T0 for it in feed.items] == [1000, 2000]
    assert feed.out_of_range == 3


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_feed_arguments(parser)
    return parser.parse_args(list(argv))


def test_feed_options_select_the_same_records_as_load_feed(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "f.jsonl",
        [json.dumps({"id": str(i), "text": "t", "published_at": T0 + i * 1000}) for i in range(5)],
    )
    args = _args(str(f), "--start", "2023-11-14T22:13:21Z", "--limit", "2")
    feed = load_feed_from_args(args, args.files)
    assert [it.id for it in feed.items] == ["1", "2"] and feed.out_of_range == 1


def _modules_after_import(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_feeds_import_no_pandas_and_replay_and_backtest_not_each_other() -> None:
    """The worker image (no pandas) runs `finsent replay`: the readers must not need it; and
    replay and backtest share `pipeline.feeds` instead of importing one another."""
    feeds = _modules_after_import("import pipeline.feeds")
    assert "pandas" not in feeds and not any(m.startswith("pipeline.backtest") for m in feeds)
    replay = _modules_after_import("import pipeline.replay")
    assert "pandas" not in replay and not any(m.startswith("pipeline.backtest") for m in replay)
    backtest = _modules_after_import("import pipeline.backtest.run, pipeline.backtest.report")
    assert "pipeline.replay" not in backtest and "pipeline.feeds" in backtest
