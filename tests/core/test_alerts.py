import pytest

from pipeline.core.alerts import Rule, evaluate
from pipeline.core.records import Alert, Evidence, Scored, Snapshot, WindowStats
from pipeline.core.step import CoreConfig, step


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


def test_unique_story_gate_holds_back_a_rule_that_has_the_items() -> None:
    spike = Rule("VolumeSpike", "volume_z", ">", 4.0, min_items=10, min_unique=5)
    base = snap(None, count=40)
    w = base.windows["1h"]
    storm = WindowStats("AAPL", "1h", 0, 3_600_000, 40, 1, 39, -0.5, 1.0, 0, 0, 1)
    stories = WindowStats("AAPL", "1h", 0, 3_600_000, 40, 5, 35, -0.5, 5.0, 1, 1, 3)
    for win, fires in ((storm, False), (stories, True), (w, True)):
        s = Snapshot("AAPL", 1, {"1h": win}, {}, None, 9.0, 30)
        assert bool(evaluate([spike], s, {}, EVIDENCE)) is fires, win


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_unique": -1}, "min_unique must be a whole number >= 0"),
        ({"min_unique": 2.5}, "min_unique must be a whole number >= 0"),
        ({"min_items": True}, "min_items must be a whole number >= 0"),
        ({"evidence": "negatve"}, "unknown evidence"),
    ],
)
def test_bad_gate_or_evidence_is_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rule("X", "volume_z", ">", 4.0, **kwargs)


def _scored(i: int, t_ms: int, text: str) -> Scored:
    return Scored(
        item_id=str(i),
        source="twitter",
        ticker="BA",
        relevance=1.0,
        label="negative",
        score=-0.8,
        confidence=0.9,
        published_at_ms=t_ms,
        model_version="test",
        text=text,
    )


def _story(i: int) -> str:
    """A text that shares no word with any other story's (no near-duplicate by accident)."""
    return " ".join(f"w{i}x{j}" for j in range(10))


HOUR = 3_600_000
SPIKE = Rule("VolumeSpike", "volume_z", ">", 4.0, min_items=10, min_unique=5)
COLLAPSE_ON_STORIES = Rule("SentimentCollapse", "sentiment_z", "<", -3.0, min_unique=5)


def _hour_of_history_then(burst: list[str]) -> tuple[list[Alert], Snapshot | None]:
    """30 quiet hours (one story each), then `burst` in hour 31, through the core's `step`
    (novelty, windows, baseline, rules): the alerts of that hour and its last snapshot."""
    cfg = CoreConfig(rules=(SPIKE, COLLAPSE_ON_STORIES))
    state = None
    for h in range(30):
        state, _ = step(state, _scored(h, h * HOUR + 60_000, _story(h)), cfg)
    alerts: list[Alert] = []
    snapshot = None
    for k, text in enumerate(burst):
        state, out = step(state, _scored(1000 + k, 30 * HOUR + 60_000 + k * 1000, text), cfg)
        alerts += out.alerts
        snapshot = out.snapshot
    return alerts, snapshot


def test_a_retweet_storm_of_one_story_never_pages() -> None:
    """StockNet's VolumeSpikes were ten retweets of one tweet (count 10, unique 1): the volume
    z-score counts the copies (attention), the gate requires distinct stories."""
    original = "Boeing halts 737 deliveries after new fuselage defect found"
    storm = [original] + [f"RT @user{k}: {original}" for k in range(39)]
    alerts, snapshot = _hour_of_history_then(storm)
    assert snapshot is not None
    win = snapshot.windows["1h"]
    assert (win.count, win.unique) == (40, 1)
    assert snapshot.volume_z is not None and snapshot.volume_z > SPIKE.threshold  # not the z
    assert alerts == []


def test_the_same_volume_of_distinct_stories_fires() -> None:
    alerts, snapshot = _hour_of_history_then([_story(500 + k) for k in range(40)])
    assert snapshot is not None and snapshot.windows["1h"].unique == 40
    assert [a.rule for a in alerts] == ["VolumeSpike"]
    assert alerts[0].values["unique"] >= SPIKE.min_unique
