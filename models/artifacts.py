"""What a bundle's manifest records about its files, shared by the export and the int8 rebuild.

`models.card` (the manifest of `finsent export`) and `models.rowquant` (`python -m
models.rowquant`, which rewrites a shipped bundle's int8 file) both write these entries; they
live here, below both, so neither imports the other. Files are hashed with the loader's own
`pipeline.scoring.onnx.file_sha256`, so the digest a manifest pins is the one `OnnxScorer.load`
checks.
"""

from __future__ import annotations

from typing import Any

from pipeline.scoring.onnx import file_sha256 as sha256

__all__ = ["PER_ROW_METHOD", "per_row_quantization", "sha256"]

PER_ROW_METHOD = (
    "per-row symmetric int8 activations (dynamic, batch-invariant), per-column int8 weights"
)


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
