"""`finsent demo`: the whole product on one machine, in one command, in about a minute.

Usage:
    finsent demo                    # ends by itself a few seconds after Boeing's collapse alert
    finsent demo --follow           # keeps the worker up (table, API, /metrics) until Ctrl-C
    finsent demo --duration 60      # stops 60 s after the live feed started, whatever happened

1. start a local Apache Kafka broker (KRaft) in a temporary dir (jars fetched once, cached);
2. create the topics and publish two days of normal news and social traffic about eight
   tickers, dated in the past (`pipeline.dev.sample.DemoFeed.history`), as fast as it goes;
3. start a `finsent worker` subprocess with the shipped ONNX model; it reads the history in event
   time (the watermark folds it in order) and every ticker gets a baseline of 48 closed hourly
   windows, more than the 24 a z-score needs (`AggregationConfig.baseline_min_windows`);
4. feed the live part in real time, dated now (after the history, so nothing is late): Boeing's
   news turns sour (twelve distinct stories), Nvidia's glows, the others stay normal. The table
   (the worker's /tickers/T answers) shows BA's sentiment z-score fall far below -3, and the
   alert from `sentiment.alerts` is shown with the headlines behind it (its evidence), with the
   URLs to open next. The alert rules are the shipped ones (`pipeline/alert_rules.yaml`).

`run` calls one function per step, in this order: `start_broker`, `demo_config`,
`create_demo_topics`, `publish_history`, `start_worker`, `follow_alerts`, `warm_up`, `feed`
(which redraws the view, `show`, while it waits between records), and `stop` at the end,
whatever happened. Both feeds go out through `finsent replay`'s `publish`, and the demo's
settings are explicit: a `Settings` object for this process and an environment for the worker,
never a change to this process' `os.environ`.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.dev.processes import spawn_worker
from pipeline.dev.sample import DEMO_TICKERS, HOUR_MS, DemoFeed

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from pipeline.config import Settings
    from pipeline.core.records import Item

CAPTION = (
    "this hour: items, unique stories, repeats; score: weighted sentiment of its new stories "
    "(last 5m, 1h, decayed); +/=/-: labels; z: sentiment z-score, this hour vs the ticker's "
    "baseline of `base` closed hours"
)
SEED = 17  # the demo's feed is the same every run, only its dates move
COLLAPSE = ("SentimentCollapse", "BA")  # the alert the demo is there to show
WORKER_READY_S = 180  # the worker loads the model and joins its group within this
WARM_UP_S = 240  # the worker reads the history within this (about 30 s on 2 busy cores)
REDRAW_S = 1.0  # each redraw asks the worker about every ticker: at most once a second
LINGER_S = 5.0  # the demo ends this long after the collapse alert was shown, and the feed sent
GIVE_UP_S = 60.0  # ... or this long after the live feed, if the alert was never shown
IDLE_TIMEOUT_S = "2"  # one producer in event-time order: a quiet partition holds nothing back
STEPS = 5  # the "[n/5]" lines the user sees


def _get_json(url: str) -> Any:
    """The worker's JSON answer at `url`, or None while it cannot answer (starting, stopping)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _samples(base_url: str) -> list[tuple[str, float]]:
    """The worker's /metrics samples as (name, value), [] while it cannot answer."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return []
    return [
        (s.name, float(s.value)) for f in text_string_to_metric_families(text) for s in f.samples
    ]


def progress_line(samples: Sequence[tuple[str, float]], n_items: int, elapsed_s: float) -> str:
    """The warm-up's progress from the worker's metrics: history items read, the event time
    the watermark reached (the lowest of the input partitions') and what waits for it."""
    read = sum(v for n, v in samples if n == "finsent_items_consumed_total")
    waiting = sum(v for n, v in samples if n == "finsent_pending_records")
    marks = [v for n, v in samples if n == "finsent_watermark_timestamp_seconds" and v > 0]
    line = (
        f"{4}/{STEPS} warming the baseline: {min(int(read), n_items):,}/{n_items:,} history "
        f"items read in {elapsed_s:.0f} s"
    )
    if marks:
        line += f", event time {_utc(int(min(marks) * 1000))}"
    if waiting:
        line += f", {int(waiting):,} waiting for the watermark"
    return line


def _utc(ms: int) -> str:
    """Epoch ms as a UTC minute, how the demo prints event times."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def urls(base_url: str, ticker: str = "BA") -> list[str]:
    """What a user can open next while the worker runs: its metrics, the ticker's state and its
    recent alerts with their evidence (the worker's HTTP API)."""
    return [
        f"{base_url}/metrics",
        f"{base_url}/tickers/{ticker}",
        f"{base_url}/alerts?ticker={ticker}",
    ]


def ticker_table(answers: dict[str, Any], title: str) -> Table:
    """The per-ticker table from the worker's /tickers/T answers (`answers`: ticker -> JSON or
    None); a ticker the worker has no state for yet is a row of dashes."""
    from rich.table import Table

    t = Table(title=title, caption=CAPTION, expand=False)
    for col in ("ticker", "items", "uniq", "rep", "5m", "1h", "decay", "+/=/-", "z", "base"):
        t.add_column(col, justify="right" if col != "ticker" else "left")

    def fmt(x: float | None) -> str:
        if x is None:
            return "-"
        colour = "green" if x > 0.15 else "red" if x < -0.15 else "white"
        return f"[{colour}]{x:+.2f}[/{colour}]"

    for sym in DEMO_TICKERS:
        d = answers.get(sym) or {}
        windows = d.get("windows") or {}
        if "1h" not in windows or "5m" not in windows:
            t.add_row(sym, *["-"] * 9)
            continue
        h, m5 = windows["1h"], windows["5m"]
        z = d.get("sentiment_z")
        z_text = "-" if z is None else f"{z:+.1f}"
        if z is not None and abs(z) > 3:
            z_text = f"[bold {'red' if z < 0 else 'green'}]{z_text}[/]"
        baseline = d.get("baseline_windows")
        t.add_row(
            sym,
            str(h["count"]),
            str(h["unique"]),
            str(h["duplicates"]),
            fmt(m5["mean_score"]),
            fmt(h["mean_score"]),
            fmt((d.get("decayed") or {}).get("1h")),
            f"{h['positive']}/{h['neutral']}/{h['negative']}",
            z_text,
            "-" if baseline is None else str(baseline),
        )
    return t


def alert_panel(alert: dict[str, Any]) -> RenderableType:
    """One alert event from `sentiment.alerts` as a user reads it: rule, ticker, the value
    against its threshold, the window, and the headlines behind it (its evidence)."""
    from rich.panel import Panel
    from rich.table import Table

    values = alert.get("values") or {}
    signal_name = next(iter(values), "value")  # the rule's signal comes first (core.alerts)
    value, threshold = values.get(signal_name), values.get("threshold")
    head = (
        f"[bold]{alert.get('summary') or alert['rule']}[/]  ({alert['rule']}, "
        f"{alert.get('severity', '?')})\n{signal_name} {_num(value)} vs threshold "
        f"{_num(threshold)}, on {values.get('unique', '?')} unique stories "
        f"({values.get('count', '?')} items) in the {alert.get('window', '?')} window from "
        f"{_utc(int(alert['window_start_ms']))}"
    )
    evidence = Table.grid(padding=(0, 1))
    for e in alert.get("evidence", []):
        colour = "red" if e["score"] < 0 else "green"
        evidence.add_row(f"[{colour}]{e['score']:+.2f}[/]", e.get("source", ""), e["text"])
    colour = "red" if alert.get("severity") == "critical" else "yellow"
    return Panel.fit(
        _group(head, "[dim]the headlines behind it:[/]", evidence),
        title=f"ALERT {alert['rule']} {alert['ticker']}",
        border_style=colour,
    )


def _num(x: object) -> str:
    """A value of an alert, signed with two decimals (or as it is when not a number)."""
    return f"{x:+.2f}" if isinstance(x, int | float) else str(x)


def _group(*parts: RenderableType) -> RenderableType:
    """`parts` one below the other."""
    from rich.console import Group

    return Group(*parts)


@dataclass
class Show:
    """What the live view shows and when the demo ends: the alerts the worker published for the
    live part (the history raises none), the time the collapse was first shown, and the
    options that decide the end (`deadline`)."""

    base_url: str
    live_from_ms: int  # event time of the live part's first record
    follow: bool = False
    duration_end: float | None = None  # monotonic: --duration's end
    alerts: list[dict[str, Any]] = field(default_factory=list)  # every alert, filled by a thread
    collapse_at: float | None = None  # monotonic: when the collapse was first shown
    feed_done_at: float | None = None  # monotonic: when the last live record was sent

    def live_alerts(self) -> list[dict[str, Any]]:
        """The alerts of the live part, in the order they came."""
        return [a for a in list(self.alerts) if a.get("event_ms", 0) >= self.live_from_ms]

    def collapse(self) -> dict[str, Any] | None:
        """The live part's SentimentCollapse on BA, once the worker published it."""
        return next(
            (a for a in self.live_alerts() if (a.get("rule"), a.get("ticker")) == COLLAPSE), None
        )

    def deadline(self) -> float | None:
        """When the demo ends (monotonic seconds), None: not yet known. `--duration` always
        ends it; `--follow` waits for Ctrl-C; else a few seconds after the collapse was shown,
        and the whole live feed sent (its last records then fold: the watermark passes them
        once the partitions go idle), or `GIVE_UP_S` after the feed if it never was."""
        ends = [self.duration_end] if self.duration_end is not None else []
        if not self.follow and self.feed_done_at is not None:
            if self.collapse_at is not None:
                ends.append(max(self.collapse_at, self.feed_done_at) + LINGER_S)
            ends.append(self.feed_done_at + GIVE_UP_S)
        return min(ends) if ends else None

    def view(self) -> RenderableType:
        """The table as the worker sees it now, the live alerts below it, the URLs at the end."""
        answers = {s: _get_json(f"{self.base_url}/tickers/{s}") for s in DEMO_TICKERS}
        title = f"finsent live: what the worker knows per ticker ({self.base_url}/tickers/T)"
        parts: list[RenderableType] = [ticker_table(answers, title)]
        parts += [alert_panel(a) for a in self.live_alerts()[-3:]]
        if self.collapse() is not None:
            if self.collapse_at is None:
                self.collapse_at = time.monotonic()
            parts.append("open next (while the worker runs): " + "  ".join(urls(self.base_url)))
        return _group(*parts)


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent demo`'s options: how much history, how much live feed, how fast, how long."""
    parser.add_argument(
        "--history-hours",
        type=int,
        default=48,
        help="hours of past traffic that warm the baseline (a z-score needs 24 closed hours)",
    )
    parser.add_argument(
        "--items",
        type=int,
        default=36,
        help="normal live items for the six other tickers, besides Boeing's and Nvidia's news",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="live items per second")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop this many seconds after the live feed started (default: a few seconds "
        "after the feed and the collapse alert)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep the worker, table and API up after the feed, until Ctrl-C",
    )
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="use this broker instead of starting a local one (its topics in a namespace of "
        "their own, demo-<time>-<pid>)",
    )
    parser.add_argument(
        "--web-port", type=int, default=None, help="the worker's HTTP port (default: a free one)"
    )


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
    """The demo's end has come: raised from inside the feed's pacing to end it where it is."""


def start_broker(demo: Demo, bootstrap: str | None) -> str:
    """Step 1: the broker to use, `--bootstrap` if given, else a local one started in the demo's
    temporary dir (stopped again by `stop`). Returns its bootstrap address."""
    from pipeline.dev import kafka_local

    if bootstrap is not None:
        return bootstrap
    demo.console.print(f"[bold]1/{STEPS}[/] starting a local Apache Kafka broker...")
    demo.started_broker = True
    return kafka_local.start(demo.broker_dir).bootstrap


def demo_config(
    bootstrap: str, web_port: int, tmp: Path, *, namespace: str = ""
) -> tuple[Settings, dict[str, str]]:
    """The demo's settings, for this process (a `Settings`) and for the worker (its
    environment), from the same overrides so both sides agree: the broker, the worker's web
    port on localhost, its state under `tmp`, a fresh consumer group (no offsets of an earlier
    demo), `namespace` for the topics (on a broker the demo did not start), and input
    partitions reported idle after 2 s instead of 30 unless the user set their own (the demo
    is one producer in event-time order, so a quiet partition holds nothing older back).
    The analytics and the alert rules are the product's defaults (or the user's own): the
    history gives every ticker more than the 24 baseline hours a z-score needs. Every other
    FINSENT_* setting of the user's environment or `.env` applies to both."""
    from pipeline.config import Settings, env_name

    overrides = {
        "bootstrap_servers": bootstrap,
        "web_port": str(web_port),
        "web_host": "127.0.0.1",
        "data_dir": str(tmp / "worker"),
        "app_id": f"finsent-demo-{int(time.time())}",
    }
    if namespace:
        overrides["namespace"] = namespace
    if "idle_timeout_s" not in Settings().model_fields_set:
        overrides["idle_timeout_s"] = IDLE_TIMEOUT_S
    worker_env = {**os.environ, **{env_name(k): v for k, v in overrides.items()}}
    return Settings(**overrides), worker_env


def create_demo_topics(demo: Demo, settings: Settings) -> None:
    """Step 2a: the topics the worker reads and writes, created as `finsent topics` does."""
    from pipeline.stream.admin import create_topics

    demo.console.print(f"[bold]2/{STEPS}[/] creating topics...")
    create_topics(settings)


def to_items(records: Iterable[dict[str, Any]]) -> list[Item]:
    """The records validated as the worker validates them (so what is sent is what the worker
    reads); a record the core rejects is a bug in the sample feed, so it raises."""
    from pipeline.core.records import Item
    from pipeline.core.validate import parse_obj

    out = []
    for rec in records:
        item = parse_obj(rec)
        if not isinstance(item, Item):
            raise ValueError(f"sample record {rec.get('id')}: {item.reason}: {item.detail}")
        out.append(item)
    return out


def history_items(feed: DemoFeed, now_ms: int, hours: int) -> list[Item]:
    """`hours` of normal traffic ending at the top of the current hour, so the live part has
    its own hour: the 1h window its z-scores compare with the baseline."""
    return to_items(feed.history(now_ms - now_ms % HOUR_MS, hours))


def live_items(feed: DemoFeed, now_ms: int, normal_items: int, rate: float) -> list[Item]:
    """The live part, dated from `now_ms` on, `1/rate` s apart (`DemoFeed.live`)."""
    return to_items(feed.live(now_ms, normal_items=normal_items, rate=rate))


def _sender(settings: Settings, items: Sequence[Item], producer: Any) -> Callable[..., None]:
    """`publish`'s send: news to the news topic, the rest to the social one."""
    topic_of = {
        it.id: settings.news_topic if it.source == "newswire" else settings.social_topic
        for it in items
    }

    def send(key: bytes, value: bytes, timestamp_ms: int) -> None:
        producer.send(topic_of[key.decode()], key=key, value=value, timestamp_ms=timestamp_ms)

    return send


def publish_history(demo: Demo, settings: Settings, items: Sequence[Item]) -> None:
    """Step 2b: the history into the input topics as fast as the producer goes, in event-time
    order, each record with its past event time (as `published_at` and the Kafka timestamp)."""
    from pipeline.kafka_clients import producer
    from pipeline.replay import publish

    demo.console.print(
        f"[bold]2/{STEPS}[/] publishing {len(items):,} history items, "
        f"{_utc(items[0].published_at_ms)} to {_utc(items[-1].published_at_ms)}..."
    )
    p = producer(settings)
    try:
        publish(items, _sender(settings, items, p))
        p.flush()
    finally:
        p.close()


def start_worker(demo: Demo, env: dict[str, str], base_url: str) -> None:
    """Step 3: a `finsent worker` subprocess with `env`, logging to the demo's temporary dir;
    returns once its /ready says so. A worker that exits or is not ready in time ends the demo
    with the tail of its log."""
    demo.console.print(f"[bold]3/{STEPS}[/] starting the worker (shipped model)...")
    demo.worker = spawn_worker(env, demo.worker_log)
    deadline = time.monotonic() + WORKER_READY_S
    while (_get_json(f"{base_url}/ready") or {}).get("ready") is not True:
        _check_worker(demo)
        if time.monotonic() > deadline:
            _worker_failed(demo, "worker not ready in time")
        time.sleep(0.5)
    demo.console.print(f"[bold]3/{STEPS}[/] worker ready; metrics at {base_url}/metrics")


def _check_worker(demo: Demo) -> None:
    """End the demo with the worker's log if the worker has exited."""
    if demo.worker is not None and demo.worker.poll() is not None:
        _worker_failed(demo, f"worker exited with {demo.worker.returncode}")


def _worker_failed(demo: Demo, why: str) -> None:
    """Show the tail of the worker's log and end the demo."""
    demo.console.print(demo.worker_log.read_text(errors="replace")[-3000:])
    raise SystemExit(f"{why}; log above")


def _follow_alerts(settings: Settings, sink: list[dict[str, Any]], stop: threading.Event) -> None:
    """Append every alert event the worker publishes to `sink` until `stop` is set."""
    from pipeline.kafka_clients import consumer

    c = consumer(settings, settings.alerts_topic, group_id=None)
    while not stop.is_set():
        for records in c.poll(timeout_ms=500).values():
            sink.extend(json.loads(r.value) for r in records)
    c.close()


def follow_alerts(demo: Demo, settings: Settings, sink: list[dict[str, Any]]) -> None:
    """A background reader of the alerts topic into `sink`, which the view shows. It stops with
    the demo (`stop`)."""
    threading.Thread(
        target=_follow_alerts, args=(settings, sink, demo.stop_event), daemon=True
    ).start()


def warm_up(demo: Demo, base_url: str, n_items: int) -> None:
    """Step 4: wait, with a progress line, until the worker has read the history and nothing
    waits for the watermark: every ticker's baseline then holds the history's closed hours."""
    from rich.live import Live

    t0 = time.monotonic()
    line = ""
    # transient, then printed once: a terminal keeps one line, a pipe gets one line too
    with Live("", console=demo.console, refresh_per_second=4, transient=True) as live:
        while True:
            _check_worker(demo)
            samples = _samples(base_url)
            line = progress_line(samples, n_items, time.monotonic() - t0)
            live.update(line)
            read = sum(v for n, v in samples if n == "finsent_items_consumed_total")
            waiting = sum(v for n, v in samples if n == "finsent_pending_records")
            if read >= n_items and not waiting:
                break
            if time.monotonic() - t0 > WARM_UP_S:
                line += "; not done in time, going on with the live part"
                break
            time.sleep(0.5)
    demo.console.print(line)


class _Pace:
    """`publish`'s sleep in the demo: waits in short slices, redrawing the view at most once a
    second, and ends the feed (`_TimeUp`) once `deadline()` (monotonic seconds) has passed."""

    def __init__(self, redraw: Callable[[], None], deadline: Callable[[], float | None]) -> None:
        self.redraw, self.deadline = redraw, deadline
        self.last_redraw = time.monotonic()

    def check(self) -> None:
        """Raise `_TimeUp` when the demo's end has come."""
        end = self.deadline()
        if end is not None and time.monotonic() >= end:
            raise _TimeUp

    def __call__(self, seconds: float) -> None:
        """Sleep `seconds` (as `time.sleep`, which `publish` expects), keeping the view fresh."""
        until = time.monotonic() + seconds
        while (now := time.monotonic()) < until:
            self.check()
            if now - self.last_redraw >= REDRAW_S:
                self.redraw()
                self.last_redraw = time.monotonic()
            time.sleep(min(0.2, until - now))


def feed(
    settings: Settings,
    items: Sequence[Item],
    redraw: Callable[[], None],
    deadline: Callable[[], float | None],
    done: Callable[[], None] = lambda: None,
) -> None:
    """Step 5: send `items` in real time through `finsent replay`'s `publish` (a record is sent
    when the wall clock reaches its event time), news to the news topic and the rest to the
    social one, redrawing the view while waiting; `done` is called after the last record, and
    the view is redrawn until `deadline()` (monotonic seconds; None: not yet known, Ctrl-C)."""
    from pipeline.kafka_clients import producer
    from pipeline.replay import publish

    pace = _Pace(redraw, deadline)
    p = producer(settings)
    send = _sender(settings, items, p)

    def paced_send(key: bytes, value: bytes, timestamp_ms: int) -> None:
        """Checking the deadline here ends even a feed that never sleeps."""
        pace.check()
        send(key, value, timestamp_ms)

    try:
        publish(items, paced_send, speed=1.0, sleep=pace)
        p.flush()
        done()
        pace(math.inf)
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
    started. Exit 0 also after Ctrl-C (stopping is how a demo ends); 1 when a default run ends
    without the collapse alert shown."""
    from rich.console import Console
    from rich.live import Live

    from pipeline.dev import kafka_local

    if args.history_hours < 1 or args.items < 0 or args.rate <= 0:
        raise SystemExit("finsent demo: --history-hours >= 1, --items >= 0 and --rate > 0")
    demo = Demo(Console(), Path(tempfile.mkdtemp(prefix="finsent-demo-")))
    signal.signal(signal.SIGTERM, _interrupt)
    failed = False
    try:
        bootstrap = start_broker(demo, args.bootstrap)
        port = args.web_port or kafka_local.free_port()
        namespace = f"demo-{int(time.time())}-{os.getpid()}" if args.bootstrap else ""
        settings, worker_env = demo_config(bootstrap, port, demo.tmp, namespace=namespace)
        create_demo_topics(demo, settings)
        sample = DemoFeed(SEED)
        history = history_items(sample, int(time.time() * 1000), args.history_hours)
        publish_history(demo, settings, history)
        base_url = f"http://127.0.0.1:{port}"
        start_worker(demo, worker_env, base_url)
        alerts: list[dict[str, Any]] = []
        follow_alerts(demo, settings, alerts)
        warm_up(demo, base_url, len(history))
        live = live_items(sample, int(time.time() * 1000), args.items, args.rate)
        show = Show(base_url, live[0].published_at_ms, follow=args.follow, alerts=alerts)
        if args.duration:
            show.duration_end = time.monotonic() + args.duration
        demo.console.print(
            f"[bold]5/{STEPS}[/] live: {len(live)} items at {args.rate}/s from "
            f"{_utc(live[0].published_at_ms)}: Boeing's news turns sour, Nvidia's glows"
            + (" (Ctrl-C to stop)" if args.follow else " (ends by itself; Ctrl-C stops it)")
        )
        view = show.view()
        with Live(view, console=demo.console, refresh_per_second=2, transient=True) as screen:

            def redraw() -> None:
                nonlocal view
                _check_worker(demo)
                view = show.view()
                screen.update(view)

            feed(settings, live, redraw, show.deadline, done=lambda: _done(show))
            redraw()
        demo.console.print(view)
        _summary(demo.console, show)
        failed = show.collapse() is None and not args.duration and not args.follow
    except KeyboardInterrupt:
        demo.console.print("\nstopping...")
    finally:
        stop(demo)
    return 1 if failed else 0


def _done(show: Show) -> None:
    """The live feed is all sent: the give-up clock starts."""
    show.feed_done_at = time.monotonic()


def _summary(console: Console, show: Show) -> None:
    """The last lines: what the worker read (and that nothing was late: history and live part
    join in event time), then the collapse alert and the URLs, or why it was not shown."""
    samples = _samples(show.base_url)
    read = sum(v for n, v in samples if n == "finsent_items_consumed_total")
    late = sum(v for n, v in samples if n == "finsent_late_records_total")
    console.print(f"the worker read {int(read):,} items, {int(late)} late")
    alert = show.collapse()
    if alert is None:
        console.print(
            "[bold red]no SentimentCollapse alert for BA was shown[/] "
            f"({len(show.live_alerts())} other live alerts); the worker's log has the details"
        )
        return
    z = alert["values"].get("sentiment_z")
    console.print(
        f"[bold]{alert['rule']} fired for {alert['ticker']}[/]: sentiment z {_num(z)} "
        f"on {alert['values'].get('unique')} unique stories; "
        f"{len(alert.get('evidence', []))} headlines as evidence (above). "
        "`finsent demo --follow` keeps the worker up, to open the URLs above, until Ctrl-C."
    )
