"""Model drift with real parts: a `finsent worker` on the broker, the shipped ONNX model and its
manifest reference, fed 300 strongly negative posts from one source. Its /metrics shows that
source's label-mix PSI far above the 0.25 threshold with the window-items gauge at the volume,
and a real Prometheus with the rendered rules (`for:` shortened) fires FinsentModelDrift for it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_RULES, Settings
from pipeline.core.drift import PSI_SIGNIFICANT, Reference
from pipeline.rules import load_doc
from pipeline.rules_render import RULES_FILE, render
from tests.integration.harness import Env, PrometheusServer, Worker, produce, sample_value, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N = 300
SOURCE = "reddit"  # one of the default FINSENT_SOURCES: its own label value
TICKERS = ("BA", "AAPL", "XOM", "PFE", "JPM", "GE")
TEMPLATES = (
    "${sym} shares plunge {n}% after a profit warning and mass layoffs",
    "${sym} posts a huge quarterly loss of ${n} million and cuts its dividend",
    "${sym} stock crashes {n}% as the fraud probe widens",
    "${sym} downgraded to sell, shares slump {n}% on weak demand",
)


def posts(now_ms: int) -> list[dict[str, object]]:
    """N distinct, strongly negative posts from SOURCE, a second apart in event time."""
    return [
        {
            "id": f"drift-{i}",
            "source": SOURCE,
            "published_at": now_ms - (N - i) * 1000,
            "text": TEMPLATES[i % len(TEMPLATES)].format(
                sym=TICKERS[i % len(TICKERS)], n=5 + i % 40
            ),
        }
        for i in range(N)
    ]


@pytest.fixture(scope="module")
def fed_worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Env, Worker]]:
    tmp = tmp_path_factory.mktemp("drift")
    env = Env(kafka_bootstrap, tmp)
    env.create_topics()
    s = env.settings()
    worker = Worker(env)
    try:
        worker.wait_ready(timeout_s=180)
        now = int(time.time() * 1000)
        produce(env, s.social_topic, [(b"k", json.dumps(p).encode(), None) for p in posts(now)])
        wait_for(lambda: worker.drained(s.topics_in()), timeout_s=180)
        yield env, worker
    finally:
        worker.stop()


def test_metrics_show_the_drifted_source_above_the_threshold(
    fed_worker: tuple[Env, Worker],
) -> None:
    _env, worker = fed_worker
    text = worker.metrics()
    items = sample_value(text, "finsent_model_drift_window_items", {"source": SOURCE})
    # every item counted once (not per ticker), at its arrival: seconds apart, half-life 1h
    assert items == pytest.approx(N, rel=0.01)
    neg = sample_value(text, "finsent_model_label_share", {"source": SOURCE, "label": "negative"})
    assert neg is not None and neg > 0.95
    psi = sample_value(
        text, "finsent_model_drift", {"source": SOURCE, "distribution": "labels", "measure": "psi"}
    )
    assert psi is not None and psi > PSI_SIGNIFICANT
    assert sample_value(text, "finsent_model_confidence_count", {"source": SOURCE}) == N
    manifest = json.loads((Settings().model_dir / "manifest.json").read_text())
    ref = Reference.from_dict(manifest["reference"])
    assert sample_value(
        text, "finsent_model_reference_label_share", {"label": "negative"}
    ) == pytest.approx(ref.labels[0])
    # nothing came from another source, so no other source has a window
    assert sample_value(text, "finsent_model_drift_window_items", {"source": "twitter"}) is None


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not found: apt-get install prometheus")
def test_prometheus_fires_model_drift_for_that_source(
    fed_worker: tuple[Env, Worker], tmp_path: Path
) -> None:
    env, _worker = fed_worker
    rules = tmp_path / "rules.yml"
    rules.write_text(render(load_doc(DEFAULT_RULES), for_override="5s")[RULES_FILE])
    prom = PrometheusServer(tmp_path, [f"127.0.0.1:{env.web_port}"], rules, binary=str(PROMETHEUS))
    try:
        prom.wait_ready()

        def firing() -> list[dict[str, object]]:
            return [
                a
                for a in prom.alerts()
                if a["labels"].get("alertname") == "FinsentModelDrift" and a["state"] == "firing"
            ]

        alerts = wait_for(firing, timeout_s=90, interval_s=1)
        assert {(a["labels"]["source"], a["labels"]["distribution"]) for a in alerts} >= {  # type: ignore[index]
            (SOURCE, "labels")
        }
        assert all(a["labels"]["source"] == SOURCE for a in alerts)  # type: ignore[index]
    finally:
        prom.stop()
