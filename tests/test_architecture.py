"""Dependencies point one way (STYLE.md, habit 2): the core imports no driver, and the worker's
import path never pulls in torch."""

import subprocess
import sys

import pytest

HEAVY = (
    "faust",
    "onnxruntime",
    "prometheus_client",
    "torch",
    "transformers",
    "kafka",
    "aiokafka",
    "pandas",
)


def _modules_after_import(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_imports_no_io_or_framework_modules() -> None:
    loaded = _modules_after_import("import pipeline.core")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "module",
    ["pipeline.stream.worker", "pipeline.scoring.onnx", "pipeline.stream.agents", "pipeline.cli"],
)
def test_worker_path_never_imports_torch(module: str) -> None:
    loaded = _modules_after_import(f"import {module}")
    assert "torch" not in loaded and "transformers" not in loaded


def test_core_public_surface() -> None:
    import pipeline.core as core

    assert sorted(core.__all__) == sorted(
        [
            "LABELS",
            "AggregationConfig",
            "Alert",
            "CoreConfig",
            "Evidence",
            "Item",
            "Mention",
            "Outputs",
            "Rejected",
            "Rule",
            "Score",
            "Scored",
            "Scorer",
            "Snapshot",
            "SymbolTable",
            "Verdict",
            "WindowStats",
            "accept",
            "advance",
            "flush",
            "link",
            "parse_item",
            "score_from_probs",
            "score_items",
            "step",
        ]
    )
    for name in core.__all__:
        assert getattr(core, name) is not None
