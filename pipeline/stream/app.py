"""The faust app, configured from `Settings`: brokers, credentials, table store, timeouts.
Only the composition root (`worker.build_runtime`) calls `create_app`; the agents receive the
app inside the `Runtime` (`runtime.py`).
"""

from __future__ import annotations

import ssl

import faust

from pipeline.config import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of an SSL or SASL_SSL connection (FINSENT_SSL_*), None without TLS."""
    if not settings.security_protocol.upper().endswith("SSL"):
        return None
    ctx = ssl.create_default_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
    )
    if settings.ssl_certfile:
        ctx.load_cert_chain(
            str(settings.ssl_certfile), str(settings.ssl_keyfile) if settings.ssl_keyfile else None
        )
    return ctx


def broker_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """faust credentials for SASL/SSL from the settings (None for PLAINTEXT)."""
    proto = settings.security_protocol.upper()
    ctx = ssl_context(settings)
    if proto.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_secret(),
            mechanism=settings.sasl_mechanism,
            ssl_context=ctx,
        )
    if proto == "SSL":
        return faust.SSLCredentials(ctx)
    return None


def create_app(settings: Settings) -> faust.App:
    """The worker's faust app (one per process, built by `worker.build_runtime`). What a caller must
    know, each with its reason below: tables are in memory and rebuilt from their changelogs at
    start, there are no standby replicas, and faust commits nothing finsent consumes."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{b}" for b in settings.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",  # tables are rebuilt from their changelog topics on start
        # No standby replicas: faust's memory store drops standby keys when a recovery
        # completes, and a standby promoted to active then resumes its changelog from the
        # standby offset, so a key last written before that offset (a ticker's waiting records,
        # a quiet ticker) was lost at takeover. Without standbys a takeover replays the whole
        # changelog partition: slower, and exact.
        table_standby_replicas=0,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,  # faust creates its own changelog topics
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Nothing finsent consumes is acked through faust (topics declared acks=False), so there
        # is nothing for faust to wait for at a rebalance or a stop: the agents' Delivery commits.
        stream_wait_empty=False,
        # A worker killed with -9 holds its partitions until its session expires: 10 s instead
        # of faust's 60 s bounds how long its partitions pause (heartbeats come from faust's
        # consumer thread, independent of the model, which runs in an executor).
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        web_port=settings.web_port,
        web_bind=settings.web_host,
        # Shared in the group's assignment: the query API forwards to a ticker's owner by it.
        canonical_url=settings.canonical_url(),
        web_in_thread=False,
        datadir=str(settings.data_dir / "faust"),
        # Table changelogs use the app defaults: JSON keys (ticker) and JSON values (core state).
        key_serializer="json",
        value_serializer="json",
    )
