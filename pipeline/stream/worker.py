"""`finsent worker`: load the model, build the faust app, run until SIGTERM/SIGINT.

Usage:
    FINSENT_BOOTSTRAP_SERVERS=127.0.0.1:9092 finsent worker [--log-level info]

1. load the symbol table and the ONNX model (CUDA if present, else CPU; the choice is logged
   and exported as `finsent_model_info{provider=...}`);
2. declare topics, the per-ticker table (recovered from its changelog) and the agents;
3. hand over to faust's Worker, which handles signals and commits offsets on shutdown.
"""

from __future__ import annotations

import argparse
import logging
import time

from prometheus_client import CollectorRegistry, disable_created_metrics

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.reference import load_symbols

log = logging.getLogger("finsent.worker")


def build_runtime(settings: Settings, scorer: object | None = None) -> tuple[object, object]:
    """The faust app with agents and web pages registered; `scorer` overrides the ONNX model."""
    from pipeline.stream import agents, web
    from pipeline.stream.admin import topic_names
    from pipeline.stream.app import Runtime, create_app

    disable_created_metrics()
    if scorer is None:
        from pipeline.scoring.onnx import OnnxScorer

        scorer = OnnxScorer.load(
            settings.model_dir,
            provider=settings.provider,
            intra_op_threads=settings.intra_op_threads,
        )
    metrics = PipelineMetrics.create(
        CollectorRegistry(), settings.watchlist_set(), topic_names(settings)
    )
    provider = getattr(scorer, "provider", "custom")
    metrics.model_info.info({"version": scorer.version, "provider": provider})  # type: ignore[attr-defined]
    log.info("model %s on %s", scorer.version, provider)  # type: ignore[attr-defined]
    rt = Runtime(
        settings=settings,
        app=create_app(settings),
        scorer=scorer,
        symbols=load_symbols(settings.symbols_path),
        core=settings.core_config(),
        metrics=metrics,
    )
    rt.health.model_loaded = True
    rt.health.last_progress_monotonic = time.monotonic()
    _topics, table = agents.register(rt)
    web.register(rt, table)
    return rt, table


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    from faust import Worker

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    rt, _table = build_runtime(Settings())
    worker = Worker(rt.app, loglevel=args.log_level, quiet=True)  # type: ignore[attr-defined]
    worker.execute_from_commandline()
    return 0
