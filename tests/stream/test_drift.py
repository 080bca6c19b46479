"""Model drift in the scoring stage: a batch's scored items (one per item, whatever its tickers)
move the drift gauges of their bounded source; without a reference in the manifest nothing is
counted and one log line says so. Real core, metrics and symbol table; a fixed scorer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_MODEL_DIR, Settings
from pipeline.core.drift import Reference, psi
from pipeline.errors import ConfigError
from pipeline.metrics import PipelineMetrics
from pipeline.stream.handlers import handle_raw_batch
from pipeline.stream.runtime import DriftMonitor
from pipeline.stream.worker import drift_monitor
from pipeline.testing import Event, FixedScorer, Message, stream_runtime

TS = 1_714_564_800_000
REFERENCE = Reference((0.15, 0.62, 0.23), tuple([0.1] * 10), 2000)


def _ev(text: str, source: str, offset: int) -> Event:
    raw = json.dumps({"id": str(offset), "text": text, "source": source, "published_at": TS})
    return Event(Message("social.raw", raw.encode(), b"k", 0, offset, TS / 1000))


def _value(rt: object, name: str, **labels: str) -> float | None:
    return rt.metrics.registry.get_sample_value(name, labels)  # type: ignore[attr-defined,no-any-return]


def test_a_batch_moves_the_drift_gauges_of_its_source() -> None:
    rt, topics = stream_runtime(scorer=FixedScorer(probs=(0.9, 0.06, 0.04)))
    rt = dataclasses.replace(rt, drift=DriftMonitor(REFERENCE))
    events = [_ev(f"$AAPL and $MSFT slump, day {i}", "Twitter", i) for i in range(30)]
    events += [_ev("Weather is nice", "twitter", 30)]  # no ticker: not scored, not counted
    events += [_ev(f"$BA plunges {i}", "some-blog", 31 + i) for i in range(5)]  # -> "other"
    asyncio.run(handle_raw_batch(rt, topics, events))
    # one count per item (30, not 60 item x ticker records), all at one arrival time
    assert _value(rt, "finsent_model_drift_window_items", source="twitter") == pytest.approx(30)
    assert _value(rt, "finsent_model_drift_window_items", source="other") == pytest.approx(5)
    assert _value(rt, "finsent_model_label_share", source="twitter", label="negative") == 1.0
    labels_psi = _value(
        rt, "finsent_model_drift", source="twitter", distribution="labels", measure="psi"
    )
    assert labels_psi == pytest.approx(psi((1.0, 0.0, 0.0), REFERENCE.labels))
    assert labels_psi > 0.25
    js = _value(rt, "finsent_model_drift", source="twitter", distribution="labels", measure="js")
    assert js is not None and 0 < js <= 1
    assert _value(rt, "finsent_model_confidence_count", source="twitter") == 30
    assert _value(rt, "finsent_model_confidence_bucket", source="twitter", le="0.8") == 0
    assert (
        _value(rt, "finsent_model_confidence_bucket", source="twitter", le="0.9333333333333333")
        == 30
    )
    # a second batch adds to the same window
    asyncio.run(handle_raw_batch(rt, topics, [_ev("$AAPL falls", "twitter", 40)]))
    assert _value(rt, "finsent_model_drift_window_items", source="twitter") == pytest.approx(31)


def test_without_a_reference_nothing_is_counted() -> None:
    rt, topics = stream_runtime(scorer=FixedScorer())
    assert rt.drift.reference is None
    asyncio.run(handle_raw_batch(rt, topics, [_ev("$AAPL slumps", "twitter", 0)]))
    assert len(topics.scored_topic.sent) == 1  # type: ignore[attr-defined]  # scored as usual
    names = {m.name for m in rt.metrics.registry.collect()}
    assert "finsent_model_drift" in names  # declared ...
    samples = [
        s
        for m in rt.metrics.registry.collect()
        if m.name.startswith("finsent_model_") and m.name != "finsent_model"
        for s in m.samples
    ]
    assert samples == []  # ... and never set
    assert rt.drift.state.windows == {}


def _settings(model_dir: Path) -> Settings:
    return Settings(_env_file=None, model_dir=model_dir)  # type: ignore[call-arg]


def _metrics() -> PipelineMetrics:
    return PipelineMetrics.create(process=False)


def test_the_worker_reads_the_shipped_reference() -> None:
    metrics = _metrics()
    monitor = drift_monitor(_settings(DEFAULT_MODEL_DIR), metrics)
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert monitor.reference == Reference.from_dict(manifest["reference"])
    assert monitor.state.half_life_ms == 3_600_000  # FINSENT_DRIFT_HALF_LIFE default 1h
    neg = metrics.registry.get_sample_value(
        "finsent_model_reference_label_share", {"label": "negative"}
    )
    assert neg == manifest["reference"]["labels"]["negative"]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    out.mkdir()
    for name in ("manifest.json", "labels.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, out / name)
    return out


def _rewrite(bundle: Path, change: object) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)  # type: ignore[operator]
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_a_manifest_without_reference_is_one_log_line(
    bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _rewrite(bundle, lambda m: m.pop("reference"))
    metrics = _metrics()
    with caplog.at_level(logging.INFO, logger="finsent.worker"):
        monitor = drift_monitor(_settings(bundle), metrics)
    assert monitor.reference is None
    lines = [r.getMessage() for r in caplog.records if "drift" in r.getMessage()]
    assert len(lines) == 1 and "no reference" in lines[0] and str(bundle) in lines[0]
    assert (
        metrics.registry.get_sample_value(
            "finsent_model_reference_label_share", {"label": "negative"}
        )
        is None
    )


def test_an_unreadable_reference_is_a_warning_not_a_crash(
    bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _rewrite(bundle, lambda m: m["reference"]["confidence"].update(bins=20))
    with caplog.at_level(logging.INFO, logger="finsent.worker"):
        monitor = drift_monitor(_settings(bundle), _metrics())
    assert monitor.reference is None
    (line,) = [r for r in caplog.records if "drift" in r.getMessage()]
    assert line.levelno == logging.WARNING and "confidence bins 20" in line.getMessage()


@pytest.mark.usefixtures("clean_finsent_env")
@pytest.mark.parametrize("value", ["0", "1 hour", "-1h"])
def test_a_bad_half_life_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FINSENT_DRIFT_HALF_LIFE", value)
    with pytest.raises(ConfigError) as info:
        Settings()
    msg = str(info.value)
    assert "\n" not in msg and f"FINSENT_DRIFT_HALF_LIFE={value!r} is invalid" in msg
    assert "ms|s|m|h|d" in msg


@pytest.mark.usefixtures("clean_finsent_env")
def test_the_half_life_setting_reaches_the_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_DRIFT_HALF_LIFE", "15m")
    monitor = drift_monitor(Settings(), _metrics())
    assert monitor.state.half_life_ms == 15 * 60_000
