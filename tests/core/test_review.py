"""The review selection (pipeline/core/review.py): what is picked, deduplicated, rate-limited in
event time, and what a disputed alert becomes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core import novelty, review
from pipeline.core.records import Alert, Evidence, Scored
from pipeline.core.review import ReviewConfig, disputed, initial, select

CI = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
MIN = 60_000
NO_SAMPLE = ReviewConfig(confidence_below=0.6, sample_rate=0.0, max_per_minute=1000)


def scored(
    item_id: str,
    text: str,
    confidence: float,
    t_ms: int = 0,
    tickers: tuple[str, ...] = ("AAPL",),
) -> list[Scored]:
    """One item's records, one per ticker, as the scoring stage makes them."""
    fp = novelty.fingerprint(text)
    return [
        Scored(
            item_id=item_id,
            source="twitter",
            ticker=t,
            relevance=1.0,
            label="neutral",
            score=0.1,
            confidence=confidence,
            published_at_ms=t_ms,
            model_version="m-1",
            text=text,
            fingerprint=fp,
        )
        for t in tickers
    ]


def test_a_review_record_says_why_and_carries_what_a_labeller_needs() -> None:
    items = [scored("a1", "Boeing suspends its earnings call", 0.45, 5_000, ("BA", "GE"))]
    _state, sel = select(initial(NO_SAMPLE), items, NO_SAMPLE)
    (rec,) = sel.records
    assert rec["reason"] == "low_confidence"
    assert rec["id"] == "a1" and rec["tickers"] == ["BA", "GE"]
    assert rec["text"] == "Boeing suspends its earnings call"
    assert (rec["model_label"], rec["model_confidence"], rec["model_version"]) == (
        "neutral",
        0.45,
        "m-1",
    )
    assert rec["event_ms"] == 5_000 and rec["source"] == "twitter"


@CI
@given(
    st.lists(st.floats(min_value=0.34, max_value=1.0), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=20),
)
def test_low_confidence_is_always_picked_unless_rate_limited(
    confidences: list[float], per_minute: int
) -> None:
    cfg = replace(NO_SAMPLE, max_per_minute=per_minute)
    items = [scored(f"i{n}", f"story number {n}", c, 1_000) for n, c in enumerate(confidences)]
    _state, sel = select(initial(cfg), items, cfg)
    low = [n for n, c in enumerate(confidences) if c < cfg.confidence_below]
    picked = [r["id"] for r in sel.records]
    # every low-confidence item is either picked or counted as refused by the bucket, in order
    assert picked == [f"i{n}" for n in low[: min(len(low), per_minute)]]
    assert sel.rate_limited.get("low_confidence", 0) == len(low) - len(picked)
    assert all(r["reason"] == "low_confidence" for r in sel.records)


def test_sample_rate_holds_over_many_ids() -> None:
    rate, n = 0.05, 20_000
    cfg = ReviewConfig(confidence_below=0.0, sample_rate=rate, max_per_minute=10**9)
    items = [scored(f"tweet-{i}", f"text {i}", 0.9) for i in range(n)]
    _state, sel = select(initial(cfg), items, cfg)
    sigma = (n * rate * (1 - rate)) ** 0.5
    assert abs(len(sel.records) - n * rate) < 4 * sigma
    assert {r["reason"] for r in sel.records} == {"sample"}
    # the same ids give the same sample: a redelivered item gets the same decision
    assert [r["id"] for r in sel.records] == [
        f"tweet-{i}" for i in range(n) if review.in_sample(f"tweet-{i}", rate)
    ]


@CI
@given(st.text(max_size=40))
def test_a_sample_of_rate_zero_is_empty_and_of_rate_one_is_everything(item_id: str) -> None:
    assert not review.in_sample(item_id, 0.0)
    assert review.in_sample(item_id, 1.0)


def test_a_storys_copies_are_picked_once() -> None:
    text = "Apple shares jump 5% after earnings beat"
    copies = [
        scored("orig", text, 0.4, 0),
        scored("rt1", f"RT @trader: $AAPL {text} https://t.co/xyz", 0.4, 1_000),
        scored("rt2", f"RT @other: {text}", 0.4, 2_000),
    ]
    state, sel = select(initial(NO_SAMPLE), copies[:2], NO_SAMPLE)
    assert [r["id"] for r in sel.records] == ["orig"] and sel.duplicates == 1
    state, sel = select(state, copies[2:], NO_SAMPLE)  # a later batch: still the same story
    assert sel.records == () and sel.duplicates == 1
    other = [scored("new", "Apple stock slides as iPhone sales disappoint", 0.4, 3_000)]
    _state, sel = select(state, other, NO_SAMPLE)
    assert [r["id"] for r in sel.records] == ["new"]


def test_a_story_is_picked_again_after_its_ttl() -> None:
    cfg = replace(NO_SAMPLE, story_ttl_ms=10 * MIN)
    state, sel = select(initial(cfg), [scored("a", "Tesla recalls cars", 0.4, 0)], cfg)
    assert len(sel.records) == 1
    state, sel = select(state, [scored("b", "Tesla recalls cars", 0.4, 10 * MIN)], cfg)
    assert sel.records == ()  # exactly at the horizon: still remembered
    state, sel = select(state, [scored("c", "Tesla recalls cars", 0.4, 10 * MIN + 1)], cfg)
    assert [r["id"] for r in sel.records] == ["c"]
    assert state.picked_at(review.story_key(scored("d", "Tesla recalls cars", 0.4)[0])) == (
        10 * MIN + 1
    )


def test_memory_stays_bounded_and_copies_are_still_recognised_across_a_merge() -> None:
    cfg = replace(NO_SAMPLE, max_per_minute=10**6, story_ttl_ms=MIN)
    state = initial(cfg)
    n = 3 * review.RECENT_MAX
    for i in range(n):  # one pick a second for n seconds
        state, sel = select(state, [scored(f"i{i}", f"story {i}", 0.4, i * 1000)], cfg)
        assert len(sel.records) == 1
    # live picks (the last minute) plus at most one generation of expired ones
    assert state.remembered() <= 61 + review.RECENT_MAX
    late = (n - 1) * 1000
    for i in (n - 30, n - 300):  # 30 s ago: still a copy; 300 s ago: expired, picked again
        _s, sel = select(state, [scored(f"rt{i}", f"RT @x: story {i}", 0.4, late)], cfg)
        assert (len(sel.records), sel.duplicates) == ((0, 1) if i == n - 30 else (1, 0))


def test_a_rate_limited_story_is_not_remembered() -> None:
    cfg = replace(NO_SAMPLE, max_per_minute=1)
    items = [scored("a", "first story", 0.4, 0), scored("b", "second story", 0.4, 0)]
    state, sel = select(initial(cfg), items, cfg)
    assert [r["id"] for r in sel.records] == ["a"] and sel.rate_limited == {"low_confidence": 1}
    # a copy of the refused story, once the bucket has a token again, is picked
    _state, sel = select(state, [scored("b2", "RT @x: second story", 0.4, MIN)], cfg)
    assert [r["id"] for r in sel.records] == ["b2"]


def test_the_bucket_refills_in_event_time() -> None:
    cfg = replace(NO_SAMPLE, max_per_minute=2)

    def batch(t_ms: int, tag: str, n: int = 5) -> list[list[Scored]]:
        return [scored(f"{tag}{i}", f"story {tag} {i}", 0.4, t_ms) for i in range(n)]

    state, sel = select(initial(cfg), batch(0, "a"), cfg)
    assert len(sel.records) == 2 and sel.rate_limited == {"low_confidence": 3}
    state, sel = select(state, batch(0, "b"), cfg)  # no event time passed: no token
    assert sel.records == ()
    state, sel = select(state, batch(30_000, "c"), cfg)  # half a minute: one token
    assert len(sel.records) == 1
    state, sel = select(state, batch(10_000, "d"), cfg)  # older items: the clock stays
    assert sel.records == () and state.clock_ms == 30_000
    state, sel = select(state, batch(30_000 + 10 * MIN, "e"), cfg)  # full again, capped at 2
    assert len(sel.records) == 2


def test_low_confidence_is_served_before_the_sample() -> None:
    cfg = ReviewConfig(confidence_below=0.6, sample_rate=1.0, max_per_minute=2)
    items = [
        scored("s1", "sampled one", 0.9),
        scored("s2", "sampled two", 0.9),
        scored("low", "unsure one", 0.4),
    ]
    _state, sel = select(initial(cfg), items, cfg)
    assert [(r["id"], r["reason"]) for r in sel.records] == [
        ("low", "low_confidence"),
        ("s1", "sample"),
    ]
    assert sel.rate_limited == {"sample": 1}


def test_select_leaves_the_old_state_as_it_was() -> None:
    start = initial(NO_SAMPLE)
    s1, _ = select(start, [scored("a", "one story", 0.4, 0)], NO_SAMPLE)
    s2, _ = select(s1, [scored("b", "another story", 0.4, 1)], NO_SAMPLE)
    assert start.remembered() == 0 and start.tokens == NO_SAMPLE.max_per_minute
    assert s1.remembered() == 1 and s2.remembered() == 2


def test_max_per_minute_zero_turns_review_off() -> None:
    cfg = replace(NO_SAMPLE, max_per_minute=0)
    assert not cfg.enabled
    state = initial(cfg)
    new, sel = select(state, [scored("a", "unsure", 0.34)], cfg)
    assert sel.records == () and new is state


def test_without_a_fingerprint_the_story_key_comes_from_the_text() -> None:
    rec = replace(scored("a", "Apple beats", 0.4)[0], fingerprint=None)
    assert review.story_key(rec) == novelty.fingerprint("RT @x: Apple beats")[0]
    assert review.story_key(rec) != novelty.fingerprint("Apple misses")[0]


def _alert(evidence: list[Evidence]) -> dict[str, object]:
    return Alert(
        rule="SentimentCollapse",
        ticker="BA",
        severity="page",
        window="1h",
        window_start_ms=3_600_000,
        event_ms=7_000_000,
        values={"sentiment_z": -4.2},
        summary="BA sentiment collapsed",
        evidence=tuple(evidence),
    ).to_dict()


@CI
@given(st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=20, unique=True))
def test_disputed_keeps_every_evidence_item_with_the_alert_id(ids: list[str]) -> None:
    evidence = [Evidence(i, "newswire", -0.8, 1.0, f"text of {i} [email]") for i in ids]
    alert = _alert(evidence)
    mark = {"by": "analyst@desk", "reason": "old news", "marked_ms": 7_100_000}
    out = disputed(alert, mark)
    assert [r["id"] for r in out] == ids
    assert {r["alert_id"] for r in out} <= {alert["id"]} and len(out) == len(ids)
    for r, ev in zip(out, evidence, strict=True):
        assert r["reason"] == "disputed" and r["text"] == ev.text and r["source"] == "newswire"
        assert r["model_score"] == ev.score and r["tickers"] == ["BA"]
        assert (r["marked_by"], r["mark_reason"], r["marked_ms"]) == (
            "analyst@desk",
            "old news",
            7_100_000,
        )
        assert r["event_ms"] == 7_000_000


def test_disputed_refuses_an_alert_without_id_or_with_bad_evidence() -> None:
    mark = {"by": "x", "reason": "", "marked_ms": 0}
    with pytest.raises(ValueError, match="no id"):
        disputed({"evidence": []}, mark)
    with pytest.raises(ValueError, match="must be a list"):
        disputed({"id": "r:T:1h:0", "evidence": "nope"}, mark)
    with pytest.raises(ValueError, match="evidence 0 has no item id"):
        disputed({"id": "r:T:1h:0", "evidence": [{"text": "x"}]}, mark)
