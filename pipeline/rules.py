"""Alert rule definitions: load `alert_rules.yaml` into core `Rule`s (for the stream and the
backtest). Rendering to Prometheus rules lives in `pipeline.rules_render` (`finsent rules`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.core.alerts import Rule

RULE_FIELDS = (
    "name", "signal", "op", "threshold", "window", "min_items", "severity", "evidence", "decay",
)  # fmt: skip


def load_doc(path: str | Path) -> dict[str, Any]:
    """The rules YAML as a mapping ({} for an empty file): both the in-stream rules and the
    Prometheus render (`pipeline.rules_render`) read it, so both alert on one definition."""
    with Path(path).open(encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    return doc


def load_ticker_rules(path: str | Path) -> tuple[Rule, ...]:
    """The YAML's `ticker_rules` as core `Rule`s, for the worker and the backtest; Prometheus-only
    keys (for, description, runbook) are ignored. A bad signal or op raises ValueError at load."""
    doc = load_doc(path)
    rules = []
    for spec in doc.get("ticker_rules", []):
        kwargs = {k: spec[k] for k in RULE_FIELDS if k in spec}
        kwargs["summary"] = spec.get("summary", "")
        rules.append(Rule(**kwargs))
    return tuple(rules)
