"""Historical feeds, read the same way by `finsent replay` and `finsent backtest`.

Feeds come as the project's JSONL wire format, CSV with named columns, or StockNet raw tweets.
Every row is validated with the core's `parse_obj`, so a row that replay or backtest accepts is
exactly a row the live worker would accept; a bad row becomes a `BadRow` with file and line, never
a silent skip. `load_feed` returns the items in event-time order (stable for equal times).

Both commands take the same feed options (`add_feed_arguments`) and turn them into a feed with
`load_feed_from_args`, so they read a file identically and fail on it with the same line. Imports
the core only: never Kafka, onnxruntime, the stream driver, the backtest or pandas (the worker
image, which runs `finsent replay`, has no pandas). Daily prices: `pipeline.backtest.prices`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core.records import Item, Rejected
from pipeline.core.validate import parse_obj, parse_timestamp_ms
from pipeline.errors import FinsentError

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
    """A good row: the validated item and where it came from (for messages about it later)."""

    item: Item
    path: str
    line: int


@dataclass
class Feed:
    """A whole feed, validated and in event-time order, with what was left out and why (the
    commands print these counts, so nothing is dropped silently)."""

    items: list[Item]
    bad: list[BadRow] = field(default_factory=list)
    merged: int = 0  # StockNet: the same tweet id listed under several tickers, merged into one
    out_of_range: int = 0


def _validated(obj: Any, path: str, line: int, default_source: str) -> FeedRow | BadRow:
    """One decoded row through the core's `parse_obj` (the worker's own rules): a FeedRow, or a
    BadRow at path:line."""
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
    """Every row of `paths` in format `fmt`, file after file, in file order, bad rows included
    (`collect` sets them aside and sorts). ValueError for an unknown format."""
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
    """`a` with `b`'s provider tickers added (first seen first): one tweet listed in several of
    StockNet's per-ticker files becomes one record about all of them."""
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


# -- the feed options of `finsent replay` and `finsent backtest` ----------------------------------


def add_feed_arguments(parser: argparse.ArgumentParser, dest: str = "files") -> None:
    """The options that say which records of which files to use, added to `parser` (positional
    `dest` for the files). One definition, so replay and backtest read a feed identically."""
    parser.add_argument(dest, nargs="+", help="feed files")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="feed file format")
    parser.add_argument(
        "--csv-columns",
        default=None,
        help=f"FIELD=COLUMN,... for --format csv (fields: {','.join(CSV_FIELDS)})",
    )
    parser.add_argument("--start", default=None, help="first event time to use (ISO-8601, UTC)")
    parser.add_argument("--end", default=None, help="use event times before this (ISO-8601, UTC)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N records")


def time_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """`--start` / `--end` as epoch ms (None when not given), parsed as the worker parses
    `published_at`, so a range means the same instants as the records it selects. Raises
    ValueError on a bad timestamp."""
    start = parse_timestamp_ms(args.start) if args.start else None
    end = parse_timestamp_ms(args.end) if args.end else None
    return start, end


def load_feed_from_args(args: argparse.Namespace, files: Sequence[str]) -> Feed:
    """The feed that `add_feed_arguments`' options describe; each bad row reported on stderr as
    `skipped file:line: reason: detail`, so a user can fix the file.

    Raises `FinsentError` (one line, exit 2) for a missing or unreadable file, a bad option
    value, or a feed with no record to use (every row bad, or none in the time range).
    """
    for f in files:
        if not Path(f).is_file():
            raise FinsentError(f"no such feed file: {f}")
    try:
        start_ms, end_ms = time_range(args)
        columns = parse_csv_columns(args.csv_columns)
    except ValueError as exc:
        raise FinsentError(str(exc)) from exc
    try:
        feed = load_feed(
            files,
            args.format,
            csv_columns=columns,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=args.limit,
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise FinsentError(f"cannot read the feed: {exc}") from exc
    for bad in feed.bad:
        print(f"skipped {bad}", file=sys.stderr)
    if not feed.items:
        where = ", ".join(map(str, files))
        if feed.bad and not feed.out_of_range:
            raise FinsentError(
                f"no valid record in {where}: all {len(feed.bad)} rows are bad "
                "(see the lines above)"
            )
        raise FinsentError(
            f"no valid record in {where}: {len(feed.bad)} bad rows, "
            f"{feed.out_of_range} outside --start/--end"
        )
    return feed
