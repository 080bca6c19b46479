"""The query API on two real workers sharing one group on a real broker, with the shipped model:
whichever worker a request reaches, the answer is the same (forwarded to the owner, fanned out,
or from the alert index every worker keeps), and the bearer token guards what it should.

The feed is the alerting end-to-end's (baseline hours, then a burst of bad Boeing news), so a
real SentimentCollapse fires in-stream and /alerts has something to show.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import DEFAULT_WATCHLIST, Settings
from pipeline.dev.kafka_local import free_port
from tests.integration.harness import Env, Worker, produce, read_to_end, wait_for
from tests.integration.test_alerting_e2e import HOUR_MS, HOURS, TARGET, TICKERS, feed

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
TOKEN = "query-api-test-token"


def call(
    worker: Worker, path: str, *, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """(status, JSON answer) of one request to `worker`."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(worker.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def owned(worker: Worker) -> set[str]:
    """Tickers whose per-ticker gauges this worker exports: the ones it aggregates (a worker
    drops a ticker's gauges when its partition moves away)."""
    text = worker.metrics()
    return {t for t in TICKERS if f'finsent_ticker_window_items{{ticker="{t}"' in text}


@pytest.fixture(scope="module")
def cluster(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Env, Worker, Worker]]:
    manifest = json.loads((Settings().model_dir / "manifest.json").read_text())
    if str(manifest.get("training", {}).get("method", "")).startswith("none"):
        pytest.skip(f"shipped model {manifest['version']} is the untrained plumbing model")
    tmp = tmp_path_factory.mktemp("query")
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    base = Env(
        kafka_bootstrap,
        tmp,
        overrides={
            "FINSENT_BASELINE_MIN_WINDOWS": "3",
            "FINSENT_WATCHLIST": DEFAULT_WATCHLIST,
            "FINSENT_NOVELTY_TTL": "1m",  # see test_alerting_e2e: templates repeat on purpose
            "FINSENT_PARTITIONS": "4",
            "FINSENT_API_TOKEN_FILE": str(token),
        },
    )
    envs = []
    for i in range(2):
        port = free_port()
        envs.append(
            dataclasses.replace(
                base,
                web_port=port,
                overrides={
                    **base.overrides,
                    "FINSENT_WEB_CANONICAL_URL": f"http://127.0.0.1:{port}",
                    "FINSENT_DATA_DIR": str(tmp / f"worker{i}"),
                },
            )
        )
    envs[0].create_topics()
    s = envs[0].settings()
    w1 = Worker(envs[0])
    w2: Worker | None = None
    try:
        w1.wait_ready(timeout_s=180)
        w2 = Worker(envs[1])
        w2.wait_ready(timeout_s=180)
        start = (int(time.time() * 1000) // HOUR_MS - HOURS - 1) * HOUR_MS
        items = feed(start)
        produce(
            envs[0],
            s.news_topic,
            [(b"feed", json.dumps(r).encode(), r["published_at"]) for r in items],
        )
        topics = [*s.topics_in(), s.scored_topic]

        def both_drained() -> bool:
            assert w2 is not None
            return (
                w1.get("/ready")[0] == w2.get("/ready")[0] == 200  # no rebalance running
                and w1.drained(t for t in topics if t in _lag_topics(w1))
                and w2.drained(t for t in topics if t in _lag_topics(w2))
                and (sum(len(owned(w)) for w in (w1, w2)) == len(TICKERS))
            )

        wait_for(both_drained, timeout_s=300, interval_s=1)
        yield envs[0], w1, w2
    finally:
        if w2 is not None:
            w2.stop()
        w1.stop()


def _lag_topics(worker: Worker) -> set[str]:
    status, body = worker.get("/live")
    return set(json.loads(body).get("lag", {})) if status == 200 else set()


def test_every_ticker_is_answered_alike_by_either_worker(
    cluster: tuple[Env, Worker, Worker],
) -> None:
    _env, w1, w2 = cluster
    mine, theirs = owned(w1), owned(w2)
    assert mine and theirs and not mine & theirs, "the two workers should split the tickers"
    for ticker in TICKERS:
        a, b = call(w1, f"/tickers/{ticker}"), call(w2, f"/tickers/{ticker.lower()}")
        assert a[0] == b[0] == 200, (ticker, a, b)
        assert a[1] == b[1]
        assert a[1]["has_data"] and a[1]["windows"]["1h"]["count"] > 0
    collapse = call(w2 if TARGET in mine else w1, f"/tickers/{TARGET}")[1]  # the forwarded one
    assert collapse["sentiment_z"] is not None and collapse["sentiment_z"] < -3
    assert collapse["evidence"]["1h"], "the drill-down shows the items behind the window"


def test_unknown_symbol_is_404_and_a_known_one_without_data_is_empty(
    cluster: tuple[Env, Worker, Worker],
) -> None:
    _env, w1, w2 = cluster
    for w in (w1, w2):
        status, body = call(w, "/tickers/ZZZZQ")
        assert status == 404 and "not in the symbol table" in body["error"]
        status, body = call(w, "/tickers/KO")
        assert status == 200 and body["has_data"] is False and body["company"]["symbol"] == "KO"


def test_listing_is_whole_and_sorted_on_either_worker(cluster: tuple[Env, Worker, Worker]) -> None:
    _env, w1, w2 = cluster
    answers = [call(w, "/tickers?sort=abs_z&limit=50")[1] for w in (w1, w2)]
    assert answers[0] == answers[1]
    listing = answers[0]
    assert listing["workers"] == 2 and listing["incomplete"] == []
    assert {r["ticker"] for r in listing["tickers"]} == set(TICKERS)
    assert listing["tickers"][0]["ticker"] == TARGET  # the collapse is the top mover
    by_volume = call(w1, "/tickers?sort=volume&order=asc")[1]["tickers"]
    volumes = [r["volume"] for r in by_volume]
    assert volumes == sorted(volumes)
    assert call(w2, "/tickers?sort=bogus")[0] == 400


def _collapse_alerts(w: Worker) -> list[dict[str, Any]]:
    status, body = call(w, f"/alerts?ticker={TARGET}")
    assert status == 200
    return [a for a in body["alerts"] if a["rule"] == "SentimentCollapse"]


def test_alerts_with_evidence_on_either_worker(cluster: tuple[Env, Worker, Worker]) -> None:
    env, w1, w2 = cluster
    s = env.settings()
    published = [
        e
        for e in map(json.loads, (r.value for r in read_to_end(env, s.alerts_topic)))
        if e["rule"] == "SentimentCollapse" and e["ticker"] == TARGET
    ]
    assert published, "the feed should fire SentimentCollapse on the target in-stream"
    wait_for(lambda: _collapse_alerts(w1) and _collapse_alerts(w2), timeout_s=60)
    a1, a2 = _collapse_alerts(w1), _collapse_alerts(w2)
    assert [a["id"] for a in a1] == [a["id"] for a in a2] == [e["id"] for e in published[::-1]]
    assert a1[0]["evidence"] and all(e["score"] < 0 for e in a1[0]["evidence"])
    later = a1[0]["event_ms"] + 1
    assert _ids(call(w2, f"/alerts?ticker={TARGET}&since={later}")[1]) == []
    assert call(w1, "/alerts?ticker=ZZZZQ")[0] == 404
    assert call(w1, "/alerts?since=yesterday")[0] == 400


def _ids(body: dict[str, Any]) -> list[str]:
    return [a["id"] for a in body["alerts"]]


def test_false_positive_mark_is_kept_with_the_alert_everywhere_and_sent_to_review(
    cluster: tuple[Env, Worker, Worker],
) -> None:
    env, w1, w2 = cluster
    wait_for(lambda: _collapse_alerts(w1), timeout_s=60)
    alert = _collapse_alerts(w1)[0]
    path = f"/alerts/{alert['id']}/false-positive"
    reason = {"by": "risk-desk", "reason": "one story, many copies"}
    assert call(w1, path, method="POST", body=reason)[0] == 401
    assert call(w1, path, method="POST", body=reason, token="wrong")[0] == 401
    status, marked = call(w1, path, method="POST", body=reason, token=TOKEN)
    assert status == 200 and marked["false_positive"]["by"] == "risk-desk"

    def seen_on_the_other() -> bool:
        return any(a["false_positive"] for a in _collapse_alerts(w2) if a["id"] == alert["id"])

    wait_for(seen_on_the_other, timeout_s=60)
    s = env.settings()
    review = [json.loads(r.value) for r in read_to_end(env, s.review_topic)]
    disputed = [r for r in review if r.get("reason") == "disputed"]
    assert {r["alert_id"] for r in disputed} == {alert["id"]}
    assert len(disputed) == marked["sent_to_review"] == len(alert["evidence"])

    status, withdrawn = call(w2, path, method="DELETE", token=TOKEN)
    assert status == 200 and withdrawn["false_positive"] is None
    wait_for(
        lambda: all(
            not a["false_positive"] for a in _collapse_alerts(w1) if a["id"] == alert["id"]
        ),
        timeout_s=60,
    )
    assert call(w1, "/alerts/NoSuch:BA:1h:0/false-positive", method="POST", token=TOKEN)[0] == 404


def test_score_needs_the_token_and_uses_the_stream_model(
    cluster: tuple[Env, Worker, Worker],
) -> None:
    _env, w1, w2 = cluster
    texts = [
        "Boeing shares plunge after regulators ground its jets and the CEO resigns",
        "Nvidia beats estimates and raises guidance; shares jump to a record",
    ]
    assert call(w1, "/score", method="POST", body={"texts": texts})[0] == 401
    status, body = call(w2, "/score", method="POST", body={"texts": texts}, token=TOKEN)
    assert status == 200, body
    neg, pos = body["results"]
    assert neg["label"] == "negative" and pos["label"] == "positive"
    assert [t["ticker"] for t in neg["tickers"]] == ["BA"]
    assert [t["ticker"] for t in pos["tickers"]] == ["NVDA"]
    assert abs(sum(neg["probs"].values()) - 1) < 1e-3
    assert (
        body["model"] == json.loads((Settings().model_dir / "manifest.json").read_text())["version"]
    )
    too_many = {"texts": ["x"] * (Settings().api_score_max_texts + 1)}
    assert call(w1, "/score", method="POST", body=too_many, token=TOKEN)[0] == 400


def test_reads_and_metrics_behind_the_token_when_configured(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    env = Env(
        kafka_bootstrap,
        tmp_path,
        overrides={
            "FINSENT_API_TOKEN_FILE": str(token),
            "FINSENT_API_READ_AUTH": "true",
            "FINSENT_METRICS_AUTH": "true",
        },
    )
    env.create_topics()
    worker = Worker(env)
    try:
        worker.wait_ready()  # /ready needs no token (the kubelet has none)
        for path in ("/tickers", "/tickers/BA", "/alerts", "/metrics"):
            status, _ = worker.get(path)
            assert status == 401, path
        for path in ("/tickers", "/tickers/BA", "/alerts"):
            assert call(worker, path, token=TOKEN)[0] == 200, path
        req = urllib.request.Request(worker.url + "/metrics")
        req.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert b"finsent_build_info" in r.read()
        assert worker.get("/live")[0] == 200
        spec = call(worker, "/openapi.json")[1]
        assert spec["paths"]["/tickers"]["get"]["security"] == [{"bearer": []}]
    finally:
        worker.stop()


@pytest.mark.prometheus
def test_a_notification_carries_the_headlines_the_worker_api_serves(
    cluster: tuple[Env, Worker, Worker], tmp_path: Path, clean_finsent_env: dict[str, str]
) -> None:
    """A real Alertmanager -> `finsent notify` -> this cluster's GET /alerts -> a sink: the
    notification of the Prometheus SentimentCollapse shows the in-stream alert's evidence."""
    import asyncio
    from contextlib import AsyncExitStack
    from datetime import UTC, datetime

    from tests.notify import test_notify_e2e as am_e2e

    if am_e2e.ALERTMANAGER is None:
        pytest.skip("no prometheus-alertmanager: apt-get install prometheus-alertmanager")
    _env, w1, _w2 = cluster
    wait_for(lambda: _collapse_alerts(w1), timeout_s=60)
    in_stream = _collapse_alerts(w1)[0]
    starts = datetime.now(UTC).replace(microsecond=0)

    async def main() -> str:
        sink = am_e2e.Sink()
        async with AsyncExitStack() as stack:
            sink_url = await stack.enter_async_context(am_e2e.serve(sink.app))
            notify_url = await stack.enter_async_context(
                am_e2e.notify_command(tmp_path, clean_finsent_env, w1.url, f"{sink_url}/hook")
            )
            am = await stack.enter_async_context(
                am_e2e.alertmanager(tmp_path, f"{notify_url}/alertmanager")
            )
            alert = am_e2e.rendered_alert("SentimentCollapse", TARGET, starts)
            await am_e2e.post_alerts(am, [alert])
            (first,) = await sink.wait_for(1)
            return str(first["text"])

    text = asyncio.run(main())
    assert "Not enriched" not in text
    shown = [e["text"] for e in in_stream["evidence"][:3]]
    assert shown and all(h[:40] in text for h in shown), text
