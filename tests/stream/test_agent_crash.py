"""An agent that dies takes the worker with it (no zombie with green probes): the failure is
recorded for /live and the worker is asked to stop, which then exits non-zero (worker.run)."""

from __future__ import annotations

import asyncio
import signal
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.stream import agents
from pipeline.stream.runtime import Health
from pipeline.stream.web import stalled


def test_a_crashing_agent_marks_the_worker_fatal_and_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(agents.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    rt: Any = SimpleNamespace(health=Health(), settings=SimpleNamespace(stall_after_s=120.0))

    async def body(stream: Any) -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        asyncio.run(agents._guarded(rt, agents.SCORE_AGENT, body)(None))  # noqa: SLF001
    assert rt.health.fatal and agents.SCORE_AGENT in rt.health.fatal
    assert kills and kills[0][1] == signal.SIGTERM
    assert stalled(rt, 0.0)  # /live fails from now on


def test_cancellation_is_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents.os, "kill", lambda pid, sig: pytest.fail("killed"))
    rt: Any = SimpleNamespace(health=Health())

    async def body(stream: Any) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(agents._guarded(rt, agents.SCORE_AGENT, body)(None))  # noqa: SLF001
    assert rt.health.fatal is None
