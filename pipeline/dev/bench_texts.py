"""The texts both benchmarks score (`finsent bench`, `finsent bench --stream`): deterministic
realistic financial sentences, or the user's own feed, and the worker's length-sorted batches.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUBJECTS = ["Nokia", "Apple Inc", "Fortum Oyj", "Tesla", "The company", "Its Finnish unit", "$AMZN",
            "Shares of Stora Enso", "The bank", "Analysts at JPMorgan", "Management"]  # fmt: skip
CLAUSES = [
    "reported operating profit of EUR {n} mn, up from EUR {m} mn a year earlier",
    "cut its full-year guidance as demand for handsets fell sharply in Europe",
    "said net sales rose {p} % in the third quarter to {n} million dollars",
    "will temporarily lay off {p} % of the personnel at two factories",
    "signed a contract worth about {n} million to deliver equipment to a utility in Sweden",
    "beat consensus estimates and raised its dividend",
    "shares slumped after the quarterly results missed expectations",
    "announced the appointment of a new chief financial officer effective next month",
    "expects the market to remain weak during the rest of the year",
    "completed the acquisition of a logistics company based in Tampere",
    "and its board proposed a dividend of EUR 0.{p} per share for the financial year",
]


def read_texts(path: str | Path, n: int) -> list[str]:
    """The first `n` texts of a JSONL file (its `text` field) or a plain file (one per line).

    Why: throughput depends on text length; benchmarking on your own feed's texts gives your
    figure (e.g. a validation split: `--texts /tmp/finsent-ckpt/val.jsonl`).
    """
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(
                    str(json.loads(line)["text"]) if line.lstrip().startswith("{") else line.strip()
                )
            if len(out) == n:
                break
    if not out:
        raise ValueError(f"no texts in {path}")
    return out


def make_texts(n: int, seed: int = 0) -> list[str]:
    """Deterministic financial sentences of 9-60 words (mean near 30 words, ~45 tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = rng.randint(9, 60)
        words = rng.choice(SUBJECTS).split()
        while len(words) < target:
            c = rng.choice(CLAUSES).format(
                n=rng.randint(2, 900), m=rng.randint(2, 900), p=rng.randint(1, 60)
            )
            words += c.split() + (
                [rng.choice(["while", "and", ";", "but"])] if rng.random() < 0.7 else []
            )
        out.append(" ".join(words[:target]).rstrip(" ;") + " .")
    return out


def chunks(texts: Sequence[str], size: int) -> list[list[str]]:
    """Unsorted batches: `texts` in the given order, cut into lists of `size` (the last shorter)."""
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


def sorted_batches(scorer: Any, texts: Sequence[str], batch: int, pool: int) -> list[list[str]]:
    """What the worker does: sort each pool of `pool` texts by token length, cut into batches."""
    from pipeline.scoring.batching import length_sorted_chunks

    out = []
    for p in chunks(texts, pool):
        out += [[p[i] for i in c] for c in length_sorted_chunks(scorer.token_lengths(p), batch)]
    return out
