"""Metrics follow the naming guide and stay bounded; each test gets a fresh registry."""

from prometheus_client import CollectorRegistry, generate_latest

from pipeline.core.records import Snapshot, WindowStats
from pipeline.metrics import OTHER, PipelineMetrics


def _metrics() -> PipelineMetrics:
    return PipelineMetrics.create(CollectorRegistry(), watchlist=["AAPL"], topics=["news.raw"])


def _snap(ticker: str) -> Snapshot:
    w = WindowStats(ticker, "1h", 0, 3_600_000, 4, 3, 1, -0.25, 2.0, 1, 0, 2)
    return Snapshot(ticker, 10, {"1h": w}, {"1h": -0.2}, -3.5, None, 30)


def test_names_follow_prometheus_conventions() -> None:
    m = _metrics()
    for family in m.registry.collect():
        if family.name.startswith(("process_", "python_")):  # prometheus_client's standard ones
            continue
        assert family.name.startswith("finsent_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        assert "_ms" not in family.name and "runtime" not in family.name


def test_known_label_values_are_precreated() -> None:
    text = generate_latest(_metrics().registry).decode()
    assert 'finsent_dead_letters_total{reason="not_json"} 0.0' in text
    assert 'finsent_ticker_mentions_total{ticker="other"} 0.0' in text


def test_per_ticker_gauges_only_for_the_watchlist() -> None:
    m = _metrics()
    m.observe_snapshot(_snap("AAPL"), "1h")
    m.observe_snapshot(_snap("ZZZ"), "1h")
    text = generate_latest(m.registry).decode()
    assert 'finsent_ticker_sentiment_zscore{ticker="AAPL",window="1h"} -3.5' in text
    assert 'finsent_ticker_window_items{ticker="AAPL",window="1h"} 4.0' in text
    assert "ZZZ" not in text
    assert m.ticker_label("ZZZ") == OTHER and m.ticker_label("AAPL") == "AAPL"


def test_undefined_z_score_exports_zero_not_stale_value() -> None:
    m = _metrics()
    m.observe_snapshot(_snap("AAPL"), "1h")
    assert (
        m.registry.get_sample_value(
            "finsent_ticker_volume_zscore", {"ticker": "AAPL", "window": "1h"}
        )
        == 0.0
    )


def test_forget_ticker_removes_its_gauges_only() -> None:
    m = PipelineMetrics.create(CollectorRegistry(), watchlist=["AAPL", "MSFT"])
    m.observe_snapshot(_snap("AAPL"), "1h")
    m.observe_snapshot(_snap("MSFT"), "1h")
    m.forget_ticker("AAPL")
    text = generate_latest(m.registry).decode()
    assert 'ticker="AAPL",window' not in text and 'ticker="AAPL",half_life' not in text
    assert 'finsent_ticker_sentiment_zscore{ticker="MSFT",window="1h"}' in text
    assert 'finsent_ticker_mentions_total{ticker="AAPL"}' in text  # counters stay


# -- hygiene: bounded source values, process metrics, build info, batch buckets ----------------


def test_source_label_is_bounded_to_the_configured_list() -> None:
    m = PipelineMetrics.create(CollectorRegistry(), sources=["newswire", "Twitter"])
    assert m.source_label("newswire") == "newswire"
    assert m.source_label(" TWITTER ") == "twitter"
    assert m.source_label("my-blog-1234") == OTHER
    for i in range(300):
        m.items_consumed.labels(topic="news.raw", source=m.source_label(f"src{i}")).inc()
    m.items_consumed.labels(topic="news.raw", source=m.source_label("newswire")).inc()
    series = [
        s
        for fam in m.registry.collect()
        if fam.name == "finsent_items_consumed"
        for s in fam.samples
        if s.name.endswith("_total")
    ]
    assert sorted(s.labels["source"] for s in series) == ["newswire", "other"]
    assert (
        m.registry.get_sample_value(
            "finsent_items_consumed_total", {"topic": "news.raw", "source": "other"}
        )
        == 300
    )


def test_default_sources_match_the_settings_default() -> None:
    from pipeline.config import DEFAULT_SOURCES as CONFIGURED
    from pipeline.config import Settings
    from pipeline.metrics import DEFAULT_SOURCES

    assert ",".join(DEFAULT_SOURCES) == CONFIGURED
    assert Settings(_env_file=None).sources_set() == frozenset(DEFAULT_SOURCES)  # type: ignore[call-arg]


def test_process_and_platform_metrics_on_the_workers_own_registry() -> None:
    text = generate_latest(_metrics().registry).decode()
    assert "python_info{" in text
    import sys

    if sys.platform.startswith("linux"):
        assert "process_resident_memory_bytes" in text and "process_start_time_seconds" in text
    bare = generate_latest(
        PipelineMetrics.create(CollectorRegistry(), process=False).registry
    ).decode()
    assert "process_" not in bare and "python_info" not in bare


def test_two_registries_in_one_process_both_get_process_metrics() -> None:
    a, b = _metrics(), _metrics()  # a second worker runtime in tests: no duplicate-name error
    assert a.registry.get_sample_value("python_info", _python_labels()) == 1.0
    assert b.registry.get_sample_value("python_info", _python_labels()) == 1.0


def _python_labels() -> dict[str, str]:
    import platform

    major, minor, patch = platform.python_version_tuple()
    return {
        "implementation": platform.python_implementation(),
        "major": major,
        "minor": minor,
        "patchlevel": patch,
        "version": platform.python_version(),
    }


def test_build_info_names_the_versions() -> None:
    import platform
    from importlib import metadata

    from pipeline import __version__

    m = _metrics()
    ((sample,),) = [
        [s for s in fam.samples] for fam in m.registry.collect() if fam.name == "finsent_build"
    ]
    assert sample.name == "finsent_build_info" and sample.value == 1.0
    assert sample.labels["version"] == __version__
    assert sample.labels["python"] == platform.python_version()
    assert sample.labels["faust"] == metadata.version("faust-streaming")
    assert sample.labels["onnxruntime"] not in ("", None)


def test_batch_buckets_fit_the_gpu_batches() -> None:
    from pipeline.metrics import BATCH_BUCKETS

    m = _metrics()
    m.batch_size.observe(1024)
    m.batch_size.observe(700)
    assert 1024 in BATCH_BUCKETS and 256 in BATCH_BUCKETS and max(BATCH_BUCKETS) > 1024
    le = m.registry.get_sample_value
    assert le("finsent_batch_size_bucket", {"le": "512.0"}) == 0
    assert le("finsent_batch_size_bucket", {"le": "1024.0"}) == 2
    assert le("finsent_batch_size_bucket", {"le": "+Inf"}) == 2


def test_gpu_overlay_batch_sizes_are_bucket_bounds() -> None:
    from pathlib import Path

    from pipeline.metrics import BATCH_BUCKETS

    env = Path(__file__).parent.parent / "k8s" / "components" / "gpu" / "config-gpu.env"
    values = dict(
        line.split("=", 1) for line in env.read_text().splitlines() if line.startswith("FINSENT_")
    )
    for key in ("FINSENT_MAX_BATCH", "FINSENT_MODEL_BATCH"):
        assert int(values[key]) in BATCH_BUCKETS, key


def test_build_info_says_which_namespace_runs() -> None:
    """A replay worker (FINSENT_NAMESPACE) says so; the alert rules drop its series by it."""
    from pipeline.metrics import NAMESPACE_LABEL

    def build_labels(m: PipelineMetrics) -> dict[str, str]:
        fam = next(f for f in m.registry.collect() if f.name == "finsent_build")
        return dict(fam.samples[0].labels)

    assert build_labels(_metrics())[NAMESPACE_LABEL] == ""  # live: absent once in Prometheus
    replay = PipelineMetrics.create(CollectorRegistry(), process=False, namespace="replay")
    assert build_labels(replay)[NAMESPACE_LABEL] == "replay"
    assert NAMESPACE_LABEL != "namespace"  # Kubernetes scrapes set `namespace` on every series
