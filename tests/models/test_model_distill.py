"""`finsent distill`: teacher logits cached and reused, soft + hard loss, resumable student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train


def test_distill_loss_parts() -> None:
    torch = pytest.importorskip("torch")
    from models.distill import distill_loss

    ce = torch.nn.CrossEntropyLoss()
    s = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([0, -1])  # second row unlabelled
    same = distill_loss(s, s.clone(), y, temperature=2.0, alpha=1.0, hard=ce)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    hard_only = distill_loss(s, torch.zeros_like(s), y, temperature=2.0, alpha=0.0, hard=ce)
    assert float(hard_only) == pytest.approx(float(ce(s[:1], y[:1])))
    unlabelled = distill_loss(s[1:], s[1:] * 0, y[1:], temperature=2.0, alpha=0.5, hard=ce)
    assert float(unlabelled) > 0  # soft part only, no crash without labels


def test_distill_caches_teacher_logits_and_resumes(
    tiny_trained: Path, tiny_base: Path, toy_data: Path, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    from models.distill import CACHE
    from pipeline.cli import main

    unlabelled = tmp_path / "tweets.jsonl"
    words = ["rallies hard today", "drops after the call", "opens a new office in town"]
    rows = [{"text": f"${c} {w} number {i}"} for i, (c, w) in
            enumerate((c, w) for c in ("NOK", "AAPL", "TSLA", "FUM") for w in words)]  # fmt: skip
    unlabelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "student"
    args = ["distill", "--teacher", str(tiny_trained), "--base", str(tiny_base), "--data",
            str(toy_data), "--unlabelled", str(unlabelled), "--out", str(out), "--epochs", "3",
            "--batch-size", "8", "--val-fraction", "0.25", "--lr", "3e-3", "--warmup", "0",
            "--patience", "99", "--checkpoint-every", "3", "--log-every", "0"]  # fmt: skip
    assert main([*args, "--stop-after", "4"]) == 0
    first = json.loads((out / "training_report.json").read_text())
    assert first["n_unlabelled"] == len(rows) and not first["finished"]
    n = first["teacher_logits"]["unique_texts"]
    assert first["teacher_logits"]["computed"] == n and first["teacher_logits"]["cached"] == 0
    with np.load(out / CACHE) as z:
        assert z["logits"].shape == (n, 3)

    assert main([*args, "--resume"]) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["teacher_logits"]["computed"] == 0 and report["teacher_logits"]["cached"] == n
    assert report["finished"] and [s["start_step"] for s in report["sessions"]] == [0, 4]
    assert report["epochs"][-1]["train_loss"] < report["epochs"][0]["train_loss"]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(out))
    assert model.config.num_labels == 3 and (out / "val.jsonl").exists()
