"""kafka-python clients (admin, producer, consumer) configured from `Settings`: used by topic
creation, replay, the demo feed and tests. The faust worker builds its own (aiokafka) clients from
the same settings in `pipeline.stream.app`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pipeline.config import Settings
from pipeline.errors import FinsentError


class KafkaConnectError(FinsentError):
    """The broker could not be reached or refused us; the message says which settings to check."""


def _connect(settings: Settings, factory: Callable[[], Any]) -> Any:
    """Build a kafka-python client; its KafkaError becomes a one-line `KafkaConnectError`."""
    # kafka-python reports bad credentials as a bare bootstrap timeout; name the knobs instead.
    from kafka.errors import KafkaError

    try:
        return factory()
    except KafkaError as exc:
        raise KafkaConnectError(
            f"cannot use Kafka at {settings.bootstrap_servers} "
            f"(security protocol {settings.security_protocol}): {exc!r}. Check "
            "FINSENT_BOOTSTRAP_SERVERS, and FINSENT_SASL_* / FINSENT_SSL_* if the cluster is "
            "secured."
        ) from exc


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every kafka-python client."""
    kw: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        kw.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_secret(),
        )
    if settings.security_protocol.endswith("SSL"):
        if settings.ssl_cafile:
            kw["ssl_cafile"] = str(settings.ssl_cafile)
        if settings.ssl_certfile:
            kw["ssl_certfile"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile:
            kw["ssl_keyfile"] = str(settings.ssl_keyfile)
    return kw


def admin(settings: Settings, **extra: Any) -> Any:
    """A kafka-python admin client (the caller closes it). It connects when built, so a bad broker
    or credentials fail here as `KafkaConnectError`: the worker's broker probe relies on that."""
    from kafka import KafkaAdminClient

    return _connect(settings, lambda: KafkaAdminClient(**client_kwargs(settings), **extra))


def producer(settings: Settings, **extra: Any) -> Any:
    """A kafka-python producer with acks=all (a send is acknowledged once every in-sync replica has
    it) and a 5 ms linger to batch sends; `extra` overrides. The caller flushes and closes it."""
    from kafka import KafkaProducer

    opts: dict[str, Any] = {"acks": "all", "linger_ms": 5}
    opts.update(extra)
    return _connect(settings, lambda: KafkaProducer(**client_kwargs(settings), **opts))


def consumer(settings: Settings, *topics: str, **extra: Any) -> Any:
    """A kafka-python consumer that starts at the earliest offset and never commits: `start_offsets`
    names the worker's group only to read its commits, which only the agents may move."""
    from kafka import KafkaConsumer

    opts: dict[str, Any] = {"auto_offset_reset": "earliest", "enable_auto_commit": False}
    opts.update(extra)
    return _connect(settings, lambda: KafkaConsumer(*topics, **client_kwargs(settings), **opts))


def partition_counts(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each existing topic has on the broker (missing topics left out)."""
    c = consumer(settings)
    try:
        out = {}
        for topic in topics:
            parts = c.partitions_for_topic(topic)
            if parts:
                out[topic] = len(parts)
        return out
    finally:
        c.close()


def end_offsets(
    settings: Settings, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The log end offset of each partition, asked of the broker."""
    from kafka import TopicPartition

    tps = [TopicPartition(t, p) for t, p in partitions]
    if not tps:
        return {}
    c = consumer(settings)
    try:
        return {(tp.topic, tp.partition): end for tp, end in c.end_offsets(tps).items()}
    finally:
        c.close()


def read_range(
    settings: Settings, topic: str, partition: int, start: int, end: int, timeout_s: float = 30
) -> list[Any]:
    """Records at offsets [start, end) of one partition, read directly (no consumer group).

    Used by the agents to fill an offset hole: records the stream never delivered
    (`pipeline/stream/offsets.py`). Raises TimeoutError if they cannot all be read in time.
    """
    import time

    from kafka import TopicPartition

    tp = TopicPartition(topic, partition)
    c = consumer(settings)
    try:
        c.assign([tp])
        c.seek(tp, start)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while c.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic}[{partition}] {start}..{end - 1}")
            for records in c.poll(timeout_ms=500).values():
                out += [r for r in records if r.offset < end]
        return out
    finally:
        c.close()


def start_offsets(
    settings: Settings, group_id: str, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Where a consumer group resumes each partition: its committed offset, read from the broker,
    or the log start when nothing is committed or retention deleted the committed position.

    The agents' cursors start here (`pipeline/stream/offsets.py`), independently of whatever
    position faust's fetcher has already moved to.
    """
    from kafka import TopicPartition

    tps = [TopicPartition(t, p) for t, p in partitions]
    if not tps:
        return {}
    # A consumer that names the group but never subscribes: it only asks the coordinator.
    c = consumer(settings, group_id=group_id)
    try:
        beginning = c.beginning_offsets(tps)
        out: dict[tuple[str, int], int] = {}
        for tp in tps:
            done = c.committed(tp)
            out[(tp.topic, tp.partition)] = max(done or 0, beginning.get(tp) or 0)
        return out
    finally:
        c.close()


def read_to_end(settings: Settings, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record on `topic`, read up to the end offsets taken first: a positive end, not an
    idle timeout (for topics whose writers are known to be done, e.g. after committed lag 0)."""
    import time

    from kafka import TopicPartition

    c = consumer(settings, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(c.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s}s")
            for records in c.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        c.close()
