"""What a bundle's manifest records about its files, shared by the export and the int8 rebuild.

`models.card` (the manifest of `finsent export`) and `models.rowquant` (`python -m
models.rowquant`, which rewrites a shipped bundle's int8 file) both write these entries; they
live here, below both, so neither imports the other. Stdlib only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

PER_ROW_METHOD = (
    "per-row symmetric int8 activations (dynamic, batch-invariant), per-column int8 weights"
)


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks: the digest `OnnxScorer.load` checks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def per_row_quantization(source_graph: str, fp32_nodes_regex: str | None) -> dict[str, Any]:
    """The manifest's `quantization.int8` entry for a per-row int8 file (`models.rowquant`).

    One builder for both writers, so an exported and a rebuilt bundle describe the same method
    with the same keys.
    """
    return {
        "method": PER_ROW_METHOD,
        "batch_invariant": True,
        "source_graph": source_graph,
        "fp32_nodes_regex": fp32_nodes_regex,
    }
