"""`score_items`: linking + one scorer call per batch. A unit test isolates the scorer with a
double; the real ONNX model is exercised in tests/scoring and tests/integration."""

from collections.abc import Sequence

from pipeline.core.records import Item, Rejected, Score, Scored
from pipeline.core.scoring import score_from_probs
from pipeline.core.step import CoreConfig, score_items, step
from pipeline.core.symbols import SymbolTable
from pipeline.testing import FixedScorer

SYMBOLS = SymbolTable.from_rows(
    [
        {"symbol": "AAPL", "name": "Apple Inc.", "aliases": "Apple"},
        {"symbol": "MSFT", "name": "Microsoft", "aliases": ""},
    ]
)


class CountingScorer:
    version = "test-1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        self.calls.append(list(texts))
        return [
            score_from_probs((0.1, 0.2, 0.7) if "beat" in t else (0.8, 0.1, 0.1)) for t in texts
        ]


def _item(i: int, text: str) -> Item:
    return Item(id=str(i), source="wire", published_at_ms=1000 + i, text=text)


def test_one_scorer_call_per_batch_and_only_for_linked_items() -> None:
    scorer = CountingScorer()
    out = score_items(
        [
            _item(1, "Apple beat estimates"),
            _item(2, "Weather is nice"),
            _item(3, "$MSFT and Apple slump"),
        ],
        SYMBOLS,
        scorer,
    )
    assert scorer.calls == [["Apple beat estimates", "$MSFT and Apple slump"]]
    assert [len(o) for o in out] == [1, 0, 2]
    assert out[0][0].score == 0.7 - 0.1 and out[0][0].label == "positive"
    assert {s.ticker for s in out[2]} == {"AAPL", "MSFT"}
    assert all(s.model_version == "test-1" for s in out[2])


def test_score_from_probs() -> None:
    s = score_from_probs((0.2, 0.5, 0.3))
    assert s.label == "neutral" and s.confidence == 0.5
    assert abs(s.score - 0.1) < 1e-12


def _scored(item_id: str, text: str, offset: int, t: int = 1_714_564_800_000) -> Scored:
    return Scored(
        item_id=item_id, source="wire", ticker="AAPL", relevance=1.0, label="negative",
        score=-0.5, confidence=0.8, published_at_ms=t, model_version="m", text=text,
        origin=("news.raw", 0, offset),
    )  # fmt: skip


def test_a_correction_is_counted_but_the_first_version_stands() -> None:
    cfg = CoreConfig()
    state, out = step(None, _scored("42", "Apple recalls chargers in Europe", 0), cfg)
    assert out.verdict == "new"
    corrected, out = step(
        state, _scored("42", "Apple recalls chargers in Asia, not Europe", 1), cfg
    )
    assert out.verdict == "correction" and not out.updated
    assert corrected["totals"]["corrections"] == 1 and corrected["totals"]["items"] == 1
    assert corrected["windows"] == state["windows"]  # the windows keep the first version
    resent, out = step(corrected, _scored("42", "Apple recalls chargers in Europe", 2), cfg)
    assert out.verdict == "redelivery" and resent["totals"]["items"] == 1  # same id, same text


def test_future_dated_items_are_rejected_against_their_arrival() -> None:
    from pipeline.core.validate import check_arrival

    item = Item("1", "wire", 253_402_214_400_000 // 1000 * 1000, "$AAPL to the moon")
    rejected = check_arrival(item, arrival_ms=1_714_564_800_000, max_ahead_ms=86_400_000)
    assert rejected is not None and rejected.reason == "future_timestamp"
    assert check_arrival(item, arrival_ms=None, max_ahead_ms=86_400_000) is None  # no reference
    soon = Item("2", "wire", 1_714_564_800_000 + 3_600_000, "$AAPL up")
    assert check_arrival(soon, arrival_ms=1_714_564_800_000, max_ahead_ms=86_400_000) is None


def test_cashtag_spam_is_rejected_not_fanned_out() -> None:
    table = SymbolTable.from_rows(
        {"symbol": s, "name": f"Company {s}"} for s in [f"T{chr(65 + i)}" for i in range(12)]
    )
    text = " ".join(f"$T{chr(65 + i)}" for i in range(12))
    out = score_items([_item(1, text)], table, FixedScorer(), max_tickers=10)
    assert isinstance(out[0], Rejected) and out[0].reason == "too_many_tickers"
