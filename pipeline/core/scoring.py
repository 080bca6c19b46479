"""The scorer interface and the pure mapping from class probabilities to a score. No I/O.

The stream and the backtest both score through a `Scorer`; the ONNX implementation lives in
`pipeline.scoring.onnx` so that this module never imports onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.core.records import LABELS, Score


class Scorer(Protocol):
    """Anything that turns texts into `Score`s, in input order.

    A Protocol, so the core depends on no model runtime: the ONNX scorer, the backtest's
    `CachingScorer` and test doubles (`pipeline.testing.FixedScorer`) all satisfy it.
    `version` is stamped on every `Scored` record (`model_version`), so a consumer can tell
    which model produced a score."""

    version: str

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        """One `Score` per text, in the order given; at most `max_batch` texts per model call.

        `score_items` relies on the order and the count (it zips them back onto the items).
        For live == backtest a text's score must not depend on the batch it lands in."""


def score_from_probs(probs: Sequence[float]) -> Score:
    """Build a `Score` from probabilities in `LABELS` order (negative, neutral, positive).

    We aggregate the continuous score, not the label: on out-of-domain headlines the model often
    says "neutral" while the sign of p(pos) - p(neg) is still right (README, Design decisions).
    """
    if len(probs) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} probabilities, got {len(probs)}")
    p_neg, p_neu, p_pos = (float(p) for p in probs)
    best = max(range(3), key=lambda i: (p_neg, p_neu, p_pos)[i])
    return Score(
        label=LABELS[best],
        score=p_pos - p_neg,
        confidence=max(p_neg, p_neu, p_pos),
        probs=(p_neg, p_neu, p_pos),
    )
