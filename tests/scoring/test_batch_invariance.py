"""The shipped int8 model gives a text the same score whatever its batch (issue 13, part 4).

Per-row activation quantization (models/rowquant.py): every token row gets its own scale, so the
other texts in a batch, the batch size and the padding width cannot change a text's numbers.
ONNX Runtime's dynamic quantization (the previous file) moved scores by up to 0.93 here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.scoring.onnx import DEFAULT_MODEL_DIR, OnnxScorer

TOL = 1e-6
TEXTS = [
    "Profit fell .",
    "ok",
    "Nokia cuts 1,000 jobs in Finland",
    "$AAPL beats estimates and raises its dividend by 10 percent",
    "The company has 120 employees and its headquarters are located in Espoo , Finland .",
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 , "
    "representing 7.7 % of net sales , the company said in its interim report on Tuesday .",
    "Shares of Stora Enso slumped after the quarterly results missed expectations",
    "$TSLA deliveries miss, stock down 6% premarket",
    "The board proposed a dividend of EUR 0.45 per share for the financial year",
    "Analysts at JPMorgan upgraded the bank to overweight and raised the target price sharply",
] + ["Fortum signed a contract worth about EUR 40 million to deliver equipment " * 10]


@pytest.fixture(scope="module")
def scorer() -> OnnxScorer:
    return OnnxScorer.load(DEFAULT_MODEL_DIR, provider="cpu")


@pytest.fixture(scope="module")
def alone(scorer: OnnxScorer) -> np.ndarray:
    """Each text scored on its own: batch of one, no padding."""
    return np.stack([scorer.logits([t])[0] for t in TEXTS])


def test_manifest_says_batch_invariant() -> None:
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert manifest["quantization"]["int8"]["batch_invariant"] is True


def test_one_padded_batch_equals_alone(scorer: OnnxScorer, alone: np.ndarray) -> None:
    # one ORT run, every text padded to the longest (a truncated 128-token one)
    assert max(scorer.token_lengths(TEXTS)) == scorer.max_length
    np.testing.assert_allclose(scorer.logits(TEXTS), alone, atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_composition_and_size(scorer: OnnxScorer, alone: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(TEXTS))
    size = int(rng.integers(2, 6))
    for s in range(0, len(order), size):
        idx = order[s : s + size]
        got = scorer.logits([TEXTS[i] for i in idx])
        np.testing.assert_allclose(got, alone[idx], atol=TOL, rtol=0)


def test_duplicates_and_big_batches(scorer: OnnxScorer, alone: np.ndarray) -> None:
    # 44 rows: each text 4 times, mixed with itself and everything else, long padding
    texts = TEXTS * 4
    np.testing.assert_allclose(scorer.logits(texts), np.tile(alone, (4, 1)), atol=TOL, rtol=0)


def test_scores_invariant_through_public_api(scorer: OnnxScorer) -> None:
    one = [scorer.score([t])[0].score for t in TEXTS]
    for max_batch in (1, 3, 32):
        got = [s.score for s in scorer.score(TEXTS[::-1], max_batch=max_batch)][::-1]
        assert np.abs(np.array(got) - np.array(one)).max() <= TOL
