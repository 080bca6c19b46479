"""Every Prometheus metric finsent exports, declared once (`PipelineMetrics.create(registry)`).

Naming follows the Prometheus guide (https://prometheus.io/docs/practices/naming/): `finsent_`
prefix, base units (seconds), `_total` for counters, `_info` for metadata, timestamps rather than
ages. Per-ticker series exist only for the bounded watch-list; every other ticker is summed under
`ticker="other"`, so a default deployment stays far below 10,000 series (see README, cardinality).
Likewise `source` takes only the configured values (FINSENT_SOURCES), "other" and "invalid": a
feed with 300 sources still makes a handful of series. The worker's registry also carries the
standard `process_*` and `python_info` metrics and `finsent_build_info`.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from pipeline.core.drift import DISTRIBUTIONS, Reading, confidence_edges
from pipeline.core.records import LABELS, Snapshot, Verdict
from pipeline.core.review import REASONS as REVIEW_REASONS
from pipeline.core.validate import REASONS

OTHER = "other"
# finsent_build_info label: the worker's FINSENT_NAMESPACE, empty (so absent in Prometheus) when
# live. The alert and recording rules drop every series of an instance where it is set
# (= pipeline.rules_render.NAMESPACE_LABEL; not `namespace`, which Kubernetes scrapes set).
NAMESPACE_LABEL = "finsent_namespace"
INVALID = "invalid"  # the source of a record rejected before its source could be read
DEFAULT_SOURCES = ("newswire", "twitter", "reddit", "stocktwits")  # = config.DEFAULT_SOURCES
# Records per micro-batch and texts per model run: the CPU deployment uses 256/16, the GPU
# overlay 1024/256 (k8s/components/gpu/config-gpu.env); 2048 leaves room above both.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class PipelineMetrics:
    """Every metric of one worker on its own registry, which the worker serves at /metrics: tests
    and several runtimes in one process never clash on prometheus_client's global registry. Build it
    with `create`; label values go through `ticker_label` / `source_label` (bounded cardinality)."""

    registry: CollectorRegistry
    watchlist: frozenset[str]
    sources: frozenset[str]
    items_consumed: Counter
    items_produced: Counter
    dead_letters: Counter
    items_unlinked: Counter
    mentions: Counter
    late_records: Counter
    duplicate_records: Counter
    stream_holes: Counter
    alerts_fired: Counter
    batch_size: Histogram
    inference_seconds: Histogram
    last_processed: Gauge
    last_event: Gauge
    consumer_lag: Gauge
    last_commit: Gauge
    watermark: Gauge
    pending_records: Gauge
    unpublished_updates: Gauge
    forced_folds: Counter
    state_resets: Counter
    review_items: Counter
    review_rate_limited: Counter
    model_info: Info
    build_info: Info
    ticker_mentions: Counter
    ticker_score: Gauge
    ticker_items: Gauge
    ticker_unique: Gauge
    ticker_negative_ratio: Gauge
    ticker_positive_ratio: Gauge
    ticker_decayed: Gauge
    ticker_sentiment_z: Gauge
    ticker_volume_z: Gauge
    model_drift: Gauge
    model_drift_items: Gauge
    model_label_share: Gauge
    model_reference_label_share: Gauge
    model_confidence: Histogram

    @classmethod
    def create(
        cls,
        registry: CollectorRegistry | None = None,
        watchlist: Iterable[str] = (),
        topics: Iterable[str] = (),
        sources: Iterable[str] = DEFAULT_SOURCES,
        *,
        process: bool = True,
        namespace: str = "",
    ) -> PipelineMetrics:
        """All metrics on `registry`; with `process`, also the process_* / python_info
        collectors (prometheus_client puts these on its global registry only, and the worker
        serves its own). `namespace` (Settings.namespace) goes on finsent_build_info: a
        namespaced (replay) worker's series then feed no alert and no recording rule."""
        r = registry if registry is not None else CollectorRegistry()
        wl = frozenset(watchlist)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        m = cls(
            registry=r,
            watchlist=wl,
            sources=frozenset(s.strip().lower() for s in sources if s.strip()),
            items_consumed=Counter(
                "finsent_items_consumed", "Input records consumed", ["topic", "source"], registry=r
            ),
            items_produced=Counter(
                "finsent_items_produced", "Records produced", ["topic"], registry=r
            ),
            dead_letters=Counter(
                "finsent_dead_letters",
                "Records sent to a dead-letter topic",
                ["reason"],
                registry=r,
            ),
            items_unlinked=Counter(
                "finsent_items_unlinked", "Valid items that mention no known ticker", registry=r
            ),
            mentions=Counter(
                "finsent_mentions",
                "Item x ticker records aggregated, by novelty verdict",
                ["verdict"],
                registry=r,
            ),
            late_records=Counter(
                "finsent_late_records",
                "Records older than watermark - grace, dropped from windows",
                registry=r,
            ),
            stream_holes=Counter(
                "finsent_stream_holes",
                "Records the stream never delivered to an agent (offset holes), read from Kafka",
                ["topic"],
                registry=r,
            ),
            duplicate_records=Counter(
                "finsent_duplicate_records",
                "Near-duplicate repeats (volume only, no sentiment weight)",
                registry=r,
            ),
            alerts_fired=Counter(
                "finsent_alerts_fired",
                "In-stream alert events published",
                ["rule", "severity"],
                registry=r,
            ),
            batch_size=Histogram(
                "finsent_batch_size", "Texts per inference batch", buckets=BATCH_BUCKETS, registry=r
            ),
            inference_seconds=Histogram(
                "finsent_inference_duration_seconds",
                "Model time per batch",
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
            last_processed=Gauge(
                "finsent_last_item_processed_timestamp_seconds",
                "Wall-clock time the last record was processed",
                ["stage"],
                registry=r,
            ),
            last_event=Gauge(
                "finsent_last_event_timestamp_seconds",
                "Event time of the newest record processed",
                registry=r,
            ),
            consumer_lag=Gauge(
                "finsent_consumer_lag_records",
                "Records between committed offset and log end, summed over owned partitions",
                ["topic"],
                registry=r,
            ),
            last_commit=Gauge(
                "finsent_last_commit_timestamp_seconds",
                "Wall-clock time a stage last committed offsets that moved",
                ["stage"],
                registry=r,
            ),
            watermark=Gauge(
                "finsent_watermark_timestamp_seconds",
                "Event time every input partition has reached, per scored partition held here",
                ["partition"],
                registry=r,
            ),
            pending_records=Gauge(
                "finsent_pending_records",
                "Scored records waiting for the watermark to pass them",
                registry=r,
            ),
            unpublished_updates=Gauge(
                "finsent_unpublished_updates",
                "Open-window updates decided but not yet sent to sentiment.aggregates "
                "(sent with the next commit)",
                registry=r,
            ),
            state_resets=Counter(
                "finsent_state_version_resets",
                "Starts on a new per-ticker state version while an older version's changelog "
                "exists: the tickers' windows and baselines start empty",
                registry=r,
            ),
            forced_folds=Counter(
                "finsent_forced_folds",
                "Records folded before the watermark passed them (FINSENT_MAX_PENDING_BYTES)",
                registry=r,
            ),
            review_items=Counter(
                "finsent_review_items",
                "Items sent to the review topic for labelling, by why they were picked",
                ["reason"],
                registry=r,
            ),
            review_rate_limited=Counter(
                "finsent_review_rate_limited",
                "Items that qualified for review but found the bucket empty "
                "(FINSENT_REVIEW_MAX_PER_MINUTE): counted, not queued",
                ["reason"],
                registry=r,
            ),
            model_info=Info(
                "finsent_model", "Model version and the active execution provider", registry=r
            ),
            build_info=Info(
                "finsent_build",
                "Versions of finsent, Python, faust and onnxruntime in this process, and the "
                "FINSENT_NAMESPACE it runs in (empty: live)",
                registry=r,
            ),
            ticker_mentions=Counter(
                "finsent_ticker_mentions",
                "Item x ticker records aggregated (repeats included)",
                ["ticker"],
                registry=r,
            ),
            ticker_score=Gauge(
                "finsent_ticker_sentiment_score",
                "Weighted mean sentiment of the current window, in [-1, 1]",
                ["ticker", "window"],
                registry=r,
            ),
            ticker_items=Gauge(
                "finsent_ticker_window_items",
                "Items in the current window",
                ["ticker", "window"],
                registry=r,
            ),
            # What the ticker alerts gate on: ten retweets of one tweet are ten items, one story.
            ticker_unique=Gauge(
                "finsent_ticker_window_unique_items",
                "Unique stories in the current window (repeats and near-duplicates excluded)",
                ["ticker", "window"],
                registry=r,
            ),
            ticker_negative_ratio=Gauge(
                "finsent_ticker_negative_ratio",
                "Share of new stories labelled negative in the current window",
                ["ticker", "window"],
                registry=r,
            ),
            # With the negative share, the pos/neg mix the ticker drill-down dashboard shows.
            ticker_positive_ratio=Gauge(
                "finsent_ticker_positive_ratio",
                "Share of new stories labelled positive in the current window",
                ["ticker", "window"],
                registry=r,
            ),
            ticker_decayed=Gauge(
                "finsent_ticker_decayed_score",
                "Exponentially decayed sentiment",
                ["ticker", "half_life"],
                registry=r,
            ),
            ticker_sentiment_z=Gauge(
                "finsent_ticker_sentiment_zscore",
                "Current-window sentiment vs the ticker's own baseline",
                ["ticker", "window"],
                registry=r,
            ),
            ticker_volume_z=Gauge(
                "finsent_ticker_volume_zscore",
                "Current-window volume vs the ticker's own baseline",
                ["ticker", "window"],
                registry=r,
            ),
            # Model drift (pipeline/core/drift.py), per bounded `source`: set by the scoring
            # stage after each batch, only when the model's manifest has a drift reference.
            model_drift=Gauge(
                "finsent_model_drift",
                "Divergence of what was scored (decayed window) from the model's training "
                "reference: PSI < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant; JS in bits",
                ["source", "distribution", "measure"],
                registry=r,
            ),
            model_drift_items=Gauge(
                "finsent_model_drift_window_items",
                "Items in the drift window (exponentially decayed count, FINSENT_DRIFT_HALF_LIFE)",
                ["source"],
                registry=r,
            ),
            model_label_share=Gauge(
                "finsent_model_label_share",
                "Share of each label among the items in the drift window",
                ["source", "label"],
                registry=r,
            ),
            model_reference_label_share=Gauge(
                "finsent_model_reference_label_share",
                "Share of each label in the model's predictions on its held-out validation data",
                ["label"],
                registry=r,
            ),
            model_confidence=Histogram(
                "finsent_model_confidence",
                "Confidence (max class probability) of each scored item, the drift bins",
                ["source"],
                buckets=confidence_edges(),
                registry=r,
            ),
        )
        m.build_info.info({**build_versions(), NAMESPACE_LABEL: namespace})
        # Pre-create known label values so rate() sees a 0 before the first event.
        for reason in REASONS:
            m.dead_letters.labels(reason=reason)
        for verdict in Verdict:
            m.mentions.labels(verdict=verdict)
        for reason in REVIEW_REASONS:
            m.review_items.labels(reason=reason)
            if reason != "disputed":  # a person's request is never rate-limited
                m.review_rate_limited.labels(reason=reason)
        for topic in topics:
            m.items_produced.labels(topic=topic)
            m.consumer_lag.labels(topic=topic)
        for ticker in (*sorted(wl), OTHER):
            m.ticker_mentions.labels(ticker=ticker)
        return m

    def ticker_label(self, ticker: str) -> str:
        """The `ticker` label value: the ticker if on the watch-list, else "other" (bounded)."""
        return ticker if ticker in self.watchlist else OTHER

    def source_label(self, source: str) -> str:
        """The `source` label of a consumed record: a configured source (case-insensitive),
        else "other"; the payload never chooses a label value."""
        s = source.strip().lower()
        return s if s in self.sources else OTHER

    def forget_ticker(self, ticker: str) -> None:
        """Drop a ticker's gauges when its partition moves to another worker, so two workers
        never both export a value for it (the new owner exports the current one)."""
        gauges = (
            self.ticker_score,
            self.ticker_items,
            self.ticker_unique,
            self.ticker_negative_ratio,
            self.ticker_positive_ratio,
            self.ticker_decayed,
            self.ticker_sentiment_z,
            self.ticker_volume_z,
        )
        for gauge in gauges:
            for labels in [k for k in list(gauge._metrics) if k and k[0] == ticker]:  # noqa: SLF001
                gauge.remove(*labels)

    def observe_snapshot(self, snap: Snapshot, baseline_window: str) -> None:
        """Per-ticker gauges, for watch-list tickers only (others would be unbounded)."""
        t = snap.ticker
        if t not in self.watchlist:
            return
        for name, w in snap.windows.items():
            self.ticker_items.labels(t, name).set(w.count)
            self.ticker_unique.labels(t, name).set(w.unique)
            if w.mean_score is not None:
                self.ticker_score.labels(t, name).set(w.mean_score)
            if w.share_negative is not None:
                self.ticker_negative_ratio.labels(t, name).set(w.share_negative)
            if w.unique:
                self.ticker_positive_ratio.labels(t, name).set(w.positive / w.unique)
        for half_life, value in snap.decayed.items():
            if value is not None:
                self.ticker_decayed.labels(t, half_life).set(value)
        # A z-score that is not defined (baseline too short, volume gate) is 0, not stale.
        self.ticker_sentiment_z.labels(t, baseline_window).set(snap.sentiment_z or 0.0)
        self.ticker_volume_z.labels(t, baseline_window).set(snap.volume_z or 0.0)

    def observe_drift(
        self, readings: Iterable[Reading], confidences: Iterable[tuple[str, str, float, int]]
    ) -> None:
        """The drift gauges from every source's reading, and each scored item's confidence (the
        batch's (source, label, confidence, time) observations; O(1) each)."""
        for r in readings:
            self.model_drift_items.labels(r.source).set(r.items)
            for label, share in zip(LABELS, r.label_shares, strict=True):
                self.model_label_share.labels(r.source, label).set(share)
            for d in DISTRIBUTIONS:
                if d in r.psi:
                    self.model_drift.labels(r.source, d, "psi").set(r.psi[d])
                    self.model_drift.labels(r.source, d, "js").set(r.js[d])
        children: dict[str, Histogram] = {}  # one label lookup per source and batch
        for source, _label, confidence, _t in confidences:
            if source not in children:
                children[source] = self.model_confidence.labels(source)
            children[source].observe(confidence)


# `finsent notify`: why an alert went out without headlines (pipeline/notify/server.py).
ENRICH_FAILURES = ("timeout", "unreachable", "http_status", "bad_response", "token")


@dataclass(frozen=True)
class NotifyMetrics:
    """The metrics of `finsent notify` (the notification enricher), on its own registry: how many
    notifications went out, how many alerts carried headlines, and why the others did not."""

    registry: CollectorRegistry
    notifications: Counter
    alerts: Counter
    enrichment_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> NotifyMetrics:
        """All metrics on `registry`, every label value pre-created (rate() sees a 0 first)."""
        r = registry if registry is not None else CollectorRegistry()
        m = cls(
            registry=r,
            notifications=Counter(
                "finsent_notify_notifications",
                "Alertmanager notifications handled: forwarded, forward_failed (answered 502, "
                "Alertmanager retries), bad_request",
                ["outcome"],
                registry=r,
            ),
            alerts=Counter(
                "finsent_notify_alerts",
                "Alerts forwarded: enriched (headlines), not_enriched (API failed or no match), "
                "plain (not a firing ticker alert)",
                ["result"],
                registry=r,
            ),
            enrichment_failures=Counter(
                "finsent_notify_enrichment_failures",
                "Evidence API calls that gave no evidence (the alert went out without headlines)",
                ["reason"],
                registry=r,
            ),
        )
        for outcome in ("forwarded", "forward_failed", "bad_request"):
            m.notifications.labels(outcome=outcome)
        for result in ("enriched", "not_enriched", "plain"):
            m.alerts.labels(result=result)
        for reason in ENRICH_FAILURES:
            m.enrichment_failures.labels(reason=reason)
        return m


def _dist_version(*names: str) -> str:
    """Installed version of the first of `names` found (one package, several names), else "none"."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "none"


def build_versions() -> dict[str, str]:
    """finsent_build_info labels, read from package metadata (imports neither faust nor ORT)."""
    from pipeline import __version__

    return {
        "version": __version__,
        "python": platform.python_version(),
        "faust": _dist_version("faust-streaming", "faust"),
        "onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu"),
    }
