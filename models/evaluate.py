"""`finsent eval`: metrics of the shipped ONNX model on a labelled file (measures what ships).

Pure metric functions (no model, numpy only) come first so they are testable on their own; the
command runs through `pipeline.scoring.onnx.OnnxScorer`, never torch. So does
`validation_metrics`, the fp32-vs-int8 numbers that `finsent export` and `python -m
models.rowquant` write into a bundle's manifest and card.

Usage:
    finsent eval --data ../shared/data/twitter_financial_news/train.jsonl --json
    finsent eval --data val.jsonl --model models/finsent-minilm --plot confusion.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.records import LABELS


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] = LABELS
) -> np.ndarray:
    """Counts with rows = true label, columns = predicted label, in `labels` order."""
    index = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[index[t], index[p]] += 1
    return cm


def metrics_from_confusion(cm: np.ndarray, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix.

    A class with no predictions (or no support) gets precision (recall) 0, as sklearn's
    `zero_division=0` does; macro-F1 averages over all classes.
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    tp = np.diag(cm)
    pred = cm.sum(axis=0)
    true = cm.sum(axis=1)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "n": int(n),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            lab: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(true[i]),
            }
            for i, lab in enumerate(labels)
        },
        "confusion": cm.astype(np.int64).tolist(),
        "labels": list(labels),
    }


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """`metrics_from_confusion` of the confusion matrix of two label lists."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, labels), labels)


def format_report(m: dict[str, Any]) -> str:
    """Plain-text report: headline numbers, per-class table and confusion matrix."""
    labels = m["labels"]
    lines = [f"n={m['n']}  accuracy={m['accuracy']:.4f}  macro_f1={m['macro_f1']:.4f}", ""]
    lines.append(f"{'class':<10} {'prec':>6} {'recall':>6} {'f1':>6} {'support':>8}")
    for lab in labels:
        c = m["per_class"][lab]
        lines.append(
            f"{lab:<10} {c['precision']:6.3f} {c['recall']:6.3f} {c['f1']:6.3f} {c['support']:8d}"
        )
    lines += [
        "",
        "confusion (rows = true, cols = predicted)",
        " " * 10 + "".join(f"{lab[:8]:>9}" for lab in labels),
    ]
    for lab, row in zip(labels, m["confusion"], strict=True):
        lines.append(f"{lab:<10}" + "".join(f"{v:9d}" for v in row))
    return "\n".join(lines)


def plot_confusion(
    m: dict[str, Any], path: str | Path, title: str = "finsent confusion matrix"
) -> Path:
    """Write the confusion matrix as a PNG (matplotlib, headless backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(m["confusion"])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(m["labels"]))
    ax.set_xticks(ticks, m["labels"])
    ax.set_yticks(ticks, m["labels"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in ticks:
        for j in ticks:
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color)
    ax.set_title(f"{title}\nacc {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def validation_metrics(val_path: Path, fp32: Path, int8: Path, max_length: int) -> dict[str, Any]:
    """fp32 and int8 metrics per dataset, PhraseBank all-agree accuracy, int8-vs-fp32 agreement.

    Scores both ONNX files through `OnnxScorer`, so the manifest and the card report what ships.
    """
    from models.data import read_jsonl
    from pipeline.scoring.onnx import OnnxScorer

    rows = read_jsonl(val_path)
    texts = [r.text for r in rows]
    preds = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        preds[name] = [
            s.label
            for s in OnnxScorer.load(path, provider="cpu", max_length=max_length).score(texts)
        ]
    out: dict[str, Any] = {"validation": {"file": str(val_path), "n": len(rows)}}
    for source in sorted({r.source for r in rows}):
        idx = [i for i, r in enumerate(rows) if r.source == source]
        y = [rows[i].label for i in idx]
        entry: dict[str, Any] = {"n": len(idx)}
        for name in ("fp32", "int8"):
            p = [preds[name][i] for i in idx]
            m = classification_metrics(y, p)
            entry[name] = {k: m[k] for k in ("accuracy", "macro_f1", "per_class", "confusion")}
            agree = [i for i in idx if rows[i].agreement == 1.0]
            if agree:
                hits = sum(preds[name][i] == rows[i].label for i in agree)
                entry[name]["all_agree_accuracy"] = hits / len(agree)
                entry["all_agree_n"] = len(agree)
        entry["int8_fp32_label_agreement"] = sum(
            preds["fp32"][i] == preds["int8"][i] for i in idx
        ) / len(idx)
        out[source] = entry
    n = len(rows)
    out["int8_fp32_label_agreement"] = (
        sum(a == b for a, b in zip(preds["fp32"], preds["int8"], strict=True)) / n
    )
    acc = {k: sum(p == r.label for p, r in zip(v, rows, strict=True)) / n for k, v in preds.items()}
    out["accuracy_all"] = acc
    out["int8_accuracy_loss_points"] = 100 * (acc["fp32"] - acc["int8"])
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, nargs="+", help="labelled JSONL (text,label) or CSV"
    )
    parser.add_argument("--model", default=None, help="model dir or .onnx (default: shipped model)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", default=None, metavar="PNG", help="write the confusion matrix PNG"
    )


def run(args: argparse.Namespace) -> int:
    from models.data import read_examples
    from pipeline.scoring.onnx import DEFAULT_MODEL_DIR, OnnxScorer

    rows = read_examples(args.data, text_column=args.text_column, label_column=args.label_column)
    scorer = OnnxScorer.load(args.model or DEFAULT_MODEL_DIR, max_length=args.max_length)
    preds = [s.label for s in scorer.score([r.text for r in rows])]
    m = classification_metrics([r.label for r in rows], preds)
    m["model"] = scorer.describe()
    if args.plot:
        plot_confusion(m, args.plot)
    print(json.dumps(m) if args.json else format_report(m))
    return 0
