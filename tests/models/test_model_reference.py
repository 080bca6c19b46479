"""The drift reference in a bundle's manifest (`python -m models.reference`): the shipped one
agrees with the validation metrics measured separately, the command writes one with ONNX Runtime
alone (torch blocked), and the bundle still loads with its pinned sha256."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_MODEL_DIR, REPO_DIR
from pipeline.core.drift import Reference
from pipeline.core.records import LABELS

TEXTS = [
    "Profit warning: Nokia cuts its outlook and shares plunge",
    "Apple beats estimates and raises its dividend",
    "The company will hold its annual general meeting on Tuesday",
    "$TSLA slumps after deliveries miss badly",
    "Fortum names a new chief financial officer",
]


def test_the_shipped_reference_matches_the_validation_confusion_matrices() -> None:
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    block = manifest["reference"]
    ref = Reference.from_dict(block)
    metrics = manifest["metrics"]
    assert ref.n == metrics["validation"]["n"]
    # it describes the file a CPU worker loads, as shipped
    assert block["model_file"] == manifest["files"]["int8"]
    assert block["model_sha256"] == manifest["sha256"][block["model_file"]]
    # the predicted labels of the int8 confusion matrices (columns), measured by the export's
    # metrics on the same split, are the reference's label mix
    predicted = [0, 0, 0]
    for name, entry in block["by_dataset"].items():
        cm = metrics[name]["int8"]["confusion"]
        columns = [sum(row[j] for row in cm) for j in range(len(LABELS))]
        assert entry["n"] == sum(columns) == metrics[name]["n"]
        assert [entry["labels"][lab] * entry["n"] for lab in LABELS] == pytest.approx(columns)
        predicted = [a + b for a, b in zip(predicted, columns, strict=True)]
    assert [x * ref.n for x in ref.labels] == pytest.approx(predicted)


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """The shipped bundle's CPU file, tokenizer, labels and manifest (no fp16: not needed)."""
    out = tmp_path / "bundle"
    out.mkdir()
    for name in ("model.int8.onnx", "tokenizer.json", "labels.json", "manifest.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, out / name)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["reference"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def test_the_command_writes_a_reference_without_torch(bundle_copy: Path, tmp_path: Path) -> None:
    from pipeline.scoring.onnx import OnnxScorer

    val = tmp_path / "val.jsonl"
    rows = [{"text": t, "label": "neutral", "source": "toy"} for t in TEXTS]
    val.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = json.loads((bundle_copy / "manifest.json").read_text())
    blocked = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from models.reference import main\n"
        f"raise SystemExit(main([{str(bundle_copy)!r}, '--val', {str(val)!r}]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, cwd=REPO_DIR, timeout=300
    )
    assert out.returncode == 0, out.stderr
    after = json.loads((bundle_copy / "manifest.json").read_text())
    assert {k: v for k, v in after.items() if k != "reference"} == before
    ref = Reference.from_dict(after["reference"])
    scorer = OnnxScorer.load(bundle_copy, provider="cpu")  # the pinned sha256 still matches
    expected = Reference.of((s.label, s.confidence) for s in scorer.score(TEXTS))
    assert ref == expected and ref.n == len(TEXTS)
    assert after["reference"]["source"] == {"file": str(val)}
    assert json.loads(out.stdout)["n"] == len(TEXTS)


def test_a_missing_validation_file_is_one_line(bundle_copy: Path, tmp_path: Path) -> None:
    from models.reference import main

    with pytest.raises(SystemExit, match="validation file not found: .*nowhere.jsonl"):
        main([str(bundle_copy), "--val", str(tmp_path / "nowhere.jsonl")])


def test_training_data_elsewhere_is_named(bundle_copy: Path, tmp_path: Path) -> None:
    from models.reference import main

    with pytest.raises(SystemExit, match="training data not found: .*gone.jsonl"):
        main([str(bundle_copy), "--data", str(tmp_path / "gone.jsonl")])
