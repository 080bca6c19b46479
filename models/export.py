"""`finsent export`: checkpoint -> ONNX fp32 (parity-checked) -> ORT-optimized -> int8/fp16 bundle.

Imports torch/transformers lazily ([train] extra). The bundle (model files, tokenizer.json,
labels.json, manifest.json, README.md) is what `pipeline.scoring.onnx.OnnxScorer` loads.

Usage:
    finsent export --checkpoint /tmp/finsent-ckpt --out models/finsent-minilm --int8 --fp16
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from models import TRAIN_HINT
from models.card import build_manifest, render_card
from models.evaluate import validation_metrics
from models.reference import write_reference
from models.rowquant import quantize_per_row
from pipeline.core.records import LABELS

log = logging.getLogger(__name__)

PARITY_TEXTS = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 .",
    "$TSLA shares slump after deliveries miss estimates",
    "The company has 120 employees.",
    "Nokia cuts 1,000 jobs as demand for handsets falls sharply in Europe.",
    "Apple beats on revenue, raises dividend",
    "ok",
]


def load_checkpoint(path: str | Path) -> tuple[Any, Any]:
    """Load a sequence-classification checkpoint with eager attention, in eval mode.

    Eager attention, because with sdpa ONNX Runtime fuses no Attention node (README).
    """
    try:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as e:  # pragma: no cover
        raise SystemExit(TRAIN_HINT) from e
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), attn_implementation="eager"
    )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model.eval(), tokenizer


def encode(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="np"
    )
    return {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}


def torch_logits(model: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    return out.logits.float().numpy()


def export_fp32(model: Any, tokenizer: Any, out_path: Path, opset: int = 17) -> Path:
    """Legacy TorchScript exporter (dynamo=False) with dynamic batch and sequence axes."""
    import torch

    feed = encode(tokenizer, PARITY_TEXTS[:2], 32)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in feed]
    args = tuple(torch.from_numpy(feed[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        # legacy-exporter deprecation and tracer notices; parity is checked right after instead
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, args, str(out_path), input_names=names, output_names=["logits"],
            dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False,
        )  # fmt: skip
    model.eval()  # the exporter restores train mode (dropout on) (README)
    return out_path


def onnx_logits(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return np.asarray(sess.run(None, {k: v for k, v in feed.items() if k in names})[0])


def optimize(src: Path, dst: Path, num_heads: int, hidden_size: int, *, fp16: bool = False) -> Path:
    """ORT transformer fusions (Attention, SkipLayerNorm, ...); optionally convert to fp16."""
    from onnxruntime.transformers import optimizer

    m = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size
    )
    if fp16:
        m.convert_float_to_float16(keep_io_types=True)
    m.save_model_to_file(str(dst))
    return dst


def quantize_int8(
    src: Path, dst: Path, *, per_channel: bool = True, exclude: str | None = None
) -> Path:
    """Dynamic int8 quantization; per-channel keeps far more labels equal to fp32 (README).

    Args:
        exclude: regex of node names kept in fp32 (e.g. the last layer or the head), trading a few
            hundred KB for label agreement with fp32.
    """
    import re

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [
        n.name for n in onnx.load(str(src)).graph.node if exclude and re.search(exclude, n.name)
    ]
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
        nodes_to_exclude=nodes,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # needed on optimized graphs
    )  # fmt: skip
    log.info(
        "int8: %s, %d nodes kept in fp32",
        "per-tensor" if not per_channel else "per-channel",
        len(nodes),
    )
    return dst


def write_tokenizer(src_dir: Path, tokenizer: Any, dst: Path, max_length: int) -> Path:
    """tokenizer.json with truncation at max_length and no padding (the scorer pads per batch)."""
    from tokenizers import Tokenizer

    src = src_dir / "tokenizer.json"
    if not src.exists():
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            shutil.copy(Path(tmp) / "tokenizer.json", dst)
        src = dst
    tok = Tokenizer.from_file(str(src))
    tok.no_padding()
    tok.enable_truncation(max_length)
    tok.save(str(dst))
    return dst


def label_order(model: Any) -> list[str]:
    id2label = {int(k): str(v).lower() for k, v in model.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    if sorted(labels) != sorted(LABELS):
        log.warning("checkpoint labels %s are not %s; assuming LABELS order", labels, LABELS)
        return list(LABELS)
    return labels


def _setup_logging() -> None:
    """Our INFO lines only: onnxruntime.quantization logs per-tensor chatter on the root logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg = logging.getLogger("models")
    if not pkg.handlers:
        pkg.addHandler(handler)
    pkg.setLevel(logging.INFO)
    pkg.propagate = False


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--checkpoint", required=True, help="HF sequence-classification checkpoint dir")
    add("--out", required=True, help="bundle directory to write")
    add("--int8", action="store_true", help="write model.int8.onnx (CPU)")
    add("--fp16", action="store_true", help="write model.fp16.onnx (GPU)")
    add("--keep-fp32", action="store_true", help="also keep model.fp32.onnx in --out")
    add(
        "--int8-method", choices=("per-row", "dynamic"), default="per-row",
        help="per-row: batch-invariant per-token activation scales (models/rowquant.py); "
        "dynamic: ORT quantize_dynamic, one scale per batch (scores depend on batch-mates)",
    )  # fmt: skip
    add(
        "--per-tensor",
        action="store_true",
        help="dynamic int8 weights per-tensor (default per-channel)",
    )
    add("--int8-exclude", default=None, metavar="REGEX", help="node names kept fp32")
    add("--int8-source", choices=("optimized", "plain"), default="optimized")
    add("--max-length", type=int, default=128)
    add("--name", default="finsent-minilm")
    add("--val", default=None, help="validation JSONL (default: CHECKPOINT/val.jsonl)")
    add("--work", default=None, help="keep intermediate files here (default: temp)")
    add("--card-notes", default=None, help="markdown file appended to the model card")


def run(args: argparse.Namespace) -> int:
    """`finsent export`: write the bundle that `OnnxScorer` loads, with its manifest and card.

    The fp32 graph is checked against torch before anything is quantized, and the validation
    metrics are measured on the written ONNX files, so the card describes what ships.
    """
    _setup_logging()
    ckpt, out = Path(args.checkpoint), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # stale shas would fail the checks below
    work = Path(args.work or tempfile.mkdtemp(prefix="finsent-export-"))
    work.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_checkpoint(ckpt)
    labels = label_order(model)
    cfg = model.config

    t0 = time.perf_counter()
    fp32 = export_fp32(model, tokenizer, work / "model.fp32.onnx")
    val_path = Path(args.val) if args.val else ckpt / "val.jsonl"
    texts = PARITY_TEXTS[:]
    if val_path.exists():
        texts += [json.loads(x)["text"] for x in val_path.read_text().splitlines()[:58]]
    feed = encode(tokenizer, texts, args.max_length)
    diff = float(np.abs(torch_logits(model, feed) - onnx_logits(fp32, feed)).max())
    log.info("fp32 ONNX vs torch: max |logit diff| = %.2e on %d texts", diff, len(texts))

    for name in ("tokenizer.json", "labels.json"):
        (work / name).unlink(missing_ok=True)
    write_tokenizer(ckpt, tokenizer, out / "tokenizer.json", args.max_length)
    (out / "labels.json").write_text(json.dumps(labels) + "\n")
    shutil.copy(out / "tokenizer.json", work / "tokenizer.json")
    shutil.copy(out / "labels.json", work / "labels.json")

    files: dict[str, str] = {}
    opt = optimize(fp32, work / "model.opt.onnx", cfg.num_attention_heads, cfg.hidden_size)
    if args.int8 and args.int8_method == "per-row":
        quantize_per_row(opt, out / "model.int8.onnx", exclude=args.int8_exclude)
        files["int8"] = "model.int8.onnx"
    elif args.int8:
        src = opt if args.int8_source == "optimized" else fp32
        quantize_int8(
            src, out / "model.int8.onnx", per_channel=not args.per_tensor, exclude=args.int8_exclude
        )
        files["int8"] = "model.int8.onnx"
    if args.fp16:
        optimize(fp32, out / "model.fp16.onnx", cfg.num_attention_heads, cfg.hidden_size, fp16=True)
        files["fp16"] = "model.fp16.onnx"
    if args.keep_fp32 or not files:
        shutil.copy(fp32, out / "model.fp32.onnx")
        files["fp32"] = "model.fp32.onnx"
    log.info("exported %s in %.0f s", sorted(files), time.perf_counter() - t0)

    metrics: dict[str, Any] = {"onnx_fp32_vs_torch_max_abs_logit_diff": diff}
    if val_path.exists():
        metrics |= validation_metrics(
            val_path,
            work / "model.fp32.onnx",
            out / files.get("int8", files.get("fp32", "")),
            args.max_length,
        )
    report_path = ckpt / "training_report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    manifest = build_manifest(args, out, files, labels, metrics, report)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if val_path.exists():  # the drift reference: the shipped file's predictions on the split
        manifest["reference"] = write_reference(out, val_path)
    notes = Path(args.card_notes).read_text() if args.card_notes else ""
    (out / "README.md").write_text(render_card(manifest, report, notes))
    log.info("wrote %s (%s)", out, manifest["version"])
    summary = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    for key, value in metrics.items():
        if isinstance(value, dict) and "int8_fp32_label_agreement" in value:
            summary[f"{key}_int8_fp32_label_agreement"] = value["int8_fp32_label_agreement"]
    print(json.dumps({"version": manifest["version"], "summary": summary}, indent=2))
    return 0
