"""The deterministic core: validation, ticker linking, novelty, privacy masking, scoring
interface, windows, aggregation, watermarks and alert rules, and `step.py`, the functions both
drivers call (the stream, `pipeline/stream/`, and the backtest, `pipeline/backtest/`). Standard
library only; no I/O, no clock, and never faust, onnxruntime, prometheus_client or torch
(tests/test_architecture.py enforces it). Why one core: README.md, "Architecture".
"""

from pipeline.core.aggregate import AggregationConfig
from pipeline.core.alerts import Rule
from pipeline.core.records import (
    LABELS,
    Alert,
    Evidence,
    Item,
    Mention,
    Rejected,
    Score,
    Scored,
    Snapshot,
    Verdict,
    WindowStats,
)
from pipeline.core.scoring import Scorer, score_from_probs
from pipeline.core.step import CoreConfig, Outputs, accept, advance, flush, score_items, step
from pipeline.core.symbols import SymbolTable
from pipeline.core.tickers import link
from pipeline.core.validate import parse_item

__all__ = [
    "LABELS",
    "AggregationConfig",
    "Alert",
    "CoreConfig",
    "Evidence",
    "Item",
    "Mention",
    "Outputs",
    "Rejected",
    "Rule",
    "Score",
    "Scored",
    "Scorer",
    "Snapshot",
    "SymbolTable",
    "Verdict",
    "WindowStats",
    "accept",
    "advance",
    "flush",
    "link",
    "parse_item",
    "score_from_probs",
    "score_items",
    "step",
]
