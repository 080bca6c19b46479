"""The container images, checked without a Docker engine (none runs here or in CI).

Why static checks: an image that runs as root, pulls torch, or points FINSENT_MODEL_DIR at a path
it never copied is only noticed after a push and a rollout. Here:
1. hadolint lints both Dockerfiles (see `.ci/install-k8s-tools.sh`);
2. the images agree with k8s/base: the non-root UID, the data dir, the port, the entry point;
3. `.dockerignore` lets through exactly what the Dockerfiles COPY, and keeps checkpoints out.
What the runtime stage installs is exercised for real in `test_runtime_install.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "k8s" / "images"
DOCKERFILES = (IMAGES / "Dockerfile", IMAGES / "Dockerfile.gpu")
TOOLS_BIN = Path.home() / ".cache" / "finsent" / "bin"


def hadolint() -> str | None:
    cached = TOOLS_BIN / "hadolint"
    return str(cached) if cached.exists() else shutil.which("hadolint")


def runtime_stage(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    return text[text.index(" AS runtime") :]


def base_manifest(name: str) -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((REPO / "k8s" / "base" / name).read_text()))


def base_config() -> dict[str, str]:
    """k8s/base/config.env, the source of the generated finsent-config ConfigMap."""
    lines = (REPO / "k8s" / "base" / "config.env").read_text().splitlines()
    pairs = [ln.split("=", 1) for ln in lines if ln.strip() and not ln.startswith("#")]
    return {k: v for k, v in pairs}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    exe = hadolint()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint missing: run .ci/install-k8s-tools.sh")
        pytest.skip("hadolint missing: run .ci/install-k8s-tools.sh")
    res = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runtime_stage_matches_the_pod_spec(dockerfile: Path) -> None:
    stage = runtime_stage(dockerfile)
    pod = base_manifest("deployment.yaml")["spec"]["template"]["spec"]
    config = base_config()
    uid = pod["securityContext"]["runAsUser"]
    assert f"USER {uid}:{pod['securityContext']['runAsGroup']}" in stage
    assert re.search(rf"--uid {uid}\b", stage)
    assert f"FINSENT_DATA_DIR={config['FINSENT_DATA_DIR']}" in stage
    assert f"EXPOSE {config['FINSENT_WEB_PORT']}" in stage
    assert 'ENTRYPOINT ["finsent"]' in stage
    assert pod["containers"][0]["args"][0] == "worker"
    # the model is copied to where FINSENT_MODEL_DIR points
    model_dir = re.search(r"FINSENT_MODEL_DIR=(\S+)", stage)
    assert model_dir and f"COPY models/finsent-minilm/ {model_dir.group(1)}/" in stage
    # torch never reaches the runtime image: the install step proves it at build time
    assert "find_spec('torch') is not None" in stage
    assert not re.search(r"\[[a-z,]*train[a-z,]*\]", dockerfile.read_text())


def test_gpu_image_uses_the_cuda_provider() -> None:
    text = (IMAGES / "Dockerfile.gpu").read_text()
    # the [gpu] extra's onnxruntime-gpu only: the CPU build (a base dependency) would overwrite
    # the same `onnxruntime` module, so finsent goes in --no-deps and the requirements skip it
    assert "--no-deps /wheels/finsent-" in text
    assert "['optional-dependencies']['gpu']" in text
    assert "not r.startswith('onnxruntime')" in text
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:\S+-cudnn-runtime-", text)
    assert "FINSENT_PROVIDER=cuda" in text
    assert "CUDAExecutionProvider" in text


def test_dockerignore_admits_what_is_copied() -> None:
    rules = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert rules[0] == "*", "allow-list: ignore everything, then admit"
    admitted = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for dockerfile in DOCKERFILES:
        for line in re.findall(r"^COPY (?!--from).*$", dockerfile.read_text(), re.M):
            sources = [t for t in line.split()[1:] if not t.startswith("--")][:-1]
            for src in sources:
                top = src.split("/")[0]
                assert top in admitted, f"{dockerfile.name}: COPY {src} excluded by .dockerignore"
    assert "models/checkpoints/" in rules
