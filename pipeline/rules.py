"""Alert rule definitions: load `alert_rules.yaml` into core `Rule`s (for the stream and the
backtest). Rendering to Prometheus rules lives in `pipeline.rules_render` (`finsent rules`).

Both readers check the file here, with one-line `RulesError`s that name the file, the rule and
the key: a misspelt `min_unqiue` would otherwise be ignored and the gate silently gone.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.alerts import Rule
from pipeline.errors import FinsentError

RULE_FIELDS = (
    "name", "signal", "op", "threshold", "window", "min_items", "min_unique", "severity",
    "evidence", "decay",
)  # fmt: skip
# Keys of a ticker rule that only the Prometheus render reads.
PROMETHEUS_FIELDS = ("for", "summary", "description", "runbook")
TICKER_RULE_KEYS = (*RULE_FIELDS, *PROMETHEUS_FIELDS)
# Top-level keys of alert_rules.yaml (`pipeline.rules_render` reads the URL ones).
TOP_LEVEL_KEYS = (
    "ticker_rules",
    "ticker_rule_freshness",
    "runbook_base_url",
    "dashboard_base_url",
    "api_base_url",
    "pipeline_rules",
    "recording_rules",
)


class RulesError(FinsentError, ValueError):
    """The rules file is wrong: one line naming the file, the rule and the key to fix (a
    ValueError too, for callers that catch that)."""


def _unknown(key: str, known: tuple[str, ...]) -> str:
    """`'key' is not a known key` with a did-you-mean, and the accepted keys."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {key!r}{hint}; expected one of {', '.join(known)}"


def load_doc(path: str | Path) -> dict[str, Any]:
    """The rules YAML as a mapping ({} for an empty file): both the in-stream rules and the
    Prometheus render (`pipeline.rules_render`) read it, so both alert on one definition. An
    unknown top-level or ticker-rule key, or a bad gate, raises `RulesError`."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(doc, dict):
        raise RulesError(f"{path}: expected a mapping at top level")
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise RulesError(f"{path}: {_unknown(str(key), TOP_LEVEL_KEYS)}")
    specs = doc.get("ticker_rules") or []
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise RulesError(f"{path}: ticker_rules must be a list of mappings")
    for spec in specs:
        for key in spec:
            if key not in TICKER_RULE_KEYS:
                raise RulesError(
                    f"{path}: rule {spec.get('name')}: {_unknown(str(key), TICKER_RULE_KEYS)}"
                )
        for gate in ("min_items", "min_unique"):
            value = spec.get(gate, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RulesError(
                    f"{path}: rule {spec.get('name')}: {gate} must be a whole number >= 0 "
                    f"(unique stories or items in the rule's window), not {value!r}"
                )
    return doc


def load_ticker_rules(path: str | Path) -> tuple[Rule, ...]:
    """The YAML's `ticker_rules` as core `Rule`s, for the worker and the backtest; Prometheus-only
    keys (for, description, runbook) are ignored. A bad signal, op or gate raises `RulesError`."""
    doc = load_doc(path)
    rules = []
    for spec in doc.get("ticker_rules") or []:
        kwargs = {k: spec[k] for k in RULE_FIELDS if k in spec}
        kwargs["summary"] = spec.get("summary", "")
        try:
            rules.append(Rule(**kwargs))
        except (TypeError, ValueError) as exc:
            raise RulesError(f"{path}: {' '.join(str(exc).split())}") from None
    return tuple(rules)
