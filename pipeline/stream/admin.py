"""Create finsent's topics explicitly, with partition counts (never rely on auto-creation).

Usage:
    finsent topics [--partitions N]

Input topics are keyed by source item id; scored/aggregates/alerts topics are keyed by ticker, so
one ticker's state lives in one partition and throughput scales with partitions (README).
"""

from __future__ import annotations

import argparse

from pipeline.config import Settings
from pipeline.kafka_clients import admin

# The broker stamps each input record with its arrival time. Time retention then counts from
# arrival, so a replay of old news is not deleted at once; event time travels in `published_at`.
INPUT_TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
# An alert's false-positive mark is keyed by alert id; the newest mark per alert is all that counts.
COMPACTED_CONFIG = {"cleanup.policy": "compact"}


def topic_names(settings: Settings) -> list[str]:
    """Every topic finsent itself reads or writes: the inputs and their DLQs, scored and its DLQ,
    aggregates, alerts (faust declares its changelog topics itself). Also the topics the worker
    pre-creates metric series for, and the set `finsent replay` creates in one go."""
    ins = list(settings.topics_in())
    return [
        *ins,
        *(t + settings.dlq_suffix for t in ins),
        settings.scored_topic,
        settings.scored_topic + settings.dlq_suffix,
        settings.aggregates_topic,
        settings.alerts_topic,
        settings.alert_marks_topic,
        settings.review_topic,
    ]


def create_topics(settings: Settings, partitions: int | None = None) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    from kafka.admin import NewTopic

    n = partitions or settings.partitions
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        todo = [t for t in topic_names(settings) if t not in existing]
        inputs = set(settings.topics_in())
        if todo:
            client.create_topics(
                [
                    NewTopic(
                        t,
                        n,
                        settings.replication_factor,
                        topic_configs=INPUT_TOPIC_CONFIG
                        if t in inputs
                        else COMPACTED_CONFIG
                        if t == settings.alert_marks_topic
                        else {},
                    )
                    for t in todo
                ]
            )
        return todo
    finally:
        client.close()


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent topics`' option: the partition count of the topics it creates."""
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions of each new topic (default: FINSENT_PARTITIONS)",
    )


def run(args: argparse.Namespace) -> int:
    """Create the missing topics and print which; existing ones keep their partitions and config.
    A broker that refuses (ACLs, replication above the broker count) is one line, exit 2."""
    from kafka.errors import KafkaError

    from pipeline.kafka_clients import KafkaConnectError

    settings = Settings()
    settings.require_files()
    try:
        created = create_topics(settings, args.partitions)
    except KafkaError as exc:  # connected, then refused (a failed connection is already one line)
        raise KafkaConnectError(
            f"Kafka at {settings.bootstrap_servers} refused to create the topics: {exc!r}. "
            "Check FINSENT_PARTITIONS and FINSENT_REPLICATION_FACTOR (at most the broker count)"
        ) from exc
    print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    return 0
