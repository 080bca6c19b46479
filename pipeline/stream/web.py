"""HTTP endpoints on the faust web server: /metrics (Prometheus), /ready, /live, /tickers/{t}.

Liveness watches for faust's known failure mode, the silent stall: a consumer that makes no
progress while its lag grows. It fails only then, so a quiet market never restarts a healthy pod.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.core import aggregate
from pipeline.stream.app import Runtime


def stalled(rt: Runtime, now_monotonic: float, busy: bool = False) -> bool:
    """True when lag > 0 and nothing was processed for `stall_after_s`.

    `busy` (rebalancing or recovering tables) is never a stall: recovery can legitimately take
    longer than the stall budget, and restarting the pod then would only start it over.
    """
    if busy:
        rt.health.last_progress_monotonic = now_monotonic
        return False
    lag = sum(rt.health.lag.values())
    return lag > 0 and now_monotonic - rt.health.last_progress_monotonic > rt.settings.stall_after_s


def register(rt: Runtime, table: Any) -> None:
    app = rt.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(rt.metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        ok = rt.health.model_loaded and recovered and not app.rebalancing
        body = {
            "ready": ok,
            "model_loaded": rt.health.model_loaded,
            "tables_recovered": recovered,
            "rebalancing": bool(app.rebalancing),
        }
        return web.json(body, status=200 if ok else 503)

    @app.page("/live")
    async def live(web: Any, request: Any) -> Any:
        busy = bool(app.rebalancing) or not app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        bad = stalled(rt, time.monotonic(), busy)
        body = {
            "live": not bad,
            "lag": rt.health.lag,
            "seconds_since_progress": round(
                time.monotonic() - rt.health.last_progress_monotonic, 1
            ),
        }
        return web.json(body, status=503 if bad else 200)

    @app.page("/tickers/{ticker}")
    async def ticker(web: Any, request: Any, ticker: str) -> Any:
        """Current analytics of one ticker held by this worker (404 if another worker holds it)."""
        state = table.get(ticker.upper())
        if state is None:
            return web.json({"error": f"no state for {ticker} on this worker"}, status=404)
        snap = aggregate.snapshot(state, rt.core.aggregation)
        return web.json(
            {
                "ticker": snap.ticker,
                "event_ms": snap.event_ms,
                "windows": {k: v.to_dict() for k, v in snap.windows.items()},
                "decayed": dict(snap.decayed),
                "sentiment_z": snap.sentiment_z,
                "volume_z": snap.volume_z,
                "totals": state["totals"],
            }
        )

    @app.timer(5.0)
    async def update_lag() -> None:
        consumer = app.consumer
        ours = {*rt.settings.topics_in(), rt.settings.scored_topic}
        assigned = [tp for tp in consumer.assignment() if tp.topic in ours]
        if not assigned:
            return
        highwaters = await consumer.highwaters(*assigned)
        lag: dict[str, int] = {}
        for tp in assigned:
            # `_read_offset` is faust's last offset handed to the stream (no public accessor).
            read = consumer._read_offset.get(tp)  # type: ignore[attr-defined]  # noqa: SLF001
            hw = highwaters.get(tp) or 0
            lag[tp.topic] = lag.get(tp.topic, 0) + max(
                0, hw - (read + 1 if read is not None else 0)
            )
        rt.health.lag = lag
        for topic, value in lag.items():
            rt.metrics.consumer_lag.labels(topic=topic).set(value)
