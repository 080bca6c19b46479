"""What a backtest run produces: the driver (`run.py`) fills a `BacktestResult`, the report
(`report.py`) reads it. Its own module so the arrows go one way, run -> report -> result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.records import Alert, WindowStats


@dataclass
class BacktestResult:
    """Final windows (every window the stream would have closed, plus the ones still open at the
    end, flushed) and the alerts, in the order the core produced them."""

    windows: list[WindowStats] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    items: int = 0
    linked_items: int = 0
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
