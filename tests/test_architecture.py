"""Dependencies point one way (STYLE.md, habit 2): the core imports no driver, and the worker's
import path never pulls in torch."""

import ast
import subprocess
import sys
from pathlib import Path

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


# -- Which package may import which (README, "Layout and import rules") --------------------------
# A unit is a top-level module of `pipeline/` or one of its packages (`models/` is one unit). A
# unit may import only units on lower layers: never a sibling on its own layer, never upward.
# Imports inside functions count; imports under `if TYPE_CHECKING:` (annotations only) do not.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline", "pipeline.errors"),  # the package face (__version__); the error root
    ("pipeline.core",),  # the deterministic core: standard library only
    (
        "pipeline.config",
        "pipeline.rules",
        "pipeline.reference",
        "pipeline.feeds",
        "pipeline.metrics",
    ),
    ("pipeline.scoring", "pipeline.kafka_clients", "pipeline.rules_render"),
    (
        "pipeline.stream",
        "pipeline.backtest",
        "models",
        "pipeline.notify",
        "pipeline.review",  # reads the review topic through kafka_clients, like a driver
    ),  # drivers; training
    ("pipeline.replay", "pipeline.testing"),
    ("pipeline.dev",),  # demo, benchmarks, local broker, data builders
    ("pipeline.cli",),  # imports every command by name (importlib), so last
)
LAYER = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
REPO = Path(__file__).resolve().parent.parent
# What the core may import from the standard library: no I/O (os, io, pathlib, socket,
# subprocess, logging...), no clock (time), no randomness.
CORE_STDLIB = {
    "__future__", "bisect", "collections", "dataclasses", "datetime", "enum", "functools",
    "hashlib", "heapq", "itertools", "json", "math", "operator", "re", "statistics", "string",
    "typing", "unicodedata",
}  # fmt: skip
# Calls that read the clock or do I/O even with an allowed module (datetime.now, open...).
CORE_FORBIDDEN_CALLS = {"open", "print", "input", "now", "utcnow", "today", "fromtimestamp"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "models":
        return "models"
    return ".".join(parts[:2])


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _absolute_imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """(statement, module) for every absolute import in `tree`, lazy ones included: each name
    of `import a, b`, the module of `from m import x`."""
    out: list[tuple[ast.Import | ast.ImportFrom, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node, node.module))
    return out


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every absolute import of finsent code in `path`, those under
    `if TYPE_CHECKING:` left out."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    out = []
    for node, module in _absolute_imports(tree):
        if node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            out.append((node.lineno, module))
            continue
        # `from pipeline import kafka_clients` imports the submodule, not the package face
        pkg = (REPO / module.replace(".", "/")).is_dir()
        for a in node.names:
            sub = f"{module}.{a.name}"
            is_module = pkg and (
                (REPO / sub.replace(".", "/")).is_dir()
                or (REPO / (sub.replace(".", "/") + ".py")).is_file()
            )
            out.append((node.lineno, sub if is_module else module))
    return [(n, m) for n, m in out if m.split(".")[0] in ("pipeline", "models")]


def _sources() -> list[Path]:
    return sorted([*(REPO / "pipeline").rglob("*.py"), *(REPO / "models").rglob("*.py")])


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in _sources()}
    assert units <= set(LAYER), f"add to LAYERS (and the README): {sorted(units - set(LAYER))}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for path in _sources():
        here = _unit(_module_name(path))
        for line, module in _imports(path):
            there = _unit(module)
            if there != here and LAYER[there] >= LAYER[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line} {here} -> {there}")
    assert not wrong, "imports that go sideways or up:\n" + "\n".join(wrong)


def test_no_import_circles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    modules = {_module_name(p): p for p in _sources()}
    for name, path in modules.items():
        graph[name] = {m for _, m in _imports(path) if m in modules and m != name}
    # a package's __init__ re-exporting its modules is not a circle with them
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_core_does_no_io_and_reads_no_clock() -> None:
    """The core must run the same in the stream and in a backtest: state in, new state out."""
    wrong = []
    for path in sorted((REPO / "pipeline" / "core").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node, n in _absolute_imports(tree):
            top = n.split(".")[0]
            if top != "pipeline" and top not in CORE_STDLIB:
                wrong.append(f"{path.name}:{node.lineno} imports {n}")
            if top == "pipeline" and not n.startswith("pipeline.core"):
                wrong.append(f"{path.name}:{node.lineno} imports {n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = (
                    f.id
                    if isinstance(f, ast.Name)
                    else f.attr
                    if isinstance(f, ast.Attribute)
                    else ""
                )
                if name in CORE_FORBIDDEN_CALLS:
                    wrong.append(f"{path.name}:{node.lineno} calls {name}()")
    assert not wrong, "\n".join(wrong)


def test_no_module_outside_dev_and_models_imports_torch() -> None:
    wrong = []
    for path in _sources():
        unit = _unit(_module_name(path))
        if unit in ("pipeline.dev", "models"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        wrong += [
            f"{path.relative_to(REPO)}:{node.lineno}"
            for node, n in _absolute_imports(tree)
            if n.split(".")[0] in ("torch", "transformers")
        ]
    assert not wrong, wrong
