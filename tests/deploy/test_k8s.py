"""k8s/ renders, validates offline against Kubernetes and CRD schemas, and keeps its promises.

Why these checks: a manifest that `kubectl apply` would reject, a probe on the wrong path, a KEDA
ceiling above the partition count or a ConfigMap key that no setting reads fail silently in a
cluster, long after review. Everything here runs offline:
1. render each overlay with kustomize (`kustomize build`, or `kubectl kustomize`; see
   `.ci/install-k8s-tools.sh`), and every combination of the optional components (Strimzi, KEDA,
   Prometheus Operator; with and without the gpu component) from a throwaway kustomization, as a
   user who leaves an operator out would write it;
2. built-in kinds against the Kubernetes OpenAPI schemas shipped by the `kubernetes-validate`
   wheel, in strict mode (unknown fields fail), for the oldest Kubernetes we support and the newest;
3. CRD kinds (Strimzi, KEDA, Prometheus Operator) against focused schemas vendored in
   tests/deploy/schemas/ (kubeconform's `{group}/{kind}_{version}.json` layout; unknown fields
   fail), and KEDA/Prometheus Operator kinds also against validators generated from the upstream
   CRDs (npm @kubernetes-models/*, run with Node.js; values, patterns, enums);
4. cross-object facts: security context, probes, resources, topic names vs `Settings`, KEDA vs
   partitions, secret references, selectors, the NetworkPolicy, the hash-suffixed ConfigMap that
   rolls the pods, the dashboards copy.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
SCHEMAS = Path(__file__).parent / "schemas"
OVERLAYS = ("cpu", "gpu")
# k8s/components/*: each operator integration can be left out; gpu is the flavour.
OPERATOR_COMPONENTS = ("strimzi", "keda", "prometheus-operator")
COMPONENT_KINDS = {
    "strimzi": {"KafkaTopic", "KafkaUser"},
    "keda": {"ScaledObject", "TriggerAuthentication"},
    "prometheus-operator": {"ServiceMonitor", "PrometheusRule"},
}
COMBINATIONS = [
    (subset, gpu)
    for n in range(len(OPERATOR_COMPONENTS) + 1)
    for subset in itertools.combinations(OPERATOR_COMPONENTS, n)
    for gpu in (False, True)
]
# kube-prometheus-stack's default serviceMonitorSelector / ruleSelector: release=<release name>
PROMETHEUS_RELEASE_LABEL = ("release", "kube-prometheus-stack")
SELECTOR_LABELS = {
    "app.kubernetes.io/name": "finsent",
    "app.kubernetes.io/instance": "finsent",
    "app.kubernetes.io/component": "worker",
}
CACHE = Path(os.environ.get("FINSENT_CACHE", Path.home() / ".cache" / "finsent"))
TOOLS_BIN = CACHE / "bin"
NPM_DIR = CACHE / "npm"
# The oldest Kubernetes minor we support (policy/v1 PDB, seccompProfile field, HPA v2 behavior)
# and the newest the schema wheel knows.
OLDEST_K8S = "1.30"
CRD_GROUPS = ("keda.sh", "monitoring.coreos.com", "kafka.strimzi.io")

Doc = dict[str, Any]


def kustomize_cmd() -> list[str] | None:
    """The first renderer found: $FINSENT_KUSTOMIZE, the CI cache, PATH, then kubectl's built-in."""
    explicit = os.environ.get("FINSENT_KUSTOMIZE")
    if explicit:
        return [explicit, "build"]
    for candidate in (TOOLS_BIN / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    return [kubectl, "kustomize"] if kubectl else None


def render_dir(directory: Path) -> tuple[Doc, ...]:
    cmd = kustomize_cmd()
    if cmd is None:
        if os.environ.get("CI"):
            pytest.fail("no kustomize renderer: run .ci/install-k8s-tools.sh")
        pytest.skip("no kustomize or kubectl; run .ci/install-k8s-tools.sh")
    res = subprocess.run([*cmd, str(directory)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{' '.join(cmd)} {directory} failed:\n{res.stderr}"
    return tuple(d for d in yaml.safe_load_all(res.stdout) if d)


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    return render_dir(K8S / "overlays" / overlay)


def combination_kustomization(where: Path, components: tuple[str, ...], gpu: bool) -> Path:
    """A user's kustomization: the base, the namespace and the chosen components. kustomize
    refuses absolute paths, so they are relative to `where`."""
    where.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(K8S, where))
    chosen = ["namespace", *components, *(["gpu"] if gpu else [])]
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "finsent",
        "resources": [str(rel / "base")],
        "components": [str(rel / "components" / c) for c in chosen],
    }
    (where / "kustomization.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return where


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(overlay: str) -> tuple[Doc, ...]:
    return render(overlay)


def one(docs: tuple[Doc, ...], kind: str, name: str | None = None) -> Doc:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def all_of(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def config_map(docs: tuple[Doc, ...]) -> Doc:
    """The generated finsent-config-<hash> ConfigMap."""
    found = [
        d
        for d in docs
        if d["kind"] == "ConfigMap"
        and re.fullmatch(r"finsent-config-[a-z0-9]+", d["metadata"]["name"])
    ]
    assert len(found) == 1, [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"]
    return found[0]


def config_env(docs: tuple[Doc, ...]) -> dict[str, str]:
    return dict(config_map(docs)["data"])


def worker(docs: tuple[Doc, ...]) -> tuple[Doc, Doc]:
    """(pod spec, worker container) of the Deployment."""
    pod = one(docs, "Deployment", "finsent-worker")["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    return pod, containers["worker"]


@cache
def crd_schema(group: str, kind: str, version: str) -> Doc:
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    assert path.exists(), f"no vendored schema for {group}/{kind} {version} ({path})"
    return dict(json.loads(path.read_text()))


# -- schemas ---------------------------------------------------------------------------------


def test_renders_the_expected_kinds(docs: tuple[Doc, ...]) -> None:
    kinds = {d["kind"] for d in docs}
    assert kinds >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceAccount",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "KafkaTopic",
        "KafkaUser",
        "ScaledObject",
        "TriggerAuthentication",
        "Namespace",
        "NetworkPolicy",
    }
    # applies on a fresh cluster: the namespace is created, everything else lives in it
    assert one(docs, "Namespace")["metadata"]["name"] == "finsent"
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert all(d["metadata"].get("namespace") == "finsent" for d in namespaced)


@pytest.mark.parametrize(
    ("components", "gpu"),
    COMBINATIONS,
    ids=[("+".join(c) or "no-operators") + ("+gpu" if g else "") for c, g in COMBINATIONS],
)
def test_every_component_combination_renders_and_validates(
    components: tuple[str, ...], gpu: bool, tmp_path: Path
) -> None:
    """Each operator integration can be left out: what remains renders, validates against the
    schemas and still wires up (selectors, namespace, config), and no CRD of a missing operator
    is left behind (it would fail `kubectl apply` on a cluster without that operator)."""
    docs = render_dir(combination_kustomization(tmp_path / "user", components, gpu))
    kinds = {d["kind"] for d in docs}
    for component, component_kinds in COMPONENT_KINDS.items():
        if component in components:
            assert component_kinds <= kinds, component
        else:
            assert not component_kinds & kinds, component
    assert {"Namespace", "Deployment", "Service", "NetworkPolicy"} <= kinds
    validate_builtin(docs)
    validate_vendored_crds(docs)
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert all(d["metadata"].get("namespace") == "finsent" for d in namespaced)
    check_selectors(docs)
    _pod, c = worker(docs)
    assert c["envFrom"][0]["configMapRef"]["name"] == config_map(docs)["metadata"]["name"]
    assert config_env(docs)["FINSENT_PROVIDER"] == ("cuda" if gpu else "cpu")
    assert ("finsent-gpu" in c["image"]) is gpu


def validate_builtin(docs: tuple[Doc, ...]) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    builtin = [d for d in docs if d["apiVersion"].split("/")[0] not in CRD_GROUPS]
    assert builtin
    for version in (OLDEST_K8S, latest_version()):
        for d in builtin:
            # strict: unknown fields fail (the API server would drop a misspelt field silently)
            kubernetes_validate.validate(d, version, strict=True)


def validate_vendored_crds(docs: tuple[Doc, ...]) -> None:
    import jsonschema

    custom = [d for d in docs if d["apiVersion"].split("/")[0] in CRD_GROUPS]
    for d in custom:
        group, version = d["apiVersion"].split("/")
        schema = crd_schema(group, d["kind"], version)
        jsonschema.Draft7Validator.check_schema(schema)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(d), key=str)
        assert not errors, f"{d['kind']}/{d['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
        )


def test_builtin_kinds_valid_against_kubernetes_schemas(docs: tuple[Doc, ...]) -> None:
    validate_builtin(docs)


def test_crd_kinds_valid_against_vendored_schemas(docs: tuple[Doc, ...]) -> None:
    assert [d for d in docs if d["apiVersion"].split("/")[0] in CRD_GROUPS]
    validate_vendored_crds(docs)


def test_crd_kinds_valid_against_upstream_validators(docs: tuple[Doc, ...], tmp_path: Path) -> None:
    """KEDA and Prometheus Operator objects through validators generated from the upstream CRDs
    (npm @kubernetes-models/*, installed by .ci/install-k8s-tools.sh). Strimzi has no such
    package; its kinds are covered by the vendored schemas only."""
    node, npm_dir = shutil.which("node"), NPM_DIR / "node_modules" / "@kubernetes-models"
    if node is None or not (npm_dir / "keda").is_dir():
        if os.environ.get("CI") and node is not None:
            pytest.fail("CRD validators missing: run .ci/install-k8s-tools.sh")
        pytest.skip("node or @kubernetes-models/* missing: run .ci/install-k8s-tools.sh")
    # ESM resolves packages from the script's folder, so the script runs from the cache dir.
    script = NPM_DIR / "crd_validate.mjs"
    shutil.copyfile(Path(__file__).parent / "crd_validate.mjs", script)
    groups = ("keda.sh", "monitoring.coreos.com")
    custom = [d for d in docs if d["apiVersion"].split("/")[0] in groups]
    res = subprocess.run(
        [node, str(script)], input=json.dumps(custom), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"checked {len(custom)}, failed 0" in res.stdout


def test_vendored_schemas_reject_a_typo() -> None:
    """The CRD schemas are strict enough to be worth having: an unknown field fails."""
    import jsonschema

    bad = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "maxReplicas": 3,
            "triggers": [{"type": "kafka", "metadata": {}}],
        },
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, crd_schema("keda.sh", "ScaledObject", "v1alpha1"))


# -- security, probes, resources ---------------------------------------------------------------


def test_security_context(docs: tuple[Doc, ...]) -> None:
    pod, c = worker(docs)
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["capabilities"]["drop"] == ["ALL"] and not csc["capabilities"].get("add")
    assert csc.get("privileged", False) is False
    assert pod["automountServiceAccountToken"] is False
    # read-only root FS: every path the worker writes is a mounted volume
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", config_env(docs)["FINSENT_DATA_DIR"]} <= mounts


def test_probes(docs: tuple[Doc, ...]) -> None:
    _pod, c = worker(docs)
    port = int(config_env(docs)["FINSENT_WEB_PORT"])
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert named["http"] == port
    assert c["startupProbe"]["httpGet"]["path"] == "/ready"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/live"
    s = c["startupProbe"]
    assert s["periodSeconds"] * s["failureThreshold"] >= 600, "startup must cover table recovery"
    # liveness must not fire before /live itself could declare a stall
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 60


def test_resources(docs: tuple[Doc, ...], overlay: str) -> None:
    pod, c = worker(docs)
    res = c["resources"]
    for key in ("cpu", "memory"):
        assert key in res["requests"] and key in res["limits"]
    threads = int(config_env(docs)["FINSENT_INTRA_OP_THREADS"])
    assert threads <= int(res["limits"]["cpu"]), "ORT threads beyond the CPU limit only throttle"
    if overlay == "gpu":
        assert res["limits"]["nvidia.com/gpu"] == "1"
        assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        assert config_env(docs)["FINSENT_PROVIDER"] == "cuda"
        # the GPU pod's CPU limit is what its ORT threads (and tokenization) are sized for
        assert threads == int(res["limits"]["cpu"])
        cpu_env, gpu_env = config_env(render("cpu")), config_env(docs)
        for key in ("FINSENT_MAX_BATCH", "FINSENT_MODEL_BATCH"):
            assert int(gpu_env[key]) > int(cpu_env[key]), key
        image = c["image"]
        assert "gpu" in image
    else:
        assert "nvidia.com/gpu" not in res["limits"]
        assert config_env(docs)["FINSENT_PROVIDER"] == "cpu"


# -- Kafka: topics, scaling, credentials --------------------------------------------------------


@pytest.fixture
def settings_from_configmap(
    docs: tuple[Doc, ...], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """`Settings` exactly as a pod would build it from the ConfigMap (no .env file)."""
    from pipeline.config import Settings

    for key in [k for k in os.environ if k.startswith("FINSENT_")]:
        monkeypatch.delenv(key)
    for key, value in config_env(docs).items():
        monkeypatch.setenv(key, value)
    yield Settings(_env_file=None)  # type: ignore[call-arg]


def test_configmap_keys_are_settings(docs: tuple[Doc, ...]) -> None:
    """A misspelt key (FINSENT_MAXBATCH) would be ignored by pydantic-settings without a word."""
    from pipeline.config import Settings

    fields = {f"FINSENT_{name.upper()}" for name in Settings.model_fields}
    _pod, c = worker(docs)
    keys = set(config_env(docs)) | {e["name"] for e in c.get("env", [])}
    keys = {k for k in keys if k != "POD_IP"}  # downward API, read by FINSENT_WEB_CANONICAL_URL
    assert keys - fields == set()


def test_topics_match_settings(docs: tuple[Doc, ...], settings_from_configmap: Any) -> None:
    from pipeline.stream.admin import topic_names
    from pipeline.stream.agents import TABLE_NAME

    s = settings_from_configmap
    topics = {t["spec"]["topicName"]: t["spec"] for t in all_of(docs, "KafkaTopic")}
    changelog = f"{s.app_id}-{TABLE_NAME}-changelog"  # faust Table._changelog_topic_name
    leader = f"{s.app_id}-__assignor-__leader"  # faust LeaderAssignor.topic_name
    assert set(topics) == {*topic_names(s), changelog, leader}
    for name, spec in topics.items():
        if name == leader:
            continue
        assert spec["partitions"] == s.partitions, name
        assert spec["replicas"] >= s.replication_factor
    assert topics[changelog]["config"]["cleanup.policy"] == "compact"
    from pipeline.stream.agents import CHANGELOG_CONFIG  # what a worker creates it with

    assert CHANGELOG_CONFIG.items() <= topics[changelog]["config"].items()
    from pipeline.stream.admin import COMPACTED_CONFIG  # what `finsent topics` creates

    assert COMPACTED_CONFIG.items() <= topics[s.alert_marks_topic]["config"].items()
    for name in set(topic_names(s)) - {s.alert_marks_topic}:
        assert topics[name]["config"]["cleanup.policy"] == "delete"
        assert int(topics[name]["config"]["retention.ms"]) > 0


def test_keda_scales_on_lag_within_partitions(
    docs: tuple[Doc, ...], settings_from_configmap: Any
) -> None:
    s = settings_from_configmap
    so = one(docs, "ScaledObject")["spec"]
    partitions = {
        t["spec"]["topicName"]: t["spec"]["partitions"] for t in all_of(docs, "KafkaTopic")
    }
    assert so["scaleTargetRef"]["name"] == one(docs, "Deployment")["metadata"]["name"]
    triggers = so["triggers"]
    assert {t["metadata"]["topic"] for t in triggers} == set(s.topics_in())
    for t in triggers:
        assert t["type"] == "kafka"
        md = t["metadata"]
        assert md["consumerGroup"] == s.app_id  # faust's consumer group id is the app id
        assert md["bootstrapServers"] == s.bootstrap_servers
        assert int(md["lagThreshold"]) > 0
        assert so["maxReplicaCount"] <= partitions[md["topic"]], (
            "a consumer beyond the partition count sits idle"
        )
        auth = one(docs, "TriggerAuthentication", t["authenticationRef"]["name"])["spec"]
        assert {r["parameter"] for r in auth["secretTargetRef"]} >= {"password"}
    assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"]


def test_kafka_credentials_come_from_mounted_secrets(docs: tuple[Doc, ...]) -> None:
    env = config_env(docs)
    pod, c = worker(docs)
    assert env["FINSENT_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["FINSENT_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert not any("PASSWORD" in k and not k.endswith("_FILE") for k in env)
    assert not any(e["name"] == "FINSENT_SASL_PASSWORD" for e in c.get("env", []))
    secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for key in ("FINSENT_SASL_PASSWORD_FILE", "FINSENT_SSL_CAFILE"):
        path = Path(env[key])
        mount = mounts[str(path.parent)]
        assert mount["readOnly"] is True and mount["name"] in secret_volumes
        items = {i["path"] for i in secret_volumes[mount["name"]].get("items", [])}
        assert path.name in items
    user_mount = mounts[str(Path(env["FINSENT_SASL_PASSWORD_FILE"]).parent)]
    user_secret = secret_volumes[user_mount["name"]]
    assert user_secret["secretName"] == one(docs, "KafkaUser")["metadata"]["name"]


# -- wiring -------------------------------------------------------------------------------------


def check_selectors(docs: tuple[Doc, ...]) -> None:
    """Every selector is the recommended app.kubernetes.io/{name,instance,component} triple and
    matches the pod template."""
    dep = one(docs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"] == SELECTOR_LABELS
    assert SELECTOR_LABELS.items() <= pod_labels.items()
    pod = dep["spec"]["template"]["spec"]
    for spread in pod["topologySpreadConstraints"]:
        assert spread["labelSelector"]["matchLabels"] == SELECTOR_LABELS
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        d = one(docs, kind)
        sel = d["spec"].get("podSelector") or d["spec"]["selector"]
        sel = sel.get("matchLabels", sel)
        assert sel == SELECTOR_LABELS, kind
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "finsent", d["kind"]


def test_selectors_and_ports_line_up(docs: tuple[Doc, ...]) -> None:
    check_selectors(docs)
    dep = one(docs, "Deployment")
    svc = one(docs, "Service")
    sm = one(docs, "ServiceMonitor")
    key, value = PROMETHEUS_RELEASE_LABEL
    assert sm["metadata"]["labels"][key] == value
    assert one(docs, "PrometheusRule")["metadata"]["labels"][key] == value
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    ports = {p["name"] for p in svc["spec"]["ports"]}
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= ports
    assert all(e["path"] == "/metrics" for e in sm["spec"]["endpoints"])
    assert (
        one(docs, "ServiceAccount")["metadata"]["name"]
        == dep["spec"]["template"]["spec"]["serviceAccountName"]
    )


def test_dashboards_configmap(docs: tuple[Doc, ...]) -> None:
    cm = one(docs, "ConfigMap", "finsent-grafana-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    sources = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    for src in sources:
        assert cm["data"][src.name] == src.read_text(), f"{src.name}: run k8s/sync_dashboards.py"


def test_dashboards_copy_in_sync() -> None:
    res = subprocess.run(
        [sys.executable, str(K8S / "sync_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_network_policy_admits_the_web_port_and_reaches_kafka(docs: tuple[Doc, ...]) -> None:
    np = one(docs, "NetworkPolicy")["spec"]
    assert set(np["policyTypes"]) == {"Ingress", "Egress"}
    _pod, c = worker(docs)
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    ingress_ports = {p["port"] for rule in np["ingress"] for p in rule["ports"]}
    assert ingress_ports <= set(named) | set(named.values())
    assert "http" in ingress_ports or named["http"] in ingress_ports
    egress = {(p.get("protocol", "TCP"), p["port"]) for rule in np["egress"] for p in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53)} <= egress
    for server in config_env(docs)["FINSENT_BOOTSTRAP_SERVERS"].split(","):
        assert ("TCP", int(server.rsplit(":", 1)[1])) in egress, server


def test_config_edit_rolls_the_pods(tmp_path: Path) -> None:
    """configMapGenerator: the ConfigMap's name carries a hash of its data and the Deployment
    refers to that name, so editing k8s/base/config.env changes the pod template (a rollout)."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("helm", "images", "runbooks"))
    before = render_dir(copy / "overlays" / "cpu")
    env = copy / "base" / "config.env"
    env.write_text(
        env.read_text().replace("FINSENT_STALL_AFTER_S=120", "FINSENT_STALL_AFTER_S=180")
    )
    after = render_dir(copy / "overlays" / "cpu")

    def template(docs: tuple[Doc, ...]) -> Doc:
        return dict(one(docs, "Deployment")["spec"]["template"])

    assert config_map(before)["metadata"]["name"] != config_map(after)["metadata"]["name"]
    assert template(before) != template(after)
    assert (
        worker(after)[1]["envFrom"][0]["configMapRef"]["name"]
        == config_map(after)["metadata"]["name"]
    )
