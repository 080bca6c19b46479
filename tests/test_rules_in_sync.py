"""One YAML, two evaluators: the in-stream core rules (`load_ticker_rules`) and the rendered
Prometheus rules must agree on every threshold, window, volume gate and severity; every metric a
rule reads must be one the worker exports; and the committed render must be fresh."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry

from pipeline.config import DEFAULT_RULES, REPO_DIR, Settings
from pipeline.metrics import PipelineMetrics
from pipeline.rules import load_doc, load_ticker_rules
from pipeline.rules_render import (
    DRILLDOWN_UID,
    HELM_RULES_FILE,
    ITEMS_GAUGE,
    LIVE_ONLY,
    NAMESPACE_LABEL,
    PROMETHEUS_RULE,
    RULES_FILE,
    SIGNAL_GAUGES,
    UNIQUE_GAUGE,
    render,
)

CONDITION = re.compile(r'^(\w+)\{(\w+)="([^"]+)"\} (<=|>=|<|>) (-?[\d.]+)')
GATE = re.compile(ITEMS_GAUGE + r'\{window="([^"]+)"\} >= (\d+)')
UNIQUE_GATE = re.compile(UNIQUE_GAUGE + r'\{window="([^"]+)"\} >= (\d+)')


def _rendered_alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def _committed_groups() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]


def test_committed_render_is_fresh() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "rules", "--check"],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        timeout=60,
    )
    assert out.returncode == 0, f"stale render, run `finsent rules`:\n{out.stdout}{out.stderr}"


def test_check_flags_a_stale_file(tmp_path: Any) -> None:
    root = tmp_path
    cmd = [sys.executable, "-m", "pipeline.cli", "rules", "--out", str(root)]
    assert subprocess.run(cmd, capture_output=True, cwd=REPO_DIR, timeout=60).returncode == 0
    path = root / RULES_FILE
    path.write_text(path.read_text().replace("< -3", "< -2"))
    out = subprocess.run(
        [*cmd, "--check"], capture_output=True, text=True, cwd=REPO_DIR, timeout=60
    )
    assert out.returncode == 1 and "< -2" in out.stdout


@pytest.mark.parametrize("rule", load_ticker_rules(DEFAULT_RULES), ids=lambda r: r.name)
def test_core_rule_equals_prometheus_rule(rule: Any) -> None:
    prom = _rendered_alerts(_committed_groups())[rule.name]
    first, *rest = prom["expr"].splitlines()
    m = CONDITION.match(first)
    assert m, prom["expr"]
    gauge, label, selector, op, threshold = m.groups()
    assert (gauge, label) == SIGNAL_GAUGES[rule.signal]
    assert selector == (rule.decay if label == "half_life" else rule.window)
    assert op == rule.op and float(threshold) == rule.threshold
    for pattern, value in ((GATE, rule.min_items), (UNIQUE_GATE, rule.min_unique)):
        gate = pattern.search(prom["expr"])
        if value:
            assert gate and gate.group(1) == rule.window and int(gate.group(2)) == value
        else:
            assert gate is None
    assert prom["labels"]["severity"] == rule.severity


def test_same_ticker_rules_in_both_places() -> None:
    core = {r.name for r in load_ticker_rules(DEFAULT_RULES)}
    ticker_group = next(g for g in _committed_groups() if g["name"] == "finsent.tickers")
    assert core == {r["alert"] for r in ticker_group["rules"]}


def test_prometheusrule_object_holds_the_same_groups() -> None:
    obj = yaml.safe_load((REPO_DIR / PROMETHEUS_RULE).read_text())
    assert obj["spec"]["groups"] == _committed_groups()


def test_helm_chart_embeds_the_same_rules_file() -> None:
    """The chart's PrometheusRule template reads files/finsent-rules.yml (a chart cannot read
    outside its folder); `finsent rules` writes it from the same render."""
    assert (REPO_DIR / HELM_RULES_FILE).read_text() == (REPO_DIR / RULES_FILE).read_text()


def test_z_score_rules_read_the_baseline_window() -> None:
    """The z-score gauges are labelled with the baseline window: a rule on another window would
    select nothing in Prometheus while it fires in-stream."""
    baseline = Settings().baseline_window
    for rule in load_ticker_rules(DEFAULT_RULES):
        if rule.signal in ("sentiment_z", "volume_z"):
            assert rule.window == baseline, rule.name


def test_stall_threshold_equals_the_liveness_probe() -> None:
    doc = load_doc(DEFAULT_RULES)
    spec = next(r for r in doc["pipeline_rules"] if r["name"] == "FinsentPipelineStalled")
    assert float(spec["params"]["stall_after_s"]) == Settings().stall_after_s


def test_rules_read_only_exported_metrics() -> None:
    """Metric names are the contract (pipeline/metrics.py): a renamed gauge must break here,
    not silently stop an alert."""
    m = PipelineMetrics.create(CollectorRegistry(), ["AAPL"], ["news.raw"])
    exported = set()
    for family in m.registry.collect():
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
        if family.type == "counter":
            exported.add(family.name + "_total")
        if family.type == "histogram":
            exported.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        if family.type == "info":
            exported.add(family.name + "_info")
    groups = render(load_doc(DEFAULT_RULES))
    text = "\n".join(groups.values())
    # metric names, not label names in matchers (`{finsent_namespace!=""}`)
    used = set(re.findall(r'(?<![:\w])finsent_\w+(?!\w|\s*(?:!=|=~|!~|=)\s*\\?")', text))
    records = {r["record"] for g in _committed_groups() for r in g["rules"] if "record" in r}
    unknown = {u for u in used if u not in exported and u not in records}
    assert not unknown, f"rules read metrics the worker does not export: {unknown}"


def test_for_override_and_unknown_parameters() -> None:
    """`--for` shortens every rule (end-to-end tests); a typo in `${param}` fails the render."""
    doc = load_doc(DEFAULT_RULES)
    groups = yaml.safe_load(render(doc, for_override="5s")[RULES_FILE])["groups"]
    assert {r["for"] for r in _rendered_alerts(groups).values()} == {"5s"}
    broken = {**doc, "pipeline_rules": [{**doc["pipeline_rules"][0], "params": {}}]}
    with pytest.raises(ValueError, match="unknown parameter"):
        render(broken)


def test_every_rule_leaves_out_namespaced_workers() -> None:
    """A replay worker (FINSENT_NAMESPACE set, on finsent_build_info) feeds no alert and no
    recording rule: every expression drops its series (tests/prometheus/replay-alerts.test.yml
    shows it with promtool). The label is the one the worker exports."""
    from pipeline import metrics

    assert NAMESPACE_LABEL == metrics.NAMESPACE_LABEL
    assert f'finsent_build_info{{{NAMESPACE_LABEL}!=""}}' in LIVE_ONLY
    for group in _committed_groups():
        for rule in group["rules"]:
            # a rule that reads only recording rules (`level:metric:ops`) is already live-only
            raw = re.findall(r"(?<![:\w])finsent_\w+", rule["expr"].replace(LIVE_ONLY, ""))
            assert not raw or LIVE_ONLY in rule["expr"], rule.get("alert") or rule["record"]


def test_volume_and_sentiment_rules_gate_on_unique_stories() -> None:
    """The retweet-storm guard is in the shipped rules, in both evaluators (issue #17)."""
    rules = {r.name: r for r in load_ticker_rules(DEFAULT_RULES)}
    for name in ("VolumeSpike", "SentimentSurge", "SentimentCollapse"):
        assert rules[name].min_unique >= 2, name
        assert UNIQUE_GATE.search(_rendered_alerts(_committed_groups())[name]["expr"]), name


def test_links_point_at_the_drilldown_dashboard_and_the_worker_service() -> None:
    """dashboard_url names the drill-down dashboard that grafana/build_dashboards.py builds, with
    its `ticker` variable; evidence_url the worker Service of k8s/base and its port."""
    board = json.loads((REPO_DIR / "k8s/base/dashboards/ticker-drilldown.json").read_text())
    assert board["uid"] == DRILLDOWN_UID
    assert "ticker" in {v["name"] for v in board["templating"]["list"]}
    service = yaml.safe_load((REPO_DIR / "k8s/base/service.yaml").read_text())
    port = service["spec"]["ports"][0]["port"]
    doc = load_doc(DEFAULT_RULES)
    ticker_group = next(g for g in _committed_groups() if g["name"] == "finsent.tickers")
    for rule in ticker_group["rules"]:
        ann = rule["annotations"]
        dash = urlsplit(ann["dashboard_url"].replace("{{ $labels.ticker | urlquery }}", "BA"))
        assert f"{dash.scheme}://{dash.netloc}" == doc["dashboard_base_url"].rstrip("/")
        assert dash.path == f"/d/{DRILLDOWN_UID}/"
        assert parse_qs(dash.query) == {"var-ticker": ["BA"], "from": ["now-6h"], "to": ["now"]}
        evidence = urlsplit(ann["evidence_url"].replace("{{ $labels.ticker | urlquery }}", "BA"))
        assert f"{evidence.scheme}://{evidence.netloc}" == doc["api_base_url"].rstrip("/")
        assert evidence.path == "/alerts" and parse_qs(evidence.query) == {"ticker": ["BA"]}
    assert (
        doc["api_base_url"]
        .rstrip("/")
        .endswith(f"{service['metadata']['name']}.finsent.svc:{port}")
    )


def test_the_unique_gauge_is_the_window_unique_count_and_moves_with_the_ticker() -> None:
    """What the Prometheus gate reads is `WindowStats.unique`, the core gate's count; a ticker
    that moves to another worker takes it along (no stale count left to open the gate)."""
    from pipeline.core.records import Snapshot, WindowStats

    m = PipelineMetrics.create(CollectorRegistry(), ["AAPL", "MSFT"], ["news.raw"], process=False)
    for ticker in ("AAPL", "MSFT"):
        w = WindowStats(ticker, "1h", 0, 3_600_000, 40, 3, 37, -0.25, 2.0, 1, 0, 2)
        m.observe_snapshot(Snapshot(ticker, 10, {"1h": w}, {}, None, 9.0, 30), "1h")
    labels = {"ticker": "AAPL", "window": "1h"}
    assert m.registry.get_sample_value(UNIQUE_GAUGE, labels) == 3
    assert m.registry.get_sample_value(ITEMS_GAUGE, labels) == 40
    m.forget_ticker("AAPL")
    assert m.registry.get_sample_value(UNIQUE_GAUGE, labels) is None
    assert m.registry.get_sample_value(UNIQUE_GAUGE, {**labels, "ticker": "MSFT"}) == 3
