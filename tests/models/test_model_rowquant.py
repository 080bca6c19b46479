"""Per-row int8 (models/rowquant.py) on the tiny checkpoint: batch-invariant, agrees with fp32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

TEXTS = ["Nokia rises", "Apple misses estimates badly in the third quarter of the year", "ok",
         "Fortum cuts guidance", "Tesla names director and moves office to a new city"]  # fmt: skip


@pytest.fixture(scope="module")
def bundle(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("rowquant") / "bundle"
    args = ["export", "--checkpoint", str(tiny_trained), "--out", str(out), "--int8", "--fp16",
            "--keep-fp32"]  # fmt: skip
    assert main(args) == 0
    return out


def test_default_int8_is_per_row(bundle: Path) -> None:
    import onnx

    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["quantization"]["int8"]["batch_invariant"] is True
    ops = {n.op_type for n in onnx.load(str(bundle / "model.int8.onnx")).graph.node}
    assert "MatMulIntegerToFloat" in ops and "QuantizeLinear" in ops
    assert not ops & {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "QAttention"}
    assert manifest["metrics"]["int8_fp32_label_agreement"] >= 0.8


def test_per_row_int8_is_batch_invariant_and_close_to_fp32(bundle: Path) -> None:
    from pipeline.scoring.onnx import OnnxScorer

    int8 = OnnxScorer.load(bundle, provider="cpu")
    fp32 = OnnxScorer.load(bundle / "model.fp32.onnx", provider="cpu")
    alone = np.stack([int8.logits([t])[0] for t in TEXTS])
    np.testing.assert_allclose(int8.logits(TEXTS), alone, atol=1e-6, rtol=0)
    np.testing.assert_allclose(int8.logits(TEXTS[::-1] * 3)[:5][::-1], alone, atol=1e-6, rtol=0)
    assert np.abs(fp32.logits(TEXTS) - alone).max() < 0.2


def test_dynamic_method_still_available(tiny_trained: Path, tmp_path: Path) -> None:
    import onnx

    from pipeline.cli import main

    out = tmp_path / "dyn"
    args = ["export", "--checkpoint", str(tiny_trained), "--out", str(out), "--int8",
            "--int8-method", "dynamic"]  # fmt: skip
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantization"]["int8"]["batch_invariant"] is False
    assert "--int8-method dynamic" in manifest["export_command"]
    ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in ops


def test_rebuild_from_fp16(bundle: Path, tmp_path: Path) -> None:
    import shutil

    from models.rowquant import fp32_from_fp16, main
    from pipeline.scoring.onnx import OnnxScorer

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "model.int8.onnx").unlink()
    fp32 = fp32_from_fp16(copy / "model.fp16.onnx", tmp_path / "fp32r.onnx")
    shutil.copy(copy / "tokenizer.json", tmp_path / "tokenizer.json")
    a = OnnxScorer.load(fp32, provider="cpu").logits(TEXTS)
    b = OnnxScorer.load(bundle / "model.fp32.onnx", provider="cpu").logits(TEXTS)
    assert np.abs(a - b).max() < 1e-2  # fp16 rounding of the weights only
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"text": t, "label": "neutral"}) + "\n" for t in TEXTS))
    assert main([str(copy), "--val", str(val)]) == 0
    manifest = json.loads((copy / "manifest.json").read_text())
    scorer = OnnxScorer.load(copy, provider="cpu")  # sha256 in the manifest matches
    assert scorer.version == manifest["version"] and scorer.path.name == "model.int8.onnx"
    assert manifest["metrics"]["validation"]["n"] == len(TEXTS)
    # the drift reference is measured again, on the rebuilt int8 file
    assert manifest["reference"]["n"] == len(TEXTS)
    assert manifest["reference"]["model_sha256"] == manifest["sha256"]["model.int8.onnx"]
