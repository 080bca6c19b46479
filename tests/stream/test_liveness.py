"""Liveness fails only on a real stall: lag > 0 and no progress for `stall_after_s`, outside of
rebalances and table recovery (faust's silent-stall failure mode, without restart loops)."""

from types import SimpleNamespace

from pipeline.stream.runtime import Health
from pipeline.stream.web import stalled


def _rt(lag: int, last: float) -> SimpleNamespace:
    return SimpleNamespace(
        health=Health(model_loaded=True, last_progress_monotonic=last, lag={"news.raw": lag}),
        settings=SimpleNamespace(stall_after_s=120.0),
    )


def test_no_progress_with_lag_is_a_stall() -> None:
    assert stalled(_rt(lag=5, last=0.0), 121.0)  # type: ignore[arg-type]


def test_quiet_market_is_not_a_stall() -> None:
    assert not stalled(_rt(lag=0, last=0.0), 10_000.0)  # type: ignore[arg-type]


def test_recent_progress_is_not_a_stall() -> None:
    assert not stalled(_rt(lag=50, last=100.0), 150.0)  # type: ignore[arg-type]


def test_recovery_or_rebalance_is_not_a_stall_and_restarts_the_clock() -> None:
    rt = _rt(lag=50, last=0.0)
    assert not stalled(rt, 500.0, busy=True)  # type: ignore[arg-type]
    assert not stalled(rt, 600.0)  # type: ignore[arg-type]  # clock restarted at 500
    assert stalled(rt, 621.0)  # type: ignore[arg-type]


def test_a_crashed_agent_fails_liveness_even_without_lag() -> None:
    rt = _rt(lag=0, last=0.0)
    rt.health.fatal = "agent score_agent crashed"
    assert stalled(rt, 1.0)  # type: ignore[arg-type]
