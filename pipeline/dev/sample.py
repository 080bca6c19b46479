"""A bundled, deterministic sample feed of realistic news and social items, written by the
project (no licensed text): the demo's input and the tests' own data.

`generate()` yields wire-format records (the `news.raw` / `social.raw` schema) with clear positive,
negative and neutral stories about a handful of tickers, syndicated copies and retweets among them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

COMPANIES = {
    "AAPL": ("Apple", "iPhone"),
    "MSFT": ("Microsoft", "Azure"),
    "TSLA": ("Tesla", "Model Y"),
    "JPM": ("JPMorgan", "investment banking"),
    "XOM": ("Exxon Mobil", "refining"),
    "BA": ("Boeing", "737 MAX"),
    "NVDA": ("Nvidia", "data-center GPU"),
    "AMZN": ("Amazon", "AWS"),
    "KO": ("Coca-Cola", "soft drink"),
    "PFE": ("Pfizer", "vaccine"),
    "DIS": ("Disney", "streaming"),
    "INTC": ("Intel", "chip"),
    "WMT": ("Walmart", "grocery"),
}
POSITIVE = [
    "{name} shares jump {pct}% after quarterly profit beats estimates",
    "{name} raises full-year guidance on strong {product} demand",
    "{name} wins record order, analysts upgrade the stock to buy",
    "{name} reports record revenue as {product} sales surge",
    "{name} announces ${bn} billion buyback and a higher dividend",
    "Strong {product} momentum lifts {name} to an all-time high",
]
NEGATIVE = [
    "{name} shares plunge {pct}% after profit warning",
    "{name} cuts outlook as {product} demand weakens sharply",
    "Regulators open probe into {name}; stock falls {pct}%",
    "{name} misses estimates and announces {k} layoffs",
    "{name} recalls {product} units over safety defect, shares slide",
    "Analysts downgrade {name} to sell on falling margins",
]
NEUTRAL = [
    "{name} to hold annual shareholder meeting on {day}",
    "{name} names new chief financial officer",
    "{name} schedules quarterly earnings call for {day}",
    "{name} completes previously announced bond offering",
]
SOCIAL = [
    "${sym} {text}",
    "{text} ${sym}",
    "Just saw this: {text} ${sym}",
    "${sym} {text} #stocks",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
# Tails make stories from one template distinct, as real headlines are.
TAILS = {
    "positive": [
        "as margins widen",
        "on booming orders",
        "after a blowout quarter",
        "beating every analyst forecast",
        "with cash flow at a record",
        "while rivals struggle",
        "on upbeat comments from the CEO",
        "",
    ],
    "negative": [
        "amid supply chain chaos",
        "as costs spiral",
        "after a dismal quarter",
        "as customers walk away",
        "while the CFO resigns",
        "on weak cash flow",
        "as lawsuits pile up",
        "",
    ],
    "neutral": ["according to a filing", "the company said in a statement", "", "per its website"],
}


def fill(template: str, sym: str, rng: random.Random) -> str:
    """One headline from a template about `sym`, numbers and day drawn from `rng`."""
    name, product = COMPANIES[sym]
    return template.format(
        name=name,
        product=product,
        pct=rng.randint(2, 15),
        bn=rng.randint(5, 90),
        k=rng.randint(2, 12) * 500,
        day=rng.choice(DAYS),
    )


def story(sym: str, mood: str, rng: random.Random) -> str:
    """One headline about `sym` in `mood`; a random tail makes stories of one template differ."""
    pool = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}[mood]
    tail = rng.choice(TAILS[mood])
    return fill(rng.choice(pool), sym, rng) + (f", {tail}" if tail else "")


def generate(
    n: int,
    start_ms: int,
    *,
    spacing_ms: int = 1_000,
    seed: int = 0,
    tickers: tuple[str, ...] = tuple(COMPANIES),
    moods: dict[str, str] | None = None,
    repeat_share: float = 0.1,
) -> Iterator[dict[str, Any]]:
    """`n` records, one every `spacing_ms` of event time from `start_ms`.

    Args:
        moods: ticker -> "positive" | "negative" | "neutral" to bias that ticker's stories (70%);
            other tickers get a balanced mix.
        repeat_share: fraction of records that are retweets / syndicated copies of earlier ones.
    """
    rng = random.Random(seed)
    moods = moods or {}
    seen: list[dict[str, Any]] = []
    for i in range(n):
        ts = start_ms + i * spacing_ms
        if seen and rng.random() < repeat_share:
            orig = rng.choice(seen[-50:])
            yield {
                "id": f"s{seed}-{i}",
                "source": "twitter",
                "published_at": ts,
                "text": f"RT @markets: {orig['text']}",
                "tickers": orig.get("tickers", []),
                "author": "markets_fan",
            }
            continue
        sym = rng.choice(tickers)
        bias = moods.get(sym)
        if bias and rng.random() < 0.7:
            mood = bias
        else:
            mood = rng.choices(["positive", "negative", "neutral"], [0.4, 0.35, 0.25])[0]
        text = story(sym, mood, rng)
        if rng.random() < 0.5:
            rec = {
                "id": f"n{seed}-{i}",
                "source": "newswire",
                "published_at": ts,
                "text": text,
                "url": f"https://news.example.com/{seed}/{i}",
            }
        else:
            rec = {
                "id": f"t{seed}-{i}",
                "source": "twitter",
                "published_at": ts,
                "text": rng.choice(SOCIAL).format(sym=sym, text=text),
                "tickers": [sym],
                "author": f"user{rng.randint(1, 400)}",
            }
        seen.append(rec)
        yield rec


def malformed(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """`n` bad records as (expected reason, raw bytes), cycling through every kind."""
    kinds: list[tuple[str, bytes]] = [
        ("not_json", b"this is not json {"),
        ("not_object", b'["a", "list"]'),
        ("missing_field", b'{"id": "m1", "published_at": 1700000000000}'),
        ("missing_field", b'{"text": "Apple rallies", "published_at": 1700000000000}'),
        ("wrong_type", b'{"id": "m2", "text": 42, "published_at": 1700000000000}'),
        ("empty_text", b'{"id": "m3", "text": "   ", "published_at": 1700000000000}'),
        ("bad_timestamp", b'{"id": "m4", "text": "Apple rallies", "published_at": "yesterday"}'),
        ("bad_timestamp", b'{"id": "m5", "text": "Apple rallies", "published_at": 1700000000}'),
        ("not_json", b"\xff\xfe\x00garbage"),
    ]
    rng = random.Random(seed)
    for i in range(n):
        reason, raw = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        yield reason, raw
