"""`score_items`: linking + one scorer call per batch. A unit test isolates the scorer with a
double; the real ONNX model is exercised in tests/scoring and tests/integration."""

from collections.abc import Sequence

from pipeline.core.records import Item, Score
from pipeline.core.scoring import score_from_probs
from pipeline.core.step import score_items
from pipeline.core.symbols import SymbolTable

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
