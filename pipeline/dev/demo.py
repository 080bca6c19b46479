"""`finsent demo`: the whole product on one machine, in one command.

Usage:
    finsent demo                    # Ctrl-C stops everything it started
    finsent demo --duration 60      # stop by itself after a minute (prints the final table)

1. start a local Apache Kafka broker (KRaft) in a temporary dir (jars fetched once, cached);
2. create the topics and start a `finsent worker` subprocess with the shipped ONNX model;
3. feed the bundled sample feed (`pipeline.dev.sample`) through Kafka in real time: a few hundred
   news and social items about eight tickers, Boeing's news turning sour and Nvidia's glowing;
4. show a live per-ticker table (read from the worker's /tickers endpoint) and alert events.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.dev.sample import COMPANIES, generate

MOODS = {"BA": "negative", "NVDA": "positive"}


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _table(base_url: str, alerts: list[dict[str, Any]]) -> Any:
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


def _follow_alerts(settings: Any, sink: list[dict[str, Any]], stop: threading.Event) -> None:
    from pipeline.kafka_clients import consumer

    c = consumer(settings, settings.alerts_topic, group_id=None)
    while not stop.is_set():
        for records in c.poll(timeout_ms=500).values():
            sink.extend(json.loads(r.value) for r in records)
    c.close()


def configure(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from pipeline.config import Settings
    from pipeline.dev import kafka_local
    from pipeline.kafka_clients import producer
    from pipeline.stream.admin import create_topics

    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="finsent-demo-"))
    broker_dir = tmp / "broker"
    started_broker = args.bootstrap is None
    worker: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if started_broker:
            console.print("[bold]1/4[/] starting a local Apache Kafka broker...")
            bootstrap = kafka_local.start(broker_dir).bootstrap
        else:
            bootstrap = args.bootstrap
        port = args.web_port or kafka_local.free_port()
        env = {
            **os.environ,
            "FINSENT_BOOTSTRAP_SERVERS": bootstrap,
            "FINSENT_WEB_PORT": str(port),
            "FINSENT_WEB_HOST": "127.0.0.1",
            "FINSENT_DATA_DIR": str(tmp / "worker"),
            "FINSENT_APP_ID": f"finsent-demo-{int(time.time())}",
            "FINSENT_BASELINE_MIN_WINDOWS": os.environ.get("FINSENT_BASELINE_MIN_WINDOWS", "3"),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("FINSENT_")})
        settings = Settings()
        console.print("[bold]2/4[/] creating topics and starting the worker...")
        create_topics(settings)
        log = (tmp / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while (_get_json(f"{base_url}/ready") or {}).get("ready") is not True:
            if worker.poll() is not None or time.monotonic() > deadline:
                console.print((tmp / "worker.log").read_text()[-3000:])
                raise SystemExit("worker failed to start; log above")
            time.sleep(0.5)
        console.print(f"[bold]3/4[/] worker ready; metrics at {base_url}/metrics")
        alerts: list[dict[str, Any]] = []
        threading.Thread(target=_follow_alerts, args=(settings, alerts, stop), daemon=True).start()
        p = producer(settings)
        console.print(
            f"[bold]4/4[/] feeding {args.items} sample items at {args.rate}/s (Ctrl-C to stop)"
        )
        t_end = time.monotonic() + args.duration if args.duration else None
        items = generate(
            args.items, int(time.time() * 1000), spacing_ms=0, seed=int(time.time()), moods=MOODS
        )
        with Live(_table(base_url, alerts), console=console, refresh_per_second=2) as live:
            last = 0.0
            while t_end is None or time.monotonic() < t_end:
                rec = next(items, None)
                if rec is not None:
                    rec["published_at"] = int(time.time() * 1000)
                    topic = (
                        settings.news_topic
                        if rec["source"] == "newswire"
                        else settings.social_topic
                    )
                    p.send(topic, key=rec["id"].encode(), value=json.dumps(rec).encode())
                if time.monotonic() - last > 1.0:
                    live.update(_table(base_url, alerts))
                    last = time.monotonic()
                time.sleep(1 / args.rate)
            live.update(_table(base_url, alerts))
        p.flush()
    except KeyboardInterrupt:
        console.print("\nstopping...")
    finally:
        stop.set()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if started_broker:
            kafka_local.stop(broker_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
