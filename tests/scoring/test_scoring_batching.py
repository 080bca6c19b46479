"""Unit tests of the pure batching helpers (pipeline.scoring.batching)."""

from __future__ import annotations

import random

import pytest

from pipeline.scoring.batching import length_sorted_chunks, pad_batch, restore_order


@pytest.mark.parametrize(
    ("lengths", "max_batch", "expected"),
    [
        ([], 4, []),
        ([5], 4, [[0]]),
        ([3, 1, 2], 2, [[1, 2], [0]]),
        ([2, 2, 1, 2], 3, [[2, 0, 1], [3]]),  # stable on ties
        ([9, 8, 7, 6], 1, [[3], [2], [1], [0]]),
    ],
)
def test_length_sorted_chunks(
    lengths: list[int], max_batch: int, expected: list[list[int]]
) -> None:
    assert length_sorted_chunks(lengths, max_batch) == expected


def test_chunks_cover_every_index_once_and_respect_max_batch() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 60) for _ in range(101)]
    chunks = length_sorted_chunks(lengths, 32)
    assert sorted(i for c in chunks for i in c) == list(range(101))
    assert all(len(c) <= 32 for c in chunks)
    flat = [lengths[i] for c in chunks for i in c]
    assert flat == sorted(flat)


def test_restore_order_round_trip() -> None:
    rng = random.Random(1)
    items = [f"t{i}" for i in range(50)]
    lengths = [rng.randint(1, 30) for _ in items]
    chunks = length_sorted_chunks(lengths, 7)
    results = [[items[i].upper() for i in c] for c in chunks]
    assert restore_order(chunks, results) == [t.upper() for t in items]


def test_restore_order_rejects_mismatch() -> None:
    with pytest.raises(ValueError):
        restore_order([[0, 1]], [["a"]])
    with pytest.raises(ValueError):
        restore_order([[0], [0]], [["a"], ["b"]])


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        length_sorted_chunks([1, 2], 0)


def test_pad_batch() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids == [[5, 6, 7], [8, 0, 0]]
    assert mask == [[1, 1, 1], [1, 0, 0]]
