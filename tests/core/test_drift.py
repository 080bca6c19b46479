"""Model drift in the core: PSI and Jensen-Shannon against hand-computed values, empty bins,
the decayed per-source windows (batching does not change them, time fades them) and the state's
JSON round trip."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core import drift
from pipeline.core.drift import (
    CONFIDENCE_BINS,
    DriftState,
    Reference,
    confidence_bin,
    js,
    observe,
    psi,
    readings,
)
from pipeline.core.records import LABELS

CI = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
HOUR = 3_600_000
T0 = 1_714_564_800_000
UNIFORM_CONF = tuple([1 / CONFIDENCE_BINS] * CONFIDENCE_BINS)


def share_vectors(k: int) -> st.SearchStrategy[tuple[float, ...]]:
    """Share vectors of length k (some bins may be empty), from non-negative integer counts."""
    counts = st.lists(st.integers(0, 1000), min_size=k, max_size=k).filter(lambda c: sum(c) > 0)
    return counts.map(lambda c: tuple(x / sum(c) for x in c))


OBSERVATIONS = st.lists(
    st.tuples(
        st.sampled_from(["newswire", "twitter", "other"]),
        st.sampled_from(LABELS),
        st.floats(0.3, 1.0),
        st.integers(T0, T0 + 6 * HOUR),
    ),
    max_size=40,
)


@CI
@given(share_vectors(3) | share_vectors(CONFIDENCE_BINS))
def test_identical_distributions_have_no_divergence(p: tuple[float, ...]) -> None:
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js(p, p) == pytest.approx(0.0, abs=1e-12)


@CI
@given(share_vectors(3), share_vectors(3))
def test_divergences_are_finite_non_negative_and_js_is_bounded(
    p: tuple[float, ...], q: tuple[float, ...]
) -> None:
    assert 0.0 <= psi(p, q) < math.inf
    assert 0.0 <= js(p, q) <= 1.0 + 1e-12
    assert js(p, q) == pytest.approx(js(q, p))


def test_a_shifted_label_mix_gives_the_hand_computed_values() -> None:
    ref, live = (0.2, 0.6, 0.2), (0.5, 0.3, 0.2)
    # PSI = sum (p - q) ln(p / q): 0.3 ln 2.5 + (-0.3) ln 0.5 + 0
    assert psi(live, ref) == pytest.approx(0.3 * math.log(2.5) + 0.3 * math.log(2), rel=1e-3)
    # JS: m = (0.35, 0.45, 0.2), half of each KL to m, in bits
    kl_p = 0.5 * math.log2(0.5 / 0.35) + 0.3 * math.log2(0.3 / 0.45)
    kl_q = 0.2 * math.log2(0.2 / 0.35) + 0.6 * math.log2(0.6 / 0.45)
    assert js(live, ref) == pytest.approx((kl_p + kl_q) / 2, rel=1e-9)
    # the same shift through the windows: 50 / 30 / 20 items, all at one time
    items = [("newswire", "negative", 0.9, T0)] * 50 + [("newswire", "neutral", 0.9, T0)] * 30
    items += [("newswire", "positive", 0.9, T0)] * 20
    (reading,) = readings(observe(DriftState(), items), Reference(ref, UNIFORM_CONF, 100))
    assert reading.items == pytest.approx(100)
    assert reading.label_shares == pytest.approx(live)
    assert reading.psi["labels"] == pytest.approx(psi(live, ref))
    assert reading.js["labels"] == pytest.approx(js(live, ref))
    # every item in bin 8 of 10, the reference uniform: PSI = 0.9 ln 9 + 9 (-0.1) ln(0.1 / eps')
    assert reading.psi["confidence"] > drift.PSI_SIGNIFICANT


def test_empty_bins_are_finite_and_a_disjoint_mix_is_one_bit() -> None:
    one_bin = (1.0, 0.0, 0.0)
    spread = (0.2, 0.6, 0.2)
    value = psi(one_bin, spread)
    # the two empty bins dominate: (0 - q) ln(eps' / q) with eps' = 1e-4 / 1.0003
    eps = drift.EPSILON / (1 + 3 * drift.EPSILON)
    by_hand = 0.8 * math.log(1 / 0.2) + 0.6 * math.log(0.6 / eps) + 0.2 * math.log(0.2 / eps)
    assert value == pytest.approx(by_hand, rel=1e-3)
    assert js((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)) == pytest.approx(1.0)
    assert js((0.0, 0.0, 0.0), (0.2, 0.6, 0.2)) <= 1.0  # no data: finite, never raises


def test_the_psi_reading_follows_the_usual_thresholds() -> None:
    ref = (0.15, 0.62, 0.23)
    # the negative share of 15 % becomes 16 % (stable), 30 % (moderate), 45 % (significant)
    assert psi((0.16, 0.61, 0.23), ref) < drift.PSI_MODERATE
    assert drift.PSI_MODERATE < psi((0.30, 0.47, 0.23), ref) < drift.PSI_SIGNIFICANT
    assert psi((0.45, 0.35, 0.20), ref) > drift.PSI_SIGNIFICANT


def test_confidence_bins_cover_a_third_to_one_and_clamp() -> None:
    assert confidence_bin(1 / 3) == 0
    assert confidence_bin(1 / 3 + 0.0666) == 0 and confidence_bin(1 / 3 + 0.0667) == 1
    assert confidence_bin(1.0) == CONFIDENCE_BINS - 1
    assert confidence_bin(0.2) == 0 and confidence_bin(1.2) == CONFIDENCE_BINS - 1
    edges = drift.confidence_edges()
    assert len(edges) == CONFIDENCE_BINS and edges[-1] == 1.0
    assert all(confidence_bin(e - 1e-9) == i for i, e in enumerate(edges))


def test_time_fades_a_window_once_other_sources_move_the_clock() -> None:
    state = observe(DriftState(half_life_ms=HOUR), [("reddit", "negative", 0.9, T0)] * 400)
    state = observe(state, [("twitter", "neutral", 0.6, T0 + 2 * HOUR)])
    by_source = {r.source: r for r in readings(state, Reference((0.2, 0.6, 0.2), UNIFORM_CONF, 9))}
    assert by_source["reddit"].items == pytest.approx(400 / 4)  # two half-lives later
    assert by_source["reddit"].label_shares == (1.0, 0.0, 0.0)  # the mix itself does not fade
    assert by_source["twitter"].items == pytest.approx(1)


def test_an_older_item_weighs_less_and_a_newer_one_decays_the_window() -> None:
    state = observe(DriftState(half_life_ms=HOUR), [("newswire", "positive", 0.9, T0)])
    state = observe(state, [("newswire", "negative", 0.9, T0 + HOUR)])
    window = state.windows["newswire"]
    assert window.at_ms == T0 + HOUR
    assert window.labels == pytest.approx((1.0, 0.0, 0.5))
    late = observe(state, [("newswire", "neutral", 0.9, T0 - HOUR)])  # two half-lives behind
    assert late.windows["newswire"].labels == pytest.approx((1.0, 0.25, 0.5))
    assert late.windows["newswire"].at_ms == T0 + HOUR


@CI
@given(OBSERVATIONS, OBSERVATIONS)
def test_batching_does_not_change_the_windows(
    first: list[drift.Observation], second: list[drift.Observation]
) -> None:
    split = observe(observe(DriftState(), first), second)
    whole = observe(DriftState(), first + second)
    assert split.now_ms == whole.now_ms and split.windows.keys() == whole.windows.keys()
    for source, w in whole.windows.items():
        assert split.windows[source].at_ms == w.at_ms
        assert split.windows[source].labels == pytest.approx(w.labels, rel=1e-9, abs=1e-12)
        assert split.windows[source].confidence == pytest.approx(w.confidence, rel=1e-9, abs=1e-12)


@CI
@given(OBSERVATIONS)
def test_state_round_trips_through_json_and_observe_never_mutates(
    observations: list[drift.Observation],
) -> None:
    before = observe(DriftState(), observations[: len(observations) // 2])
    snapshot = json.dumps(before.to_dict())
    after = observe(before, observations[len(observations) // 2 :])
    assert json.dumps(before.to_dict()) == snapshot  # the input state is unchanged
    assert DriftState.from_dict(json.loads(json.dumps(after.to_dict()))) == after


def test_no_observation_keeps_the_state_and_unknown_labels_are_refused() -> None:
    state = DriftState()
    assert observe(state, []) is state
    with pytest.raises(ValueError, match="unknown label 'bullish'"):
        observe(state, [("twitter", "bullish", 0.9, T0)])


def test_reference_from_predictions_round_trips_through_the_manifest_form() -> None:
    preds = [("negative", 0.95)] * 2 + [("neutral", 0.5)] * 5 + [("positive", 0.99)] * 3
    ref = Reference.of(preds)
    assert ref.n == 10 and ref.labels == (0.2, 0.5, 0.3)
    assert ref.confidence[confidence_bin(0.5)] == 0.5 and ref.confidence[-1] == 0.5
    assert Reference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("labels"), "lacks or mistypes 'labels'"),
        (lambda d: d["confidence"].update(bins=20), "confidence bins 20"),
        (lambda d: d["labels"].update(negative=0.9), "sum to 1"),
        (lambda d: d["confidence"].update(shares=[1.0]), "1 shares"),
    ],
)
def test_a_bad_reference_is_one_clear_error(change: object, message: str) -> None:
    d = Reference.of([("neutral", 0.5), ("negative", 0.9)]).to_dict()
    change(d)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Reference.from_dict(d)
