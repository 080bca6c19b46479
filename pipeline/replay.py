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
    parser.add_argument("--format", choices=FORMATS, default="jsonl")
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
    parser.add_argument("--no-progress", action="store_true")


def time_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    start = parse_timestamp_ms(args.start) if args.start else None
    end = parse_timestamp_ms(args.end) if args.end else None
    return start, end


def load_feed_from_args(args: argparse.Namespace, files: Sequence[str]) -> Feed:
    """The feed that `--format/--csv-columns/--start/--end/--limit` describe; bad rows reported
    on stderr (replay and backtest take the same options)."""
    start_ms, end_ms = time_range(args)
    feed = load_feed(
        files,
        args.format,
        csv_columns=parse_csv_columns(args.csv_columns),
        start_ms=start_ms,
        end_ms=end_ms,
        limit=args.limit,
    )
    for bad in feed.bad:
        print(f"skipped {bad}", file=sys.stderr)
    return feed


def run(args: argparse.Namespace) -> int:
    from pipeline.config import Settings
    from pipeline.kafka_clients import producer

    settings = Settings()
    feed = load_feed_from_args(args, args.files)
    topic = resolve_topic(args.topic, settings.news_topic, settings.social_topic)
    p = producer(settings)
    try:
        sent = publish(
            feed.items,
            lambda k, v, ts: p.send(topic, key=k, value=v, timestamp_ms=ts),
            speed=args.speed,
            progress=not args.no_progress,
        )
        p.flush()
    finally:
        p.close()
    print(summary(feed, sent, topic))
    return 0
