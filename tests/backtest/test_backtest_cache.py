"""CachingScorer: the inner scorer sees each unique text once, results keep input order."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.records import Score
from pipeline.core.scoring import score_from_probs
from pipeline.scoring.cache import CachingScorer, text_key


class CountingScorer:
    version = "count-1"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.batches: list[int] = []

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        self.seen.extend(texts)
        self.batches.append(max_batch)
        return [score_from_probs((0.1, 0.1, 0.8) if "up" in t else (0.7, 0.2, 0.1)) for t in texts]


def test_inner_called_once_per_unique_text() -> None:
    inner = CountingScorer()
    c = CachingScorer(inner)
    out = c.score(["up a", "down", "up a", "down", "up b"])
    out2 = c.score(["down", "up b", "new down"])
    assert sorted(inner.seen) == sorted(["up a", "down", "up b", "new down"])
    assert [s.label for s in out] == ["positive", "negative", "positive", "negative", "positive"]
    assert [s.label for s in out2] == ["negative", "positive", "negative"]
    assert (c.misses, c.hits, len(c), c.version) == (4, 4, 4, "count-1")


def test_prime_scores_in_chunks_and_then_only_hits() -> None:
    inner = CountingScorer()
    c = CachingScorer(inner, max_batch=1)
    texts = [f"up {i % 7}" for i in range(50)]
    assert c.prime(texts, chunk=3) == 7
    assert c.prime(texts) == 0
    c.score(texts)
    assert len(inner.seen) == 7 and c.hits == 50
    assert set(inner.batches) == {1}  # the override wins over the caller's batch size


def test_text_key_is_stable_and_distinct() -> None:
    assert text_key("a") == text_key("a") != text_key("b")
    assert len(text_key("x" * 10_000)) == 16
