"""HTTP endpoints on the faust web server: /metrics (Prometheus), /ready, /live; the query API
(/tickers, /alerts, /score) is in `api.py`.

Liveness watches for faust's known failure mode, the silent stall: a consumer that makes no
progress while its lag grows. It fails only then, so a quiet market never restarts a healthy pod.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.stream import api
from pipeline.stream.auth import Access
from pipeline.stream.runtime import Runtime

if TYPE_CHECKING:
    from pipeline.stream.agents import Stages


def stalled(rt: Runtime, now_monotonic: float, busy: bool = False) -> bool:
    """True when an agent crashed, or committed lag > 0 and no commit moved for `stall_after_s`.

    `busy` (rebalancing or recovering tables) is never a stall: recovery can legitimately take
    longer than the stall budget, and restarting the pod then would only start it over.
    """
    if rt.health.fatal:
        return True
    if busy:
        rt.health.last_progress_monotonic = now_monotonic
        return False
    lag = sum(rt.health.lag.values())
    return lag > 0 and now_monotonic - rt.health.last_progress_monotonic > rt.settings.stall_after_s


def register(rt: Runtime, stages: Stages) -> None:
    """The worker's HTTP pages and the lag timer behind /live, on `rt.app`'s web server."""
    app = rt.app

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        """Prometheus scrape: this worker's own registry (not prometheus_client's global one);
        behind the bearer token with FINSENT_METRICS_AUTH=true."""
        denied = api.refused(rt, web, request, Access.METRICS)
        if denied is not None:
            return denied
        return web.bytes(
            generate_latest(rt.metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/ready")
    async def ready(web: View, request: Request) -> Response:
        """Kubernetes readiness: 200 once the model is loaded, the tables are recovered, no
        rebalance runs and every assigned partition has its cursor, else 503 (until then
        /tickers answers would be missing or stale)."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        # Assigned partitions whose stage has not read their committed offset yet: until it
        # has, the stage skips them and /tickers/T answers 503 for their tickers.
        starting = [
            tp
            for tp in app.consumer.assignment()
            for d in stages.deliveries
            if tp.topic in d.topics and not d.cursor.owns(tp)
        ]
        ok = rt.health.model_loaded and recovered and not app.rebalancing and not starting
        body = {
            "ready": ok,
            "model_loaded": rt.health.model_loaded,
            "tables_recovered": recovered,
            "rebalancing": bool(app.rebalancing),
            "partitions_starting": len(starting),
        }
        return web.json(body, status=200 if ok else 503)

    @app.page("/live")
    async def live(web: View, request: Request) -> Response:
        """Kubernetes liveness: 503 only for a crashed agent or a stall (`stalled`); a quiet market
        or a long recovery stays 200, so a restart happens only when it can help."""
        busy = bool(app.rebalancing) or not app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        bad = stalled(rt, time.monotonic(), busy)
        body = {
            "live": not bad,
            "fatal": rt.health.fatal,
            "lag": rt.health.lag,
            "seconds_since_progress": round(
                time.monotonic() - rt.health.last_progress_monotonic, 1
            ),
        }
        return web.json(body, status=503 if bad else 200)

    api.register(rt, stages)

    @app.timer(2.0)
    async def update_lag() -> None:
        """Committed lag per consumed topic, and the time of the last commit that moved."""
        lag: dict[str, int] = {}
        last_commit = rt.health.last_progress_monotonic
        for delivery in stages.deliveries:
            for tp, n in (await delivery.lag()).items():
                lag[tp.topic] = lag.get(tp.topic, 0) + n
            last_commit = max(last_commit, delivery.last_commit_monotonic)
        rt.health.lag = lag
        rt.health.last_progress_monotonic = last_commit
        for topic, value in lag.items():
            rt.metrics.consumer_lag.labels(topic=topic).set(value)
