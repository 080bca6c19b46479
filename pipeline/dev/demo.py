"""`finsent demo`: the whole product on one machine, in one command.

Usage:
    finsent demo                    # Ctrl-C stops everything it started
    finsent demo --duration 60      # stop by itself after a minute (prints the final table)

1. start a local Apache Kafka broker (KRaft) in a temporary dir (jars fetched once, cached);
2. create the topics and start a `finsent worker` subprocess with the shipped ONNX model;
3. feed the bundled sample feed (`pipeline.dev.sample`) through Kafka in real time: a few hundred
   news and social items about eight tickers, Boeing's news turning sour and Nvidia's glowing;
4. show a live per-ticker table (read from the worker's /tickers endpoint) and alert events.

`run` calls one function per step, in this order: `start_broker`, `demo_config`,
`create_demo_topics`, `start_worker`, `follow_alerts`, `feed` (which redraws the table,
`show_table`, while it waits between records), and `stop` at the end, whatever happened. The
feed goes out through `finsent replay`'s `publish` (event time = the time it is sent), and the
demo's settings are explicit: a `Settings` object for this process and an environment for the
worker, never a change to this process' `os.environ`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.dev.processes import spawn_worker
from pipeline.dev.sample import COMPANIES, generate

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from pipeline.config import Settings
    from pipeline.core.records import Item

MOODS = {"BA": "negative", "NVDA": "positive"}
WORKER_READY_S = 180  # the worker loads the model and joins its group within this
REDRAW_S = 1.0  # each redraw asks the worker about every ticker: at most once a second
STEPS = 4  # the "[n/4]" lines the user sees


def _get_json(url: str) -> Any:
    """The worker's JSON answer at `url`, or None while it cannot answer (starting, stopping)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _table(base_url: str, alerts: list[dict[str, Any]]) -> Table:
    """The per-ticker table as the worker sees it now (its /tickers/T answers), with the last
    alerts as caption; a ticker the worker has no state for yet is a row of dashes."""
    from rich.table import Table

    t = Table(title=f"finsent live - metrics at {base_url}/metrics", expand=False)
    for col in (
        "ticker",
        "items 1h",
        "unique",
        "repeats",
        "score 5m",
        "score 1h",
        "decayed 1h",
        "+ / = / -",
        "sentiment z",
    ):
        t.add_column(col, justify="right" if col != "ticker" else "left")
    for sym in COMPANIES:
        d = _get_json(f"{base_url}/tickers/{sym}")
        if not d or "windows" not in d:
            t.add_row(sym, *["-"] * 8)
            continue
        h, m5 = d["windows"]["1h"], d["windows"]["5m"]

        def fmt(x: float | None) -> str:
            if x is None:
                return "-"
            colour = "green" if x > 0.15 else "red" if x < -0.15 else "white"
            return f"[{colour}]{x:+.2f}[/{colour}]"

        t.add_row(
            sym,
            str(h["count"]),
            str(h["unique"]),
            str(h["duplicates"]),
            fmt(m5["mean_score"]),
            fmt(h["mean_score"]),
            fmt(d["decayed"].get("1h")),
            f"{h['positive']}/{h['neutral']}/{h['negative']}",
            "-" if d["sentiment_z"] is None else f"{d['sentiment_z']:+.1f}",
        )
    if alerts:
        t.caption = "alerts: " + "; ".join(f"{a['rule']} {a['ticker']}" for a in alerts[-3:])
    return t


def _follow_alerts(settings: Settings, sink: list[dict[str, Any]], stop: threading.Event) -> None:
    """Append every alert event the worker publishes to `sink` until `stop` is set."""
    from pipeline.kafka_clients import consumer

    c = consumer(settings, settings.alerts_topic, group_id=None)
    while not stop.is_set():
        for records in c.poll(timeout_ms=500).values():
            sink.extend(json.loads(r.value) for r in records)
    c.close()


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent demo`'s options: how much to feed, how fast, for how long, and where."""
    parser.add_argument("--items", type=int, default=400, help="sample items to feed")
    parser.add_argument("--rate", type=float, default=8.0, help="items per second")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--bootstrap", default=None, help="use this broker instead of starting a local one"
    )
    parser.add_argument("--web-port", type=int, default=None)


@dataclass
class Demo:
    """What one demo run started, so that `stop` undoes exactly that and nothing else."""

    console: Console
    tmp: Path  # broker data, worker state and log; removed at the end
    started_broker: bool = False
    worker: subprocess.Popen[bytes] | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def broker_dir(self) -> Path:
        """The local broker's data, inside `tmp` so that `stop` removes it with the rest."""
        return self.tmp / "broker"

    @property
    def worker_log(self) -> Path:
        """The worker's output: shown when it fails to start, else removed unread."""
        return self.tmp / "worker.log"


def _interrupt(*_: object) -> None:
    """SIGTERM handler: stop like Ctrl-C does, so `stop` still runs (a `kill` of the demo would
    otherwise leave a broker and a worker behind)."""
    raise KeyboardInterrupt


class _TimeUp(Exception):
    """`--duration` is over: raised from inside the feed's pacing to end it where it is."""


def start_broker(demo: Demo, bootstrap: str | None) -> str:
    """Step 1: the broker to use, `--bootstrap` if given, else a local one started in the demo's
    temporary dir (stopped again by `stop`). Returns its bootstrap address."""
    from pipeline.dev import kafka_local

    if bootstrap is not None:
        return bootstrap
    demo.console.print(f"[bold]1/{STEPS}[/] starting a local Apache Kafka broker...")
    demo.started_broker = True
    return kafka_local.start(demo.broker_dir).bootstrap


def demo_config(bootstrap: str, web_port: int, tmp: Path) -> tuple[Settings, dict[str, str]]:
    """The demo's settings, for this process (a `Settings`) and for the worker (its
    environment), from the same overrides so both sides agree: the broker, the worker's web
    port on localhost, its state under `tmp`, a fresh consumer group (no offsets of an earlier
    demo), and z-scores after 3 baseline windows instead of 24 unless the user set their own.
    Every other FINSENT_* setting of the user's environment or `.env` applies to both."""
    from pipeline.config import Settings, env_name

    overrides = {
        "bootstrap_servers": bootstrap,
        "web_port": str(web_port),
        "web_host": "127.0.0.1",
        "data_dir": str(tmp / "worker"),
        "app_id": f"finsent-demo-{int(time.time())}",
    }
    if "baseline_min_windows" not in Settings().model_fields_set:
        overrides["baseline_min_windows"] = "3"
    worker_env = {**os.environ, **{env_name(k): v for k, v in overrides.items()}}
    return Settings(**overrides), worker_env


def create_demo_topics(demo: Demo, settings: Settings) -> None:
    """Step 2a: the topics the worker reads and writes, created as `finsent topics` does."""
    from pipeline.stream.admin import create_topics

    demo.console.print(f"[bold]2/{STEPS}[/] creating topics and starting the worker...")
    create_topics(settings)


def start_worker(demo: Demo, env: dict[str, str], base_url: str) -> None:
    """Step 2b: a `finsent worker` subprocess with `env`, logging to the demo's temporary dir;
    returns once its /ready says so. A worker that exits or is not ready in time ends the demo
    with the tail of its log."""
    demo.worker = spawn_worker(env, demo.worker_log)
    deadline = time.monotonic() + WORKER_READY_S
    while (_get_json(f"{base_url}/ready") or {}).get("ready") is not True:
        if demo.worker.poll() is not None or time.monotonic() > deadline:
            demo.console.print(demo.worker_log.read_text()[-3000:])
            raise SystemExit("worker failed to start; log above")
        time.sleep(0.5)
    demo.console.print(f"[bold]3/{STEPS}[/] worker ready; metrics at {base_url}/metrics")


def follow_alerts(demo: Demo, settings: Settings) -> list[dict[str, Any]]:
    """Step 3: a background reader of the alerts topic; returns the list it fills, which the
    table's caption shows. It stops with the demo (`stop`)."""
    alerts: list[dict[str, Any]] = []
    threading.Thread(
        target=_follow_alerts, args=(settings, alerts, demo.stop_event), daemon=True
    ).start()
    return alerts


def sample_items(n: int, rate: float, start_ms: int) -> list[Item]:
    """`n` sample records, `1/rate` s apart in event time from `start_ms`, validated as the
    worker validates them (so what is sent is what the worker reads)."""
    from pipeline.core.records import Item
    from pipeline.core.validate import parse_obj

    out = []
    records = generate(n, start_ms, spacing_ms=0, seed=int(time.time()), moods=MOODS)
    for i, rec in enumerate(records):
        rec["published_at"] = start_ms + round(i * 1000 / rate)
        item = parse_obj(rec)
        if isinstance(item, Item):
            out.append(item)
    return out


def show_table(live: Live, base_url: str, alerts: list[dict[str, Any]]) -> None:
    """Step 4b: redraw the live table from the worker's current answers."""
    live.update(_table(base_url, alerts))


class _Pace:
    """`publish`'s sleep in the demo: waits in short slices, redrawing the table at most once a
    second, and ends the feed (`_TimeUp`) once `deadline` (monotonic seconds) has passed."""

    def __init__(self, redraw: Callable[[], None], deadline: float | None) -> None:
        self.redraw, self.deadline = redraw, deadline
        self.last_redraw = time.monotonic()

    def check(self) -> None:
        """Raise `_TimeUp` when the demo's `--duration` is over."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise _TimeUp

    def __call__(self, seconds: float) -> None:
        """Sleep `seconds` (as `time.sleep`, which `publish` expects), keeping the table fresh."""
        until = time.monotonic() + seconds
        while (now := time.monotonic()) < until:
            self.check()
            if now - self.last_redraw >= REDRAW_S:
                self.redraw()
                self.last_redraw = time.monotonic()
            time.sleep(min(0.2, until - now))


def feed(
    settings: Settings,
    items: list[Item],
    redraw: Callable[[], None],
    deadline: float | None,
) -> None:
    """Step 4a: send `items` in real time through `finsent replay`'s `publish` (a record is sent
    when the wall clock reaches its event time), news to the news topic and the rest to the
    social one, redrawing the table while waiting; after the last record keep redrawing.
    Returns at `deadline` (monotonic seconds), or never without one (Ctrl-C)."""
    from pipeline.kafka_clients import producer
    from pipeline.replay import publish

    topic_of = {
        it.id: settings.news_topic if it.source == "newswire" else settings.social_topic
        for it in items
    }
    pace = _Pace(redraw, deadline)
    p = producer(settings)

    def send(key: bytes, value: bytes, timestamp_ms: int) -> None:
        """`publish`'s send; checking the deadline here ends even a feed that never sleeps."""
        pace.check()
        p.send(topic_of[key.decode()], key=key, value=value, timestamp_ms=timestamp_ms)

    try:
        publish(items, send, speed=1.0, sleep=pace)
        p.flush()
        pace(math.inf if deadline is None else deadline - time.monotonic())
    except _TimeUp:
        p.flush()
    finally:
        p.close()


def stop(demo: Demo) -> None:
    """The last step, always: stop the alert reader, the worker (SIGTERM, then -9 after 30 s)
    and the broker if the demo started it, and remove the temporary dir."""
    from pipeline.dev import kafka_local

    demo.stop_event.set()
    if demo.worker is not None and demo.worker.poll() is None:
        demo.worker.send_signal(signal.SIGTERM)
        try:
            demo.worker.wait(30)
        except subprocess.TimeoutExpired:
            demo.worker.kill()
    if demo.started_broker:
        kafka_local.stop(demo.broker_dir)
    shutil.rmtree(demo.tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    """The demo, step by step (module docstring); Ctrl-C or SIGTERM at any point stops what was
    started. Exit 0 also after Ctrl-C: stopping is how a demo ends."""
    from rich.console import Console
    from rich.live import Live

    from pipeline.dev import kafka_local

    demo = Demo(Console(), Path(tempfile.mkdtemp(prefix="finsent-demo-")))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bootstrap = start_broker(demo, args.bootstrap)
        port = args.web_port or kafka_local.free_port()
        settings, worker_env = demo_config(bootstrap, port, demo.tmp)
        create_demo_topics(demo, settings)
        base_url = f"http://127.0.0.1:{port}"
        start_worker(demo, worker_env, base_url)
        alerts = follow_alerts(demo, settings)
        demo.console.print(
            f"[bold]4/{STEPS}[/] feeding {args.items} sample items at {args.rate}/s "
            "(Ctrl-C to stop)"
        )
        deadline = time.monotonic() + args.duration if args.duration else None
        with Live(_table(base_url, alerts), console=demo.console, refresh_per_second=2) as live:
            items = sample_items(args.items, args.rate, int(time.time() * 1000))  # from now on
            feed(settings, items, lambda: show_table(live, base_url, alerts), deadline)
            show_table(live, base_url, alerts)
    except KeyboardInterrupt:
        demo.console.print("\nstopping...")
    finally:
        stop(demo)
    return 0
