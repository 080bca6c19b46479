"""Eval metrics on hand-made confusion cases (pure functions, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.evaluate import (
    classification_metrics,
    confusion_matrix,
    format_report,
    metrics_from_confusion,
    plot_confusion,
)

#            true      predicted
CASE = [
    ("negative", "negative"), ("negative", "negative"), ("negative", "neutral"),
    ("neutral", "neutral"), ("neutral", "neutral"), ("neutral", "neutral"), ("neutral", "positive"),
    ("positive", "positive"), ("positive", "negative"), ("positive", "neutral"),
]  # fmt: skip


def test_confusion_matrix() -> None:
    cm = confusion_matrix([t for t, _ in CASE], [p for _, p in CASE])
    assert cm.tolist() == [[2, 1, 0], [0, 3, 1], [1, 1, 1]]


def test_metrics_by_hand() -> None:
    m = classification_metrics([t for t, _ in CASE], [p for _, p in CASE])
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(6 / 10)
    neg, neu, pos = (m["per_class"][k] for k in ("negative", "neutral", "positive"))
    # negative: tp 2, predicted 3, true 3
    assert neg["precision"] == pytest.approx(2 / 3) and neg["recall"] == pytest.approx(2 / 3)
    # neutral: tp 3, predicted 5, true 4
    assert neu["precision"] == pytest.approx(3 / 5) and neu["recall"] == pytest.approx(3 / 4)
    assert neu["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    # positive: tp 1, predicted 2, true 3
    assert pos["precision"] == pytest.approx(1 / 2) and pos["recall"] == pytest.approx(1 / 3)
    assert pos["support"] == 3
    f1s = [2 / 3, 2 * 0.6 * 0.75 / 1.35, 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)]
    assert m["macro_f1"] == pytest.approx(sum(f1s) / 3)


def test_matches_sklearn_when_available() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    y, p = [t for t, _ in CASE], [p for _, p in CASE]
    assert classification_metrics(y, p)["macro_f1"] == pytest.approx(
        sk.f1_score(y, p, average="macro")
    )


def test_class_never_predicted_gets_zero_not_nan() -> None:
    m = metrics_from_confusion([[2, 0, 0], [1, 0, 0], [0, 0, 0]])
    assert m["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_class"]["positive"]["support"] == 0
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_report_and_plot(tmp_path: Path) -> None:
    m = classification_metrics([t for t, _ in CASE], [p for _, p in CASE])
    text = format_report(m)
    assert "accuracy=0.6000" in text and "confusion" in text
    png = plot_confusion(m, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_cli_on_shipped_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pipeline.cli import main

    data = tmp_path / "d.jsonl"
    rows = [
        ("Profit rose sharply", "positive"),
        ("Sales fell", "negative"),
        ("The firm has 10 staff", "neutral"),
    ]
    data.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    png = tmp_path / "cm.png"
    assert main(["eval", "--data", str(data), "--json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and 0 <= out["accuracy"] <= 1 and 0 <= out["macro_f1"] <= 1
    assert out["model"]["provider"] == "CPUExecutionProvider" and png.exists()
