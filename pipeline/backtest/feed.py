"""Readers for historical feeds and daily prices: the only file I/O of replay and backtest.

Feeds come as the project's JSONL wire format, CSV with named columns, or StockNet raw tweets.
Every row is validated with the core's `parse_obj`, so a row that replay or backtest accepts is
exactly a row the live worker would accept; a bad row becomes a `BadRow` with file and line, never
a silent skip. `load_feed` returns the items in event-time order (stable for equal times).
Must not import Kafka, onnxruntime or the stream driver.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.records import Item, Rejected
from pipeline.core.validate import parse_obj

if TYPE_CHECKING:  # pandas is in the [backtest] extra; `finsent replay` reads feeds without it
    import pandas as pd

FORMATS = ("jsonl", "csv", "stocknet")
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Wed Jan 01 03:59:03 +0000 2014"
CSV_FIELDS = ("id", "text", "published_at", "source", "tickers", "url", "author", "lang")


@dataclass(frozen=True, slots=True)
class BadRow:
    """A skipped row: where it is and why (a core dead-letter reason or the reader's)."""

    path: str
    line: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class FeedRow:
    item: Item
    path: str
    line: int


@dataclass
class Feed:
    """A whole feed, validated and in event-time order."""

    items: list[Item]
    bad: list[BadRow] = field(default_factory=list)
    merged: int = 0  # StockNet: the same tweet id listed under several tickers, merged into one
    out_of_range: int = 0


def _validated(obj: Any, path: str, line: int, default_source: str) -> FeedRow | BadRow:
    parsed = parse_obj(obj, default_source=default_source)
    if isinstance(parsed, Rejected):
        return BadRow(path, line, parsed.reason, parsed.detail)
    return FeedRow(parsed, path, line)


def read_jsonl(path: str | Path, *, default_source: str = "unknown") -> Iterator[FeedRow | BadRow]:
    """The project's wire format, one JSON object per line (blank lines are skipped)."""
    p = str(path)
    with open(path, encoding="utf-8", errors="strict") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(p, n, "not_json", str(exc)[:200])
                continue
            yield _validated(obj, p, n, default_source)


def parse_csv_columns(spec: str | None) -> dict[str, str]:
    """'id=tweet_id,text=body' -> {'id': 'tweet_id', 'text': 'body', ...}; fields not named
    keep their own name as the column."""
    out = {f: f for f in CSV_FIELDS}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, col = part.partition("=")
        key = key.strip()
        if not sep or key not in CSV_FIELDS or not col.strip():
            raise ValueError(
                f"bad --csv-columns entry {part!r}: want FIELD=COLUMN, FIELD in {CSV_FIELDS}"
            )
        out[key] = col.strip()
    return out


def read_csv(
    path: str | Path, columns: Mapping[str, str] | None = None, *, default_source: str = "unknown"
) -> Iterator[FeedRow | BadRow]:
    """CSV with a header row. `tickers` may hold several symbols separated by ';', ',' or spaces.

    Line numbers are physical lines of the file (header = line 1), so quoted multi-line texts
    still point at the line where their row starts.
    """
    cols = dict(columns or parse_csv_columns(None))
    p = str(path)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = set(reader.fieldnames or [])
        missing = [cols[k] for k in ("id", "text", "published_at") if cols[k] not in header]
        if missing:
            yield BadRow(p, 1, "missing_field", f"CSV header lacks column(s) {', '.join(missing)}")
            return
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            obj: dict[str, Any] = {}
            for fld, col in cols.items():
                value = row.get(col)
                if value is None or value == "":
                    continue
                if fld == "tickers":
                    obj[fld] = [t for t in value.replace(";", " ").replace(",", " ").split() if t]
                else:
                    obj[fld] = value
            yield _validated(obj, p, line, default_source)


def stocknet_to_wire(obj: Any) -> dict[str, Any] | None:
    """One StockNet raw tweet -> the wire record (`published_at` in epoch ms), or None if unusable.

    Raises ValueError with a reason on a malformed `created_at`.
    """
    if not isinstance(obj, dict):
        return None
    created = obj.get("created_at")
    published_at: Any = None
    if isinstance(created, str):
        try:
            published_at = int(datetime.strptime(created, TWITTER_TIME).timestamp() * 1000)
        except ValueError as exc:
            raise ValueError(f"created_at {created!r} is not Twitter time") from exc
    out: dict[str, Any] = {
        "id": obj.get("id_str"),
        "source": "twitter",
        "published_at": published_at,
        "text": obj.get("text"),
        "tickers": obj.get("symbols") or [],
    }
    if isinstance(obj.get("user_id_str"), str):
        out["author"] = obj["user_id_str"]
    if isinstance(obj.get("lang"), str):
        out["lang"] = obj["lang"]
    for k in ("is_retweet", "date_file"):
        if k in obj:
            out[k] = obj[k]
    return out


def read_stocknet(path: str | Path) -> Iterator[FeedRow | BadRow]:
    """StockNet raw tweets (Xu & Cohen 2018): `id_str`, `created_at` (Twitter format, UTC), `text`,
    `symbols` (cashtags, which become provider tickers). Files are not in time order."""
    p = str(path)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                wire = stocknet_to_wire(json.loads(line))
            except json.JSONDecodeError as exc:
                yield BadRow(p, n, "not_json", str(exc)[:200])
                continue
            except ValueError as exc:
                yield BadRow(p, n, "bad_timestamp", str(exc))
                continue
            if wire is None:
                yield BadRow(p, n, "not_object", "expected a JSON object")
                continue
            yield _validated(wire, p, n, "twitter")


def read_rows(
    paths: Sequence[str | Path], fmt: str, csv_columns: Mapping[str, str] | None = None
) -> Iterator[FeedRow | BadRow]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown feed format {fmt!r}; one of {FORMATS}")
    for path in paths:
        if fmt == "jsonl":
            yield from read_jsonl(path)
        elif fmt == "csv":
            yield from read_csv(path, csv_columns)
        else:
            yield from read_stocknet(path)


def _merge_tickers(a: Item, b: Item) -> Item:
    tickers = tuple(dict.fromkeys((*a.provider_tickers, *b.provider_tickers)))
    return replace(a, provider_tickers=tickers)


def collect(
    rows: Iterable[FeedRow | BadRow],
    *,
    merge_ids: bool = False,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
) -> Feed:
    """Bad rows aside, time range applied ([start, end)), sorted by event time, then limited.

    Args:
        merge_ids: one record per (source, id), provider tickers unioned. Right for StockNet,
            whose per-ticker files repeat a tweet under every ticker it mentions; wrong for a live
            capture, where a repeated id is a redelivery the core must see.
    """
    feed = Feed(items=[])
    by_id: dict[tuple[str, str], int] = {}
    for row in rows:
        if isinstance(row, BadRow):
            feed.bad.append(row)
            continue
        item = row.item
        if (start_ms is not None and item.published_at_ms < start_ms) or (
            end_ms is not None and item.published_at_ms >= end_ms
        ):
            feed.out_of_range += 1
            continue
        if merge_ids:
            key = (item.source, item.id)
            if key in by_id:
                feed.items[by_id[key]] = _merge_tickers(feed.items[by_id[key]], item)
                feed.merged += 1
                continue
            by_id[key] = len(feed.items)
        feed.items.append(item)
    feed.items.sort(key=lambda it: it.published_at_ms)  # stable: equal times keep file order
    if limit is not None:
        feed.items = feed.items[:limit]
    return feed


def load_feed(
    paths: Sequence[str | Path],
    fmt: str = "jsonl",
    *,
    csv_columns: Mapping[str, str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
) -> Feed:
    """Read, validate and order a feed: what `finsent replay` and `finsent backtest` consume."""
    return collect(
        read_rows(paths, fmt, csv_columns),
        merge_ids=fmt == "stocknet",
        start_ms=start_ms,
        end_ms=end_ms,
        limit=limit,
    )


def read_prices(directory: str | Path, tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """Daily OHLCV CSVs named `<TICKER>.csv` (Date, Open, High, Low, Close, Adj Close, Volume) ->
    long frame [date, ticker, adj_open, adj_close]. The open is adjusted with the close's factor
    (Adj Close / Close) so splits and dividends do not show up as returns."""
    import pandas as pd

    want = {t.upper() for t in tickers} if tickers is not None else None
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        ticker = path.stem.upper()
        if want is not None and ticker not in want:
            continue
        df = pd.read_csv(path)
        factor = df["Adj Close"] / df["Close"]
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(df["Date"]).dt.normalize(),
                    "ticker": ticker,
                    "adj_open": df["Open"] * factor,
                    "adj_close": df["Adj Close"],
                }
            )
        )
    if not frames:
        raise FileNotFoundError(f"no <TICKER>.csv price files in {directory}")
    out = pd.concat(frames, ignore_index=True).dropna()
    return out.sort_values(["ticker", "date"]).reset_index(drop=True)
