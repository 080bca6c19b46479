"""`finsent bench --recovery`: how long a worker takes to be ready with many tickers' state.

Builds the per-ticker state that `--items` items over `--tickers` tickers and `--days` days of
event time leave, with the core the stream runs (`core.step`, the scoring stage's linking and
fingerprints, the shipped model's scores), writes it to the table's changelog exactly as the
aggregation stage does (`handlers.Tickers.write_back`: one value per key, the changelog after
compaction), then starts one real worker on it and times spawn -> /ready. A first worker on an
empty changelog gives the start-up cost without state, so the difference is the recovery. Then it
checks that the recovered states are the ones written (`/tickers/{T}` totals of a sample) and
reads the worker's RSS.

Scores: the shipped model scores each distinct body text once (`PoolScorer`); an item is a
cashtag plus one of those bodies, so 100,000 items need 512 model calls' worth of texts, not
100,000. State size depends on the windows, baseline and novelty chain, not on score values.

    finsent bench --recovery                       # 100,000 items, 2,000 tickers, 7 days
    finsent bench --recovery --items 20000 --tickers 500 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.core.records import Item
from pipeline.core.scoring import Score

DAY_MS = 86_400_000


class PoolScorer:
    """The inner scorer's score of an item's body text (after its leading cashtag), each body
    scored once: a benchmark of state, not of the model, that still carries real scores."""

    def __init__(self, inner: Any, bodies: Sequence[str]) -> None:
        self.version = inner.version
        distinct = sorted(set(bodies))
        self.scores = dict(zip(distinct, inner.score(distinct, max_batch=16), strict=True))

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        return [self.scores[t.split(" ", 1)[1]] for t in texts]


def week_feed(
    n: int, tickers: Sequence[str], bodies: Sequence[str], days: float, end_ms: int, seed: int = 0
) -> list[Item]:
    """`n` items over `days` of event time ending at `end_ms`, in time order, each a cashtag of
    one of `tickers` and one of `bodies`. Tickers are drawn Zipf-like (weight 1/rank): a few
    busy names and a long quiet tail, as real feeds have."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(tickers))]
    picks = rng.choices(tickers, weights=weights, k=n)
    start = end_ms - int(days * DAY_MS)
    times = sorted(rng.randrange(start, end_ms) for _ in range(n))
    return [
        Item(
            id=f"recovery-{i}",
            source="newswire",
            published_at_ms=t,
            text=f"${ticker} {rng.choice(bodies)}",
        )
        for i, (t, ticker) in enumerate(zip(times, picks, strict=True))
    ]


def build_states(settings: Settings, items: Sequence[Item], scorer: Any) -> dict[str, Any]:
    """Fold `items` through the core as the backtest does (`run_core`, keeping no windows); the
    final state of every ticker named."""
    from pipeline.backtest.run import run_core
    from pipeline.reference import load_symbols
    from pipeline.rules import load_ticker_rules

    cfg = settings.core_config(load_ticker_rules(settings.rules_path))
    symbols = load_symbols(settings.symbols_path)
    progress = sys.stdout.isatty() and sys.stderr.isatty()  # as `finsent backtest` decides
    result = run_core(
        items,
        symbols,
        scorer,
        cfg,
        max_batch=settings.model_batch,
        keep_windows=(),
        progress=progress,
    )
    return result.states


def changelog_entries(settings: Settings, states: dict[str, Any]) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of every changelog message the aggregation stage would leave for
    `states`: each ticker in its scored partition (the murmur2 of the ticker that the worker's
    producer computes, as the scoring stage keys it), written by `Tickers.write_back`."""
    from aiokafka.partitioner import DefaultPartitioner

    from pipeline.core.aggregate import due_ms
    from pipeline.rules import load_ticker_rules
    from pipeline.stream.handlers import Tickers
    from pipeline.testing import InMemoryTable

    agg = settings.core_config(load_ticker_rules(settings.rules_path)).aggregation
    parts = list(range(settings.partitions))
    partitioner = DefaultPartitioner()
    unpublished: dict[str, tuple[int, object]] = {}
    tickers = Tickers(InMemoryTable(), {}, unpublished)  # type: ignore[arg-type]
    for ticker, state in states.items():
        p = partitioner(ticker.encode(), parts, parts)
        tickers.put(ticker, p, {**state, "partition": p, "due": due_ms(state, agg)})
    tickers.write_back()
    return [
        (p, json.dumps(key).encode(), json.dumps(value).encode())
        for key, (p, value) in unpublished.items()
    ]


def write_changelog(
    settings: Settings, topic: str, entries: list[tuple[int, bytes, bytes]]
) -> None:
    """Create the table's changelog as faust declares it (compacted, hourly segments) and
    write `entries` to it."""
    from kafka.admin import NewTopic

    from pipeline.kafka_clients import admin, producer
    from pipeline.stream.admin import COMPACTED_CONFIG
    from pipeline.stream.agents import CHANGELOG_CONFIG

    client = admin(settings)
    try:
        client.create_topics(
            [
                NewTopic(
                    topic,
                    settings.partitions,
                    settings.replication_factor,
                    topic_configs={**COMPACTED_CONFIG, **CHANGELOG_CONFIG},
                )
            ]
        )
    finally:
        client.close()
    prod = producer(settings)
    for p, key, value in entries:
        prod.send(topic, key=key, value=value, partition=p)
    prod.flush()
    prod.close()


def _stop(proc: Any) -> None:
    proc.terminate()
    proc.wait(60)


def run(args: argparse.Namespace) -> int:
    """Build the state, write its changelog, start a worker on nothing then on it; print the
    figures or one JSON object; 0 when the recovered sample matches what was written."""
    from pipeline.dev import kafka_local
    from pipeline.dev.bench_stream import (
        _broker,
        _get,
        env_settings,
        isolated_env,
        rss_mb,
        spawn_ready,
    )
    from pipeline.dev.bench_texts import make_texts
    from pipeline.reference import load_symbols
    from pipeline.scoring.onnx import OnnxScorer
    from pipeline.stream.admin import create_topics
    from pipeline.stream.agents import TABLE_NAME

    load_before = os.getloadavg()
    base = Settings()
    table = load_symbols(base.symbols_path)
    names = sorted(t for t in table.companies if t.isalpha() and len(t) >= 2)
    rng = random.Random(1)
    names = rng.sample(names, min(args.tickers or 2_000, len(names)))
    bodies = make_texts(512)
    scorer = PoolScorer(OnnxScorer.load(base.model_dir), bodies)
    end_ms = int(time.time() * 1000) - 3_600_000
    items = week_feed(args.items, names, bodies, args.days, end_ms)
    t = time.monotonic()
    states = build_states(base, items, scorer)
    build_s = time.monotonic() - t

    with tempfile.TemporaryDirectory(prefix="finsent-bench-recovery-") as tmp_s:
        tmp = Path(tmp_s)
        bootstrap, own = _broker(tmp)
        port = kafka_local.free_port()
        env = {**isolated_env(bootstrap, port, tmp / "data"), "FINSENT_APP_ID": "finsent"}
        try:
            settings = env_settings(env)  # the recovering worker's (app_id finsent-<namespace>)
            create_topics(settings)
            entries = changelog_entries(settings, states)
            changelog = f"{settings.app_id}-{TABLE_NAME}-changelog"
            write_changelog(settings, changelog, entries)
            starts = {}
            for label, app_id in (("empty", "finsent-empty"), ("recovering", "finsent")):
                run_env = {**env, "FINSENT_APP_ID": app_id, "FINSENT_DATA_DIR": str(tmp / label)}
                starts[label], proc = spawn_ready(run_env, tmp / f"{label}.log", port)
                if label == "recovering":
                    rss = rss_mb(proc.pid)
                    sample = rng.sample(sorted(states), min(20, len(states)))
                    served = {
                        tk: _get(f"http://127.0.0.1:{port}/tickers/{tk}")[1].get("totals")
                        for tk in sample
                    }
                _stop(proc)
        finally:
            if own is not None:
                kafka_local.stop(own)
    matched = sum(served[tk] == states[tk]["totals"] for tk in served)
    result = {
        "items": len(items),
        "tickers": len(states),
        "days": args.days,
        "state_build_s": build_s,
        "changelog_messages": len(entries),
        "changelog_mb": sum(len(k) + len(v) for _p, k, v in entries) / 1e6,
        "largest_state_kb": max(len(v) for _p, _k, v in entries) / 1e3,
        "ready_empty_s": starts["empty"],
        "ready_recovering_s": starts["recovering"],
        "recovery_s": starts["recovering"] - starts["empty"],
        "worker_rss_mb": rss,
        "sample_matched": f"{matched}/{len(served)}",
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['tickers']} tickers' state from {len(items)} items over {args.days:g} days, "
            f"{os.cpu_count()} cores, load average before {load_before[0]:.2f} / after "
            f"{os.getloadavg()[0]:.2f}"
        )
        rows = [
            ("changelog messages (one value per key)", str(len(entries))),
            ("changelog MB", f"{result['changelog_mb']:.1f}"),
            ("largest ticker state (KB)", f"{result['largest_state_kb']:.1f}"),
            ("worker spawn -> /ready, empty state (s)", f"{starts['empty']:.1f}"),
            ("worker spawn -> /ready, recovering (s)", f"{starts['recovering']:.1f}"),
            ("recovery (the difference, s)", f"{result['recovery_s']:.1f}"),
            ("worker RSS after recovery (MB)", f"{rss:.0f}"),
            ("recovered totals equal to those written", result["sample_matched"]),
        ]
        for name, value in rows:
            print(f"  {name:<46} {value:>16}")
    return 0 if matched == len(served) else 1


def configure(parser: argparse.ArgumentParser) -> None:
    """The `--recovery` options, added to `finsent bench`'s parser (`--tickers` is shared with
    `--stream`)."""
    parser.add_argument(
        "--recovery", action="store_true",
        help="time a worker's recovery of many tickers' state (pipeline/dev/bench_recovery.py)",
    )  # fmt: skip
    parser.add_argument(
        "--items", type=int, default=100_000, help="--recovery: items folded into the state"
    )
    parser.add_argument(
        "--days", type=float, default=7.0, help="--recovery: days of event time they span"
    )
