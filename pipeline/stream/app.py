"""Builds the faust app and everything the agents share (`Runtime`). Nothing imports this module
except the worker entry point and tests: the agents receive the runtime, they do not reach for it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import faust

from pipeline.config import Settings
from pipeline.core.step import CoreConfig
from pipeline.core.symbols import SymbolTable
from pipeline.metrics import PipelineMetrics
from pipeline.stream.watermarks import ProgressReporter


def broker_credentials(settings: Settings) -> Any:
    """faust credentials for SASL/SSL from the environment (None for PLAINTEXT)."""
    proto = settings.security_protocol.upper()
    ctx = None
    if proto.endswith("SSL"):
        ctx = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile:
            ctx.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
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
        web_in_thread=False,
        datadir=str(settings.data_dir / "faust"),
        # Table changelogs use the app defaults: JSON keys (ticker) and JSON values (core state).
        key_serializer="json",
        value_serializer="json",
    )


@dataclass
class Health:
    """What /ready and /live report; updated by the agents and the lag timer.

    `lag` is committed lag (log end minus the committed offset, per topic) and progress means a
    commit that moved: a handler stuck on one record, or an agent that died, shows as lag that
    does not shrink, which is exactly what the stall alert and `/live` look for.
    """

    model_loaded: bool = False
    last_progress_monotonic: float = 0.0
    lag: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None  # set when an agent crashed: /live fails, the worker exits non-zero


@dataclass
class Runtime:
    settings: Settings
    app: faust.App
    scorer: Any  # pipeline.core.scoring.Scorer; OnnxScorer in production
    symbols: SymbolTable
    core: CoreConfig
    metrics: PipelineMetrics
    health: Health = field(default_factory=Health)
    # scored-topic partition of every ticker this worker has aggregated (for revocations)
    ticker_partition: dict[str, int] = field(default_factory=dict)
    # stage ("score", "aggregate") -> its pipeline.stream.delivery.Delivery, set by the agents
    deliveries: dict[str, Any] = field(default_factory=dict)
    # Every input partition ("news.raw/0", ...): the watermark waits until each has reported.
    sources: tuple[str, ...] = ()
    scored_partitions: int = 1
    # The scoring stage's progress per owned input partition, sent as watermark records.
    progress: ProgressReporter = field(default_factory=lambda: ProgressReporter(30.0))
    # Records waiting for the watermark, per ticker held here (the finsent_pending_records gauge).
    pending: dict[str, int] = field(default_factory=dict)
    # scored partition -> ticker -> the watermark at which its state next changes
    due: dict[int, dict[str, int | None]] = field(default_factory=dict)
