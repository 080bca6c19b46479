import pytest

from pipeline.core import novelty
from pipeline.core.novelty import fingerprint, hamming, observe
from pipeline.core.records import Verdict

NEW, REDELIVERY, REPEAT = Verdict.NEW, Verdict.REDELIVERY, Verdict.REPEAT

H = 3_600_000
KW = {"ttl_ms": 24 * H, "max_entries": 256, "max_hamming": 12}


def _run(texts: list[tuple[str, str, int]]) -> list[str]:
    state, out = novelty.initialize(), []
    for item_id, text, ts in texts:
        state, verdict = observe(state, item_id, fingerprint(text), ts, **KW)
        out.append(verdict)
    return out


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Apple shares jump 5% after earnings beat",
            "RT @trader: $AAPL Apple shares jump 5% after earnings beat https://t.co/xyz",
        ),
        (
            "Exxon Mobil cuts dividend as oil prices slump",
            "ExxonMobil cuts its dividend as oil prices slump",
        ),
        (
            "Boeing wins $20bn order from Emirates",
            "Boeing wins $20 bn order from Emirates - Reuters",
        ),
        ("Tesla recalls 2 million cars", "TESLA RECALLS 2 MILLION CARS!!!"),
    ],
)
def test_syndicated_and_trivially_edited_copies_are_repeats(a: str, b: str) -> None:
    assert _run([("1", a, 0), ("2", b, 1000)]) == [NEW, REPEAT]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Apple shares jump 5% after earnings beat",
            "Apple stock slides as iPhone sales disappoint",
        ),
        ("Apple shares rise after earnings beat", "Apple shares fall after earnings miss"),
        ("$AAPL looking strong today", "$AAPL looking weak today"),
    ],
)
def test_different_stories_are_new(a: str, b: str) -> None:
    assert _run([("1", a, 0), ("2", b, 1000)]) == [NEW, NEW]


def test_same_id_again_is_a_redelivery_not_a_repeat() -> None:
    assert _run([("1", "Apple beats", 0), ("1", "Apple beats", 0)]) == [NEW, REDELIVERY]


def test_chain_expires_after_ttl_and_repeats_extend_it() -> None:
    text = "Apple beats estimates"
    # a repeat at 20h keeps the chain alive until 44h; at 50h the story is new again
    assert _run(
        [("1", text, 0), ("2", text, 20 * H), ("3", text, 43 * H), ("4", text, 70 * H)]
    ) == [NEW, REPEAT, REPEAT, NEW]


def test_chain_is_bounded() -> None:
    state = novelty.initialize()
    for i in range(300):
        state, _ = observe(state, str(i), fingerprint(f"story number {i} " * 3), i, **KW)
    assert len(state["entries"]) == KW["max_entries"]


def test_fingerprint_is_deterministic_and_hamming_symmetric() -> None:
    a, b = fingerprint("Apple beats"), fingerprint("Microsoft misses")
    assert fingerprint("Apple beats") == a
    assert hamming(a[1], b[1]) == hamming(b[1], a[1]) > 0


def test_texts_in_other_scripts_are_not_all_one_story() -> None:
    """Only a-z0-9 used to survive normalization: every Chinese post became "" and all of a
    ticker's posts after the first were judged repeats."""
    a, b = fingerprint("$AAPL 苹果公司业绩超预期"), fingerprint("$AAPL 苹果股价大跌")
    assert a[0] != b[0] and hamming(a[1], b[1]) > 12
    assert fingerprint("RT @x: $AAPL 苹果股价大跌") == b  # a retweet is still the same story


def test_tag_only_texts_differ_by_their_tags() -> None:
    assert fingerprint("$AAPL $TSLA")[0] != fingerprint("$AAPL")[0]
    assert fingerprint("$AAPL")[0] == fingerprint("$aapl ")[0]
