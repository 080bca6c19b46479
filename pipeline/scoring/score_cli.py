"""`finsent score`: score texts from the command line with the shipped ONNX model (no torch).

The model, the provider and the thread count are the worker's settings (`pipeline.config.Settings`:
FINSENT_MODEL_DIR, FINSENT_PROVIDER, FINSENT_INTRA_OP_THREADS, or `.env`); `--model` and
`--provider` override them.

Usage:
    finsent score "Nokia cuts 1,000 jobs" "Apple beats on revenue"
    echo "Profit warning at Fortum" | finsent score - --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.scoring.onnx import OnnxScorer


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags; --model and --provider default to the settings, so they have none of their own."""
    parser.add_argument(
        "texts", nargs="+", metavar="TEXT", help="texts to score; '-' reads lines from stdin"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--model",
        default=None,
        help="model dir or .onnx (default: FINSENT_MODEL_DIR, else the shipped model)",
    )
    parser.add_argument(
        "--provider",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="where to run the model (default: FINSENT_PROVIDER, else auto)",
    )


def run(args: argparse.Namespace) -> int:
    """Print one line (or JSON object) per text, in input order, and the model used on stderr."""
    from pipeline.core.records import LABELS

    texts = _read_texts(args.texts)
    scorer = _load_scorer(args.model, args.provider)
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


def _read_texts(texts: Sequence[str]) -> list[str]:
    """The texts as given, or with a lone '-' the non-blank lines of stdin (for pipes)."""
    if list(texts) == ["-"]:
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    return list(texts)


def _load_scorer(model: str | None, provider: str | None) -> OnnxScorer:
    """The scorer the worker would load, from the same settings; a flag given wins.

    A bad FINSENT_* value is a `ConfigError` naming it (one line from `finsent`). An empty one
    means its default, as an empty FINSENT_MODEL_DIR always meant the shipped model here.
    """
    from pipeline.config import Settings
    from pipeline.scoring.onnx import OnnxScorer

    settings = Settings(_env_ignore_empty=True)
    return OnnxScorer.load(
        model or settings.model_dir,
        provider=provider or settings.provider,
        intra_op_threads=settings.intra_op_threads,
    )
