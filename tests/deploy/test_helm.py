"""k8s/helm/finsent: `helm lint` passes, `helm template` output validates offline against the same
Kubernetes and CRD schemas as the kustomize overlays, every optional part can be switched off, and
the default (and GPU) render equals the kustomize overlay it mirrors, object by object.

Why parity with kustomize rather than a second set of checks: tests/deploy/test_k8s.py already
pins the facts that matter (probes, security context, topics vs `Settings`, KEDA vs partitions,
secret mounts); a chart that renders the same objects inherits them, and a drift between the two
install paths fails here. helm is built from the Go module proxy by .ci/install-k8s-tools.sh.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import test_k8s as k8s_checks
from tests.deploy.test_k8s import (
    TOOLS_BIN,
    Doc,
    check_selectors,
    one,
    render,
    validate_builtin,
    validate_vendored_crds,
)

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "k8s" / "helm" / "finsent"
KUBE_VERSION = "1.30.0"  # the oldest supported (test_k8s.OLDEST_K8S); the chart's kubeVersion
NO_OPERATORS = {
    "strimzi": {"enabled": False},
    "keda": {"enabled": False},
    "serviceMonitor": {"enabled": False},
    "prometheusRule": {"enabled": False},
    "secrets": {
        "create": True,
        "saslPassword": "s3cret",
        "caCrt": "-----BEGIN CERTIFICATE-----",
        "apiToken": "t0ken",
    },
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "gpu": {"gpu": {"enabled": True}},
    "no-operators": NO_OPERATORS,
    "no-operators-gpu": {**NO_OPERATORS, "gpu": {"enabled": True}},
    "digest-no-policy-no-dashboards": {
        "image": {"digest": "sha256:" + "0" * 64},
        "networkPolicy": {"enabled": False},
        "dashboards": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
}
OPERATOR_KINDS = {
    "strimzi": {"KafkaTopic", "KafkaUser"},
    "keda": {"ScaledObject", "TriggerAuthentication"},
    "serviceMonitor": {"ServiceMonitor"},
    "prometheusRule": {"PrometheusRule"},
}


def helm() -> str:
    for candidate in (TOOLS_BIN / "helm", shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    if os.environ.get("CI"):
        pytest.fail("helm missing: run .ci/install-k8s-tools.sh")
    pytest.skip("helm missing: run .ci/install-k8s-tools.sh")


def run_helm(*args: str, values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [helm(), *args]
    if values:
        cmd += ["--values", "-"]
    return subprocess.run(
        cmd, input=yaml.safe_dump(values or {}), capture_output=True, text=True, timeout=120
    )


@cache
def _template(name: str, release: str, values_yaml: str) -> tuple[Doc, ...]:
    values = yaml.safe_load(values_yaml)
    res = run_helm(
        "template", release, str(CHART), "--namespace", "finsent", "--kube-version", KUBE_VERSION,
        values=values,
    )  # fmt: skip
    assert res.returncode == 0, f"helm template ({name}) failed:\n{res.stderr}"
    return tuple(d for d in yaml.safe_load_all(res.stdout) if d)


def template(name: str, release: str = "finsent", **extra: Any) -> tuple[Doc, ...]:
    values = {**VALUE_SETS[name], **extra}
    return _template(name, release, yaml.safe_dump(values, sort_keys=True))


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict(name: str) -> None:
    res = run_helm("lint", "--strict", str(CHART), values=VALUE_SETS[name])
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", VALUE_SETS)
def test_template_validates_against_the_schemas(name: str) -> None:
    docs = template(name)
    validate_builtin(docs)
    validate_vendored_crds(docs)
    assert all(d["metadata"]["namespace"] == "finsent" for d in docs)
    kinds = {d["kind"] for d in docs}
    values = VALUE_SETS[name]
    if values.get("networkPolicy", {}).get("enabled", True):
        check_selectors(docs)
    else:
        assert not kinds & {"NetworkPolicy", "PodDisruptionBudget"}
        assert len([d for d in docs if d["kind"] == "ConfigMap"]) == 1  # no dashboards
    for key, key_kinds in OPERATOR_KINDS.items():
        enabled = values.get(key, {}).get("enabled", True)
        assert (key_kinds <= kinds) if enabled else not (key_kinds & kinds), key


@pytest.mark.parametrize("name", ["defaults", "gpu"])
def test_crd_kinds_valid_against_upstream_validators(name: str, tmp_path: Path) -> None:
    """KEDA and Prometheus Operator objects through the upstream-generated validators (npm),
    exactly as test_k8s.py runs them on the overlays."""
    k8s_checks.test_crd_kinds_valid_against_upstream_validators(template(name), tmp_path)


@pytest.mark.parametrize(("name", "overlay"), [("defaults", "cpu"), ("gpu", "gpu")])
def test_default_render_equals_the_kustomize_overlay(name: str, overlay: str) -> None:
    """Same objects as k8s/overlays/<overlay> (release "finsent"), up to generated names, labels
    and the annotations each tool adds."""
    chart, kust = template(name), render(overlay)

    def by_kind(docs: tuple[Doc, ...], kind: str) -> dict[str, Doc]:
        key = "topicName" if kind == "KafkaTopic" else None
        return {
            (d["spec"][key] if key else d["metadata"]["name"]): d for d in docs if d["kind"] == kind
        }

    def config(docs: tuple[Doc, ...]) -> dict[str, str]:
        (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "config" in d["metadata"]["name"]]
        return dict(cm["data"])

    assert config(chart) == config(kust)
    for kind in (
        "KafkaTopic",
        "KafkaUser",
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    ):
        mine, theirs = by_kind(chart, kind), by_kind(kust, kind)
        assert mine.keys() == theirs.keys(), kind
        for key in mine:
            assert mine[key]["spec"] == theirs[key]["spec"], f"{kind} {key}"
    assert one(chart, "PrometheusRule")["spec"] == one(kust, "PrometheusRule")["spec"]
    for label in ("release",):
        assert (
            one(chart, "ServiceMonitor")["metadata"]["labels"][label]
            == one(kust, "ServiceMonitor")["metadata"]["labels"][label]
        )
    mine_pod = one(chart, "Deployment")["spec"]["template"]["spec"]
    their_pod = one(kust, "Deployment")["spec"]["template"]["spec"]
    for c in (*mine_pod["containers"], *their_pod["containers"]):
        c.pop("envFrom")  # finsent-config vs finsent-config-<hash>
    assert mine_pod == their_pod
    chart_dash = one(chart, "ConfigMap", "finsent-grafana-dashboards")["data"]
    assert chart_dash == one(kust, "ConfigMap", "finsent-grafana-dashboards")["data"]


def test_config_change_rolls_the_pods() -> None:
    before = one(template("defaults"), "Deployment")["spec"]["template"]["metadata"]
    after = one(
        template("defaults", config={"FINSENT_STALL_AFTER_S": "180"}), "Deployment"
    )["spec"]["template"]["metadata"]  # fmt: skip
    assert before["annotations"]["checksum/config"] != after["annotations"]["checksum/config"]
    cm = one(
        template("defaults", config={"FINSENT_STALL_AFTER_S": "180"}), "ConfigMap", "finsent-config"
    )
    assert cm["data"]["FINSENT_STALL_AFTER_S"] == "180"


def test_configmap_keys_are_settings() -> None:
    from pipeline.config import Settings

    fields = {f"FINSENT_{name.upper()}" for name in Settings.model_fields}
    for name in ("defaults", "gpu"):
        assert set(one(template(name), "ConfigMap", "finsent-config")["data"]) <= fields


def test_without_keda_the_replicas_are_fixed_and_with_keda_unset() -> None:
    assert "replicas" not in one(template("defaults"), "Deployment")["spec"]
    assert one(template("no-operators"), "Deployment")["spec"]["replicas"] == 2


def test_secrets_from_values_and_image_digest() -> None:
    docs = template("no-operators")
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(secrets) == {"finsent", "finsent-kafka-cluster-ca-cert", "finsent-api-token"}
    assert secrets["finsent-api-token"]["data"]["token"] == base64.b64encode(b"t0ken").decode()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert mounted == set(secrets)
    # Without a token the chart creates no API Secret; its volume is optional (writes off).
    plain = one(template("defaults"), "Deployment")["spec"]["template"]["spec"]["volumes"]
    (api,) = [v for v in plain if v.get("secret", {}).get("secretName") == "finsent-api-token"]
    assert api["secret"]["optional"] is True
    (c,) = one(template("digest-no-policy-no-dashboards"), "Deployment")["spec"]["template"][
        "spec"
    ]["containers"]
    assert c["image"] == "ghcr.io/finsent/finsent@sha256:" + "0" * 64


def test_other_release_names_get_their_own_objects() -> None:
    docs = template("defaults", release="prod")
    assert one(docs, "Deployment")["metadata"]["name"] == "prod-finsent-worker"
    assert one(docs, "ScaledObject")["spec"]["scaleTargetRef"]["name"] == "prod-finsent-worker"
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/instance"] == "prod"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"strimzi": {"partitions": 6}}, "FINSENT_PARTITIONS must equal strimzi.partitions"),
        ({"keda": {"maxReplicas": 24}}, "keda.maxReplicas > FINSENT_PARTITIONS"),
        ({"secrets": {"create": True, "saslPassword": "x"}}, "Strimzi User Operator writes"),
        (
            {"strimzi": {"enabled": False}, "secrets": {"create": True}},
            "needs secrets.saslPassword",
        ),
    ],
    ids=["partitions", "keda-max", "secret-vs-strimzi", "secret-without-password"],
)
def test_inconsistent_values_fail_the_render(values: dict[str, Any], message: str) -> None:
    res = run_helm(
        "template", "finsent", str(CHART), "--kube-version", KUBE_VERSION, values=values
    )  # fmt: skip
    assert res.returncode != 0 and message in res.stderr, res.stderr
