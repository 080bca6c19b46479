"""`finsent export` on the tiny checkpoint: fp32 ONNX matches torch, int8 agrees, bundle loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train


def test_export_parity_and_int8_agreement(tiny_trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from models.export import encode, load_checkpoint, onnx_logits, torch_logits
    from pipeline.cli import main
    from pipeline.scoring.onnx import OnnxScorer

    out = tmp_path / "bundle"
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(tiny_trained),
                "--out",
                str(out),
                "--int8",
                "--keep-fp32",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"int8", "fp32"}
    assert manifest["metrics"]["onnx_fp32_vs_torch_max_abs_logit_diff"] < 1e-4
    assert manifest["metrics"]["int8_fp32_label_agreement"] >= 0.8
    # the drift reference: the shipped int8 file's predictions on the checkpoint's val.jsonl
    assert manifest["reference"]["n"] == manifest["metrics"]["validation"]["n"]
    assert manifest["reference"]["model_sha256"] == manifest["sha256"]["model.int8.onnx"]
    assert (out / "README.md").read_text().count("non-commercial") >= 1

    # independent parity check on texts of different lengths (dynamic batch and sequence axes)
    model, tok = load_checkpoint(tiny_trained)
    texts = ["Nokia rises", "Apple misses estimates badly in the third quarter of the year", "ok"]
    feed = encode(tok, texts, 128)
    np.testing.assert_allclose(
        onnx_logits(out / "model.fp32.onnx", feed), torch_logits(model, feed), atol=1e-4
    )

    fp32 = OnnxScorer.load(out / "model.fp32.onnx", provider="cpu")
    int8 = OnnxScorer.load(out, provider="cpu")
    assert int8.path.name == "model.int8.onnx" and int8.version == manifest["version"]
    a = [s.label for s in fp32.score(texts * 3)]
    b = [s.label for s in int8.score(texts * 3)]
    assert sum(x == y for x, y in zip(a, b, strict=True)) >= 7
