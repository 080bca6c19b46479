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
