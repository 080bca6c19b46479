"""`finsent demo`'s steps without a broker: the settings it runs on are explicit (this process'
environment is left alone, the analytics are the product's), the history is in the past, in
event-time order and long enough for a baseline, the live part follows it with distinct Boeing
stories in one hour, the view shows an alert with its evidence, the demo ends when it should,
and the feeds go out through replay's `publish`, news and social to their own topics. The last
test folds the demo's whole feed through the core with the shipped model and the shipped rules."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pipeline.core import novelty
from pipeline.core.aggregate import AggregationConfig
from pipeline.core.records import Item
from pipeline.core.step import CoreConfig
from pipeline.core.tickers import link
from pipeline.core.windows import window_start_ms
from pipeline.dev import demo
from pipeline.dev.sample import COLLAPSE, DEMO_TICKERS, GLOW, HOUR_MS, DemoFeed
from pipeline.reference import load_symbols

NOW = 1_796_000_000_000 - 1_796_000_000_000 % HOUR_MS + 20 * 60_000  # 20 minutes past an hour


def render(renderable: Any) -> str:
    """What a user's terminal shows for `renderable`, as plain text."""
    console = Console(record=True, width=160, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture(scope="module")
def feeds() -> tuple[list[Item], list[Item]]:
    """The demo's history and live part, dated around NOW, as `run` builds them."""
    sample = DemoFeed(demo.SEED)
    history = demo.history_items(sample, NOW, 48)
    return history, demo.live_items(sample, NOW + 30_000, 36, 2.0)


def verdicts(items: list[Item]) -> dict[str, list[tuple[Item, str]]]:
    """Novelty's verdict on every item x ticker, per ticker, folded in (event time, id) order
    with the core's default settings, as the worker judges them."""
    symbols, cfg = load_symbols(), CoreConfig()
    chains: dict[str, dict[str, Any]] = {}
    out: dict[str, list[tuple[Item, str]]] = {}
    for it in sorted(items, key=lambda it: (it.published_at_ms, it.id)):
        for m in link(it, symbols):
            chains[m.ticker], v = novelty.observe(
                chains.get(m.ticker) or novelty.initialize(),
                it.id,
                novelty.fingerprint(it.text),
                it.published_at_ms,
                ttl_ms=cfg.novelty_ttl_ms,
                max_entries=cfg.novelty_max_entries,
                max_hamming=cfg.novelty_max_hamming,
            )
            out.setdefault(m.ticker, []).append((it, str(v)))
    return out


def test_demo_config_is_explicit_and_leaves_os_environ_alone(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    before = dict(os.environ)
    settings, env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    assert dict(os.environ) == before
    assert settings.bootstrap_servers == env["FINSENT_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert settings.web_port == 7001 and env["FINSENT_WEB_PORT"] == "7001"
    assert settings.app_id == env["FINSENT_APP_ID"] and settings.app_id.startswith("finsent-demo-")
    assert settings.data_dir == tmp_path / "worker" == Path(env["FINSENT_DATA_DIR"])
    assert settings.idle_timeout_s == 2.0 and env["FINSENT_IDLE_TIMEOUT_S"] == "2"
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment goes to the worker
    # the analytics are the product's own: the history warms the real 24-hour baseline
    assert "FINSENT_BASELINE_MIN_WINDOWS" not in env
    assert settings.baseline_min_windows == AggregationConfig().baseline_min_windows == 24
    assert settings.news_topic == "news.raw" and "FINSENT_NAMESPACE" not in env


def test_demo_config_on_a_given_broker_uses_a_namespace(
    clean_finsent_env: dict[str, str], tmp_path: Path
) -> None:
    settings, env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path, namespace="demo-1")
    assert env["FINSENT_NAMESPACE"] == "demo-1"
    assert settings.news_topic == "demo-1.news.raw"
    assert settings.alerts_topic == "demo-1.sentiment.alerts"


def test_demo_config_keeps_the_users_own_settings(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_IDLE_TIMEOUT_S", "7")
    monkeypatch.setenv("FINSENT_BASELINE_MIN_WINDOWS", "30")
    settings, env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    assert settings.idle_timeout_s == 7.0 and env["FINSENT_IDLE_TIMEOUT_S"] == "7"
    assert settings.baseline_min_windows == 30 and env["FINSENT_BASELINE_MIN_WINDOWS"] == "30"


def test_history_is_in_the_past_in_order_and_long_enough_for_a_baseline(
    feeds: tuple[list[Item], list[Item]],
) -> None:
    history, _live = feeds
    top_of_hour = window_start_ms(NOW, HOUR_MS)
    times = [it.published_at_ms for it in history]
    assert times == sorted(times) and len(set(times)) == len(times)  # in order, one per ms
    assert top_of_hour - 48 * HOUR_MS <= times[0] and times[-1] < top_of_hour <= NOW
    hours: dict[str, set[int]] = {}
    for t, pairs in verdicts(history).items():
        hours[t] = {window_start_ms(it.published_at_ms, HOUR_MS) for it, _v in pairs}
    assert set(hours) == set(DEMO_TICKERS)
    # every ticker has a story in every hour: more closed hours than a z-score needs
    assert all(len(h) == 48 > AggregationConfig().baseline_min_windows for h in hours.values())


def test_history_stories_are_distinct_but_for_the_retweets(
    feeds: tuple[list[Item], list[Item]],
) -> None:
    history, _live = feeds
    judged = [(it, v) for pairs in verdicts(history).values() for it, v in pairs]
    repeats = [it for it, v in judged if v != "new"]
    assert repeats and all(it.text.startswith("RT @markets: ") for it in repeats)
    assert len(repeats) < 0.15 * len(judged)


def test_live_part_follows_the_history_with_distinct_boeing_stories_in_one_hour(
    feeds: tuple[list[Item], list[Item]],
) -> None:
    history, live = feeds
    times = [it.published_at_ms for it in live]
    assert times[0] == NOW + 30_000 > history[-1].published_at_ms  # after it: nothing is late
    assert times == sorted(times) and times[1] - times[0] == 500  # 2 items a second
    ba = [(it, v) for it, v in verdicts(history + live)["BA"] if it.published_at_ms >= times[0]]
    new = [it for it, v in ba if v == "new"]
    # every collapse headline is a story of its own, none a copy of the history's
    assert len(new) == len(COLLAPSE["BA"]) >= 10
    told = [[h for h in COLLAPSE["BA"] if h in it.text] for it in new]
    assert sorted(h for hs in told for h in hs) == sorted(COLLAPSE["BA"])
    assert all(len(hs) == 1 for hs in told)
    assert {window_start_ms(it.published_at_ms, HOUR_MS) for it, _v in ba} == {
        window_start_ms(NOW, HOUR_MS)
    }
    nvda = verdicts(live)["NVDA"]
    assert sum(v == "new" for _it, v in nvda) == len(GLOW["NVDA"])


def test_live_scene_waits_for_the_next_hour_when_the_feed_crosses_it() -> None:
    sample = DemoFeed(demo.SEED)
    start = window_start_ms(NOW, HOUR_MS) + HOUR_MS - 10_000  # ten seconds before the hour
    live = demo.live_items(sample, start, 36, 2.0)
    boundary = start + 10_000
    scene = [it for it in live if any(m.ticker in ("BA", "NVDA") for m in link(it, load_symbols()))]
    assert scene and all(it.published_at_ms >= boundary for it in scene)
    assert any(it.published_at_ms < boundary for it in live)  # normal traffic before it


ALERT: dict[str, Any] = {
    "type": "alert",
    "id": "SentimentCollapse:BA:1h:1796000400000",
    "rule": "SentimentCollapse",
    "ticker": "BA",
    "severity": "critical",
    "window": "1h",
    "window_start_ms": 1_796_000_400_000,
    "event_ms": 1_796_001_000_000,
    "values": {"sentiment_z": -18.64, "threshold": -3.0, "count": 5, "unique": 5},
    "summary": "Sentiment collapse on BA",
    "evidence": [
        {
            "id": "l1",
            "source": "newswire",
            "score": -0.97,
            "weight": 0.9,
            "text": COLLAPSE["BA"][1],
        },
        {"id": "l2", "source": "twitter", "score": -0.96, "weight": 1.0, "text": COLLAPSE["BA"][2]},
    ],
}


def test_alert_panel_shows_the_rule_the_value_and_the_headlines_behind_it() -> None:
    text = render(demo.alert_panel(ALERT))
    assert "ALERT SentimentCollapse BA" in text and "critical" in text
    assert "sentiment_z -18.64 vs threshold -3.00" in text and "5 unique stories" in text
    for e in ALERT["evidence"]:
        assert e["text"] in text and f"{e['score']:+.2f}" in text
    volume = {**ALERT, "rule": "VolumeSpike", "values": {"volume_z": 5.1, "threshold": 4.0}}
    assert "volume_z +5.10 vs threshold +4.00" in render(demo.alert_panel(volume))


def window(count: int, score: float | None) -> dict[str, Any]:
    return {
        "count": count,
        "unique": count,
        "duplicates": 0,
        "mean_score": score,
        "positive": 0,
        "neutral": 0,
        "negative": count,
    }


def test_ticker_table_shows_the_z_score_and_dashes_where_there_is_none() -> None:
    ba = {
        "windows": {"1h": window(9, -0.95), "5m": window(4, -0.96)},
        "decayed": {"1h": -0.6},
        "sentiment_z": -18.4,
        "baseline_windows": 48,
    }
    empty = {"has_data": False, "windows": {}, "sentiment_z": None}
    text = render(demo.ticker_table({"BA": ba, "NVDA": empty}, "t"))
    rows = {line.split()[1]: line for line in text.splitlines() if line.count("│") > 5}
    assert set(rows) == set(DEMO_TICKERS)
    assert "-18.4" in rows["BA"] and "-0.95" in rows["BA"] and "48" in rows["BA"]
    for sym in ("NVDA", "AAPL"):  # no state yet: the worker's empty answer, or none at all
        assert [c.strip() for c in rows[sym].split("│")[2:-1]] == ["-"] * 9


def test_show_ends_after_the_collapse_and_the_feed_unless_following() -> None:
    show = demo.Show("http://x", live_from_ms=NOW)
    assert show.deadline() is None  # feeding, nothing shown yet
    show.feed_done_at = 100.0
    assert show.deadline() == 100.0 + demo.GIVE_UP_S  # gives up if the alert never comes
    show.collapse_at = 90.0
    assert show.deadline() == 100.0 + demo.LINGER_S
    show.collapse_at = 120.0
    assert show.deadline() == 120.0 + demo.LINGER_S
    show.duration_end = 110.0
    assert show.deadline() == 110.0  # --duration ends it whatever happened
    follow = demo.Show("http://x", NOW, follow=True, collapse_at=1.0, feed_done_at=2.0)
    assert follow.deadline() is None
    follow.duration_end = 50.0
    assert follow.deadline() == 50.0


def test_show_counts_only_the_live_parts_alerts() -> None:
    early = {**ALERT, "event_ms": NOW - 1}
    surge = {**ALERT, "rule": "SentimentSurge", "ticker": "NVDA", "event_ms": NOW + 5}
    show = demo.Show("http://x", NOW, alerts=[early, surge])
    assert show.live_alerts() == [surge] and show.collapse() is None
    show.alerts.append({**ALERT, "event_ms": NOW + 9})
    assert show.collapse() == show.alerts[-1]


def test_progress_line_reads_the_workers_metrics() -> None:
    samples = [
        ("finsent_items_consumed_total", 700.0),
        ("finsent_items_consumed_total", 300.0),
        ("finsent_pending_records", 42.0),
        ("finsent_watermark_timestamp_seconds", 1_796_000_400.0),
        ("finsent_watermark_timestamp_seconds", 1_796_000_100.0),
    ]
    line = demo.progress_line(samples, 2_544, 7.2)
    assert "1,000/2,544 history items read in 7 s" in line
    assert "event time 2026-11-30" in line and "42 waiting for the watermark" in line
    assert demo.progress_line([], 10, 0).startswith("4/5 warming the baseline: 0/10")


def test_urls_name_the_metrics_the_ticker_and_its_alerts() -> None:
    assert demo.urls("http://127.0.0.1:7001") == [
        "http://127.0.0.1:7001/metrics",
        "http://127.0.0.1:7001/tickers/BA",
        "http://127.0.0.1:7001/alerts?ticker=BA",
    ]


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []
        self.closed = False

    def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> None:
        self.sent.append((topic, key, timestamp_ms))

    def flush(self) -> None: ...

    def close(self) -> None:
        self.closed = True


def test_history_goes_out_at_once_in_event_time_to_news_and_social(
    clean_finsent_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    feeds: tuple[list[Item], list[Item]],
) -> None:
    from pipeline import kafka_clients

    fake = FakeProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    settings, _env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    history = feeds[0][:300]
    demo.publish_history(demo.Demo(Console(quiet=True), tmp_path), settings, history)
    assert [k.decode() for _t, k, _ts in fake.sent] == [it.id for it in history] and fake.closed
    for (topic, _k, ts), it in zip(fake.sent, history, strict=True):
        assert topic == (settings.news_topic if it.source == "newswire" else settings.social_topic)
        assert ts == it.published_at_ms < NOW


def test_feed_publishes_in_event_time_to_news_and_social(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import kafka_clients

    fake = FakeProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    settings, _env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    items = demo.live_items(DemoFeed(demo.SEED), 1_700_000_000_000, 6, 200.0)
    assert [it.published_at_ms for it in items[:3]] == [1_700_000_000_000 + i * 5 for i in range(3)]
    done: list[bool] = []
    end = time.monotonic() + 1.0
    demo.feed(settings, items, lambda: None, lambda: end, done=lambda: done.append(True))
    assert [k.decode() for _t, k, _ts in fake.sent] == [it.id for it in items] and fake.closed
    assert done == [True]
    for (topic, _k, ts), it in zip(fake.sent, items, strict=True):
        news = it.source == "newswire"
        assert topic == (settings.news_topic if news else settings.social_topic)
        assert ts == it.published_at_ms


def test_feed_stops_at_the_deadline(
    clean_finsent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's end stops the feed where it is (10 items/s for 3 s of items, stopped after
    0.35 s), and the view is redrawn while waiting."""
    from pipeline import kafka_clients

    fake = FakeProducer()
    monkeypatch.setattr(kafka_clients, "producer", lambda settings: fake)
    monkeypatch.setattr(demo, "REDRAW_S", 0.1)
    settings, _env = demo.demo_config("127.0.0.1:19092", 7001, tmp_path)
    redraws: list[float] = []
    t0 = time.monotonic()
    items = demo.live_items(DemoFeed(demo.SEED), 1_700_000_000_000, 12, 10.0)
    demo.feed(settings, items, lambda: redraws.append(time.monotonic()), lambda: t0 + 0.35)
    assert time.monotonic() - t0 < 2.0 and 2 <= len(fake.sent) <= 6 and fake.closed
    assert redraws


@pytest.mark.slow
def test_the_demo_feed_through_the_core_fires_the_collapse_with_the_shipped_rules(
    clean_finsent_env: dict[str, str], feeds: tuple[list[Item], list[Item]]
) -> None:
    """The demo's feed, folded by the core as the worker folds it, with the shipped model and
    alert rules and the default analytics: the history raises nothing, the live part fires
    SentimentCollapse for BA (its evidence: collapse headlines) and BA's z-score is below -3."""
    from pipeline.backtest.run import run_core
    from pipeline.config import Settings
    from pipeline.core.aggregate import snapshot
    from pipeline.rules import load_ticker_rules
    from pipeline.scoring.cache import CachingScorer
    from pipeline.scoring.onnx import OnnxScorer

    settings = Settings()
    cfg = settings.core_config(load_ticker_rules(settings.rules_path))
    history, live = feeds
    res = run_core(
        history + live, load_symbols(), CachingScorer(OnnxScorer.load(settings.model_dir)), cfg
    )
    assert [a for a in res.alerts if a.event_ms < live[0].published_at_ms] == []
    fired = {(a.rule, a.ticker): a for a in res.alerts}
    collapse = fired[demo.COLLAPSE]
    assert collapse.values["sentiment_z"] is not None and collapse.values["sentiment_z"] < -3
    assert len(collapse.evidence) == cfg.aggregation.evidence_items
    assert all(any(h in e.text for h in COLLAPSE["BA"]) for e in collapse.evidence)
    snap = snapshot(res.states["BA"], cfg.aggregation)
    assert snap.sentiment_z is not None and snap.sentiment_z < -3
    assert snap.baseline_windows >= cfg.aggregation.baseline_min_windows
    # the other tickers stay normal (Nvidia's glow may surge: that is its story)
    assert {t for _r, t in fired} <= {"BA", "NVDA"}
