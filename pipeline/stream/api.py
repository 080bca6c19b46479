"""The query API on every worker's web server; any replica answers (README, "Query API").

- `GET /tickers`: every ticker's current state, sorted (`sort=abs_z|volume|...`, `order`,
  `limit`): each worker answers for its own partitions and asks the others (fan-out), so the
  listing is whole whichever replica the Service picked; workers that did not answer in time are
  named in `incomplete`.
- `GET /tickers/{T}`: forwarded to the worker that owns T's partition (faust's `table_route`
  idea; see `_forward` for why not faust's own router). 404 for a symbol that is not in the
  symbol table; a known symbol without data yet is an empty answer.
- `GET /alerts?ticker=&since=&limit=`: from the alert index (`alert_index.py`), which every
  worker keeps from the alerts topic, so no forwarding is needed.
- `POST /alerts/{id}/false-positive`: keeps the mark with the alert (compacted marks topic) and
  sends the alert's evidence to the review topic as disputed.
- `POST /score`: texts in, labels, scores and linked tickers out, with the stream's own model.
- `GET /openapi.json`: the description of all of the above (`openapi.py`).

Access (`auth.py`): writes and /score need the bearer token; reads as configured.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from faust.types import TP
from faust.web import Request, Response, View

from pipeline.core.records import TEXT_CHARS, Item
from pipeline.core.review import disputed
from pipeline.core.tickers import link
from pipeline.stream import query, stored_state
from pipeline.stream.auth import Access
from pipeline.stream.openapi import spec
from pipeline.stream.runtime import Runtime

if TYPE_CHECKING:
    from pipeline.stream.agents import Stages

log = logging.getLogger(__name__)

# Set on a request one worker forwards to another: the receiver answers itself, never forwards
# again (two workers with different views of the assignment would otherwise bounce a request).
ROUTED = "X-Finsent-Routed"
FORWARD_TIMEOUT_S = 5.0


def refused(rt: Runtime, view: View, request: Request, kind: Access) -> Response | None:
    """The 401/403 answer when `request` may not use an endpoint of `kind`, else None."""
    denied = rt.access.check(kind, request.headers.get("Authorization"))
    if denied is None:
        return None
    headers = {"WWW-Authenticate": "Bearer"} if denied.status == 401 else None
    return view.json({"error": denied.reason}, status=denied.status, headers=headers)


def _bad(view: View, exc: Exception, status: int = 400) -> Response:
    return view.json({"error": str(exc)}, status=status)


def _retry(view: View, body: dict[str, Any]) -> Response:
    """503 with Retry-After: the answer exists, but not here right now (a rebalance, a worker
    that did not answer)."""
    return view.json(body, status=503, headers={"Retry-After": "2"})


def _unknown_symbol(view: View, ticker: str) -> Response:
    return view.json({"error": f"{ticker} is not in the symbol table"}, status=404)


def register(rt: Runtime, stages: Stages) -> None:
    """Declare the query API's pages and the alert index's follower task on `rt.app`."""
    app, settings = rt.app, rt.settings
    table = stages.table
    cfg = rt.core.aggregation

    def partition_of(ticker: str) -> int | None:
        """The scored (and table) partition of `ticker`: the scored topic is keyed by it.
        None while the consumer has no metadata for the topic yet (starting)."""
        p = app.consumer.key_partition(settings.scored_topic, ticker.encode())
        return None if p is None else int(p)

    def owns(partition: int | None) -> bool:
        return partition is not None and stages.aggregate.cursor.owns(
            TP(settings.scored_topic, partition)
        )

    def hosts() -> dict[str, set[int]]:
        """Worker URL -> table partitions it holds, from the group's last assignment."""
        out: dict[str, set[int]] = {}
        for url, topics in app.router.table_metadata(table.name).items():
            out[str(url).rstrip("/")] = {p for parts in topics.values() for p in parts}
        return out

    async def _ask(url: str, request: Request) -> tuple[int, bytes]:
        """The answer of the worker at `url` to the same GET (status, body), marked as routed
        and with the caller's credential."""
        headers = {ROUTED: "1"}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
        async with app.http_client.get(
            url + str(request.rel_url), headers=headers, timeout=timeout
        ) as r:
            return r.status, await r.read()

    async def _forward(url: str, request: Request, web: View) -> Response:
        """Ask the worker at `url` the same question. faust's own `table_route` is not used: it
        partitions the table's JSON-encoded key, while finsent keys its scored topic and places
        the table's keys by the raw ticker, so faust would pick the wrong worker."""
        try:
            status, body = await _ask(url, request)
            return web.bytes(body, content_type="application/json", status=status)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            return _retry(
                web, {"error": f"the worker holding this ticker ({url}) did not answer: {exc!r}"}
            )

    def local_states() -> list[dict[str, Any]]:
        """The main state of every ticker whose partition this worker owns now."""
        out = []
        for key, state in list(table.items()):
            if isinstance(state, dict) and state.get("ticker") == key and owns(partition_of(key)):
                out.append(state)
        return out

    @app.page("/tickers")
    async def tickers(web: View, request: Request) -> Response:
        """Every ticker's current state, sorted; this worker's and (unless routed) the others'."""
        denied = refused(rt, web, request, Access.READ)
        if denied is not None:
            return denied
        q = request.query
        try:
            limit = query.parse_limit(q.get("limit"))
            sort, order = q.get("sort", "abs_z"), q.get("order", "desc")
            query.sort_rows([], sort, order)  # a bad sort is a 400 before any fan-out
        except query.BadQuery as exc:
            return _bad(web, exc)
        rows = query.summary_rows(local_states(), cfg)
        incomplete: list[str] = []
        me = settings.canonical_url()
        others = [u for u in hosts() if u != me]
        if ROUTED not in request.headers and others:
            answers = await asyncio.gather(
                *(_ask(u, request) for u in others), return_exceptions=True
            )
            for url, answer in zip(others, answers, strict=True):
                if isinstance(answer, BaseException) or answer[0] != 200:
                    incomplete.append(url)
                    continue
                rows.extend(json.loads(answer[1])["tickers"])
        return web.json(
            {
                "tickers": query.sort_rows(rows, sort, order, limit),
                "sort": sort,
                "order": order,
                "workers": 1 + len(others) - len(incomplete),
                "incomplete": incomplete,
            }
        )

    @app.page("/tickers/{ticker}")
    async def ticker(web: View, request: Request, ticker: str) -> Response:
        """One ticker's analytics, from the worker that owns it (forwarded if not this one)."""
        denied = refused(rt, web, request, Access.READ)
        if denied is not None:
            return denied
        about = query.company(rt.symbols, ticker.upper())
        if about is None:
            return _unknown_symbol(web, ticker.upper())
        symbol = about["symbol"]
        partition = partition_of(symbol)
        if not owns(partition):
            if ROUTED in request.headers:  # the sender's view of the assignment is newer
                return _retry(web, {"error": f"{symbol} moved between workers; retry"})
            where = hosts()
            owner = next((u for u, ps in where.items() if partition in ps), None)
            if owner is None or owner == settings.canonical_url():
                return _retry(
                    web,
                    {
                        "error": f"no worker holds {symbol} right now (rebalancing); retry",
                        "partition": partition,
                        "assignment": {u: sorted(ps) for u, ps in where.items()},
                    },
                )
            return await _forward(owner, request, web)
        state = stored_state.read(table, symbol, table.get(symbol))
        return web.json(query.ticker_view(symbol, state, cfg, about))

    @app.page("/alerts")
    async def alerts(web: View, request: Request) -> Response:
        """Recent in-stream alerts with their evidence and false-positive marks."""
        denied = refused(rt, web, request, Access.READ)
        if denied is not None:
            return denied
        q = request.query
        try:
            since = query.parse_since(q.get("since"))
            limit = query.parse_limit(q.get("limit"))
        except query.BadQuery as exc:
            return _bad(web, exc)
        ticker_q = q.get("ticker")
        symbol = None
        if ticker_q:
            about = query.company(rt.symbols, ticker_q.upper())
            if about is None:
                return _unknown_symbol(web, ticker_q.upper())
            symbol = about["symbol"]
        return web.json(
            {
                "alerts": rt.alerts.query(symbol, since, limit),
                "complete": rt.alerts.ready,  # False while the index still catches up
                "horizon": settings.api_alerts_horizon,
            }
        )

    @app.page("/alerts/{alert_id}/false-positive")
    class FalsePositive(View):
        """POST marks an alert as a false positive (kept with the alert); DELETE withdraws it."""

        async def post(self, request: Request, alert_id: str) -> Response:
            denied = refused(rt, self, request, Access.WRITE)
            if denied is not None:
                return denied
            alert = rt.alerts.get(alert_id)
            if alert is None:
                return self.json({"error": f"no alert {alert_id!r} in the index"}, status=404)
            try:
                text = await request.text()
                body = json.loads(text) if text.strip() else {}
            except ValueError:
                return self.json({"error": "expected a JSON body"}, status=400)
            if not isinstance(body, dict):
                return self.json({"error": "expected a JSON object"}, status=400)
            mark = {
                "by": str(body.get("by") or "api"),
                "reason": str(body.get("reason") or ""),
                "marked_ms": int(time.time() * 1000),
            }
            await stages.topics.alert_marks_topic.send(
                key=alert_id.encode(), value=json.dumps(mark).encode()
            )
            rt.alerts.mark(alert_id, mark)  # this replica answers at once; the others follow
            try:
                records = disputed(alert, mark)
            except ValueError as exc:  # an alert written by something else than finsent
                log.warning("false-positive mark on %s: no review records: %s", alert_id, exc)
                records = []
            for record in records:
                await stages.topics.review_topic.send(
                    key=record["id"].encode(), value=json.dumps(record).encode()
                )
            rt.metrics.items_produced.labels(topic=settings.alert_marks_topic).inc()
            rt.metrics.review_items.labels(reason="disputed").inc(len(records))
            return self.json({**alert, "false_positive": mark, "sent_to_review": len(records)})

        async def delete(self, request: Request, alert_id: str) -> Response:
            denied = refused(rt, self, request, Access.WRITE)
            if denied is not None:
                return denied
            if rt.alerts.get(alert_id) is None:
                return self.json({"error": f"no alert {alert_id!r} in the index"}, status=404)
            await stages.topics.alert_marks_topic.send(key=alert_id.encode(), value=None)
            rt.alerts.mark(alert_id, None)
            return self.json(rt.alerts.get(alert_id))

    @app.page("/score")
    class Score(View):
        """POST texts, get labels, scores and tickers from the model the stream uses."""

        async def post(self, request: Request) -> Response:
            denied = refused(rt, self, request, Access.WRITE)
            if denied is not None:
                return denied
            try:
                texts = query.parse_texts(
                    await request.json(), settings.api_score_max_texts, TEXT_CHARS
                )
            except ValueError as exc:  # BadQuery, or a body that is not JSON
                return self.json({"error": str(exc)}, status=400)
            loop = asyncio.get_running_loop()
            scores = await loop.run_in_executor(
                None, lambda: rt.scorer.score(texts, max_batch=settings.model_batch)
            )
            results = []
            for i, (text, s) in enumerate(zip(texts, scores, strict=True)):
                item = Item(id=f"api-{i}", source="api", published_at_ms=0, text=text)
                mentions = link(item, rt.symbols)[: rt.core.max_tickers_per_item]
                results.append(
                    {
                        "label": s.label,
                        "score": s.score,
                        "confidence": s.confidence,
                        "probs": dict(
                            zip(("negative", "neutral", "positive"), s.probs, strict=True)
                        ),
                        "tickers": [
                            {"ticker": m.ticker, "relevance": m.relevance, "how": m.how}
                            for m in mentions
                        ],
                    }
                )
            return self.json({"model": rt.scorer.version, "results": results})

    @app.page("/openapi.json")
    async def openapi(web: View, request: Request) -> Response:
        """The API's OpenAPI 3.1 description (public: it holds no data)."""
        return web.json(spec(settings))

    @app.task
    async def follow_alerts() -> None:
        """Fill the alert index from the alerts and marks topics for as long as the worker runs."""
        from pipeline.stream.alert_index import follow

        await follow(rt.alerts, settings, int(time.time() * 1000))
