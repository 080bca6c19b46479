import pytest

from pipeline.core.alerts import Rule, evaluate
from pipeline.core.records import Evidence, Snapshot, WindowStats


def snap(sentiment_z: float | None, count: int = 10, start: int = 0) -> Snapshot:
    w = WindowStats("AAPL", "1h", start, start + 3_600_000, count, count, 0, -0.5, 5.0, 1, 2, 7)
    return Snapshot("AAPL", start + 1, {"1h": w}, {"1h": -0.4}, sentiment_z, 1.0, 30)


COLLAPSE = Rule(
    "SentimentCollapse",
    "sentiment_z",
    "<",
    -3.0,
    min_items=5,
    severity="critical",
    evidence="negative",
    summary="collapse on {ticker}",
)
EVIDENCE = {
    "1h": (
        Evidence("1", "wire", -0.9, 1.0, "bad"),
        Evidence("2", "wire", 0.8, 1.0, "good"),
        Evidence("3", "tw", -0.5, 0.5, "meh"),
    )
}


def test_rule_fires_with_negative_evidence_most_negative_first() -> None:
    fired: dict = {}
    alerts = evaluate([COLLAPSE], snap(-4.2), fired, EVIDENCE)
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.rule, a.ticker, a.severity, a.summary) == (
        "SentimentCollapse",
        "AAPL",
        "critical",
        "collapse on AAPL",
    )
    assert [e.item_id for e in a.evidence] == ["1", "3"]
    assert a.values["sentiment_z"] == -4.2


@pytest.mark.parametrize(("z", "count"), [(-2.9, 10), (None, 10), (-5.0, 4)])
def test_rule_does_not_fire_below_threshold_without_value_or_under_volume_gate(
    z: float | None, count: int
) -> None:
    assert evaluate([COLLAPSE], snap(z, count), {}, EVIDENCE) == []


def test_rule_fires_once_per_window() -> None:
    fired: dict = {}
    assert len(evaluate([COLLAPSE], snap(-4.0), fired, EVIDENCE)) == 1
    assert evaluate([COLLAPSE], snap(-5.0), fired, EVIDENCE) == []
    assert len(evaluate([COLLAPSE], snap(-4.0, start=3_600_000), fired, EVIDENCE)) == 1


def test_unknown_signal_or_op_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        Rule("X", "vibes", "<", 0)
    with pytest.raises(ValueError, match="unknown op"):
        Rule("X", "sentiment_z", "~", 0)
