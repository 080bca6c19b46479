"""Frozen record types that flow through the core. Imports only the standard library.

Event times are ``int`` epoch milliseconds with an ``_ms`` suffix (as Quix Streams names them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


# The text a scored record carries (and so alert evidence and the API show): a tweet's length;
# the model and the linker see the whole text.
TEXT_CHARS = 280


class Verdict(StrEnum):
    """The fate of one item x ticker record, decided in the core and counted by the metrics
    (`finsent_mentions_total{verdict}`) and the backtest. A str-Enum, so it is its own label
    value and JSON string.

    - NEW: a story not seen before for this ticker: counted and scored into the windows;
    - REPEAT: a copy of a story already seen (retweet, syndication): counted as volume, its
      score never weighs in the sentiment;
    - REDELIVERY: the same item again (feed or Kafka redelivery): ignored;
    - CORRECTION: the same item id with a different text: counted, the first version stands;
    - LATE: older than the watermark minus grace: its windows are final, so it is dropped.
    """

    NEW = "new"
    REPEAT = "repeat"
    REDELIVERY = "redelivery"
    CORRECTION = "correction"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Item:
    """One validated news or social-media item, as read from `news.raw` / `social.raw`."""

    id: str
    source: str
    published_at_ms: int
    text: str
    provider_tickers: tuple[str, ...] = ()
    url: str | None = None
    author: str | None = None
    lang: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that failed validation; goes to the dead-letter topic with `reason`.

    `reason` is one of `validate.REASONS` (one metric series each). `raw` is empty for rejects
    made after parsing (`check_arrival`, `score_items`); the stream dead-letters the original
    message bytes either way."""

    reason: str
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Mention:
    """A link from an item to a ticker. `relevance` in [0, 1]: headline > body > passing mention."""

    ticker: str
    relevance: float
    how: str  # cashtag | prefixed | name | alias | list | symbol | provider


@dataclass(frozen=True, slots=True)
class Score:
    """Model output for one text. `score` = p(positive) - p(negative); `confidence` = max(p)."""

    label: str
    score: float
    confidence: float
    probs: tuple[float, float, float]  # in LABELS order


@dataclass(frozen=True, slots=True)
class Scored:
    """One item x ticker, scored: the record on `sentiment.scored`, and the input of aggregation."""

    item_id: str
    source: str
    ticker: str
    relevance: float
    label: str
    score: float
    confidence: float
    published_at_ms: int
    model_version: str
    text: str = ""
    # Where the item came from: (input topic, partition, offset). The aggregation keeps the
    # highest offset folded in per source partition, so a redelivery is recognised exactly,
    # whatever the burst size. None in a backtest (no Kafka).
    origin: tuple[str, int, int] | None = None
    # (exact hash, SimHash) of the normalized text, computed once per item in the scoring stage
    # so the aggregation does O(1) work per mention (see `novelty.fingerprint`).
    fingerprint: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the value on `sentiment.scored` and an entry of a ticker's `pending`
        list. `origin` and `fp` appear only when set; the fingerprint's 64-bit integers travel
        as decimal strings, so no JSON reader rounds them to a double."""
        out: dict[str, Any] = {
            "id": self.item_id,
            "source": self.source,
            "ticker": self.ticker,
            "relevance": self.relevance,
            "label": self.label,
            "score": self.score,
            "confidence": self.confidence,
            "published_at_ms": self.published_at_ms,
            "model_version": self.model_version,
            "text": self.text,
        }
        if self.origin is not None:
            out["origin"] = list(self.origin)
        if self.fingerprint is not None:
            out["fp"] = [str(self.fingerprint[0]), str(self.fingerprint[1])]  # 64-bit: strings
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scored:
        """Inverse of `to_dict`. Raises ValueError/KeyError/TypeError on a malformed record."""
        label = str(d["label"])
        if label not in LABELS:
            raise ValueError(f"unknown label {label[:40]!r}")
        nums = {k: float(d[k]) for k in ("relevance", "score", "confidence")}
        if not all(math.isfinite(v) for v in nums.values()):
            raise ValueError("relevance, score and confidence must be finite")
        origin = d.get("origin")
        fp = d.get("fp")
        published = d["published_at_ms"]
        if isinstance(published, bool) or not isinstance(published, int):
            raise TypeError("published_at_ms must be an integer")
        return cls(
            item_id=str(d["id"]),
            source=str(d["source"]),
            ticker=str(d["ticker"]),
            relevance=nums["relevance"],
            label=label,
            score=nums["score"],
            confidence=nums["confidence"],
            published_at_ms=published,
            model_version=str(d["model_version"]),
            text=str(d.get("text", "")),
            origin=(str(origin[0]), int(origin[1]), int(origin[2])) if origin else None,
            fingerprint=(int(fp[0]), int(fp[1])) if fp else None,
        )

    @property
    def source_partition(self) -> str | None:
        """'topic/partition' of the input record, the key of the per-partition offset mark."""
        return f"{self.origin[0]}/{self.origin[1]}" if self.origin else None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One item that moved a window: what an analyst reads when an alert fires."""

    item_id: str
    source: str
    score: float
    weight: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form inside an alert's `evidence` list."""
        return {
            "id": self.item_id,
            "source": self.source,
            "score": self.score,
            "weight": self.weight,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A per-ticker tumbling window: the record on `sentiment.aggregates`.

    `count` includes repeats (volume); `unique`, the label counts and `mean_score` only new stories.
    `final` is True once the window is closed (watermark passed end + grace): it cannot change.
    """

    ticker: str
    window: str
    start_ms: int
    end_ms: int
    count: int
    unique: int
    duplicates: int
    mean_score: float | None
    weight: float
    positive: int
    neutral: int
    negative: int
    final: bool = False

    @property
    def share_negative(self) -> float | None:
        """Share of the window's new stories labelled negative; None without a new story."""
        return self.negative / self.unique if self.unique else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON value on `sentiment.aggregates` (`"type": "window"`)."""
        return {
            "type": "window",
            "ticker": self.ticker,
            "window": self.window,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "count": self.count,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "mean_score": self.mean_score,
            "weight": self.weight,
            "positive": self.positive,
            "neutral": self.neutral,
            "negative": self.negative,
            "share_negative": self.share_negative,
            "final": self.final,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A ticker's analytics after one update: what gauges show and alert rules read.

    `event_ms` is the ticker's clock (the latest event time folded in), never the wall clock."""

    ticker: str
    event_ms: int
    windows: Mapping[str, WindowStats]  # the current (latest) window per size
    decayed: Mapping[str, float | None]  # half-life name -> exponentially decayed score
    sentiment_z: float | None  # current baseline window vs the ticker's own baseline
    volume_z: float | None
    baseline_windows: int


@dataclass(frozen=True, slots=True)
class Alert:
    """An in-stream alert event with its evidence, published on `sentiment.alerts`."""

    rule: str
    ticker: str
    severity: str
    window: str
    window_start_ms: int
    event_ms: int
    values: Mapping[str, float | int | None]
    summary: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def id(self) -> str:
        """Stable id: a rule fires at most once per ticker and window, so these four name it. The
        API's false-positive marks and the review loop refer to an alert by it."""
        return f"{self.rule}:{self.ticker}:{self.window}:{self.window_start_ms}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON value on `sentiment.alerts` (`"type": "alert"`), evidence included."""
        return {
            "type": "alert",
            "id": self.id,
            "rule": self.rule,
            "ticker": self.ticker,
            "severity": self.severity,
            "window": self.window,
            "window_start_ms": self.window_start_ms,
            "event_ms": self.event_ms,
            "values": dict(self.values),
            "summary": self.summary,
            "evidence": [e.to_dict() for e in self.evidence],
        }
