"""End to end with a real Alertmanager (Debian's `prometheus-alertmanager`): alerts posted to its
API are grouped and sent to `finsent notify`, which asks an evidence API (a small aiohttp app
serving the `GET /alerts` contract) and forwards the enriched message to a sink that records
what arrives. With the API up the message carries the headlines and both links; with the API
down (or too slow) the notification still arrives, marked as not enriched, and the failure is
counted. Every wait is for a positive event (the sink received a message), with a deadline."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import REPO_DIR, Settings
from pipeline.notify import message as msg
from pipeline.notify.server import build_app
from pipeline.rules_render import RULES_FILE

pytestmark = pytest.mark.prometheus
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
DEADLINE_S = 60.0
TOKEN = "s3cret-read-token"
HOUR = 3_600_000
LINK = re.compile(r"<([^|>]+)\|(\w+)>")  # a Slack mrkdwn link: <url|label>


@pytest.fixture(autouse=True)
def _needs_alertmanager() -> None:
    if ALERTMANAGER is None:
        if os.environ.get("CI"):
            pytest.fail("no prometheus-alertmanager: apt-get install prometheus-alertmanager")
        pytest.skip("no prometheus-alertmanager: apt-get install prometheus-alertmanager")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """`app` on a free local port; yields its base URL, stops it on exit."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Sink:
    """The destination webhook: records every message it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/hook", self._hook)

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self.changed:
            self.received.append(body)
            self.changed.notify_all()
        return web.json_response({"ok": True})

    async def wait_for(self, n: int) -> list[dict[str, Any]]:
        """The first `n` messages, once they are there (fails past DEADLINE_S)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.received) >= n), DEADLINE_S
            )
            return list(self.received[:n])


def evidence_api(
    alerts: list[dict[str, Any]], seen: list[web.Request], hang: asyncio.Event | None = None
) -> web.Application:
    """`GET /alerts?ticker=&since=&limit=` as the query API answers it (newest first), behind
    the bearer token; with `hang`, it does not answer until the event is set."""

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        if hang is not None:
            await hang.wait()
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        ticker = request.query["ticker"]
        since = int(request.query.get("since", "0"))
        limit = int(request.query.get("limit", "50"))
        rows = [a for a in alerts if a["ticker"] == ticker and a["event_ms"] >= since]
        rows.sort(key=lambda a: -a["event_ms"])
        return web.json_response({"alerts": rows[:limit]})

    app = web.Application()
    app.router.add_get("/alerts", handler)
    return app


def in_stream_alert(rule: str, ticker: str, event_ms: int, headlines: list[str]) -> dict[str, Any]:
    """An alert as `sentiment.alerts` carries it (`Alert.to_dict()`), plus the API's mark."""
    start = event_ms - event_ms % HOUR
    return {
        "type": "alert",
        "id": f"{rule}:{ticker}:1h:{start}",
        "rule": rule,
        "ticker": ticker,
        "severity": "critical",
        "window": "1h",
        "window_start_ms": start,
        "event_ms": event_ms,
        "values": {"sentiment_z": -4.4, "count": 9, "unique": 7},
        "summary": f"Sentiment collapse on {ticker}",
        "evidence": [
            {
                "id": f"n{k}",
                "source": "newswire",
                "score": -0.95 + 0.05 * k,
                "weight": 0.9,
                "text": t,
            }
            for k, t in enumerate(headlines)
        ],  # fmt: skip
        "false_positive": None,
    }


def rendered_alert(name: str, ticker: str, starts: datetime) -> dict[str, Any]:
    """What Prometheus would send Alertmanager for rule `name` on `ticker`: the committed render's
    labels and annotations, its `{{ $labels.ticker | urlquery }}` expanded."""
    groups = yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == name)
    annotations = {
        k: v.replace("{{ $labels.ticker | urlquery }}", ticker).replace(
            "{{ $labels.ticker }}", ticker
        )
        for k, v in rule["annotations"].items()
        if "$value" not in v
    }
    return {
        "labels": {"alertname": name, "ticker": ticker, "window": "1h", **rule["labels"]},
        "annotations": annotations,
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.example/graph",
    }


@asynccontextmanager
async def alertmanager(tmp: Path, webhook: str) -> AsyncIterator[str]:
    """A real Alertmanager routing everything to `webhook` after a 1 s group_wait."""
    port = _free_port()
    config = {
        "route": {
            "receiver": "finsent-notify",
            "group_by": ["alertname", "ticker"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "finsent-notify",
                "webhook_configs": [{"url": webhook, "send_resolved": False}],
            }
        ],
    }
    (tmp / "am.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "alertmanager.log").open("w")
    assert ALERTMANAGER is not None
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/-/ready", proc, tmp / "alertmanager.log")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def post_alerts(am: str, alerts: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{am}/api/v2/alerts", json=alerts) as r:
        assert r.status == 200, await r.text()


async def metric(url: str, name: str, labels: dict[str, str]) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not exported")


@asynccontextmanager
async def notify_command(tmp: Path, env: dict[str, str], api: str, sink: str) -> AsyncIterator[str]:
    """`finsent notify` as a child process, configured only by FINSENT_* variables; yields its
    URL once /healthz answers."""
    port = _free_port()
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    child_env = {
        **env,
        "FINSENT_WEB_HOST": "127.0.0.1",
        "FINSENT_NOTIFY_PORT": str(port),
        "FINSENT_NOTIFY_API_URL": api,
        "FINSENT_NOTIFY_TARGET_URL": sink,
        "FINSENT_NOTIFY_HEADLINES": "3",
        "FINSENT_API_READ_AUTH": "true",
        "FINSENT_API_TOKEN_FILE": str(token),
    }
    log = (tmp / "notify.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "notify"],
        env=child_env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/healthz", proc, tmp / "notify.log")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `url` answers 200 (a positive event), failing if the process exits or past the
    deadline."""
    loop = asyncio.get_running_loop()
    until = loop.time() + DEADLINE_S
    async with aiohttp.ClientSession() as s:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert loop.time() < until, f"{url} not ready:\n{log.read_text()}"
            await asyncio.sleep(0.1)


def settings(tmp: Path, api: str, sink: str, timeout_s: float = 2.0) -> Settings:
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    return Settings(
        notify_api_url=api,
        notify_target_url=sink,
        notify_timeout_s=timeout_s,
        notify_headlines=3,
        api_read_auth=True,
        api_token_file=token,
    )


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())


def test_alertmanager_notification_arrives_with_headlines_then_without_when_the_api_is_down(
    tmp_path: Path, clean_finsent_env: dict[str, str]
) -> None:
    """Alertmanager -> `finsent notify` (the command) -> evidence API -> sink."""
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now - timedelta(minutes=3)
    starts_ms = int(starts.timestamp() * 1000)
    headlines = [
        "Boeing halts 737 MAX deliveries after fuselage defect",
        "FAA orders inspections of Boeing jets",
        "Airlines cancel Boeing orders",
        "Boeing CFO: cash burn will widen",
    ]
    stored = [
        in_stream_alert("SentimentCollapse", "BA", starts_ms - 4 * 60_000, headlines),
        in_stream_alert("SentimentCollapse", "BA", starts_ms - 5 * HOUR, ["an older collapse"]),
        in_stream_alert("VolumeSpike", "BA", starts_ms - 60_000, ["a volume spike"]),
    ]
    seen: list[web.Request] = []

    async def main() -> None:
        sink = Sink()
        async with AsyncExitStack() as stack:
            sink_url = await stack.enter_async_context(serve(sink.app))
            api_up = AsyncExitStack()
            stack.push_async_callback(api_up.aclose)
            api_url = await api_up.enter_async_context(serve(evidence_api(stored, seen)))
            notify_url = await stack.enter_async_context(
                notify_command(tmp_path, clean_finsent_env, api_url, f"{sink_url}/hook")
            )
            am = await stack.enter_async_context(
                alertmanager(tmp_path, f"{notify_url}/alertmanager")
            )

            await post_alerts(am, [rendered_alert("SentimentCollapse", "BA", starts)])
            (first,) = await sink.wait_for(1)
            text = first["text"]
            for h in headlines[:3]:
                assert f"newswire: {h}" in text
            assert headlines[3] not in text  # FINSENT_NOTIFY_HEADLINES=3
            assert "an older collapse" not in text and "a volume spike" not in text
            assert "Not enriched" not in text
            links = {label: url for url, label in LINK.findall(text)}
            dash = urlsplit(links["dashboard"])
            q = parse_qs(dash.query)
            assert dash.path == "/d/finsent-ticker-drilldown/" and q["var-ticker"] == ["BA"]
            assert q["from"] == [str(starts_ms - msg.RANGE_BEFORE_MS)]
            assert q["to"] == [str(starts_ms + msg.RANGE_AFTER_MS)]
            assert links["evidence"].endswith("/alerts?ticker=BA")
            (req,) = seen
            assert req.query["ticker"] == "BA"
            assert int(req.query["since"]) == starts_ms - msg.SINCE_BEFORE_MS
            assert req.headers["Authorization"] == f"Bearer {TOKEN}"
            enriched = await metric(
                notify_url, "finsent_notify_alerts_total", {"result": "enriched"}
            )
            assert enriched == 1

            await api_up.aclose()  # the API goes down
            await post_alerts(am, [rendered_alert("SentimentCollapse", "NVDA", starts)])
            _, second = await sink.wait_for(2)
            text = second["text"]
            assert "*[FIRING] SentimentCollapse NVDA (critical)*" in text
            assert "_Not enriched: headlines not available: the evidence API is " in text
            assert "unreachable" in text and "Top headlines" not in text
            assert "var-ticker=NVDA" in text and "/alerts?ticker=NVDA|evidence>" in text
            name = "finsent_notify_enrichment_failures_total"
            assert await metric(notify_url, name, {"reason": "unreachable"}) == 1

    run(main)


def test_a_slow_api_costs_the_headlines_not_the_notification(tmp_path: Path) -> None:
    """An API that never answers: after FINSENT_NOTIFY_TIMEOUT_S the alert goes out without its
    headlines, saying why; posted to the enricher directly, as Alertmanager would."""
    seen: list[web.Request] = []
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)

    async def main() -> None:
        sink = Sink()
        hang = asyncio.Event()
        async with serve(sink.app) as sink_url, serve(evidence_api([], seen, hang)) as api_url:
            app = build_app(settings(tmp_path, api_url, f"{sink_url}/hook", timeout_s=0.5))
            async with serve(app) as notify_url:
                payload = {
                    "version": "4",
                    "status": "firing",
                    "groupKey": '{}:{alertname="VolumeSpike"}',
                    "alerts": [
                        {**rendered_alert("VolumeSpike", "AMZN", starts), "status": "firing"}
                    ],
                }
                async with (
                    aiohttp.ClientSession() as s,
                    s.post(f"{notify_url}/alertmanager", json=payload) as r,
                ):
                    assert r.status == 200
                (message,) = await sink.wait_for(1)
                assert "did not answer within 0.5 s" in message["text"]
                assert "VolumeSpike AMZN" in message["text"]
                name = "finsent_notify_enrichment_failures_total"
                assert await metric(notify_url, name, {"reason": "timeout"}) == 1
                hang.set()

    run(main)


def test_a_target_that_refuses_gets_alertmanager_to_retry(tmp_path: Path) -> None:
    """A 5xx from the target is answered with 502, which Alertmanager retries; a body that is
    not a webhook is a 400 that says why."""

    async def refuse(_request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def main() -> None:
        target = web.Application()
        target.router.add_post("/hook", refuse)
        async with serve(target) as target_url, serve(evidence_api([], [])) as api_url:
            app = build_app(settings(tmp_path, api_url, f"{target_url}/hook"))
            async with serve(app) as notify_url, aiohttp.ClientSession() as s:
                payload = {"version": "4", "status": "firing", "alerts": [{"labels": {}}]}
                async with s.post(f"{notify_url}/alertmanager", json=payload) as r:
                    assert r.status == 502 and "HTTP 503" in await r.text()
                async with s.post(f"{notify_url}/alertmanager", data=b"not json") as r:
                    assert r.status == 400 and "not JSON" in await r.text()
                outcome = "finsent_notify_notifications_total"
                assert await metric(notify_url, outcome, {"outcome": "forward_failed"}) == 1
                assert await metric(notify_url, outcome, {"outcome": "bad_request"}) == 1

    run(main)
