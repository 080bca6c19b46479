"""`finsent replay`: publish a historical feed into Kafka in event time.

Usage:
    finsent replay FILE... --topic news.raw|social.raw [--format jsonl|csv|stocknet]
        [--csv-columns id=..,text=..,published_at=..] [--speed X] [--start ISO] [--end ISO]
        [--limit N]

1. read and validate every row with the core's `parse_obj` (the rules the worker applies);
   bad rows are printed as `file:line: reason: detail`, skipped and counted;
2. order the records by event time (StockNet files are not in order; its per-ticker files repeat
   tweets, which are merged into one record with the union of tickers);
3. send each record keyed by its source item id (as the live feed is), with its event time as the
   Kafka timestamp and as `published_at` (epoch ms) in the value: as fast as possible, or with
   `--speed X` sleeping (event-time gap) / X between records (`--speed 60` = one hour per minute).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

from pipeline.backtest.feed import FORMATS, Feed, load_feed, parse_csv_columns
from pipeline.core.records import Item
from pipeline.core.validate import item_to_dict, parse_timestamp_ms

Send = Callable[[bytes, bytes, int], None]  # key, value, timestamp_ms


def encode(item: Item) -> tuple[bytes, bytes, int]:
    """The Kafka record of an item: (key = item id, value = wire JSON, timestamp = event time)."""
    value = json.dumps(item_to_dict(item), separators=(",", ":"), ensure_ascii=False).encode()
    return item.id.encode(), value, item.published_at_ms


def publish(
    items: Sequence[Item],
    send: Send,
    *,
    speed: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: bool = False,
) -> int:
    """Send `items` (already in event-time order) and return how many were sent.

    With a `speed`, record i goes out at start + (t_i - t_0) / speed seconds of wall time; the
    schedule is absolute, so the time spent sending does not accumulate as drift.
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    from tqdm import tqdm

    t0_wall, t0_event = clock(), (items[0].published_at_ms if items else 0)
    n = 0
    for item in tqdm(items, desc="replay", unit="rec", disable=not progress):
        if speed is not None:
            due = t0_wall + (item.published_at_ms - t0_event) / 1000 / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        send(*encode(item))
        n += 1
    return n


def resolve_topic(name: str, news_topic: str, social_topic: str) -> str:
    """`news.raw` / `social.raw` mean the configured input topics (FINSENT_NEWS_TOPIC...)."""
    return {"news.raw": news_topic, "social.raw": social_topic}.get(name, name)


def summary(feed: Feed, sent: int, topic: str) -> str:
    return (
        f"replayed {sent} records to {topic}; skipped {len(feed.bad)} bad rows; "
        f"merged {feed.merged} duplicate ids; {feed.out_of_range} outside the time range"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="feed files")
    parser.add_argument("--topic", required=True, help="news.raw | social.raw (or a topic name)")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="feed file format")
    parser.add_argument(
        "--csv-columns",
        default=None,
        help="FIELD=COLUMN,... for --format csv (fields: id,text,published_at,"
        "source,tickers,url,author,lang)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="event-time speed-up factor (default: as fast as possible)",
    )
    parser.add_argument("--start", default=None, help="first event time to send (ISO-8601, UTC)")
    parser.add_argument("--end", default=None, help="send event times before this (ISO-8601, UTC)")
    parser.add_argument("--limit", type=int, default=None, help="send at most N records")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is also off when stdout or stderr is not a terminal)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )


def time_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    start = parse_timestamp_ms(args.start) if args.start else None
    end = parse_timestamp_ms(args.end) if args.end else None
    return start, end


def load_feed_from_args(args: argparse.Namespace, files: Sequence[str]) -> Feed:
    """The feed that `--format/--csv-columns/--start/--end/--limit` describe; bad rows reported
    on stderr (replay and backtest take the same options).

    Raises `FinsentError` (one line, exit 2) for a missing or unreadable file, a bad option
    value, or a feed with no record to use (every row bad, or none in the time range).
    """
    from pathlib import Path

    from pipeline.errors import FinsentError

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
        why = (
            f"all {len(feed.bad)} rows are bad (see the lines above)"
            if feed.bad and not feed.out_of_range
            else f"{len(feed.bad)} bad rows, {feed.out_of_range} outside --start/--end"
        )
        raise FinsentError(f"no valid record in {', '.join(map(str, files))}: {why}")
    return feed


def summary_dict(feed: Feed, sent: int, topic: str) -> dict[str, object]:
    """The `--json` summary of a replay."""
    return {
        "topic": topic,
        "sent": sent,
        "bad_rows": len(feed.bad),
        "merged_ids": feed.merged,
        "out_of_range": feed.out_of_range,
    }


def run(args: argparse.Namespace) -> int:
    from pipeline.config import Settings
    from pipeline.kafka_clients import KafkaConnectError, producer

    settings = Settings()
    feed = load_feed_from_args(args, args.files)
    topic = resolve_topic(args.topic, settings.news_topic, settings.social_topic)
    settings.require_files()
    p = producer(settings)
    # A progress bar only for a person watching: never in a pipe, a log file or CI.
    progress = not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty()
    try:
        sent = publish(
            feed.items,
            lambda k, v, ts: p.send(topic, key=k, value=v, timestamp_ms=ts),
            speed=args.speed,
            progress=progress,
        )
        p.flush()
    except Exception as exc:
        from kafka.errors import KafkaError

        if not isinstance(exc, KafkaError):
            raise
        raise KafkaConnectError(
            f"sending to {topic} on Kafka at {settings.bootstrap_servers} failed: {exc!r}. "
            "Check that the topic exists (finsent topics) and FINSENT_BOOTSTRAP_SERVERS"
        ) from exc
    finally:
        p.close()
    if args.json:
        print(json.dumps(summary_dict(feed, sent, topic)))
    else:
        print(summary(feed, sent, topic))
    return 0
