"""The scoring stage's vectorised fingerprints equal the core's pure ones, text for text: the
stream carries the first, a backtest may compute the second, and novelty must not tell."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import novelty
from pipeline.dev.sample import generate
from pipeline.scoring import fingerprints


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_equal_to_the_core_on_any_text(text: str) -> None:
    assert fingerprints.fingerprint(text) == novelty.fingerprint(text)


def test_equal_on_realistic_posts_and_short_texts() -> None:
    texts = [r["text"] for r in generate(300, 1_700_000_000_000)]
    texts += ["", "ok", "abcd", "abcde", "RT @x: $AAPL 苹果股价大跌 https://t.co/x", "$AAPL $TSLA"]
    for t in texts:
        assert fingerprints.fingerprint(t) == novelty.fingerprint(t), t
