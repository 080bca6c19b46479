"""Test harness for broker tests: isolated topic names per test, a real `finsent worker` in a
subprocess, and small produce/consume/metrics helpers. Used by every tests/integration module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.dev.kafka_local import free_port
from pipeline.dev.processes import spawn_worker
from pipeline.stream.admin import create_topics


@dataclass
class Env:
    """One isolated deployment: unique app id and topic names on the shared test broker."""

    bootstrap: str
    tmp: Path
    overrides: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    web_port: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        p = self.prefix
        e = {
            "FINSENT_BOOTSTRAP_SERVERS": self.bootstrap,
            "FINSENT_APP_ID": f"{p}-finsent",
            "FINSENT_NEWS_TOPIC": f"{p}.news.raw",
            "FINSENT_SOCIAL_TOPIC": f"{p}.social.raw",
            "FINSENT_SCORED_TOPIC": f"{p}.sentiment.scored",
            "FINSENT_AGGREGATES_TOPIC": f"{p}.sentiment.aggregates",
            "FINSENT_ALERTS_TOPIC": f"{p}.sentiment.alerts",
            "FINSENT_ALERT_MARKS_TOPIC": f"{p}.sentiment.alert_marks",
            "FINSENT_REVIEW_TOPIC": f"{p}.sentiment.review",
            "FINSENT_PARTITIONS": "2",
            "FINSENT_WEB_PORT": str(self.web_port),
            "FINSENT_WEB_HOST": "127.0.0.1",
            "FINSENT_DATA_DIR": str(self.tmp / p),
            # Feeds here fill a few partitions and stop: the others (and, at the end, all) go
            # idle after this long, instead of the default 30 s, so a test does not wait for it.
            "FINSENT_IDLE_TIMEOUT_S": "2",
        }
        e.update(self.overrides)
        return e

    def settings(self) -> Settings:
        old = dict(os.environ)
        try:
            os.environ.update(self.env())
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(old)

    def create_topics(self) -> None:
        create_topics(self.settings())


class Worker:
    """`finsent worker` as a real subprocess; `stop()` sends SIGTERM like Kubernetes does."""

    def __init__(self, env: Env, log_path: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path or env.tmp / f"{env.prefix}-worker-{time.time_ns()}.log"
        full_env = {**os.environ, **env.env()}
        self.proc = spawn_worker(full_env, self.log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env.web_port}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready in {timeout_s}s:\n{self.log()}")

    def metrics(self) -> str:
        return self.get("/metrics")[1].decode()

    def drained(self, topics: Iterable[str]) -> bool:
        """A positive end-of-stream marker: every partition of `topics` this worker consumes is
        committed to its log end, no record waits for the watermark and no window update waits
        for its interval. Everything produced before the call has then been scored, folded and
        published."""
        status, body = self.get("/live")
        lag = json.loads(body).get("lag", {}) if status == 200 else {}
        if not set(topics) <= set(lag) or any(lag.values()):
            return False
        text = self.metrics()
        return (
            sample_value(text, "finsent_pending_records") == 0
            and sample_value(text, "finsent_unpublished_updates") == 0
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, timeout_s: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sample_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of one sample in Prometheus text exposition, or None if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(s.value)
    return None


def produce(env: Env, topic: str, records: Iterable[tuple[bytes | None, bytes, int | None]]) -> int:
    """Send (key, value, timestamp_ms) records and wait for every ack."""
    from pipeline.kafka_clients import producer

    p = producer(env.settings())
    n = 0
    for key, value, ts in records:
        p.send(topic, key=key, value=value, timestamp_ms=ts)
        n += 1
    p.flush()
    p.close()
    return n


def consume_all(
    env: Env,
    topic: str,
    *,
    expect: int,
    timeout_s: float = 120.0,
    keep: Callable[[Any], bool] = lambda record: True,
) -> list[Any]:
    """Records on `topic` from the beginning that `keep` accepts, until `expect` of them (or
    `timeout_s`). Only positive ends: to see everything a topic holds, `read_to_end`; to judge
    that nothing more comes, first wait for a positive marker such as `Worker.drained`."""
    from pipeline.kafka_clients import consumer

    c = consumer(env.settings(), topic, group_id=None, consumer_timeout_ms=500)
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(out) < expect:
            for records in c.poll(timeout_ms=500).values():
                out.extend(r for r in records if keep(r))
    finally:
        c.close()
    return out


def json_values(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def scored_only(record: Any) -> bool:
    """A record of `sentiment.scored` that is a scored item, not a watermark record."""
    from pipeline.stream.watermarks import is_watermark_record

    return not is_watermark_record(record)


def wait_for(predicate: Any, timeout_s: float = 120.0, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError("condition not met in time")


class PrometheusServer:
    """A real `prometheus` server (Debian's package) scraping `targets` every `interval`, with
    `rules_file` loaded and evaluated at the same interval; `stop()` terminates it."""

    def __init__(
        self,
        tmp: Path,
        targets: Iterable[str],
        rules_file: Path | None = None,
        binary: str = "prometheus",
        interval: str = "1s",
    ) -> None:
        self.port = free_port()
        self.dir = tmp / f"prometheus-{self.port}"
        self.dir.mkdir(parents=True)
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(rules_file)] if rules_file else [],
            "scrape_configs": [
                {"job_name": "finsent", "static_configs": [{"targets": list(targets)}]}
            ],
        }
        (self.dir / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
        self.log_path = self.dir / "prometheus.log"
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        """`data` of a Prometheus HTTP API answer; raises on status != success."""
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant-query result vector (empty list: no data)."""
        return list(self.api("/api/v1/query", query=expr)["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/alerts")["alerts"])

    def _times(self) -> tuple[list[float], list[float]]:
        """(last scrape of every target, last evaluation of every rule group), Unix seconds."""
        from datetime import datetime

        def ts(text: str) -> float:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

        scrapes = [ts(tg["lastScrape"]) for tg in self.api("/api/v1/targets")["activeTargets"]]
        groups = [ts(g["lastEvaluation"]) for g in self.api("/api/v1/rules")["groups"]]
        return scrapes, groups

    def wait_evaluated_since(self, t: float, timeout_s: float = 60) -> None:
        """A positive marker for "nothing else fires": wait until every target was scraped
        after `t` (Unix seconds), then until every rule group was evaluated after that scrape.
        Two phases, because a scrape and an evaluation on the same interval keep their order."""
        scraped = wait_for(
            lambda: (sc := self._times()[0]) and min(sc) > t and max(sc), timeout_s, 0.5
        )
        wait_for(lambda: (g := self._times()[1]) and min(g) > scraped, timeout_s, 0.5)

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(ready, timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def read_to_end(env: Env, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record on `topic` up to its end offsets (`kafka_clients.read_to_end`)."""
    from pipeline.kafka_clients import read_to_end as read

    return read(env.settings(), topic, timeout_s)
