"""A new per-ticker state version is a new table: the worker says so (a warning and
`finsent_state_version_resets_total`) instead of silently starting every ticker from nothing."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.core.aggregate import STATE_VERSION
from pipeline.metrics import PipelineMetrics
from pipeline.stream.worker import older_state_changelogs, report_state_version


def _metrics() -> PipelineMetrics:
    return PipelineMetrics.create(CollectorRegistry(), frozenset({"AAPL"}), process=False)


def _resets(m: PipelineMetrics) -> float | None:
    return m.registry.get_sample_value("finsent_state_version_resets_total")


def test_a_start_on_a_new_version_over_an_old_changelog_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = _metrics()
    with caplog.at_level(logging.WARNING, logger="finsent.worker"):
        report_state_version(["finsent-ticker_to_state_v1-changelog"], False, m)
    assert _resets(m) == 1
    assert f"state version {STATE_VERSION} is new" in caplog.text
    assert "finsent-ticker_to_state_v1-changelog" in caplog.text


def test_no_report_once_the_new_version_has_state_or_on_a_fresh_cluster(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = _metrics()
    with caplog.at_level(logging.WARNING, logger="finsent.worker"):
        report_state_version(["finsent-ticker_to_state_v1-changelog"], True, m)
        report_state_version([], False, m)
    assert _resets(m) == 0 and not caplog.text


@pytest.mark.kafka
def test_older_changelogs_are_found_on_the_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    from kafka.admin import NewTopic

    from pipeline.kafka_clients import admin

    app_id = f"t{uuid.uuid4().hex[:8]}-finsent"
    s = Settings(_env_file=None, bootstrap_servers=kafka_bootstrap, app_id=app_id)  # type: ignore[call-arg]
    assert older_state_changelogs(s) == ([], False)
    old = f"{app_id}-ticker_to_state_v{STATE_VERSION - 1}-changelog"
    client = admin(s)
    try:
        client.create_topics([NewTopic(old, 1, 1)])
    finally:
        client.close()
    assert older_state_changelogs(s) == ([old], False)
