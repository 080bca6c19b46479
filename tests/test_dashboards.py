"""The provisioned Grafana dashboards are valid Grafana dashboard models and query only what the
worker and the recording rules export. That the queries return data is checked against a real
Prometheus in tests/integration/test_alerting_e2e.py.

Checked here: decoding through Grafana's own generated model (grafana-foundation-sdk, when
installed) without losing panels or queries; required keys; panel types Grafana ships; unique
dashboard uids and panel ids; a grid without overlaps; every target with a PromQL `expr` that
parses (promtool) and names only exported metrics; one datasource uid, the provisioned one;
every `$variable` defined.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from pipeline.config import DEFAULT_RULES, REPO_DIR
from pipeline.metrics import PipelineMetrics
from pipeline.rules import load_doc

GRAFANA = REPO_DIR / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED = {"market-overview", "ticker-drilldown", "pipeline-health"}
# Core panel types of Grafana 10/11 (used when grafana-foundation-sdk is not installed).
CORE_PANEL_TYPES = {
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "heatmap",
    "histogram",
    "piechart",
    "state-timeline",
    "status-history",
    "barchart",
    "text",
    "row",
    "alertlist",
    "annolist",
    "dashlist",
    "logs",
    "news",
    "nodeGraph",
    "trend",
    "xychart",
    "candlestick",
    "geomap",
    "canvas",
}
GLOBAL_VARS = {"__interval", "__rate_interval", "__range", "__interval_ms", "__range_s"}
PROMQL_WORDS = {"ALERTS", "ALERTS_FOR_STATE", "vector", "time"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        out.append(p)
        stack.extend(p.get("panels", []))
    return out


def _datasource_uid() -> str:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (ds,) = [d for d in doc["datasources"] if d["type"] == "prometheus"]
    return str(ds["uid"])


def _known_panel_types() -> set[str]:
    try:
        from grafana_foundation_sdk.cog.plugins import register_default_plugins
        from grafana_foundation_sdk.cog.runtime import Runtime
    except ImportError:
        return CORE_PANEL_TYPES
    register_default_plugins()
    return set(Runtime().panelcfg_variants) | {"row"}


def _exprs(dash: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if a.get("expr")]
    return exprs


def test_the_three_dashboards_exist_with_unique_uids() -> None:
    assert {p.stem for p in DASHBOARDS} == EXPECTED
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_model(path: Path) -> None:
    dash = _load(path)
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "annotations", "time"):
        assert key in dash, f"{path.name}: missing {key}"
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dash["uid"])
    assert "finsent" in dash.get("tags", [])
    panels = _panels(dash)
    assert panels
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate panel ids"
    known = _known_panel_types()
    cells: set[tuple[int, int]] = set()
    for p in panels:
        where = f"{path.name} panel {p.get('id')} {p.get('title')!r}"
        assert p["type"] in known, f"{where}: unknown panel type {p['type']}"
        assert p.get("title"), where
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "hwxy") and g["x"] + g["w"] <= 24, where
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{where}: overlaps another panel"
        cells |= mine
        if p["type"] == "row":
            continue
        targets = p.get("targets", [])
        assert targets, f"{where}: no targets"
        assert len({t["refId"] for t in targets}) == len(targets), where
        for t in targets:
            assert t.get("expr", "").strip(), f"{where}: target {t.get('refId')} without expr"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_one_datasource_the_provisioned_one(path: Path) -> None:
    uid = _datasource_uid()
    dash = _load(path)
    refs = [p["datasource"] for p in _panels(dash) if p["type"] != "row"]
    refs += [t["datasource"] for p in _panels(dash) for t in p.get("targets", [])]
    refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
    refs += [a["datasource"] for a in dash["annotations"]["list"] if not a.get("builtIn")]
    assert refs
    for ref in refs:
        assert ref == {"type": "prometheus", "uid": uid}, f"{path.name}: {ref}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_variable_is_defined(path: Path) -> None:
    dash = _load(path)
    defined = {v["name"] for v in dash["templating"]["list"]} | GLOBAL_VARS
    for expr in _exprs(dash):
        for name in re.findall(r"\$\{?(\w+)", expr):
            assert name in defined, f"{path.name}: ${name} is not a dashboard variable"


def test_ticker_drilldown_has_the_ticker_variable_and_alert_annotations() -> None:
    dash = _load(GRAFANA / "dashboards" / "ticker-drilldown.json")
    (var,) = [v for v in dash["templating"]["list"] if v["name"] == "ticker"]
    assert var["type"] == "query" and "finsent_ticker_" in var["definition"]
    anns = [a for a in dash["annotations"]["list"] if "ALERTS" in a.get("expr", "")]
    assert anns and "$ticker" in anns[0]["expr"]


def test_queries_name_only_exported_metrics() -> None:
    m = PipelineMetrics.create(CollectorRegistry(), ["AAPL"], ["news.raw"])
    exported = set()
    for family in m.registry.collect():
        exported |= {family.name, family.name + "_total", family.name + "_info"}
        exported |= {family.name + s for s in ("_bucket", "_sum", "_count")}
    exported |= {r["record"] for r in load_doc(DEFAULT_RULES)["recording_rules"]}
    for path in DASHBOARDS:
        for expr in _exprs(_load(path)):
            names = set(re.findall(r"(?<![\w:$])((?:\w+:)*finsent_[\w:]+)", expr))
            unknown = {n for n in names if n not in exported}
            assert not unknown, f"{path.name}: {expr} reads {unknown}"


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not found: apt-get install prometheus (Debian package)",
)
def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each expr as a recording rule: a PromQL syntax error fails here, offline."""
    rules = [
        {
            "record": f"dashboard:query:{i}",
            "expr": re.sub(r"\$\{?ticker\}?", "AAPL", e).replace("$__rate_interval", "1m"),
        }
        for i, e in enumerate(e for p in DASHBOARDS for e in _exprs(_load(p)))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_decodes_through_grafanas_dashboard_model(path: Path) -> None:
    """grafana-foundation-sdk is generated from Grafana's own dashboard schema (the kinds in
    grafana/grafana). Decode with it and check nothing we wrote was dropped or retyped."""
    sdk = pytest.importorskip(
        "grafana_foundation_sdk.models.dashboard", reason="pip install grafana-foundation-sdk"
    )
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    dash = _load(path)
    model = sdk.Dashboard.from_json(dash)
    back = json.loads(json.dumps(model.to_json(), default=lambda o: o.to_json()))
    assert back["uid"] == dash["uid"] and back["title"] == dash["title"]
    assert [p["type"] for p in back["panels"]] == [p["type"] for p in dash["panels"]]
    for mine, theirs in zip(dash["panels"], back["panels"], strict=True):
        assert theirs["gridPos"] == mine["gridPos"]
        exprs = [t["expr"] for t in theirs.get("targets", [])]
        assert exprs == [t["expr"] for t in mine["targets"]]
    assert [v["name"] for v in back.get("templating", {}).get("list", [])] == [
        v["name"] for v in dash["templating"]["list"]
    ]


def test_provisioning_points_at_the_dashboards() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "finsent.yaml").read_text())
    (provider,) = doc["providers"]
    assert doc["apiVersion"] == 1 and provider["type"] == "file" and provider["options"]["path"]
