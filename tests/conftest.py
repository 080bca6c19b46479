"""Shared fixtures. Broker tests get a real Apache Kafka (KRaft) broker started once per session
from the cached jars (`finsent kafka fetch`), or the one named by FINSENT_TEST_BOOTSTRAP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FINSENT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _no_developer_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs as on a fresh machine: no FINSENT_* setting from the developer's shell
    (the tool variables of `config.TOOL_ENV`, such as FINSENT_TEST_BOOTSTRAP, stay), and an
    empty working directory, so no `.env` is read and nothing is written into the checkout.
    Paths in tests are absolute (`REPO / ...`)."""
    from pipeline.config import TOOL_ENV

    for key in [k for k in os.environ if k.upper().startswith("FINSENT_")]:
        if key.upper() not in TOOL_ENV:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bootstrap address of a real broker, started for this test session."""
    external = os.environ.get("FINSENT_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    from pipeline.dev import kafka_local

    data_dir = tmp_path_factory.mktemp("kafka")
    broker = kafka_local.start(data_dir, quiet=True)
    try:
        yield broker.bootstrap
    finally:
        kafka_local.stop(data_dir)


@pytest.fixture(scope="session")
def shipped_scorer():  # type: ignore[no-untyped-def]
    """The shipped ONNX model, loaded once per session (STYLE.md: one real model per session)."""
    from pipeline.scoring.onnx import OnnxScorer

    return OnnxScorer.load()


@pytest.fixture
def clean_finsent_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """On top of `_no_developer_environment` (settings stripped, an empty working directory):
    the tool variables stripped too and the unknown-variable warnings reset; yields a copy of
    the cleaned environment for subprocesses (with PYTHONPATH pointing at this checkout)."""
    from pipeline import config

    for key in [k for k in os.environ if k.upper().startswith("FINSENT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(config, "_WARNED", set())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    yield env
