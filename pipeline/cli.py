"""`finsent` command line. Each subcommand lives in its own module and is imported only when run,
so `finsent worker` never imports torch and `finsent --help` starts fast.

Every command module exposes `configure(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pipeline.errors import FinsentError

# name -> (module, one-line help). Modules are imported lazily.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "pipeline.demo",
        "start a local broker + worker, feed bundled sample news, show live table",
    ),
    "worker": ("pipeline.stream.worker", "run the stream worker (faust app)"),
    "kafka": ("pipeline.kafka_local", "start|stop|status a local single-node Apache Kafka (KRaft)"),
    "topics": ("pipeline.stream.admin", "create the finsent topics on the configured broker"),
    "score": ("pipeline.scoring.score_cli", "score texts with the shipped ONNX model"),
    "replay": ("pipeline.replay", "publish a historical feed into Kafka in event time"),
    "backtest": (
        "pipeline.backtest.run",
        "run the core over a feed in-process and evaluate vs prices",
    ),
    "rules": ("pipeline.rules", "render alert rules to Prometheus / PrometheusRule YAML"),
    "pretrain": (
        "models.pretrain",
        "domain-adaptive masked-LM pre-training on unlabelled text [needs finsent[train]]",
    ),
    "train": (
        "models.finetune",
        "fine-tune a sentiment model (full or LoRA) [needs finsent[train]]",
    ),
    "teacher": (
        "models.teacher",
        "fetch + fine-tune the MPNet teacher, resumable [finsent[train]]",
    ),
    "distill": (
        "models.distill",
        "distil a teacher into the MiniLM student, resumable [finsent[train]]",
    ),
    "eval": ("models.evaluate", "evaluate the ONNX model on a labelled JSONL/CSV file"),
    "export": (
        "models.export",
        "export a checkpoint to ONNX (fp32, int8, fp16) [needs finsent[train]]",
    ),
    "bench": ("pipeline.bench", "benchmark scoring throughput: torch eager vs ONNX vs shipped"),
    "link": ("pipeline.link_cli", "link texts to tickers (--json, --eval FILE, --bench)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finsent", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.print_help()
        return 0 if argv else 2  # bare `finsent` is a usage error
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"finsent {name}", description=COMMANDS[name][1])
    module.configure(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except FinsentError as exc:
        print(f"finsent {name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
