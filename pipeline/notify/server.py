"""`finsent notify`: the notification enricher. Alertmanager posts its webhook here; for every
firing alert with a `ticker` label the enricher asks the query API (`GET /alerts?ticker=T&since=S`)
for the in-stream alert behind it and forwards one message with its top headlines, the
dashboard link narrowed to the alert's start and the evidence link to the target webhook.

Why a webhook and not Alertmanager templates: templates cannot call HTTP, and the headlines live
only in the stream's alerts. It never drops a notification: an API that is down, slow (bounded by
FINSENT_NOTIFY_TIMEOUT_S) or answers nonsense costs the headlines, not the message, which then
says why (and `finsent_notify_enrichment_failures_total{reason}` counts it). A target that refuses
the message is answered with 502, so Alertmanager retries the notification.

Endpoints: POST /alertmanager (the webhook), GET /metrics, GET /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.config import Settings
from pipeline.errors import ConfigError, FinsentError
from pipeline.metrics import NotifyMetrics
from pipeline.notify import message as msg

log = logging.getLogger("finsent.notify")
FETCH_LIMIT = 20  # in-stream alerts asked for per ticker: a few rules x a few windows
FORWARD_TIMEOUT_S = 10.0  # the target webhook; past it Alertmanager is told to retry
METRICS: web.AppKey[NotifyMetrics] = web.AppKey("metrics", NotifyMetrics)


class Enricher:
    """Fetches evidence and forwards messages; one per server, sharing one client session.

    `target` is called per notification (a rotated secret file is picked up); `token` likewise
    (the API's bearer token, None when its reads need none)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        metrics: NotifyMetrics,
        *,
        api_url: str,
        target: Callable[[], str],
        token: Callable[[], str | None],
        timeout_s: float,
        headlines: int,
        fmt: str,
    ) -> None:
        self.session = session
        self.metrics = metrics
        self.api_url = api_url.rstrip("/")
        self.target = target
        self.token = token
        self.timeout_s = timeout_s
        self.headlines = headlines
        self.fmt = fmt

    def _failed(self, reason: str, why: str) -> msg.Enrichment:
        """Count an enrichment failure and say why, for the message."""
        self.metrics.enrichment_failures.labels(reason=reason).inc()
        log.warning("evidence not fetched (%s): %s", reason, why)
        return msg.Enrichment(error=why)

    async def fetch(self, ticker: str, since_ms: int | None) -> msg.Enrichment:
        """The API's in-stream alerts of `ticker` since `since_ms`, or why there are none. Never
        raises and never takes longer than the timeout."""
        params = {"ticker": ticker, "limit": str(FETCH_LIMIT)}
        if since_ms is not None:
            params["since"] = str(since_ms)
        headers = {"Accept": "application/json"}
        try:
            token = self.token()
        except OSError as exc:
            return self._failed("token", f"the API token file cannot be read ({exc.strerror})")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.session.get(
                    f"{self.api_url}/alerts", params=params, headers=headers
                ) as resp:
                    if resp.status != 200:
                        return self._failed(
                            "http_status", f"the evidence API answered HTTP {resp.status}"
                        )
                    body = await resp.json(content_type=None)
        except TimeoutError:
            return self._failed(
                "timeout", f"the evidence API did not answer within {self.timeout_s:g} s"
            )
        except aiohttp.ClientError as exc:
            return self._failed(
                "unreachable", f"the evidence API is unreachable ({type(exc).__name__})"
            )
        except ValueError:
            return self._failed("bad_response", "the evidence API answered something not JSON")
        alerts = body.get("alerts") if isinstance(body, dict) else None
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            return self._failed("bad_response", "the evidence API's answer has no alerts list")
        complete = body.get("complete") is not False  # the API's index may still catch up
        return msg.Enrichment(alerts=tuple(alerts), complete=complete)

    async def enrich_all(self, alerts: Sequence[Mapping[str, Any]]) -> list[msg.Enriched]:
        """Every alert of a notification, the firing ticker alerts with their evidence: one API
        call per ticker, all at once (the whole wait is one timeout)."""
        since: dict[str, int | None] = {}
        for a in alerts:
            ticker = (a.get("labels") or {}).get("ticker")
            if ticker and a.get("status", "firing") == "firing":
                s = msg.since_ms(a)
                old = since.get(ticker)
                since[ticker] = s if old is None or (s is not None and s < old) else old
        tickers = list(since)
        answers = await asyncio.gather(*(self.fetch(t, since[t]) for t in tickers))
        found = dict(zip(tickers, answers, strict=True))
        out = []
        for a in alerts:
            ticker = (a.get("labels") or {}).get("ticker")
            e = msg.enrich(a, found.get(ticker) if ticker else None, self.headlines)
            result = "plain" if not e.fetched else "enriched" if e.enriched else "not_enriched"
            self.metrics.alerts.labels(result=result).inc()
            out.append(e)
        return out

    async def forward(self, body: dict[str, Any]) -> str | None:
        """Post the message to the target; None when it took it, else why not."""
        try:
            url = self.target()  # re-read: a rotated secret file is picked up
        except FinsentError as exc:
            return str(exc)
        try:
            async with asyncio.timeout(FORWARD_TIMEOUT_S):
                async with self.session.post(url, json=body) as resp:
                    if resp.status >= 300:
                        return f"the target webhook answered HTTP {resp.status}"
                    await resp.read()
        except TimeoutError:
            return f"the target webhook did not answer within {FORWARD_TIMEOUT_S:g} s"
        except aiohttp.ClientError as exc:
            return f"the target webhook is unreachable ({type(exc).__name__})"
        return None


ENRICHER: web.AppKey[Enricher] = web.AppKey("enricher", Enricher)


async def webhook(request: web.Request) -> web.Response:
    """POST /alertmanager: enrich and forward one notification. 400 for a body that is not an
    Alertmanager version-4 webhook; 502 when the target refuses (Alertmanager retries)."""
    enricher = request.app[ENRICHER]
    metrics = request.app[METRICS]
    try:
        payload = msg.parse_webhook(await request.json())
    except ValueError as exc:  # JSONDecodeError and PayloadError
        metrics.notifications.labels(outcome="bad_request").inc()
        why = str(exc) if isinstance(exc, msg.PayloadError) else "the body is not JSON"
        return web.Response(status=400, text=f"not an Alertmanager webhook: {why}\n")
    enriched = await enricher.enrich_all(payload["alerts"])
    body = msg.build_message(payload, enriched, enricher.fmt)
    failed = await enricher.forward(body)
    if failed is not None:
        metrics.notifications.labels(outcome="forward_failed").inc()
        log.error("notification %s not delivered: %s", payload.get("groupKey"), failed)
        return web.Response(status=502, text=f"{failed}\n")
    metrics.notifications.labels(outcome="forwarded").inc()
    log.info(
        "forwarded %s: %d alert(s), %d enriched",
        payload.get("groupKey"),
        len(enriched),
        sum(e.enriched for e in enriched),
    )
    return web.json_response({"forwarded": len(enriched)})


async def metrics_page(request: web.Request) -> web.Response:
    """GET /metrics: the enricher's counters (Prometheus text format)."""
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(_request: web.Request) -> web.Response:
    """GET /healthz: up (it needs nothing else to take a notification)."""
    return web.json_response({"status": "ok"})


def build_app(settings: Settings, metrics: NotifyMetrics | None = None) -> web.Application:
    """The aiohttp application for `settings`; the client session lives with the app."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[METRICS] = metrics or NotifyMetrics.create()
    token_file = settings.api_token_file if settings.api_read_auth else None

    def token() -> str | None:
        return token_file.read_text(encoding="utf-8").strip() if token_file else None

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[ENRICHER] = Enricher(
                session,
                app[METRICS],
                api_url=settings.notify_api_url,
                target=settings.notify_target,
                token=token,
                timeout_s=settings.notify_timeout_s,
                headlines=settings.notify_headlines,
                fmt=settings.notify_format,
            )
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/alertmanager", webhook)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    return app


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent notify` reads only FINSENT_* settings (FINSENT_NOTIFY_*, FINSENT_WEB_HOST,
    FINSENT_API_READ_AUTH / FINSENT_API_TOKEN_FILE)."""
    parser.epilog = (
        "Settings: FINSENT_NOTIFY_TARGET_URL[_FILE] (required), FINSENT_NOTIFY_API_URL, "
        "FINSENT_NOTIFY_PORT, FINSENT_NOTIFY_TIMEOUT_S, FINSENT_NOTIFY_HEADLINES, "
        "FINSENT_NOTIFY_FORMAT; see README, Alerts and dashboards."
    )


def run(_args: argparse.Namespace) -> int:
    """Check the settings (a missing target or secret file is one line, exit 2), then serve
    until SIGINT/SIGTERM."""
    settings = Settings()
    # Only the files this command reads (not Kafka's: the enricher never talks to Kafka).
    token = settings.api_token_file
    if settings.api_read_auth and token is not None and not token.is_file():
        raise ConfigError(f"FINSENT_API_TOKEN_FILE={str(token)!r} is invalid: no such file")
    settings.notify_target()  # raises ConfigError naming the variable
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info(
        "notify: starting on %s:%d, evidence from %s, format %s",
        settings.web_host,
        settings.notify_port,
        settings.notify_api_url,
        settings.notify_format,
    )
    try:
        web.run_app(
            build_app(settings), host=settings.web_host, port=settings.notify_port, print=None
        )
    except OSError as exc:  # the port is taken, or the host is not ours
        raise ConfigError(
            f"FINSENT_NOTIFY_PORT={settings.notify_port} is invalid: cannot listen on "
            f"{settings.web_host}:{settings.notify_port} ({exc.strerror or exc})"
        ) from None
    return 0
