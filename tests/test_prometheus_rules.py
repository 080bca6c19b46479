"""The rendered Prometheus rules are valid and behave: `promtool check rules` on both outputs and
`promtool test rules` on the synthetic series in tests/prometheus/ (each alert fires and, where
the volume gate or a healthy neighbour says so, does not). Needs Debian's `prometheus` package
(promtool); the Alertmanager example is checked with `amtool` from `prometheus-alertmanager`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import REPO_DIR
from pipeline.rules_render import PROMETHEUS_RULE, RULES_FILE

pytestmark = pytest.mark.prometheus
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
UNIT_TESTS = sorted((REPO_DIR / "tests" / "prometheus").glob("*.test.yml"))
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found: apt-get install prometheus (Debian package)"
)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_DIR, timeout=120)


def _alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


@needs_promtool
def test_rules_file_passes_promtool_check() -> None:
    out = _run(str(PROMTOOL), "check", "rules", str(RULES_FILE))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_prometheusrule_groups_pass_promtool_check(tmp_path: Path) -> None:
    obj = yaml.safe_load((REPO_DIR / PROMETHEUS_RULE).read_text())
    assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "PrometheusRule"
    extracted = tmp_path / "groups.yml"
    extracted.write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]}))
    out = _run(str(PROMTOOL), "check", "rules", str(extracted))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
@pytest.mark.parametrize("path", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(path: Path) -> None:
    out = _run(str(PROMTOOL), "test", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_firing_unit_test() -> None:
    groups = yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert UNIT_TESTS
    assert set(_alerts(groups)) <= fired, f"no firing test for {set(_alerts(groups)) - fired}"
    assert quiet, "no negative cases"


def test_every_alert_has_for_severity_annotations_and_a_runbook() -> None:
    groups = yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]
    for name, rule in _alerts(groups).items():
        assert rule.get("for"), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        ann = rule["annotations"]
        assert ann["summary"] and ann["description"], name
        runbook = REPO_DIR / "k8s" / "runbooks" / ann["runbook_url"].rsplit("/", 1)[-1]
        assert runbook.is_file(), f"{name}: {runbook} missing"
        assert name in runbook.read_text(), f"{runbook.name} does not name {name}"


def test_every_ticker_alert_links_its_dashboard_and_evidence() -> None:
    """The links a page carries (issue #17): expanded per alert by promtool in
    tests/prometheus/ticker-alerts.test.yml; here, that no ticker rule lacks them."""
    groups = yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]
    tickers = next(g for g in groups if g["name"] == "finsent.tickers")["rules"]
    assert tickers
    for rule in tickers:
        ann = rule["annotations"]
        assert "var-ticker={{ $labels.ticker | urlquery }}" in ann["dashboard_url"], rule["alert"]
        assert ann["evidence_url"].endswith("/alerts?ticker={{ $labels.ticker | urlquery }}")


def test_recording_rules_follow_level_metric_operations() -> None:
    groups = yaml.safe_load((REPO_DIR / RULES_FILE).read_text())["groups"]
    records = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    assert records
    for name in records:
        level, metric, ops = name.split(":")
        assert level and metric.startswith("finsent_") and ops, name


@pytest.mark.skipif(
    AMTOOL is None, reason="amtool not found: apt-get install prometheus-alertmanager"
)
def test_alertmanager_example_passes_amtool() -> None:
    out = _run(str(AMTOOL), "check-config", "k8s/alertmanager/alertmanager.yml")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(
    AMTOOL is None, reason="amtool not found: apt-get install prometheus-alertmanager"
)
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("alertname=SentimentCollapse severity=critical ticker=BA", "pager"),
        ("alertname=FinsentPipelineStalled severity=critical", "pager"),
        ("alertname=VolumeSpike severity=warning ticker=BA", "tickets"),
        ("alertname=FinsentNoInput severity=warning", "tickets"),
    ],
)
def test_alertmanager_routes_critical_to_the_pager(labels: str, receiver: str) -> None:
    out = _run(
        str(AMTOOL),
        "config",
        "routes",
        "test",
        "--config.file=k8s/alertmanager/alertmanager.yml",
        *labels.split(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receiver
