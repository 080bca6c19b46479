"""The drift reference of a bundle: the shipped ONNX model's own predictions on its held-out data.

`python -m models.reference BUNDLE` scores the validation split the model never trained on (by
default rebuilt from the manifest's training data, `val_fraction` and `seed`, exactly as `finsent
train` held it out; or `--val FILE`) with the file a CPU worker loads (`OnnxScorer`, int8) and
writes the label mix and the confidence histogram (`pipeline.core.drift.Reference`, the same bins
the worker counts live) into BUNDLE/manifest.json as `reference`. The worker compares what it
scores with this (README, "Model drift"); `finsent export` and `python -m models.rowquant --val`
write it too, so a new model ships with its own.

ONNX Runtime only: nothing here imports torch, so it runs wherever the worker runs.

Usage:
    python -m models.reference models/finsent-minilm
    python -m models.reference models/finsent-minilm --val /tmp/ckpt/val.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.data import Example, read_jsonl
from pipeline.core.drift import Reference

log = logging.getLogger(__name__)

WHAT = (
    "the shipped model's own predictions (label mix, max-softmax histogram) on its held-out "
    "validation split: what pipeline/core/drift.py compares live scoring with"
)


def held_out(manifest: dict[str, Any], data: Sequence[str] | None = None) -> list[Example]:
    """The validation split of the manifest's training run: its `data` files (or `data`, the
    same files elsewhere), split with its `val_fraction` and `seed` per file, as `finsent train`
    did (`models.finetune.split_data`)."""
    from models.finetune import split_data

    args = manifest.get("training", {}).get("args", {})
    files = list(data or args.get("data") or manifest.get("data") or [])
    if not files:
        raise SystemExit("the manifest names no training data: pass --val FILE")
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise SystemExit(
            f"training data not found: {missing[0]} (pass --data with the same files, or --val)"
        )
    _train, val = split_data(files, float(args.get("val_fraction", 0.15)), int(args.get("seed", 0)))
    return val


def compute_reference(
    bundle: Path, examples: Sequence[Example], *, source: dict[str, Any], max_batch: int = 32
) -> dict[str, Any]:
    """The manifest's `reference` block: the CPU file's predictions on `examples`, overall and
    per dataset, with what was scored and how (`source`: where the examples came from)."""
    from pipeline.scoring.onnx import OnnxScorer

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    scorer = OnnxScorer.load(
        bundle, provider="cpu", max_length=int(manifest.get("max_length", 128))
    )
    t0 = time.perf_counter()
    scores = scorer.score([e.text for e in examples], max_batch=max_batch)
    log.info("scored %d held-out texts with %s in %.0f s", len(scores), scorer.path.name,
             time.perf_counter() - t0)  # fmt: skip
    preds = [(s.label, s.confidence) for s in scores]
    by_dataset = {
        name: Reference.of(p for p, e in zip(preds, examples, strict=True) if e.source == name)
        for name in sorted({e.source for e in examples})
    }
    return {
        "what": WHAT,
        **Reference.of(preds).to_dict(),
        "by_dataset": {name: ref.to_dict() for name, ref in by_dataset.items()},
        "model_file": scorer.path.name,
        "model_sha256": scorer.sha256,
        "source": source,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": f"python -m models.reference {bundle}",
    }


def write_reference(
    bundle: Path, val: Path | None = None, data: Sequence[str] | None = None
) -> dict[str, Any]:
    """Compute the reference of `bundle` (on `val`, else the manifest's held-out split) and
    store it in its manifest.json; returns the block."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    source: dict[str, Any]
    if val is not None:
        if not val.is_file():
            raise SystemExit(f"validation file not found: {val}")
        examples, source = read_jsonl(val), {"file": str(val)}
    else:
        examples = held_out(manifest, data)
        args = manifest.get("training", {}).get("args", {})
        source = {
            "split_of": list(data or args.get("data") or manifest.get("data") or []),
            "val_fraction": args.get("val_fraction", 0.15),
            "seed": args.get("seed", 0),
        }
    block = compute_reference(bundle, examples, source=source)
    manifest = json.loads(path.read_text(encoding="utf-8"))  # as it is now, not as it was read
    manifest["reference"] = block
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return block


def main(argv: list[str] | None = None) -> int:
    """`python -m models.reference BUNDLE [--val FILE | --data FILE...]`: write the reference."""
    parser = argparse.ArgumentParser(
        prog="python -m models.reference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle", type=Path, help="model directory with manifest.json")
    parser.add_argument(
        "--val", type=Path, default=None,
        help="held-out JSONL to score (default: the manifest's training data, split as trained)",
    )  # fmt: skip
    parser.add_argument(
        "--data", nargs="+", default=None,
        help="the manifest's training files at another path (split with its val_fraction, seed)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    block = write_reference(args.bundle, args.val, args.data)
    summary = {k: block[k] for k in ("n", "labels", "model_file")}
    summary["confidence_shares"] = [round(x, 4) for x in block["confidence"]["shares"]]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
