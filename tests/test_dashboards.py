"""The provisioned Grafana dashboards are rendered by grafana/build_dashboards.py
(grafana-foundation-sdk), are valid Grafana dashboard models and query only what the worker and
the recording rules export. That the queries return data is checked against a real Prometheus in
tests/integration/test_alerting_e2e.py.

Checked here: the committed JSON is a fresh render; decoding through Grafana's own generated model
without losing panels or queries; required keys; panel types Grafana ships; unique dashboard uids
and panel ids; a grid without overlaps; every target with a PromQL `expr` that parses (promtool)
and names only exported metrics; the data source is the `datasource` variable everywhere (no uid
baked in); every selector scoped by the cluster/namespace variables; multi-select tickers filtered
by a sector variable built from the symbol table; a description and a unit on every panel; links
from the overview's ticker panels to the drill-down; an undefined z-score shown as "no baseline";
every `$variable` defined.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
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


DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCOPE = 'cluster=~"|$cluster", namespace=~"|$namespace"'
# A metric selector: a metric name or recording rule (or ALERTS), optionally with `{...}`.
SELECTOR = re.compile(r'(?<![\w:$"])((?:\w+:)*finsent_[\w:]+|ALERTS)(\{[^}]*\})?')


def _provisioned_datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (ds,) = [d for d in doc["datasources"] if d["type"] == "prometheus"]
    return dict(ds)


def _variables(dash: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dash["templating"]["list"]}


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


def test_committed_dashboards_are_a_fresh_render() -> None:
    """grafana/dashboards/*.json is output of grafana/build_dashboards.py: edit the builder."""
    pytest.importorskip("grafana_foundation_sdk", reason="pip install grafana-foundation-sdk")
    res = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_datasource_is_a_variable_not_a_uid(path: Path) -> None:
    """Importing into an existing Grafana must not break: every panel, target, query variable and
    annotation uses the `datasource` variable; the provisioned Prometheus is the default one, so
    the variable picks it in the bundled setup."""
    dash = _load(path)
    variables = _variables(dash)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    refs = [p["datasource"] for p in _panels(dash) if p["type"] != "row"]
    refs += [t["datasource"] for p in _panels(dash) for t in p.get("targets", [])]
    refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
    refs += [a["datasource"] for a in dash["annotations"]["list"] if not a.get("builtIn")]
    assert refs
    for ref in refs:
        assert ref == DATASOURCE, f"{path.name}: {ref}"
    assert _provisioned_datasource()["isDefault"] is True


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_selector_is_scoped_by_cluster_and_namespace(path: Path) -> None:
    dash = _load(path)
    variables = _variables(dash)
    for name in ("cluster", "namespace"):
        v = variables[name]
        assert v["type"] == "query" and v["includeAll"] is True and v["allValue"] == ".*"
    for expr in _exprs(dash):
        found = SELECTOR.findall(expr)
        assert found, expr
        for metric, matchers in found:
            assert matchers.startswith("{" + SCOPE), f"{path.name}: {metric}{matchers} unscoped"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_has_a_description_and_a_unit(path: Path) -> None:
    for p in _panels(_load(path)):
        if p["type"] == "row":
            continue
        assert p.get("description", "").strip(), f"{path.name}: {p['title']!r} has no description"
        assert p["fieldConfig"]["defaults"].get("unit"), f"{path.name}: {p['title']!r} has no unit"


def test_tickers_are_multi_select_and_filtered_by_sector() -> None:
    with (REPO_DIR / "pipeline" / "data" / "symbols.csv").open(newline="") as f:
        sectors = {r["sector"] for r in csv.DictReader(f) if r.get("sector")}
    assert sectors
    for stem in ("market-overview", "ticker-drilldown"):
        variables = _variables(_load(GRAFANA / "dashboards" / f"{stem}.json"))
        ticker, sector = variables["ticker"], variables["sector"]
        assert ticker["multi"] is True and ticker["includeAll"] is True
        assert 'ticker=~"$sector"' in ticker["query"]
        # single-select, no Grafana "All": Grafana regex-escapes multi/All values (`|` -> `\|`)
        assert sector["type"] == "custom" and not sector.get("multi") and not sector["includeAll"]
        options = dict(o.split(" : ", 1) for o in sector["query"].split(", "))
        assert options.pop("All sectors") == ".*"
        assert set(options) == sectors
        assert all(re.fullmatch(r"[A-Z0-9|\\.-]+", rx) for rx in options.values())


def test_overview_groups_by_sector_and_links_to_the_drilldown() -> None:
    dash = _load(GRAFANA / "dashboards" / "market-overview.json")
    drilldown = _load(GRAFANA / "dashboards" / "ticker-drilldown.json")
    sector_exprs = [e for e in _exprs(dash) if "by (sector)" in e]
    assert len(sector_exprs) >= 2 and all("label_replace" in e for e in sector_exprs)
    linked = [
        p
        for p in _panels(dash)
        if any(f"/d/{drilldown['uid']}/" in link["url"] for link in _links(p))
    ]
    assert len(linked) >= 4
    for p in linked:
        for link in _links(p):
            assert "var-ticker=${__field.labels.ticker}" in link["url"]
            assert "${__url_time_range}" in link["url"]
    # and back: the drill-down links to the overview
    assert any(dash["uid"] in link.get("url", "") for link in drilldown["links"])


def _links(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return list(panel.get("fieldConfig", {}).get("defaults", {}).get("links", []))


def test_undefined_z_scores_show_no_baseline_not_zero() -> None:
    """The worker exports 0 for a z-score without a baseline; every panel that shows a z-score
    maps 0 to a text instead of a neutral-looking 0."""
    z_panels = [
        (path.stem, p)
        for path in DASHBOARDS
        for p in _panels(_load(path))
        if any("zscore" in t["expr"] for t in p.get("targets", []))
    ]
    assert len(z_panels) >= 6
    for stem, p in z_panels:
        mappings = p["fieldConfig"]["defaults"].get("mappings", [])
        zero = [m["options"]["0"] for m in mappings if m["type"] == "value" and "0" in m["options"]]
        assert zero and zero[0]["text"] == "no baseline", f"{stem}: {p['title']!r}"


def test_builder_reads_the_sector_by_column_name(tmp_path: Path) -> None:
    """The symbol table gains columns over time; the builder finds `symbol` and `sector` by name."""
    pytest.importorskip("grafana_foundation_sdk", reason="pip install grafana-foundation-sdk")
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = tmp_path / "symbols.csv"
    table.write_text(
        "extra,sector,name,symbol\nx,Energy,Exxon,XOM\ny,,Nobody,ZZZ\nz,Energy,Chevron,cvx\n"
    )
    assert module.sectors(table) == {"Energy": ["CVX", "XOM"]}
    assert module.ticker_regex(["BRK.B", "A"]) == "BRK\\\\.B|A"


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
    assert var["type"] == "query" and "finsent_ticker_" in var["query"]
    anns = [a for a in dash["annotations"]["list"] if "ALERTS" in a.get("expr", "")]
    assert anns and 'ticker=~"$ticker"' in anns[0]["expr"]


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
        assert exprs == [t["expr"] for t in mine.get("targets", [])]  # a row has none
    assert [v["name"] for v in back.get("templating", {}).get("list", [])] == [
        v["name"] for v in dash["templating"]["list"]
    ]


def test_provisioning_points_at_the_dashboards() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "finsent.yaml").read_text())
    (provider,) = doc["providers"]
    assert doc["apiVersion"] == 1 and provider["type"] == "file" and provider["options"]["path"]
