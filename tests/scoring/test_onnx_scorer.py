"""OnnxScorer on the shipped model, and clear ModelLoadErrors for missing or corrupt files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.records import LABELS
from pipeline.scoring.exceptions import ModelLoadError
from pipeline.scoring.onnx import DEFAULT_MODEL_DIR, OnnxScorer

# Distinct token lengths, so the length-sorted chunks are the same whatever the input order.
TEXTS = [
    "Profit fell .",
    "Nokia cuts 1,000 jobs in Finland",
    "$AAPL beats estimates and raises its dividend by 10 percent",
    "The company has 120 employees and its headquarters are located in Espoo , Finland .",
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 , "
    "representing 7.7 % of net sales , the company said in its interim report on Tuesday .",
    "ok",
]


@pytest.fixture(scope="module")
def scorer() -> OnnxScorer:
    return OnnxScorer.load(DEFAULT_MODEL_DIR, provider="cpu")


def test_lengths_are_distinct(scorer: OnnxScorer) -> None:
    lengths = scorer.token_lengths(TEXTS)
    assert len(set(lengths)) == len(TEXTS)
    assert all(n <= scorer.max_length for n in lengths)


def test_order_preserved_with_length_sorting(scorer: OnnxScorer) -> None:
    base = scorer.score(TEXTS, max_batch=2)
    perm = [3, 0, 5, 1, 4, 2]
    shuffled = scorer.score([TEXTS[i] for i in perm], max_batch=2)
    for j, i in enumerate(perm):
        assert shuffled[j] == base[i]


def test_scores_are_valid(scorer: OnnxScorer) -> None:
    scores = scorer.score(TEXTS)
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert -1.0 <= s.score <= 1.0
        assert abs(sum(s.probs) - 1.0) < 1e-5
        assert s.label in LABELS
        assert s.confidence == pytest.approx(max(s.probs))
        assert s.score == pytest.approx(s.probs[2] - s.probs[0])


def test_empty_input(scorer: OnnxScorer) -> None:
    assert scorer.score([]) == []


def test_describe_shows_provider_and_version(scorer: OnnxScorer) -> None:
    d = scorer.describe()
    assert d["provider"] == scorer.provider == "CPUExecutionProvider"
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert d["version"] == scorer.version == manifest["version"]
    assert d["labels"] == list(LABELS)
    assert d["sha256"] == manifest["sha256"][Path(d["path"]).name]


def test_load_single_onnx_file() -> None:
    s = OnnxScorer.load(DEFAULT_MODEL_DIR / "model.int8.onnx", provider="cpu")
    assert len(s.score(TEXTS[:2])) == 2


def test_worker_path_never_imports_torch() -> None:
    code = (
        "import sys; from pipeline.scoring.onnx import OnnxScorer; OnnxScorer.load().score(['x']);"
        "print('torch' in sys.modules or 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, dst)
    return dst


def test_missing_dir_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelLoadError, match=str(missing)):
        OnnxScorer.load(missing)


def test_missing_model_file_names_path(model_copy: Path) -> None:
    (model_copy / "model.int8.onnx").unlink()
    with pytest.raises(ModelLoadError, match="model.int8.onnx"):
        OnnxScorer.load(model_copy, provider="cpu")


def test_corrupt_model_file_fails_sha_check(model_copy: Path) -> None:
    f = model_copy / "model.int8.onnx"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=str(f)):
        OnnxScorer.load(model_copy, provider="cpu")


def test_corrupt_onnx_without_manifest_names_path(model_copy: Path) -> None:
    (model_copy / "manifest.json").unlink()
    f = model_copy / "model.int8.onnx"
    f.write_bytes(b"not an onnx protobuf" * 10)
    with pytest.raises(ModelLoadError, match=str(f)):
        OnnxScorer.load(f, provider="cpu")


def test_missing_tokenizer_names_path(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="tokenizer.json"):
        OnnxScorer.load(model_copy, provider="cpu")


def test_corrupt_manifest_names_path(model_copy: Path) -> None:
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="manifest.json"):
        OnnxScorer.load(model_copy, provider="cpu")


def test_softmax_rows_sum_to_one(scorer: OnnxScorer) -> None:
    p = scorer.probs(TEXTS)
    assert p.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


# -- provider choice: the CUDA paths, on any machine (a fake CUDA session) ----------------------


@pytest.fixture()
def cuda_fails(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """onnxruntime lists CUDA and a driver is present, but every CUDA session fails; CPU sessions
    are real. Returns the providers of each session asked for."""
    import onnxruntime as ort

    import pipeline.scoring.onnx as onnx_mod

    asked: list[list[str]] = []
    real = ort.InferenceSession

    def session(path: str, options: object, providers: list[str]) -> object:
        asked.append(list(providers))
        if providers[0] == onnx_mod.CUDA:
            raise RuntimeError("libcudart.so not found")
        return real(path, options, providers=providers)

    monkeypatch.setattr(ort, "get_available_providers", lambda: [onnx_mod.CUDA, onnx_mod.CPU])
    monkeypatch.setattr(onnx_mod, "cuda_driver_present", lambda: True)
    monkeypatch.setattr(ort, "InferenceSession", session)
    return asked


def test_auto_falls_back_from_cuda_to_the_int8_file_on_cpu(cuda_fails: list[list[str]]) -> None:
    s = OnnxScorer.load(DEFAULT_MODEL_DIR)  # the manifest picks fp16 for the GPU first
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert [p[0] for p in cuda_fails] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert s.provider == "CPUExecutionProvider" and s.path.name == manifest["files"]["int8"]
    assert s.sha256 == manifest["sha256"][manifest["files"]["int8"]]


def test_cuda_requested_but_failing_is_a_load_error(cuda_fails: list[list[str]]) -> None:
    with pytest.raises(ModelLoadError, match="on CUDA: libcudart"):
        OnnxScorer.load(DEFAULT_MODEL_DIR, provider="cuda")


def test_the_int8_fallback_after_cuda_is_checked_against_the_manifest(
    cuda_fails: list[list[str]], model_copy: Path
) -> None:
    """A corrupt CPU file must not load just because CUDA was missing and the fp16 file, the
    first choice, was fine."""
    f = model_copy / json.loads((model_copy / "manifest.json").read_text())["files"]["int8"]
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="corrupt model file"):
        OnnxScorer.load(model_copy)
