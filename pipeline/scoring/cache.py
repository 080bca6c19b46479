"""CachingScorer: score each unique text once (a `Scorer` wrapping a `Scorer`).

Why: historical feeds repeat texts heavily (StockNet: retweets, bots, the same tweet under several
tickers), and the model is the cost. Keys are a 128-bit BLAKE2b of the UTF-8 text, so the cache
holds 16 bytes per text instead of the text. Imports only the core.

The shipped int8 model quantizes activations per token row, so a text's score does not depend
on its batch-mates (tests/scoring/test_batch_invariance.py): a cached score is the score. With a
model quantized per batch (`finsent export --int8-method dynamic`) it would be the score from the
batch the text was first seen in; pass `max_batch=1` then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pipeline.core.records import Score
from pipeline.core.scoring import Scorer


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachingScorer:
    """Implements the core `Scorer` protocol; `hits` / `misses` count texts, not calls."""

    def __init__(self, inner: Scorer, *, max_batch: int | None = None) -> None:
        """Args:
        max_batch: overrides the batch size callers pass (e.g. 1 for batch-invariant scores).
        """
        self.inner = inner
        self.version: str = inner.version
        self.max_batch = max_batch
        self._cache: dict[bytes, Score] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._cache)

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        keys = [text_key(t) for t in texts]
        todo: dict[bytes, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self._cache and k not in todo:
                todo[k] = t
        self.misses += len(todo)
        self.hits += len(texts) - len(todo)
        if todo:
            fresh = self.inner.score(list(todo.values()), max_batch=self.max_batch or max_batch)
            self._cache.update(zip(todo, fresh, strict=True))
        return [self._cache[k] for k in keys]

    def prime(
        self,
        texts: Sequence[str],
        *,
        chunk: int = 1024,
        max_batch: int = 32,
        progress: bool = False,
    ) -> int:
        """Score every not-yet-cached unique text in chunks, with a progress bar; return how many.

        Chunks of ~1000 texts let the inner scorer sort by length across many texts (less padding).
        """
        from tqdm import tqdm

        unique = list({text_key(t): t for t in texts if text_key(t) not in self._cache}.values())
        with tqdm(total=len(unique), desc="score", unit="text", disable=not progress) as bar:
            for i in range(0, len(unique), chunk):
                part = unique[i : i + chunk]
                self.score(part, max_batch=max_batch)
                bar.update(len(part))
        return len(unique)
