"""`finsent train` on a tiny random BERT and 48 generated sentences: loss falls, ckpt loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from models.finetune import class_weights, length_bucketed_batches

pytestmark = pytest.mark.train


def test_full_finetune_lowers_loss_and_saves_loadable_checkpoint(tiny_trained: Path) -> None:
    transformers = pytest.importorskip("transformers")
    report = json.loads((tiny_trained / "training_report.json").read_text())
    epochs = report["epochs"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert report["best_epoch"] >= 1 and (tiny_trained / "val.jsonl").exists()
    assert {"accuracy", "macro_f1", "n"} <= set(epochs[-1]["val"]["overall"])
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(tiny_trained))
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}


def test_lora_run_merges_into_plain_weights(
    tiny_base: Path, toy_data: Path, tmp_path: Path, train_args: Callable[..., list[str]]
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from pipeline.cli import main

    out = tmp_path / "lora"
    args = train_args(tiny_base, toy_data, out, "--method", "lora", "--epochs", "2", "--lr", "1e-2",
                      "--lora-r", "4", "--lora-targets", "query,value")  # fmt: skip
    assert main(args) == 0
    merged = load_file(str(out / "model.safetensors"))
    assert not [k for k in merged if "lora" in k]
    before = load_file(str(tiny_base / "model.safetensors"))
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(merged[key], before[key])  # the adapter was merged in
    key = "bert.encoder.layer.0.intermediate.dense.weight"
    assert torch.equal(merged[key], before[key])  # untargeted weights stay frozen


def test_class_weights() -> None:
    labels = ["neutral"] * 6 + ["negative"] * 2 + ["positive"] * 1
    assert class_weights(labels, "none") == [1.0, 1.0, 1.0]
    bal = class_weights(labels, "balanced")
    assert bal == pytest.approx([9 / 6, 9 / 18, 9 / 3])
    assert class_weights(labels, "sqrt") == pytest.approx([b**0.5 for b in bal])


def test_length_bucketed_batches_cover_all() -> None:
    import random

    lengths = [random.Random(0).randint(1, 50) for _ in range(103)]
    batches = length_bucketed_batches(lengths, 8, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert all(len(b) <= 8 for b in batches)
