"""Which scored items go to human review, and what a review record says. Pure, event time.

Why a review loop: the items the model is least sure of, the evidence of alerts someone marked
false positive, and a small unbiased sample of everything else are the labels that improve the
next model most, and none of them came back as data before. `finsent review export` turns the
records this module makes into labelling tasks; `finsent review import` turns the labels into a
dataset that `finsent train` reads.

Selection (`select`, one call per micro-batch of the scoring stage):
- low_confidence: the model's confidence (max p) is below `confidence_below`;
- sample: otherwise, when the item id's hash falls in the first `sample_rate` of the 64-bit
  range (`novelty.hash64`: deterministic, so a redelivered item gets the same decision, and
  uniform, so the sample is unbiased by source or label);
- one story is reviewed once: a story key (the exact hash of the normalized text, the first half
  of the novelty fingerprint, so retweets, re-tagged and syndicated copies share it) picked in
  the last `story_ttl_ms` of event time is not picked again. Edited copies (a SimHash neighbour
  but not the same normalized text) are not recognised here: finding them needs a scan of every
  remembered story, and per-record cost must stay O(1);
- a token bucket in event time caps the picks at `max_per_minute` (bursts up to one minute's
  worth). Within a batch, low-confidence items are served before sampled ones. What the bucket
  refuses is counted (`Selection.rate_limited`), not queued: a backlog of review items would only
  grow older, and the next low-confidence item is as good as the refused one.

Only picked stories are remembered: at most `max_per_minute` x `story_ttl_ms` keys (about
43,000 with the defaults), plus up to `RECENT_MAX` expired ones. Copy-on-write without copying
that much: new picks go to a small `recent` dict (copied by a call that picks, at most
`RECENT_MAX` entries); when it is full it is merged into the large `stories` dict, expired keys
dropped in the same pass, once per `RECENT_MAX` picks. A record that is not picked costs a
comparison, a hash and two dict lookups.

`disputed(alert, mark)` turns an alert marked false positive into one review record per piece
of evidence (reason "disputed"): not rate-limited and not deduplicated, since a person asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import novelty
from pipeline.core.records import Scored

REASONS: tuple[str, str, str] = ("low_confidence", "sample", "disputed")
RECORD_TYPE = "review"
RECORD_VERSION = 1
_HASH_RANGE = 1 << 64
RECENT_MAX = 256  # picks held in the small, copied generation before a merge
_MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """What the selection decides with (FINSENT_REVIEW_* settings). `max_per_minute` 0 turns
    review off. Defaults: with the shipped model, about 4.5% of unseen StockNet tweets have a
    confidence below 0.6 (measured on 1,500 Boeing tweets), far more than a labeller reads, so
    the bucket is what bounds the volume; the sample adds about 1 in 500 of the rest."""

    confidence_below: float = 0.6
    sample_rate: float = 0.002
    max_per_minute: int = 30
    story_ttl_ms: int = 86_400_000

    @property
    def enabled(self) -> bool:
        """Whether anything can be picked at all."""
        return self.max_per_minute > 0


@dataclass(frozen=True, slots=True)
class ReviewState:
    """The bucket (tokens, and the event time it was last filled to) and the stories picked
    (story key -> event time of the pick), in two generations (module docstring). Never
    modified: `select` returns a new one, with fresh dicts where they change, so an old state
    stays valid."""

    tokens: float
    clock_ms: int | None = None
    stories: Mapping[int, int] = field(default_factory=dict)
    recent: Mapping[int, int] = field(default_factory=dict)

    def picked_at(self, key: int) -> int | None:
        """When the story `key` was last picked (event time), or None."""
        t = self.recent.get(key)
        return t if t is not None else self.stories.get(key)

    def remembered(self) -> int:
        """How many story keys the state holds (expired ones until the next merge included)."""
        return len(self.stories) + len(self.recent)


@dataclass(frozen=True, slots=True)
class Selection:
    """What one `select` call decided: the review records to publish, and what it did not
    publish: picks refused by the bucket (by the reason they had), and copies of stories
    already picked."""

    records: tuple[dict[str, Any], ...] = ()
    rate_limited: Mapping[str, int] = field(default_factory=dict)
    duplicates: int = 0


def initial(config: ReviewConfig) -> ReviewState:
    """An empty state with a full bucket: a worker that starts may pick a minute's worth at once."""
    return ReviewState(tokens=float(config.max_per_minute))


def story_key(record: Scored) -> int:
    """The story an item tells: the exact hash of its normalized text, from the fingerprint the
    scoring stage computed on the original text; from the carried text when there is none."""
    if record.fingerprint is not None:
        return record.fingerprint[0]
    return novelty.hash64(novelty.normalize(record.text))


def in_sample(item_id: str, rate: float) -> bool:
    """Whether `item_id` is in the deterministic sample of `rate` (0..1) of all ids."""
    return rate > 0 and novelty.hash64(item_id) < rate * _HASH_RANGE


def reason_for(record: Scored, config: ReviewConfig) -> str | None:
    """Why this item would be reviewed ("low_confidence" or "sample"), or None."""
    if record.confidence < config.confidence_below:
        return "low_confidence"
    if in_sample(record.item_id, config.sample_rate):
        return "sample"
    return None


def review_record(records: Sequence[Scored], reason: str) -> dict[str, Any]:
    """The JSON value on the review topic for one item (all its item x ticker records): the
    text as scored records carry it (masked, cut to a tweet's length), the model's answer and
    the item's event time."""
    r = records[0]
    return {
        "type": RECORD_TYPE,
        "v": RECORD_VERSION,
        "id": r.item_id,
        "reason": reason,
        "source": r.source,
        "text": r.text,
        "tickers": sorted({s.ticker for s in records}),
        "model_label": r.label,
        "model_score": r.score,
        "model_confidence": r.confidence,
        "model_version": r.model_version,
        "event_ms": r.published_at_ms,
    }


def _refill(state: ReviewState, now_ms: int, config: ReviewConfig) -> tuple[float, int]:
    """(tokens, clock) after the bucket filled up to event time `now_ms`; event time that goes
    back (an older item) adds nothing."""
    if state.clock_ms is None:
        return state.tokens, now_ms
    elapsed = max(0, now_ms - state.clock_ms)
    cap = float(config.max_per_minute)
    tokens = min(cap, state.tokens + elapsed * config.max_per_minute / _MINUTE_MS)
    return tokens, max(state.clock_ms, now_ms)


def select(
    state: ReviewState, items: Sequence[Sequence[Scored]], config: ReviewConfig
) -> tuple[ReviewState, Selection]:
    """Pick the items of one batch that go to review; returns the new state and the selection.

    `items`: per item, its scored records (one per ticker, non-empty; an item with no ticker is
    never scored, so never reviewed). The bucket first fills up to the batch's newest event
    time; then low-confidence items take tokens before sampled ones, each in input order.
    """
    if not config.enabled or not items:
        return state, Selection()
    tokens, clock = _refill(state, max(recs[0].published_at_ms for recs in items), config)
    horizon = clock - config.story_ttl_ms
    wanted: dict[str, list[tuple[int, Sequence[Scored]]]] = {"low_confidence": [], "sample": []}
    for recs in items:
        reason = reason_for(recs[0], config)
        if reason is not None:
            wanted[reason].append((story_key(recs[0]), recs))
    picked: list[dict[str, Any]] = []
    limited: dict[str, int] = {}
    duplicates = 0
    new: dict[int, int] = {}
    for reason in ("low_confidence", "sample"):
        for key, recs in wanted[reason]:
            seen = new.get(key, state.picked_at(key))
            if seen is not None and seen >= horizon:
                duplicates += 1
                continue
            if tokens < 1.0:
                limited[reason] = limited.get(reason, 0) + 1
                continue
            tokens -= 1.0
            new[key] = recs[0].published_at_ms
            picked.append(review_record(recs, reason))
    stories, recent = state.stories, state.recent
    if new:  # copy-on-write of the small generation only, and only when something was picked
        recent = {**recent, **new}
        if len(recent) > RECENT_MAX:  # merge, dropping what expired
            stories = {k: t for k, t in stories.items() if t >= horizon}
            stories.update((k, t) for k, t in recent.items() if t >= horizon)
            recent = {}
    out = ReviewState(tokens=tokens, clock_ms=clock, stories=stories, recent=recent)
    return out, Selection(tuple(picked), limited, duplicates)


def disputed(alert: Mapping[str, Any], mark: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Review records (reason "disputed") for every piece of evidence of an alert marked false
    positive. `alert` is the JSON of `sentiment.alerts` (`Alert.to_dict()`); `mark` is
    `{"by", "reason", "marked_ms"}`. The evidence text is already masked (it is the scored
    records' text). Evidence carries no model label or confidence, so those are None unless a
    newer evidence entry has them; `event_ms` is the alert's event time.

    Raises ValueError with a one-line message when the alert has no id or its evidence is not a
    list of objects with an id."""
    alert_id = alert.get("id")
    if not isinstance(alert_id, str) or not alert_id:
        raise ValueError("the alert has no id (expected the JSON of a sentiment.alerts record)")
    evidence = alert.get("evidence", [])
    if not isinstance(evidence, list):
        raise ValueError(f"alert {alert_id}: evidence must be a list")
    out = []
    for i, ev in enumerate(evidence):
        if not isinstance(ev, Mapping) or not isinstance(ev.get("id"), str) or not ev["id"]:
            raise ValueError(f"alert {alert_id}: evidence {i} has no item id")
        out.append(
            {
                "type": RECORD_TYPE,
                "v": RECORD_VERSION,
                "id": ev["id"],
                "reason": "disputed",
                "source": ev.get("source"),
                "text": ev.get("text", ""),
                "tickers": [alert["ticker"]] if isinstance(alert.get("ticker"), str) else [],
                "model_label": ev.get("label"),
                "model_score": ev.get("score"),
                "model_confidence": ev.get("confidence"),
                "model_version": ev.get("model_version"),
                "event_ms": alert.get("event_ms"),
                "alert_id": alert_id,
                "rule": alert.get("rule"),
                "evidence_weight": ev.get("weight"),
                "marked_by": mark.get("by"),
                "mark_reason": mark.get("reason"),
                "marked_ms": mark.get("marked_ms"),
            }
        )
    return out
