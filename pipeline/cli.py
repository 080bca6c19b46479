"""`finsent` command line. Each subcommand lives in its own module and is imported only when run,
so `finsent worker` never imports torch and `finsent --help` starts fast.

Every command module exposes `configure(parser)` and `run(args) -> int`. Every `--help` shows
each option's default; a `FinsentError` (a bad setting, a missing file, a broker that cannot be
reached) is printed as `finsent <command>: error: ...` and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pipeline import __version__
from pipeline.errors import FinsentError

# name -> (module, one-line help). Modules are imported lazily.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "pipeline.dev.demo",
        "local broker + worker: warm a baseline from sample history, then a live alert",
    ),
    "worker": ("pipeline.stream.worker", "run the stream worker (faust app)"),
    "kafka": (
        "pipeline.dev.kafka_local",
        "start|stop|status a local single-node Apache Kafka (KRaft)",
    ),
    "topics": ("pipeline.stream.admin", "create the finsent topics on the configured broker"),
    "score": ("pipeline.scoring.score_cli", "score texts with the shipped ONNX model"),
    "replay": ("pipeline.replay", "publish a historical feed into Kafka in event time"),
    "backtest": (
        "pipeline.backtest.run",
        "run the core over a feed in-process and evaluate vs prices",
    ),
    "rules": ("pipeline.rules_render", "render alert rules to Prometheus / PrometheusRule YAML"),
    "notify": ("pipeline.notify.server", "add headlines and links to Alertmanager notifications"),
    "review": (
        "pipeline.review.cli",
        "export review items as labelling tasks; import the labels as a training dataset",
    ),
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
    "bench": ("pipeline.dev.bench", "benchmark scoring throughput: torch eager vs ONNX vs shipped"),
    "link": ("pipeline.dev.link_cli", "link texts to tickers (--json, --eval FILE, --bench)"),
}


def version_line() -> str:
    """What `finsent --version` prints, with the Python version (bug reports need both)."""
    return f"finsent {__version__} (Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, for `finsent --help` and unknown commands: every command listed without
    importing its module (each command's own options are under `finsent COMMAND --help`)."""
    parser = argparse.ArgumentParser(prog="finsent", description=__doc__.split("\n")[0])
    parser.add_argument("-V", "--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" after every option that has a real default: not after a
    required option, a flag (False) or an unset one (None), nor when the help already says."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not has_default(action) or "default" in text.lower():
            return text
        return super()._get_help_string(action)


def has_default(action: argparse.Action) -> bool:
    """Whether `--help` shows the option's default: not for a required option, a flag, or None."""
    return not (
        action.required
        or action.default in (None, False, argparse.SUPPRESS)
        or isinstance(action.default, bool)
    )


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Make `--help` print every option's default, nested sub-commands included.

    argparse prints no help line for an option without a help text, so such an option gets one
    that is just its default.
    """
    parser.formatter_class = DefaultsHelpFormatter
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in action.choices.values():
                show_defaults(child)
        elif action.help is None and has_default(action):
            action.help = "(default: %(default)s)"


def main(argv: Sequence[str] | None = None) -> int:
    """`finsent COMMAND ...`: import only that command's module, parse its options, run it. Returns
    the command's exit code, or 2 for a `FinsentError` (printed as one line) or a bare `finsent`;
    argparse itself exits 2 on a usage error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-V", "--version"):
        print(version_line())
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.print_help()
        return 0 if argv else 2  # bare `finsent` is a usage error
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(
        prog=f"finsent {name}",
        description=COMMANDS[name][1],
        formatter_class=DefaultsHelpFormatter,
    )
    module.configure(parser)
    show_defaults(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except FinsentError as exc:
        print(f"finsent {name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
