"""`finsent worker`: load the model, build the faust app, run until SIGTERM/SIGINT.

Usage:
    FINSENT_BOOTSTRAP_SERVERS=127.0.0.1:9092 finsent worker [--log-level info]

1. load the symbol table and the ONNX model (CUDA if present, else CPU; the choice is logged
   and exported as `finsent_model_info{provider=...}`);
2. declare topics, the per-ticker table (recovered from its changelog) and the agents;
3. hand over to faust's Worker, which handles signals and commits offsets on shutdown.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, disable_created_metrics

from pipeline.config import Settings
from pipeline.core.scoring import Scorer
from pipeline.metrics import PipelineMetrics
from pipeline.reference import load_symbols
from pipeline.rules import load_ticker_rules
from pipeline.stream.alert_index import AlertIndex
from pipeline.stream.auth import Policy
from pipeline.stream.runtime import DriftMonitor, Health, InputLayout, ReviewSelection, Runtime
from pipeline.stream.watermarks import ProgressReporter

if TYPE_CHECKING:
    from pipeline.stream.agents import Stages

log = logging.getLogger("finsent.worker")


def _state_changelog(settings: Settings, version: int) -> str:
    """The changelog topic of per-ticker state `version` (faust: <app_id>-<table>-changelog)."""
    return f"{settings.app_id}-ticker_to_state_v{version}-changelog"


def startup_topics(settings: Settings) -> list[str]:
    """Every topic the worker asks the broker about at start, so one query answers both
    `input_layout` and `older_state_changelogs`."""
    from pipeline.core.aggregate import STATE_VERSION

    return [
        *settings.topics_in(),
        settings.scored_topic,
        *(_state_changelog(settings, v) for v in range(1, STATE_VERSION + 1)),
    ]


def _partition_counts(settings: Settings, counts: Mapping[str, int] | None) -> Mapping[str, int]:
    """`counts` as given, else asked of the broker for `startup_topics`."""
    from pipeline.kafka_clients import partition_counts

    return counts if counts is not None else partition_counts(settings, startup_topics(settings))


def input_layout(settings: Settings, counts: Mapping[str, int] | None = None) -> InputLayout:
    """Every input partition and the scored topic's partition count, from the broker's partition
    counts (`counts`, or asked now); topics that do not exist yet get FINSENT_PARTITIONS, as the
    worker will create them. The watermark waits for every input partition, so it must know
    them all."""
    from pipeline.core.watermarks import source_name

    counts = _partition_counts(settings, counts)
    sources = tuple(
        source_name(t, p)
        for t in settings.topics_in()
        for p in range(counts.get(t, settings.partitions))
    )
    return InputLayout(sources, counts.get(settings.scored_topic, settings.partitions))


def older_state_changelogs(
    settings: Settings, counts: Mapping[str, int] | None = None
) -> tuple[list[str], bool]:
    """(changelog topics of older per-ticker state versions that exist on the broker, whether
    the current version's changelog exists), from `counts` or asked now: a new state version
    means a new table, and the worker says so instead of resetting every ticker's history
    silently."""
    from pipeline.core.aggregate import STATE_VERSION

    found = _partition_counts(settings, counts)
    old = [_state_changelog(settings, v) for v in range(1, STATE_VERSION)]
    return [t for t in old if t in found], _state_changelog(settings, STATE_VERSION) in found


def report_state_version(older: list[str], current_exists: bool, metrics: PipelineMetrics) -> None:
    """Log (and count, `finsent_state_version_resets_total`) a start on a state version whose
    changelog is new while an older one exists: windows and baselines start empty."""
    from pipeline.core.aggregate import STATE_VERSION

    if older and not current_exists:
        log.warning("per-ticker state version %d is new: every ticker's windows and baselines "
                    "start empty; the old state in %s is not read", STATE_VERSION,
                    ", ".join(older))  # fmt: skip
        metrics.state_resets.inc()


def load_scorer(settings: Settings) -> Scorer:
    """The ONNX model the settings name (CUDA if present and allowed, else CPU)."""
    from pipeline.scoring.onnx import OnnxScorer

    return OnnxScorer.load(
        settings.model_dir, provider=settings.provider, intra_op_threads=settings.intra_op_threads
    )


def drift_monitor(settings: Settings, metrics: PipelineMetrics) -> DriftMonitor:
    """Model drift against the reference in the model's manifest (`python -m models.reference`
    writes it). Without one, or with one this finsent cannot read, one log line says so: the
    worker runs as before, with no drift gauges."""
    import json

    from pipeline.core.drift import DriftState, Reference
    from pipeline.core.records import LABELS

    model_dir = settings.model_dir if settings.model_dir.is_dir() else settings.model_dir.parent
    path = model_dir / "manifest.json"
    try:
        block = json.loads(path.read_text(encoding="utf-8")).get("reference")
        reference = None if block is None else Reference.from_dict(block)
    except FileNotFoundError:
        reference = None
    except (OSError, ValueError, AttributeError) as e:
        log.warning("model drift: no reference (unreadable in %s: %s); not measured", path, e)
        return DriftMonitor()
    if reference is None:
        log.info("model drift: no reference in %s (python -m models.reference writes one); "
                 "not measured", path)  # fmt: skip
        return DriftMonitor()
    for label, share in zip(LABELS, reference.labels, strict=True):
        metrics.model_reference_label_share.labels(label).set(share)
    log.info("model drift: per source against the reference of %d held-out texts (half-life %s)",
             reference.n, settings.drift_half_life)  # fmt: skip
    return DriftMonitor(reference, DriftState(half_life_ms=settings.drift_half_life_ms()))


def build_runtime(
    settings: Settings,
    scorer: Scorer | None = None,
    layout: InputLayout | None = None,
) -> tuple[Runtime, Stages]:
    """The composition root: the one place that builds the worker's parts and wires them.

    Loads the model (unless `scorer` is given), the symbol table and the alert rules; creates
    the metrics registry and the faust app; reads the input layout from the broker (unless
    `layout` is given); then registers the agents and the web pages on the app.
    """
    from pipeline.stream import agents, web
    from pipeline.stream.admin import topic_names
    from pipeline.stream.app import create_app

    disable_created_metrics()
    scorer = scorer if scorer is not None else load_scorer(settings)
    metrics = PipelineMetrics.create(
        CollectorRegistry(),
        settings.watchlist_set(),
        topic_names(settings),
        settings.sources_set(),
        namespace=settings.namespace,  # a replay worker's series never page (alert rules)
    )
    provider = getattr(scorer, "provider", "custom")
    metrics.model_info.info({"version": scorer.version, "provider": provider})
    log.info("model %s on %s", scorer.version, provider)
    if layout is None:  # from the broker, in one query: also where older state versions are seen
        counts = _partition_counts(settings, None)
        layout = input_layout(settings, counts)
        report_state_version(*older_state_changelogs(settings, counts), metrics)
    log.info("watermark over %d input partitions", len(layout.sources))
    rt = Runtime(
        settings=settings,
        app=create_app(settings),
        scorer=scorer,
        symbols=load_symbols(settings.symbols_path),
        core=settings.core_config(load_ticker_rules(settings.rules_path)),
        metrics=metrics,
        layout=layout,
        progress=ProgressReporter(settings.idle_timeout_s),
        health=Health(model_loaded=True, last_progress_monotonic=time.monotonic()),
        drift=drift_monitor(settings, metrics),
        review=ReviewSelection.of(settings.review_config()),
        access=Policy.from_settings(
            settings.api_token_file, settings.api_read_auth, settings.metrics_auth
        ),
        alerts=AlertIndex(keep=settings.api_alerts_keep),
    )
    if rt.access.token_file is None or not rt.access.token_file.token():
        log.warning(
            "FINSENT_API_TOKEN_FILE %s: POST /score and false-positive marks answer 403",
            "is unset" if rt.access.token_file is None else "is missing or empty",
        )
    stages = agents.register(rt)
    web.register(rt, stages)
    return rt, stages


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent worker`'s one option; everything else is a FINSENT_* setting, so a pod is configured
    by its environment."""
    parser.add_argument(
        "--log-level", default="info", help="debug | info | warning | error (faust and finsent)"
    )


EXIT_AGENT_CRASHED = 70  # EX_SOFTWARE: Kubernetes restarts the pod; the batch is redelivered
EXIT_STOP_TIMEOUT = 75  # graceful stop took longer than FINSENT_SHUTDOWN_TIMEOUT_S


def _bounded_worker_class() -> Any:
    """faust's Worker, with a deadline on graceful stop: SIGTERM always ends the process.

    Why: a stop waits for the batch in flight and a final commit; should anything hang there
    (a broker gone, a stuck handler), Kubernetes would wait its whole grace period and kill -9.
    Exiting ourselves first is the same at-least-once outcome, with a log line saying why.
    """
    from faust import Worker

    class BoundedWorker(Worker):  # type: ignore[misc]
        """faust's Worker whose SIGTERM and SIGINT handlers first arm the stop deadline."""

        shutdown_timeout_s: float = 30.0

        def _arm(self) -> None:
            """Start a daemon timer that exits the process (75) if the stop outlasts
            `shutdown_timeout_s`; `os._exit`, because from a timer thread `sys.exit` would end only
            that thread."""

            def expire() -> None:
                log.error("graceful stop took over %.0f s (FINSENT_SHUTDOWN_TIMEOUT_S); exiting",
                          self.shutdown_timeout_s)  # fmt: skip
                logging.shutdown()
                os._exit(EXIT_STOP_TIMEOUT)

            timer = threading.Timer(self.shutdown_timeout_s, expire)
            timer.daemon = True
            timer.start()

        def _on_sigterm(self) -> None:
            self._arm()
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            self._arm()
            super()._on_sigint()

    return BoundedWorker


class _LastError(logging.Handler):
    """Keeps the last error kafka-python logged: the broker's own reason (e.g. invalid SASL
    credentials) that its bootstrap timeout would otherwise hide."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep each message's first line, cut to 300 characters: enough for one error line."""
        self.seen.append(record.getMessage().splitlines()[0][:300])

    @property
    def auth_error(self) -> bool:
        """Whether kafka-python logged the broker's authentication refusal."""
        return any("auth" in m.lower() or "sasl" in m.lower() for m in self.seen)

    @property
    def last(self) -> str | None:
        """The most telling line: an authentication failure if there was one."""
        auth = [m for m in self.seen if "auth" in m.lower() or "sasl" in m.lower()]
        other = [m for m in self.seen if "bootstrap" not in m.lower()]
        best = auth or other
        return best[-1] if best else None


def _sasl_refusal(settings: Settings, timeout_s: float = 15.0) -> str | None:
    """The broker's refusal of a SASL login, asked with aiokafka (faust's client), or None.

    Why a second client: kafka-python 3.0 often loses the broker's SaslAuthenticate error to
    the connection close that follows it, and then reports only "socket disconnected"; aiokafka
    reads the error, so the line names the real cause (invalid credentials)."""
    if not settings.security_protocol.upper().startswith("SASL"):
        return None
    import asyncio
    import contextlib

    from aiokafka import AIOKafkaProducer

    from pipeline.stream.app import ssl_context

    async def attempt(keep: _LastError) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            security_protocol=settings.security_protocol.upper(),
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_secret(),
            ssl_context=ssl_context(settings),
            request_timeout_ms=int(timeout_s * 1000),
        )
        try:
            await asyncio.wait_for(producer.start(), timeout_s)
        except Exception as exc:  # noqa: BLE001 - the refusal is in its log, or in this
            keep.seen.append(f"{type(exc).__name__}: {exc}")
        finally:  # a failed start leaves its bootstrap connection open: close it too
            with contextlib.suppress(Exception):
                await producer.stop()
            with contextlib.suppress(Exception):
                await producer.client.close()

    with _errors_of("aiokafka") as keep:
        asyncio.run(attempt(keep))
    return keep.last if keep.auth_error else None


@contextmanager
def _errors_of(logger: str) -> Iterator[_LastError]:
    """What a Kafka client library logs meanwhile, kept (and not printed): the broker's reason
    for refusing us is in those lines, not in the exception the client raises."""
    log_ = logging.getLogger(logger)
    keep = _LastError()
    log_.addHandler(keep)
    propagate, log_.propagate = log_.propagate, False
    try:
        yield keep
    finally:
        log_.removeHandler(keep)
        log_.propagate = propagate


def probe_broker(settings: Settings) -> None:
    """Connect once before faust starts: a broker that is down or refuses us is one line naming
    the settings to check (a FinsentError the CLI prints), not faust's 65-line traceback."""
    from pipeline.kafka_clients import KafkaConnectError, admin

    with _errors_of("kafka") as keep:
        try:
            admin(settings).close()
        except KafkaConnectError as exc:
            reason = keep.last if keep.auth_error else (_sasl_refusal(settings) or keep.last)
            if reason:
                raise KafkaConnectError(f"{exc} Last broker error: {reason}") from exc
            raise


def run(args: argparse.Namespace) -> int:
    """Check the settings and the broker, build the runtime, then run faust's Worker until SIGTERM
    or SIGINT. Exit 70 when an agent crashed (Kubernetes restarts it; the batch is redelivered), 75
    when the stop timed out, else faust's code; a bad setting or broker is one line, exit 2."""
    settings = Settings()  # every FINSENT_* value checked here: one line and exit 2 if bad
    settings.require_files()
    probe_broker(settings)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    rt, _stages = build_runtime(settings)
    cls = _bounded_worker_class()
    cls.shutdown_timeout_s = settings.shutdown_timeout_s
    worker = cls(rt.app, loglevel=args.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - execute_from_commandline always raises SystemExit
        code = 0
    if rt.health.fatal:
        print(f"finsent worker: error: {rt.health.fatal}", file=sys.stderr)
        return EXIT_AGENT_CRASHED
    return code
