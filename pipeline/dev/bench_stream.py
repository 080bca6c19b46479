"""`finsent bench --stream`: the end-to-end figure, through a real broker and one real worker.

Why a second benchmark: the model-only figure (`finsent bench`) says what the model can do; a
worker also parses, links, publishes, aggregates, writes a changelog and commits. This one
pre-loads the input topic, starts one worker, times the drain until committed lag 0 on every
consumed topic, and prints next to it the model-only length-sorted figure on the same texts, in
the same run. Then, optionally, it feeds at half the measured rate and reports the latency from
the input record's arrival (LogAppendTime) to its scored record.

Uses the broker at FINSENT_BOOTSTRAP_SERVERS when one answers there, else starts a local one in a
temporary directory (and stops it after).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.dev.processes import spawn_worker
from pipeline.kafka_clients import read_to_end

HOT_TICKER = "AAPL"


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far, from /proc (Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (VmRSS, from /proc); 0.0 when none is reported."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _get(url: str) -> tuple[int, dict[str, Any]]:
    """GET a JSON page of the worker: (status, body); (0, {}) while nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except OSError:
        return 0, {}


def isolated_env(bootstrap: str, web_port: int, data_dir: Path) -> dict[str, str]:
    """A benchmark worker's environment: a namespace of its own (every topic, the consumer group
    and the table changelog under a random prefix: `Settings._apply_namespace`), so a shared
    broker's data is untouched, and a web port on localhost."""
    return {
        "FINSENT_BOOTSTRAP_SERVERS": bootstrap,
        "FINSENT_NAMESPACE": f"bench{uuid.uuid4().hex[:6]}",
        "FINSENT_WEB_PORT": str(web_port),
        "FINSENT_WEB_HOST": "127.0.0.1",
        "FINSENT_DATA_DIR": str(data_dir),
    }


def env_settings(env: dict[str, str]) -> Settings:
    """The settings a worker started with `env` (over this process' environment) has."""
    return Settings(**{k.removeprefix("FINSENT_").lower(): v for k, v in env.items()})


def spawn_ready(env: dict[str, str], log_path: Path, web_port: int) -> tuple[float, Any]:
    """Spawn a worker with `env` and wait for its /ready: (seconds it took, the process). A
    worker that exits first stops the benchmark, pointing at its log."""
    t0 = time.monotonic()
    proc = spawn_worker({**os.environ, **env}, log_path)
    while _get(f"http://127.0.0.1:{web_port}/ready")[0] != 200:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited {proc.returncode}; see {log_path}")
        time.sleep(0.1)
    return time.monotonic() - t0, proc


def make_items(texts: list[str], spread: str, n_tickers: int, seed: int = 0) -> list[dict]:
    """One item per text, tagged with a cashtag: `spread` over `n_tickers` S&P members, or all on
    one hot ticker; event times evenly over the last hour."""
    from pipeline.reference import load_symbols

    table = load_symbols()
    pool = sorted(t for t in table.companies if t.isalpha() and len(t) >= 2)[:n_tickers]
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    step = 3_600_000 // max(1, len(texts))
    return [
        {
            "id": f"bench-{i}",
            "source": "newswire",
            "published_at": now - 3_600_000 + i * step,
            "text": f"${HOT_TICKER if spread == 'hot' else rng.choice(pool)} {t}",
        }
        for i, t in enumerate(texts)
    ]


def model_only(settings: Settings, texts: list[str]) -> float:
    """Texts/s of the shipped model, length-sorted as the worker does, on these texts."""
    from pipeline.dev.bench_texts import sorted_batches
    from pipeline.scoring.onnx import OnnxScorer

    scorer = OnnxScorer.load(settings.model_dir, provider=settings.provider)
    scorer.score(texts[:32], max_batch=settings.model_batch)  # warm-up
    t = time.perf_counter()
    for b in sorted_batches(scorer, texts, settings.model_batch, settings.max_batch):
        scorer.score(b, max_batch=len(b))
    return len(texts) / (time.perf_counter() - t)


def _end_offsets(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Summed log-end offsets of each topic: every message ever written there (the topics are this
    run's own, under a random prefix)."""
    from kafka import TopicPartition

    from pipeline.kafka_clients import consumer

    c = consumer(settings, group_id=None)
    try:
        out = {}
        for t in topics:
            tps = [TopicPartition(t, p) for p in sorted(c.partitions_for_topic(t) or ())]
            out[t] = sum(c.end_offsets(tps).values()) if tps else 0
        return out
    finally:
        c.close()


def _broker(tmp: Path) -> tuple[str, Path | None]:
    """The configured broker (FINSENT_BOOTSTRAP_SERVERS) if one answers there, else a local one on a
    free port: (bootstrap, data dir of the broker started here, to stop, or None)."""
    from pipeline.dev import kafka_local

    configured = Settings().bootstrap_servers
    if configured and kafka_local._ready(configured, {}):  # noqa: SLF001
        return configured, None
    broker = kafka_local.start(tmp / "kafka", port=kafka_local.free_port(), quiet=True)
    return broker.bootstrap, tmp / "kafka"


def run(args: argparse.Namespace) -> int:
    """The end-to-end benchmark in a namespace of its own (`isolated_env`), so a shared broker's
    data is untouched; this process' settings and the worker's environment come from the same
    overrides. 0 when done."""
    from pipeline.dev import kafka_local
    from pipeline.dev.bench_texts import make_texts, read_texts
    from pipeline.kafka_clients import producer
    from pipeline.stream.admin import create_topics
    from pipeline.stream.agents import TABLE_NAME

    args.tickers = args.tickers or 500
    texts = read_texts(args.texts, args.n) if args.texts else make_texts(args.n)
    with tempfile.TemporaryDirectory(prefix="finsent-bench-stream-") as tmp_s:
        tmp = Path(tmp_s)
        bootstrap, own = _broker(tmp)
        port = kafka_local.free_port()
        env = {
            **isolated_env(bootstrap, port, tmp / "data"),
            # only the news topic is loaded: the empty social topic would hold time back for
            # the default 30 s idleness timeout, and that wait is not the stream's speed
            "FINSENT_IDLE_TIMEOUT_S": os.environ.get("FINSENT_IDLE_TIMEOUT_S", "2"),
        }
        settings = env_settings(env)
        try:
            return _measure(
                args, settings, env, texts, port, tmp, TABLE_NAME, producer, create_topics
            )
        finally:
            if own is not None:
                kafka_local.stop(own)


def _measure(
    args: argparse.Namespace,
    settings: Settings,
    env: dict[str, str],
    texts: list[str],
    port: int,
    tmp: Path,
    table_name: str,
    producer: Any,
    create_topics: Any,
) -> int:
    """Pre-load the input topic, start one worker, time the drain to committed lag 0, count what it
    wrote, optionally measure latency (`_latency`); print the figures or one JSON object."""
    load_before = os.getloadavg()
    create_topics(settings)
    items = make_items(texts, args.spread, args.tickers)
    prod = producer(settings)
    for it in items:
        prod.send(settings.news_topic, key=it["id"].encode(), value=json.dumps(it).encode())
    prod.flush()
    _s, proc = spawn_ready(env, tmp / "worker.log", port)
    url = f"http://127.0.0.1:{port}"
    try:
        t0, cpu0 = time.monotonic(), _cpu_s(proc.pid)
        consumed = {settings.news_topic, settings.social_topic, settings.scored_topic}
        timeline = _drained(url, consumed, proc)
        drain_s, cpu_s = time.monotonic() - t0, _cpu_s(proc.pid) - cpu0
        rss = rss_mb(proc.pid)
        changelog = f"{settings.app_id}-{table_name}-changelog"
        outputs = [
            settings.scored_topic,
            settings.aggregates_topic,
            settings.alerts_topic,
            *(t + settings.dlq_suffix for t in consumed),
            changelog,
        ]
        ends = _end_offsets(settings, outputs)
        from pipeline.stream.watermarks import is_watermark_record

        # item x ticker records: the scored topic less its watermark records (those are counted
        # in the Kafka messages per item, as every other message the worker writes)
        scored = ends[settings.scored_topic] - sum(
            1 for r in read_to_end(settings, settings.scored_topic) if is_watermark_record(r)
        )
        changelog_bytes = sum(
            len(r.value or b"") + len(r.key or b"") for r in read_to_end(settings, changelog)
        )
        rate = len(items) / drain_s
        latency = _latency(args, settings, rate, url, consumed, proc) if args.latency_s else None
    finally:
        proc.terminate()
        proc.wait(60)
    model_tps = model_only(settings, [it["text"] for it in items])
    n = len(items)
    result = {
        "items": n,
        "spread": args.spread,
        "tickers": 1 if args.spread == "hot" else args.tickers,
        "drain_s": drain_s,
        "texts_per_s": n / drain_s,
        "records_per_s": scored / drain_s,
        "model_only_texts_per_s": model_tps,
        "ratio_to_model": n / drain_s / model_tps,
        "cpu_ms_per_item": 1e3 * cpu_s / n,
        "worker_cores_busy": cpu_s / drain_s,
        "kafka_messages_per_item": sum(ends.values()) / n,
        "changelog_bytes_per_item": changelog_bytes / n,
        "worker_rss_mb": rss,
        **overlap(timeline),
        "drain_timeline": [[round(t, 2), c, a] for t, c, a in timeline],
        "latency_ms": latency,
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "messages": ends,
    }
    if args.plot:
        plot_drain({"this run": timeline}, Path(args.plot), f"{n} items, {args.spread}")
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{n} items ({args.spread}, {result['tickers']} tickers), one worker, {os.cpu_count()} "
        f"cores, load average before {load_before[0]:.2f} / after {os.getloadavg()[0]:.2f}"
    )
    rows = [
        ("end-to-end texts/s (drain to committed lag 0)", f"{result['texts_per_s']:.1f}"),
        ("item x ticker records/s", f"{result['records_per_s']:.1f}"),
        ("model only, length-sorted, same texts", f"{model_tps:.1f}"),
        ("end-to-end / model only", f"{result['ratio_to_model']:.2f}"),
        ("worker CPU per item (ms)", f"{result['cpu_ms_per_item']:.2f}"),
        ("worker cores busy", f"{result['worker_cores_busy']:.2f}"),
        ("Kafka messages written per input item", f"{result['kafka_messages_per_item']:.2f}"),
        ("changelog bytes per input item", f"{result['changelog_bytes_per_item']:.0f}"),
        ("worker RSS after the drain (MB)", f"{rss:.0f}"),
        ("input consumed when aggregation began", _share(result["input_share_at_first_aggregate"])),
        ("drain time aggregating alone", _share(result["aggregation_only_tail_share"])),
    ]
    if latency:
        rows.append(
            (
                "Kafka -> scored p50 / p99 ms at 50 % load",
                f"{latency['p50']:.0f} / {latency['p99']:.0f}",
            )
        )
        rows.append(
            (
                "Kafka -> aggregate p50 / p99 ms at 50 % load",
                f"{latency['aggregate_p50']:.0f} / {latency['aggregate_p99']:.0f}",
            )
        )
    for name, value in rows:
        print(f"  {name:<46} {value:>12}")
    return 0


def _share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _drained(url: str, consumed: set[str], proc: Any) -> list[tuple[float, float, float]]:
    """Poll the worker's /live until every consumed topic reports committed lag 0, sampling its
    /metrics on the way: the timeline of (seconds, input records consumed, mentions aggregated)
    that `overlap` summarizes. No deadline (a slow machine only takes longer), but a worker that
    exits stops the benchmark with its exit code instead of hanging it."""
    t0, timeline = time.monotonic(), []
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited {proc.returncode} before the drain ended")
        timeline.append((time.monotonic() - t0, *_progress(url)))
        lag = _get(url + "/live")[1].get("lag") or {}
        if set(lag) >= consumed and not any(lag.values()):
            timeline.append((time.monotonic() - t0, *_progress(url)))
            return timeline
        time.sleep(0.25)


def _progress(url: str) -> tuple[float, float]:
    """(input records consumed, mentions aggregated) so far, from the worker's counters."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0, 0.0
    sums = {"finsent_items_consumed_total": 0.0, "finsent_mentions_total": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in sums:
                sums[sample.name] += sample.value
    return sums["finsent_items_consumed_total"], sums["finsent_mentions_total"]


def plot_drain(
    runs: dict[str, Sequence[Sequence[float]]], path: Path, title: str = "drain"
) -> Path:
    """One PNG: per run, the share of its input consumed and of its mentions aggregated against
    the share of its drain time, so runs of different lengths compare. Overlapped stages draw
    two lines close together; stages in series draw the aggregation line late and steep.
    Needs matplotlib (the `backtest` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, (label, timeline) in enumerate(runs.items()):
        end_s, total_in, total_agg = (v or 1 for v in timeline[-1])
        x = [t / end_s for t, _c, _a in timeline]
        color = f"C{i}"
        ax.plot(x, [c / total_in for _t, c, _a in timeline], color=color, lw=1.6,
                label=f"{label}: input consumed")  # fmt: skip
        ax.plot(x, [a / total_agg for _t, _c, a in timeline], color=color, lw=1.6, ls="--",
                label=f"{label}: mentions aggregated")  # fmt: skip
    ax.set_xlabel("share of the drain time")
    ax.set_ylabel("share done")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def overlap(timeline: Sequence[tuple[float, float, float]]) -> dict[str, float | None]:
    """How far aggregation kept pace with scoring in a drain: the share of the input consumed
    when the first mention was aggregated, and the share of the drain's time after the input
    was all consumed (aggregation alone). Both near 0 when the stages overlap; the issue found
    0.80 and 0.18-0.50. None when the timeline holds no input or no aggregation."""
    if not timeline or timeline[-1][1] <= 0:
        return {"input_share_at_first_aggregate": None, "aggregation_only_tail_share": None}
    total_in, end_s = timeline[-1][1], timeline[-1][0]
    first = next((consumed for _t, consumed, agg in timeline if agg > 0), None)
    all_in = next((t for t, consumed, _a in timeline if consumed >= total_in), end_s)
    return {
        "input_share_at_first_aggregate": None if first is None else first / total_in,
        "aggregation_only_tail_share": (end_s - all_in) / end_s if end_s > 0 else 0.0,
    }


def _latency(
    args: argparse.Namespace,
    settings: Settings,
    rate: float,
    url: str,
    consumed: set[str],
    proc: Any,
) -> dict[str, float]:
    """Feed at half of `rate` for `latency_s`; per probe item, input arrival (the broker's
    LogAppendTime) -> its scored record, and -> the first update of its smallest window that
    counts it on `sentiment.aggregates` (open windows are published once per commit, so this
    includes the wait for the commit and for the watermark)."""
    from pipeline.kafka_clients import producer

    texts = [f"$MSFT latency probe {i} shares rise" for i in range(int(rate / 2 * args.latency_s))]
    prod = producer(settings, linger_ms=0)
    start = time.monotonic()
    for i, t in enumerate(texts):
        due = start + i / (rate / 2)
        time.sleep(max(0.0, due - time.monotonic()))
        key = f"lat-{i}"
        it = {"id": key, "source": "newswire", "published_at": int(time.time() * 1000), "text": t}
        prod.send(settings.news_topic, key=key.encode(), value=json.dumps(it).encode())
    prod.flush()
    _drained(url, consumed, proc)
    arrival = {
        (r.partition, r.offset): r.timestamp for r in read_to_end(settings, settings.news_topic)
    }
    scored_lat: list[float] = []
    probes: list[tuple[int, str, str, int]] = []  # (event ms, id, ticker, arrival ms)
    others: dict[tuple[str, int], int] = {}  # (ticker, event ms) of every non-probe record
    for r in read_to_end(settings, settings.scored_topic):
        rec = json.loads(r.value)
        if rec.get("type") == "watermark" or "ticker" not in rec:
            continue
        if str(rec.get("id", "")).startswith("lat-") and rec.get("origin"):
            _t, part, off = rec["origin"]
            scored_lat.append(r.timestamp - arrival[(part, off)])
            probes.append((rec["published_at_ms"], rec["id"], rec["ticker"], arrival[(part, off)]))
        else:
            at = (rec["ticker"], rec["published_at_ms"])
            others[at] = others.get(at, 0) + 1
    agg_lat = _aggregate_latency(settings, probes, others)
    out = {"n": len(scored_lat), **_quantiles("", scored_lat)}
    out.update(_quantiles("aggregate_", agg_lat))
    return out


def _quantiles(prefix: str, values: list[float]) -> dict[str, float]:
    """p50 and p99 of `values` (0 when there are none) under `prefix`."""
    q = statistics.quantiles(values, n=100) if len(values) > 1 else [0.0] * 99
    return {
        f"{prefix}p50": statistics.median(values) if values else 0.0,
        f"{prefix}p99": q[98],
    }


def _aggregate_latency(
    settings: Settings,
    probes: list[tuple[int, str, str, int]],
    others: dict[tuple[str, int], int],
) -> list[float]:
    """`aggregate_latency` over the updates of the smallest window on `sentiment.aggregates`."""
    from pipeline.core.windows import parse_duration_ms

    names = [w.strip() for w in settings.windows.split(",") if w.strip()]
    window = min(names, key=parse_duration_ms)
    updates: dict[tuple[str, int], list[tuple[int, int]]] = {}  # -> [(count, timestamp)]
    for r in read_to_end(settings, settings.aggregates_topic):
        rec = json.loads(r.value)
        if rec.get("type") == "window" and rec.get("window") == window:
            updates.setdefault((rec["ticker"], rec["start_ms"]), []).append(
                (rec["count"], r.timestamp)
            )
    return aggregate_latency(probes, others, updates, parse_duration_ms(window))


def aggregate_latency(
    probes: list[tuple[int, str, str, int]],
    others: dict[tuple[str, int], int],
    updates: dict[tuple[str, int], list[tuple[int, int]]],
    size_ms: int,
) -> list[float]:
    """Per probe (event ms, id, ticker, arrival ms), from its arrival to the first update of its
    window (`updates`: (ticker, start) -> [(count, Kafka timestamp)] in offset order) whose
    `count` includes it. A probe's place in its window is the records folded before it: the
    window's other records (`others`: (ticker, event ms) -> n, folded before the probes) and the
    probes before it in (event time, id) order, the order the aggregation folds in. A probe no
    update counted is left out."""
    base: dict[tuple[str, int], int] = {}
    for (ticker, ms), n in others.items():
        key = (ticker, ms - ms % size_ms)
        base[key] = base.get(key, 0) + n
    seen: dict[tuple[str, int], int] = {}
    out: list[float] = []
    for event_ms, _id, ticker, arrived in sorted(probes):
        key = (ticker, event_ms - event_ms % size_ms)
        seen[key] = seen.get(key, 0) + 1
        place = base.get(key, 0) + seen[key]
        when = next((ts for count, ts in updates.get(key, []) if count >= place), None)
        if when is not None:
            out.append(when - arrived)
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    """The `--stream` options, added to `finsent bench`'s parser: the ticker spread and the
    latency run."""
    parser.add_argument(
        "--spread",
        choices=("spread", "hot"),
        default="spread",
        help="items over --tickers tickers, or all on one hot ticker",
    )
    parser.add_argument(
        "--tickers",
        type=int,
        default=None,
        help="tickers for --spread spread (500) or for --recovery (2,000)",
    )
    parser.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="--stream: draw the drain (input consumed, mentions aggregated) to this PNG",
    )
    parser.add_argument(
        "--latency-s",
        type=float,
        default=20.0,
        help="seconds of feed at 50%% of the drain rate for latency (0: skip)",
    )
