"""The product's promise to quants (issue 11): replaying a feed through Kafka into the real worker
and backtesting the same file in-process give the same per-ticker windows and the same alerts,
at the default 4 partitions, default micro-batch settings, replayed as fast as possible.

Real broker, real `finsent replay`, real `finsent worker`, the shipped ONNX model (its int8 graph
quantizes activations per token row, so a score does not depend on its batch-mates; the default
`FINSENT_MODEL_BATCH` is used). Also here: a worker killed in the middle of the replay, one input
partition held back for hours of event time, and 2014 data surviving a broker retention pass.

The worker merges window updates within a micro-batch, so the number of update messages is not
fixed: a run is compared after a positive end (committed lag 0, nothing waiting for the
watermark, every backtest mention counted), reading the topics to their end and taking the last
record of every window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.backtest.run import BacktestResult, run_core
from pipeline.dev import kafka_local, sample
from pipeline.feeds import load_feed
from pipeline.reference import load_symbols
from pipeline.rules import load_ticker_rules
from pipeline.scoring.cache import CachingScorer
from pipeline.scoring.onnx import OnnxScorer
from tests.integration.harness import (
    Env,
    Worker,
    json_values,
    read_to_end,
    sample_value,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

T0 = 1_420_070_400_000  # 2015-01-01T00:00:00Z
HOUR = 3_600_000
EXACT = ("end_ms", "count", "unique", "duplicates", "positive", "neutral", "negative")


def _write_feed(path: Path, n: int = 5_200, hours: int = 30, seed: int = 11) -> Path:
    """`n` records over the 13 sample tickers and `hours` of event time, plus, after 28 hours
    (the baseline needs 24), a burst of bad AAPL news in one hour, so the alert rules fire.
    Written unsorted: ordering is the reader's job."""
    burst = 300 if hours > 28 else 0
    recs = list(
        sample.generate(
            n - burst,
            T0,
            spacing_ms=hours * HOUR // (n - burst),
            seed=seed,
            moods={"AAPL": "negative", "NVDA": "positive"},
            repeat_share=0.15,
        )
    )
    if burst:
        recs += sample.generate(
            burst,
            T0 + 28 * HOUR + 90_000,
            spacing_ms=10_000,
            seed=seed + 1,
            tickers=("AAPL",),
            moods={"AAPL": "negative"},
            repeat_share=0.0,
        )
    recs.reverse()
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def _backtest(env: Env, feed_file: Path) -> BacktestResult:
    settings = env.settings()
    feed = load_feed([feed_file])
    assert not feed.bad
    model = OnnxScorer.load(settings.model_dir, provider=settings.provider)
    return run_core(
        feed.items,
        load_symbols(settings.symbols_path),
        CachingScorer(model, max_batch=settings.model_batch),
        settings.core_config(load_ticker_rules(settings.rules_path)),
        max_batch=settings.model_batch,
    )


def _replay(env: Env, feed_file: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pipeline.cli", "replay", str(feed_file)]
    cmd += ["--topic", "news.raw", "--live", "--no-progress"]
    return subprocess.Popen(
        cmd,
        env={**os.environ, **env.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counted(w: Worker) -> float:
    try:
        text = w.metrics() if w.proc.poll() is None else ""
    except OSError:
        return 0.0
    return sum(
        sample_value(text, "finsent_mentions_total", {"verdict": v}) or 0
        for v in ("new", "repeat", "late")
    )


def _drained(env: Env, w: Worker, mentions: int) -> bool:
    """The positive end: every mention judged, nothing waiting, committed lag 0."""
    s = env.settings()
    try:
        lag = json.loads(w.get("/live")[1]).get("lag") or {}
        text = w.metrics()
    except (OSError, ValueError):
        return False
    consumed = {s.news_topic, s.social_topic, s.scored_topic}
    return (
        set(lag) >= consumed
        and not any(lag.values())
        and sample_value(text, "finsent_pending_records") == 0
        and sample_value(text, "finsent_unpublished_updates") == 0
        and _counted(w) >= mentions
    )


def _mentions(result: BacktestResult) -> int:
    return sum(result.verdicts[v] for v in ("new", "repeat", "late"))


def _compare(env: Env, result: BacktestResult, workers: list[Worker]) -> dict[str, float]:
    s = env.settings()
    records = json_values(read_to_end(env, s.aggregates_topic))
    alerts = json_values(read_to_end(env, s.alerts_topic))
    last: dict[tuple[str, str, int], dict[str, Any]] = {}
    for v in records:  # per ticker (the key), topic order is the send order
        last[(v["ticker"], v["window"], v["start_ms"])] = v
    expected = {(w.ticker, w.window, w.start_ms): w for w in result.windows}
    assert set(last) == set(expected)
    for key, w in expected.items():
        live = last[key]
        assert {f: live[f] for f in EXACT} == {f: getattr(w, f) for f in EXACT}, key
        assert live["weight"] == pytest.approx(w.weight, rel=1e-9, abs=1e-12), key
        if w.mean_score is None:
            assert live["mean_score"] is None, key
        else:
            assert live["mean_score"] == pytest.approx(w.mean_score, rel=1e-9, abs=1e-12), key
    got_alerts = Counter((a["rule"], a["ticker"], a["window_start_ms"]) for a in alerts)
    want_alerts = Counter((a.rule, a.ticker, a.window_start_ms) for a in result.alerts)
    assert set(got_alerts) == set(want_alerts)  # a restarted worker may send one again
    text = workers[-1].metrics()
    return {
        v: sample_value(text, "finsent_mentions_total", {"verdict": v}) or 0.0
        for v in ("new", "repeat", "late", "redelivery")
    }


@pytest.fixture
def four_partitions(kafka_bootstrap: str, tmp_path: Path) -> Env:
    env = Env(kafka_bootstrap, tmp_path, overrides={"FINSENT_PARTITIONS": "4"})
    env.create_topics()
    return env


def test_replay_through_4_partitions_equals_backtest(four_partitions: Env, tmp_path: Path) -> None:
    env = four_partitions
    feed_file = _write_feed(tmp_path / "feed.jsonl")
    result = _backtest(env, feed_file)
    assert len({w.ticker for w in result.windows}) >= 10 and result.alerts
    assert result.verdicts["repeat"] > 0 and result.verdicts["late"] == 0
    worker = Worker(env)
    try:
        worker.wait_ready()
        replay = _replay(env, feed_file)
        out, err = replay.communicate(timeout=300)
        assert replay.returncode == 0, err
        assert "replayed 5200 records" in out
        wait_for(lambda: _drained(env, worker, _mentions(result)), timeout_s=600, interval_s=1)
        verdicts = _compare(env, result, [worker])
    finally:
        worker.stop()
    assert verdicts["late"] == 0  # nothing lost to lateness, whatever the interleaving
    assert verdicts["new"] == result.verdicts["new"]
    assert verdicts["repeat"] == result.verdicts["repeat"]


def test_worker_killed_mid_replay_still_equals_backtest(
    four_partitions: Env, tmp_path: Path
) -> None:
    env = four_partitions
    feed_file = _write_feed(tmp_path / "feed.jsonl", n=3_000, seed=21)
    result = _backtest(env, feed_file)
    first = Worker(env)
    workers = [first]
    try:
        first.wait_ready()
        replay = _replay(env, feed_file)
        wait_for(lambda: _counted(first) >= 800, timeout_s=300, interval_s=0.2)
        first.proc.kill()
        first.proc.wait()
        workers.append(Worker(env))
        _out, err = replay.communicate(timeout=300)
        assert replay.returncode == 0, err
        wait_for(lambda: _drained(env, workers[-1], 1), timeout_s=600, interval_s=1)
        # the second worker counts only what it judged; the table holds the totals
        verdicts = _compare(env, result, workers)
    finally:
        for w in workers:
            w.stop()
    assert verdicts["late"] == 0


def _send(env: Env, topic: str, items: list[dict[str, Any]], partition: int) -> None:
    from pipeline.kafka_clients import producer

    p = producer(env.settings())
    for r in items:
        p.send(topic, key=r["id"].encode(), value=json.dumps(r).encode(), partition=partition)
    p.flush()
    p.close()


def test_a_partition_held_back_for_hours_of_event_time_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """news.raw/3 delivers its first minutes, then nothing while the seven other input
    partitions run hours ahead: the watermark waits for it (records wait, none is late)."""
    env = Env(
        kafka_bootstrap,
        tmp_path,
        overrides={"FINSENT_PARTITIONS": "4", "FINSENT_IDLE_TIMEOUT_S": "120"},
    )
    env.create_topics()
    s = env.settings()
    feed_file = _write_feed(tmp_path / "feed.jsonl", n=1_600, hours=6, seed=31)
    items = sorted(load_feed([feed_file]).items, key=lambda it: it.published_at_ms)
    rows = [json.loads(line) for line in feed_file.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    ordered = [by_id[it.id] for it in items]
    # one unlinked record on every input partition, a day later, ends the feed: it moves the
    # watermark past everything without waiting for idleness (and links to no ticker)
    last = ordered[-1]["published_at"] + 24 * HOUR
    ends = {
        (t, p): {"id": f"end-{t}-{p}", "published_at": last, "text": "The weather is fine today"}
        for t in s.topics_in()
        for p in range(4)
    }
    lanes: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in ends}
    for i, r in enumerate(ordered):
        lanes[(s.news_topic if i % 2 else s.social_topic, (i // 2) % 4)].append(r)
    held = (s.news_topic, 3)
    head = [r for r in lanes[held] if r["published_at"] < T0 + 10 * 60_000]
    (tmp_path / "all.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [*ordered, *ends.values()]), encoding="utf-8"
    )
    result = _backtest(env, tmp_path / "all.jsonl")
    worker = Worker(env)
    try:
        worker.wait_ready()
        for key, lane in lanes.items():
            _send(env, key[0], head if key == held else [*lane, ends[key]], key[1])

        def holding() -> bool:
            text = worker.metrics()
            lag = json.loads(worker.get("/live")[1]).get("lag") or {}
            marks = [
                sample_value(text, "finsent_watermark_timestamp_seconds", {"partition": str(p)})
                for p in range(4)
            ]
            return (
                lag.get(s.news_topic) == 0
                and lag.get(s.social_topic) == 0
                and lag.get(s.scored_topic) == 0
                and (sample_value(text, "finsent_pending_records") or 0) > 0
                and all(m is not None and m * 1000 <= head[-1]["published_at"] for m in marks)
            )

        wait_for(holding, timeout_s=120, interval_s=0.5)  # the others are done: time waits
        _send(env, held[0], [r for r in lanes[held] if r not in head] + [ends[held]], held[1])
        wait_for(lambda: _drained(env, worker, _mentions(result)), timeout_s=300, interval_s=1)
        verdicts = _compare(env, result, [worker])
    finally:
        worker.stop()
    assert verdicts["late"] == 0 and verdicts["new"] == result.verdicts["new"]


def test_a_2014_replay_survives_the_brokers_retention_pass(tmp_path: Path) -> None:
    """Event time as the Kafka timestamp made time retention delete a replay minutes after it
    was written. Input topics use LogAppendTime: a control topic with CreateTime and the same
    7-day retention loses the same records in the same retention pass, the input keeps them."""
    data_dir = tmp_path / "kafka"
    broker = kafka_local.start(
        data_dir,
        port=kafka_local.free_port(),
        extra_config={"log.retention.check.interval.ms": "1000"},
        quiet=True,
    )
    try:
        env = Env(broker.bootstrap, tmp_path, overrides={"FINSENT_PARTITIONS": "1"})
        env.create_topics()
        s = env.settings()
        t2014 = 1_400_000_000_000  # 2014-05-13
        rows = [
            {"id": f"old-{i}", "published_at": t2014 + i * 60_000, "text": f"$AAPL story {i}"}
            for i in range(200)
        ]
        feed = tmp_path / "2014.jsonl"
        feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        from kafka.admin import NewTopic

        from pipeline.kafka_clients import admin, producer

        control = f"{env.prefix}.control"
        a = admin(s)
        a.create_topics([NewTopic(control, 1, 1, topic_configs={"retention.ms": "604800000"})])
        a.close()
        p = producer(s)
        for r in rows:
            p.send(control, value=json.dumps(r).encode(), timestamp_ms=r["published_at"])
        p.flush()
        p.close()
        replay = _replay(env, feed)
        _out, err = replay.communicate(timeout=120)
        assert replay.returncode == 0, err

        def control_deleted() -> bool:
            from kafka import TopicPartition

            from pipeline.kafka_clients import consumer

            c = consumer(s)
            try:
                return bool(c.beginning_offsets([TopicPartition(control, 0)]).popitem()[1] > 0)
            finally:
                c.close()

        wait_for(control_deleted, timeout_s=120, interval_s=1)  # a retention pass happened
        kept = read_to_end(env, s.news_topic)
        assert [json.loads(r.value)["id"] for r in kept] == [r["id"] for r in rows]
    finally:
        kafka_local.stop(data_dir)
