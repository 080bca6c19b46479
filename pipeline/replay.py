"""`finsent replay`: publish a historical feed into Kafka in event time.

Usage:
    finsent replay FILE... --topic news.raw|social.raw [--format jsonl|csv|stocknet]
        [--csv-columns id=..,text=..,published_at=..] [--speed X] [--start ISO] [--end ISO]
        [--limit N] [--namespace NAME | --live]

By default a replay writes into its own namespace (`replay.news.raw`, ...; FINSENT_NAMESPACE):
a worker started with FINSENT_NAMESPACE=replay reads it under its own consumer group and
changelogs, and its metrics feed no alert. `--live` writes into the live input topics.

1. read and validate every row with the core's `parse_obj` (the rules the worker applies);
   bad rows are printed as `file:line: reason: detail`, skipped and counted;
2. order the records by event time (StockNet files are not in order; its per-ticker files repeat
   tweets, which are merged into one record with the union of tickers);
3. send each record keyed by its source item id (as the live feed is), with its event time as the
   Kafka timestamp and as `published_at` (epoch ms) in the value: as fast as possible, or with
   `--speed X` sleeping (event-time gap) / X between records (`--speed 60` = one hour per minute).

Before sending, the target topic is read from the broker: a missing one is created (as
`finsent topics` does: LogAppendTime), and one whose time retention would delete the old records
it is about to receive (CreateTime timestamps, finite retention.ms) is refused (`check_retention`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline.core.records import Item
from pipeline.core.validate import item_to_dict
from pipeline.errors import FinsentError
from pipeline.feeds import Feed, add_feed_arguments, load_feed_from_args

if TYPE_CHECKING:
    from pipeline.config import Settings

Send = Callable[[bytes, bytes, int], None]  # key, value, timestamp_ms
DEFAULT_NAMESPACE = "replay"
# What the retention check leaves a worker to read the replayed records before they could go.
RETENTION_MARGIN_MS = 24 * 3600 * 1000
# Kafka's topic defaults, for a config that does not list a key.
KAFKA_DEFAULTS = {
    "message.timestamp.type": "CreateTime",
    "retention.ms": "604800000",
    "cleanup.policy": "delete",
}


class TopicConfigError(FinsentError):
    """The target topic would delete (or cannot be checked not to delete) what a replay writes."""


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


def target_topic(name: str, settings: Settings) -> str:
    """The topic `--topic NAME` writes to under `settings` (namespaced or live): the input
    topics for `news.raw` / `social.raw`, else NAME, prefixed with the namespace if any, so
    nothing but `--live` writes outside the namespace."""
    from pipeline.config import namespaced_topic

    if name in ("news.raw", "social.raw"):
        return resolve_topic(name, settings.news_topic, settings.social_topic)
    return namespaced_topic(name, settings.namespace)


def _iso_minute(ms: int) -> str:
    """Epoch ms as a UTC minute (2014-01-02T15:04Z), for the retention message."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def check_retention(
    topic: str,
    config: Mapping[str, str],
    oldest_event_ms: int,
    now_ms: int,
    margin_ms: int = RETENTION_MARGIN_MS,
) -> str | None:
    """None when `topic` keeps what a replay writes, else the one line that says why not.

    With `message.timestamp.type=CreateTime` the broker keeps the replay's timestamps (event
    time), and time retention deletes a segment once its newest timestamp is older than
    retention.ms: records from 2014 would go at once. It is safe when the broker stamps arrival
    (LogAppendTime), when retention is off (-1) or the policy does not delete (compact), or when
    retention.ms covers the oldest record's age plus `margin_ms` (time to read it).
    """

    def get(key: str) -> str:
        """A topic config value, or Kafka's default when the broker did not list it."""
        return str(config.get(key) or KAFKA_DEFAULTS[key])

    ts_type = get("message.timestamp.type")
    if ts_type == "LogAppendTime":
        return None
    if "delete" not in [p.strip() for p in get("cleanup.policy").split(",")]:
        return None
    retention_ms = int(get("retention.ms"))
    if retention_ms < 0 or retention_ms >= now_ms - oldest_event_ms + margin_ms:
        return None
    cutoff = _iso_minute(now_ms + margin_ms - retention_ms)
    return (
        f"message.timestamp.type={ts_type} with retention.ms={retention_ms} on {topic}: records "
        f"dated before {cutoff} would be deleted by time retention; recreate the topic with "
        "finsent topics or set message.timestamp.type=LogAppendTime"
    )


def prepare_topic(settings: Settings, topic: str, oldest_event_ms: int, now_ms: int) -> list[str]:
    """Make `topic` ready for a replay, or raise `TopicConfigError` (one line): create it when
    missing (with every other missing topic of its namespace, by `finsent topics`' code, when it
    is one of them), else read its configuration and refuse one that `check_retention` refuses.
    Returns the topics created."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import KafkaError

    from pipeline import kafka_clients
    from pipeline.stream.admin import INPUT_TOPIC_CONFIG, create_topics, topic_names

    def refused(exc: Exception) -> FinsentError:
        """A Kafka refusal as one line naming the ACLs a replay needs."""
        return kafka_clients.KafkaConnectError(
            f"Kafka at {settings.bootstrap_servers} refused to describe or create {topic}: "
            f"{exc!r}. The replay needs Describe, DescribeConfigs and Create on it"
        )

    client = kafka_clients.admin(settings)
    try:
        exists = topic in set(client.list_topics())
        if not exists and topic not in topic_names(settings):
            n, rf = settings.partitions, settings.replication_factor
            client.create_topics([NewTopic(topic, n, rf, topic_configs=INPUT_TOPIC_CONFIG)])
            return [topic]
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        found = client.describe_configs([resource], config_filter="all") if exists else {}
    except KafkaError as exc:
        raise refused(exc) from exc
    finally:
        client.close()
    if not exists:
        try:
            return create_topics(settings)
        except KafkaError as exc:
            raise refused(exc) from exc
    entries = (found.get("topic") or {}).get(topic) or {}
    config = {k: str(v.get("value")) for k, v in entries.items() if v.get("value") is not None}
    if "message.timestamp.type" not in config:
        raise TopicConfigError(
            f"cannot read the configuration of {topic} (message.timestamp.type, retention.ms) "
            "to check that its retention keeps old records: grant DescribeConfigs on it"
        )
    problem = check_retention(topic, config, oldest_event_ms, now_ms)
    if problem:
        raise TopicConfigError(problem)
    return []


def worker_hint(settings: Settings) -> str:
    """The line a namespaced replay ends with: how to process it and where the results are."""
    ns = settings.namespace
    return (
        f"next: FINSENT_NAMESPACE={ns} finsent worker scores it as consumer group "
        f"{settings.app_id} (another FINSENT_WEB_PORT if a live worker runs here); read the "
        f"results on {settings.aggregates_topic} and {settings.alerts_topic} or its /tickers/T"
    )


def summary(feed: Feed, sent: int, topic: str) -> str:
    """The line a replay ends with: what was sent where, and every count of what was not."""
    return (
        f"replayed {sent} records to {topic}; skipped {len(feed.bad)} bad rows; "
        f"merged {feed.merged} duplicate ids; {feed.out_of_range} outside the time range"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent replay`'s options: the feed options shared with the backtest
    (`pipeline.feeds.add_feed_arguments`), then where and how fast to send."""
    add_feed_arguments(parser, "files")
    parser.add_argument("--topic", required=True, help="news.raw | social.raw (or a topic name)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="event-time speed-up factor (default: as fast as possible)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is also off when stdout or stderr is not a terminal)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--namespace",
        default=None,
        help=f"write into this namespace's topics, <NAME>.<topic> (default: FINSENT_NAMESPACE "
        f"if set, else {DEFAULT_NAMESPACE})",
    )
    where.add_argument(
        "--live",
        action="store_true",
        help="write into the live topics (FINSENT_NEWS_TOPIC...), where live workers read",
    )


def summary_dict(feed: Feed, sent: int, topic: str, namespace: str = "") -> dict[str, object]:
    """The `--json` summary of a replay (namespace "" = live)."""
    return {
        "topic": topic,
        "namespace": namespace,
        "sent": sent,
        "bad_rows": len(feed.bad),
        "merged_ids": feed.merged,
        "out_of_range": feed.out_of_range,
    }


def replay_settings(args: argparse.Namespace) -> Settings:
    """Settings in the namespace the replay writes to: none with `--live`, else `--namespace`,
    FINSENT_NAMESPACE or `replay`."""
    from pipeline.config import Settings

    env = Settings()
    ns = "" if args.live else (args.namespace or env.namespace or DEFAULT_NAMESPACE)
    return env if ns == env.namespace else Settings(namespace=ns)


def run(args: argparse.Namespace) -> int:
    """Read the feed, prepare the target topic and send; 0 when sent."""
    from pipeline import kafka_clients
    from pipeline.kafka_clients import KafkaConnectError

    settings = replay_settings(args)
    feed = load_feed_from_args(args, args.files)
    topic = target_topic(args.topic, settings)
    settings.require_files()
    oldest = min(item.published_at_ms for item in feed.items)
    created = prepare_topic(settings, topic, oldest, int(time.time() * 1000))
    if created:
        print(f"created: {', '.join(created)}", file=sys.stderr)
    p = kafka_clients.producer(settings)
    # A progress bar only for a person watching: never in a pipe, a log file or CI.
    progress = not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty()
    futures = []
    try:
        sent = publish(
            feed.items,
            lambda k, v, ts: futures.append(p.send(topic, key=k, value=v, timestamp_ms=ts)),
            speed=args.speed,
            progress=progress,
        )
        p.flush()
        # kafka-python's flush does not raise for a send that failed after its retries: the
        # error is on that send's future, so "replayed N" would count records not on the broker
        for fut in futures:
            fut.get(timeout=0)
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
        print(json.dumps(summary_dict(feed, sent, topic, settings.namespace)))
    else:
        print(summary(feed, sent, topic))
    if settings.namespace:
        print(worker_hint(settings), file=sys.stderr if args.json else sys.stdout)
    return 0
