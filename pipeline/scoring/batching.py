"""Pure batching helpers for the scorer: length-sorted chunks and restoring input order.

No I/O and no onnxruntime here, so the logic is unit-testable. Why sort by length: padding is
wasted compute; sorting texts by token length inside a micro-batch roughly doubled int8 CPU
throughput (measured before the code existed: 636 vs 354 texts/s; README, Benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def length_sorted_chunks(lengths: Sequence[int], max_batch: int) -> list[list[int]]:
    """Group indices into chunks of at most `max_batch`, ordered by length (stable).

    Returns lists of indices into the original sequence; every index appears exactly once.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + max_batch] for i in range(0, len(order), max_batch)]


def restore_order(chunks: Sequence[Sequence[int]], results: Sequence[Sequence[T]]) -> list[T]:
    """Put per-chunk results back into input order.

    Args:
        chunks: the index chunks from `length_sorted_chunks`.
        results: one result sequence per chunk, aligned with the chunk's indices.
    """
    if len(chunks) != len(results):
        raise ValueError(f"{len(chunks)} chunks but {len(results)} result lists")
    n = sum(len(c) for c in chunks)
    out: list[T | None] = [None] * n
    for idx, res in zip(chunks, results, strict=True):
        if len(idx) != len(res):
            raise ValueError(f"chunk of {len(idx)} indices got {len(res)} results")
        for i, r in zip(idx, res, strict=True):
            out[i] = r
    if any(o is None for o in out):
        raise ValueError("chunks do not cover 0..n-1 exactly once")
    return out  # type: ignore[return-value]


def pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[list[list[int]], list[list[int]]]:
    """Right-pad token id lists to the longest one; return (ids, attention_mask)."""
    width = max((len(s) for s in seqs), default=0)
    ids = [list(s) + [pad_id] * (width - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (width - len(s)) for s in seqs]
    return ids, mask
