"""k8s/components/alertmanager-notify renders on the base, validates against the Kubernetes
schemas (strict), and lines up with the enricher's settings; its Alertmanager example passes
`amtool` and routes ticker alerts to the enricher's Service. Offline, as tests/deploy/ does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import REPO_DIR, Settings

K8S = REPO_DIR / "k8s"
COMPONENT = K8S / "components" / "alertmanager-notify"
AMTOOL = shutil.which("amtool")
CACHE = Path(os.environ.get("FINSENT_CACHE", Path.home() / ".cache" / "finsent"))
Doc = dict[str, Any]


def _kustomize() -> list[str]:
    """The renderer tests/deploy uses: the CI cache's kustomize, PATH, then kubectl's."""
    for candidate in (CACHE / "bin" / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    if os.environ.get("CI"):
        pytest.fail("no kustomize renderer: run .ci/install-k8s-tools.sh")
    pytest.skip("no kustomize or kubectl; run .ci/install-k8s-tools.sh")


def render(tmp: Path, components: list[str]) -> list[Doc]:
    """A user's kustomization: the base, the namespace and `components` (relative paths)."""
    rel = Path(os.path.relpath(K8S, tmp))
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "finsent",
        "resources": [str(rel / "base")],
        "components": [str(rel / "components" / c) for c in ["namespace", *components]],
    }
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    res = subprocess.run([*_kustomize(), str(tmp)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    return render(tmp_path_factory.mktemp("notify-k8s"), ["alertmanager-notify"])


def test_renders_and_validates_strictly(docs: list[Doc]) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    mine = [d for d in docs if d["metadata"]["name"] == "finsent-notify"]
    assert {d["kind"] for d in mine} == {"Deployment", "Service", "NetworkPolicy"}
    for version in ("1.30", latest_version()):
        for d in mine:
            kubernetes_validate.validate(d, version, strict=True)
    assert all(d["metadata"]["namespace"] == "finsent" for d in mine)


def test_deployment_runs_the_command_with_its_settings(docs: list[Doc]) -> None:
    pod = one(docs, "Deployment", "finsent-notify")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["notify"] and c["image"] == "ghcr.io/finsent/finsent:0.1.0"
    configmaps = [
        d for d in docs if d["kind"] == "ConfigMap" and "finsent-config" in d["metadata"]["name"]
    ]
    assert c["envFrom"][0]["configMapRef"]["name"] == configmaps[0]["metadata"]["name"]
    # the pod's environment: the worker's ConfigMap, then the container's own env on top
    env = {**configmaps[0]["data"], **{e["name"]: e["value"] for e in c["env"]}}
    settings = Settings(
        **{k.removeprefix("FINSENT_").lower(): v for k, v in env.items()}, _env_file=None
    )
    port = settings.notify_port
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": port}
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    for path in (settings.notify_target_url_file, settings.api_token_file):
        assert path is not None and str(path.parent) in mounts, path
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"target": "finsent-notify", "api-token": "finsent-api-token"}
    csc = c["securityContext"]
    assert csc["readOnlyRootFilesystem"] and not csc["allowPrivilegeEscalation"]
    assert csc["capabilities"]["drop"] == ["ALL"] and pod["automountServiceAccountToken"] is False


def test_service_and_policy_select_the_enricher_and_reach_the_worker(docs: list[Doc]) -> None:
    deploy = one(docs, "Deployment", "finsent-notify")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", "finsent-notify")
    assert service["spec"]["selector"].items() <= labels.items()
    worker_labels = one(docs, "Deployment", "finsent-worker")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    policy = one(docs, "NetworkPolicy", "finsent-notify")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    to_worker = [r for r in policy["egress"] if r.get("to")]
    assert to_worker[0]["to"][0]["podSelector"]["matchLabels"].items() <= worker_labels.items()
    worker_port = one(docs, "Service", "finsent-worker")["spec"]["ports"][0]["port"]
    assert {p["port"] for p in to_worker[0]["ports"]} == {worker_port}
    api = next(e["value"] for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]
               if e["name"] == "FINSENT_NOTIFY_API_URL")  # fmt: skip
    assert api == f"http://finsent-worker:{worker_port}"


def test_after_gpu_the_enricher_keeps_the_cpu_image(tmp_path: Path) -> None:
    docs = render(tmp_path, ["gpu", "alertmanager-notify"])
    (c,) = one(docs, "Deployment", "finsent-notify")["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "ghcr.io/finsent/finsent:0.1.0"


@pytest.mark.skipif(
    AMTOOL is None, reason="amtool not found: apt-get install prometheus-alertmanager"
)
def test_alertmanager_example_routes_ticker_alerts_to_the_enricher(docs: list[Doc]) -> None:
    config = COMPONENT / "alertmanager.yml"
    assert AMTOOL is not None
    check = subprocess.run([AMTOOL, "check-config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    cases = {
        "alertname=SentimentCollapse severity=critical ticker=BA": "finsent-notify,pager",
        "alertname=VolumeSpike severity=warning ticker=BA": "finsent-notify,tickets",
        "alertname=FinsentPipelineStalled severity=critical": "pager",
    }
    for labels, receivers in cases.items():
        out = subprocess.run(
            [AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels.split()],
            capture_output=True,
            text=True,
        )
        assert out.stdout.strip() == receivers, labels
    doc = yaml.safe_load(config.read_text())
    url = next(r for r in doc["receivers"] if r["name"] == "finsent-notify")["webhook_configs"][0]
    service = one(docs, "Service", "finsent-notify")
    port = service["spec"]["ports"][0]["port"]
    assert url["url"] == f"http://finsent-notify.finsent.svc:{port}/alertmanager"
