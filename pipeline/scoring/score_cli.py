"""`finsent score`: score texts from the command line with the shipped ONNX model (no torch).

Usage:
    finsent score "Nokia cuts 1,000 jobs" "Apple beats on revenue"
    echo "Profit warning at Fortum" | finsent score - --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "texts", nargs="+", metavar="TEXT", help="texts to score; '-' reads lines from stdin"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--model", default=None, help="model dir or .onnx (default: $FINSENT_MODEL_DIR or shipped)"
    )
    parser.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto")


def run(args: argparse.Namespace) -> int:
    from pipeline.core.records import LABELS
    from pipeline.scoring.onnx import DEFAULT_MODEL_DIR, OnnxScorer

    texts = (
        [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if args.texts == ["-"]
        else args.texts
    )
    path = args.model or os.environ.get("FINSENT_MODEL_DIR") or DEFAULT_MODEL_DIR
    scorer = OnnxScorer.load(path, provider=args.provider)
    for text, s in zip(texts, scorer.score(texts), strict=True):
        if args.json:
            row = {
                "text": text,
                "label": s.label,
                "score": round(s.score, 4),
                "confidence": round(s.confidence, 4),
                "probs": dict(zip(LABELS, (round(p, 4) for p in s.probs), strict=True)),
                "model_version": scorer.version,
            }
            print(json.dumps(row))
        else:
            print(f"{s.label:<8} {s.score:+.3f}  conf {s.confidence:.2f}  {text}")
    if not args.json:
        print(f"# {scorer.version} on {scorer.provider}", file=sys.stderr)
    return 0
