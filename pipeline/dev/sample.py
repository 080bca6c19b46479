"""A bundled, deterministic sample feed of realistic news and social items, written by the
project (no licensed text): the demo's input and the tests' own data.

`generate()` yields wire-format records (the `news.raw` / `social.raw` schema) with clear positive,
negative and neutral stories about a handful of tickers, syndicated copies and retweets among them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from pipeline.core.records import Item

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


# --- The demo's timeline: a compressed history, then Boeing's collapse (`pipeline.dev.demo`) ---

DEMO_TICKERS = ("AAPL", "MSFT", "TSLA", "JPM", "XOM", "BA", "NVDA", "AMZN")
HOUR_MS = 3_600_000
REGIONS = [
    "Europe",
    "China",
    "India",
    "Latin America",
    "the Middle East",
    "Japan",
    "Canada",
    "Southeast Asia",
]
# A headline is an event and a reason: 12 x 12 per mood (10 x 10 neutral), enough for a day of
# distinct stories per ticker (novelty remembers a story for a day: `CoreConfig.novelty_ttl_ms`).
# They name the company once and never its product (a second name raises the relevance: the
# hour's positive and negative stories must weigh alike), and every one scores clearly in its
# mood with the shipped model (checked: tests/test_demo_steps.py).
EVENTS = {
    "positive": [
        "{name} beats quarterly profit estimates",
        "{name} raises its full-year forecast",
        "{name} wins a record order",
        "{name} unveils a ${bn} billion share buyback",
        "{name} lifts its dividend by {pct}%",
        "Analysts upgrade {name} to buy",
        "{name} posts record revenue",
        "{name} stock climbs {pct}% to an all-time high",
        "{name} signs a lucrative multiyear supply deal",
        "{name} widens its operating margin",
        "{name} tops sales forecasts",
        "Investors cheer {name}'s upbeat outlook",
    ],
    "negative": [
        "{name} shares plunge {pct}% after a profit warning",
        "{name} cuts its full-year forecast",
        "{name} shares slide {pct}% on a surprise loss",
        "{name} misses quarterly estimates",
        "{name} announces {k} layoffs",
        "{name} recalls thousands of units over a safety defect",
        "Analysts downgrade {name} to sell",
        "{name} slashes its dividend",
        "{name} stock sinks {pct}% to a two-year low",
        "{name} loses a major contract",
        "{name} reports falling profit",
        "{name} warns of weaker sales",
    ],
    "neutral": [
        "{name} to hold its annual shareholder meeting on {day}",
        "{name} names a new chief financial officer",
        "{name} schedules its quarterly earnings call for {day}",
        "{name} completes a previously announced bond offering",
        "{name} files its annual report with regulators",
        "{name} to present at an industry conference on {day}",
        "{name} appoints two new board members",
        "{name} confirms the date of its investor day",
        "{name} prices ${bn} billion of senior notes",
        "{name} publishes its annual sustainability report",
    ],
}
REASONS = {
    "positive": [
        "as demand surges in {region}",
        "citing strong orders",
        "after cost cuts pay off",
        "on upbeat comments from the chief executive",
        "as {region} sales jump {pct}%",
        "with free cash flow at a record",
        "as new products fly off the shelves",
        "after a blowout quarter",
        "beating every analyst forecast",
        "on a surge in new customers",
        "as shipments hit a record",
        "helped by booming business in {region}",
    ],
    "negative": [
        "amid supply chain chaos",
        "as costs soar",
        "after a dismal quarter",
        "as customers walk away",
        "as demand in {region} collapses",
        "on falling margins",
        "as lawsuits pile up",
        "citing weak orders",
        "after the finance chief resigns",
        "as debt worries mount",
        "on a {pct}% drop in {region} sales",
        "amid a widening accounting scandal",
    ],
    "neutral": [
        "according to a filing",
        "the company said in a statement",
        "per its website",
        "in a routine update",
        "the company said on {day}",
        "in a press release",
        "as previously planned",
        "a spokesperson said",
        "in line with its calendar",
        "ahead of a roadshow in {region}",
    ],
}
# The live part's news, written as distinct stories (not one template with other numbers), so
# novelty counts each as a story of its own and the rules' unique-story gates see them all.
COLLAPSE = {
    "BA": [
        "Boeing stock crashes after the FAA grounds 737 MAX jets over a mid-air blowout",
        "Boeing shares tumble 9% as airlines cancel hundreds of flights",
        "Justice Department opens criminal investigation into Boeing over safety lapses",
        "Boeing slashes its delivery forecast and warns of a multibillion-dollar cash burn",
        "Whistleblower says Boeing ignored defects on its factory floor for years",
        "Major carrier cancels its Boeing order, citing repeated quality failures",
        "Boeing machinists walk out, halting production at Renton and Everett",
        "Rating agency cuts Boeing's credit to junk on mounting losses",
        "Boeing chief executive steps down amid the worst crisis in decades",
        "Boeing hit with billions in damage claims as grounded airlines lose money",
        "Investigators find missing bolts on more Boeing jets; shares sink further",
        "Boeing posts a record quarterly loss as the 737 MAX crisis deepens",
    ]
}
GLOW = {
    "NVDA": [
        "Nvidia smashes revenue forecasts as AI chip demand explodes",
        "Nvidia raises guidance again on record data-center GPU sales",
        "Nvidia shares soar 11% to a record after a blowout quarter",
        "Nvidia's order book swells as cloud giants scramble for its new chips",
        "Nvidia announces a $50 billion buyback and a bigger dividend",
        "Analysts lift Nvidia price targets, calling it the AI era's clear winner",
        "Nvidia's gaming and automotive revenue both hit all-time highs",
        "Nvidia profit more than doubles, beating every estimate",
    ]
}
# A normal hour of one ticker: its new stories in order, (mood, source pair). The rules judge
# the hour so far with every story, so no prefix of five or more (the sentiment z-score's
# minimum) may lean: positive and negative come in pairs from the same kind of source (a
# tweet names its ticker by cashtag and weighs more than a headline naming the company).
HOURLY = (
    ("positive", 0),
    ("negative", 0),
    ("positive", 1),
    ("negative", 1),
    ("neutral", 2),
    ("neutral", 3),
)


def _headline(sym: str, mood: str, rng: random.Random) -> str:
    """One event-and-reason headline about `sym` in `mood` (numbers, region, day from `rng`)."""
    name, product = COMPANIES[sym]
    fields = {
        "name": name,
        "product": product,
        "pct": rng.randint(2, 15),
        "bn": rng.randint(5, 90),
        "k": rng.randint(2, 12) * 500,
        "day": rng.choice(DAYS),
        "region": rng.choice(REGIONS),
    }
    event = rng.choice(EVENTS[mood]).format(**fields)
    return f"{event}, {rng.choice(REASONS[mood]).format(**fields)}"


class DemoFeed:
    """The demo's records, history first, then the live part, from one seeded generator.

    It keeps each ticker's novelty chain as the core does (the worker's fingerprints, time to
    live and distance), so every story meant to be new is new to the worker too: a headline that
    novelty would call a copy of one from the last day is drawn again, and no history story
    comes near the live part's Boeing and Nvidia headlines. Retweets are the only repeats.

    Normal traffic is steady on purpose (`HOURLY`): the same moods every hour, so an hour's
    mean score moves only with the headlines' scores, and the baseline says "normal" clearly."""

    def __init__(self, seed: int = 0, repeat_share: float = 0.1) -> None:
        from pipeline.core.step import CoreConfig
        from pipeline.reference import load_symbols

        cfg = CoreConfig()
        self.ttl_ms, self.max_entries = cfg.novelty_ttl_ms, cfg.novelty_max_entries
        self.max_hamming = cfg.novelty_max_hamming
        self.rng = random.Random(seed)
        self.seed, self.repeat_share = seed, repeat_share
        self.chains: dict[str, dict[str, Any]] = {}
        self.recent: dict[str, list[dict[str, Any]]] = {}  # stories a history retweet may copy
        self.reserved = [
            _fingerprint(t) for texts in (*COLLAPSE.values(), *GLOW.values()) for t in texts
        ]
        self.symbols = load_symbols()
        self.standard: dict[tuple[str, bool], float] = {}  # (ticker, news) -> relevance
        self.n = 0

    def verdict(self, sym: str, record: dict[str, Any], *, commit: bool = True) -> str:
        """Novelty's verdict on `record` for `sym` after what this feed made so far, as the
        worker will judge it ("new", "repeat", ...); `commit` adds the sighting to the chain
        (the worker's chain holds every new story and every repeat)."""
        from pipeline.core import novelty

        chain, verdict = novelty.observe(
            self.chains.get(sym) or novelty.initialize(),
            record["id"],
            _fingerprint(record["text"]),
            record["published_at"],
            ttl_ms=self.ttl_ms,
            max_entries=self.max_entries,
            max_hamming=self.max_hamming,
        )
        if commit:
            self.chains[sym] = chain
        return str(verdict)

    def _near_reserved(self, text: str) -> bool:
        """Whether `text` is within novelty's distance of a live-part headline."""
        from pipeline.core import novelty

        exact, sim = _fingerprint(text)
        return any(
            e == exact or novelty.hamming(h, sim) <= self.max_hamming for e, h in self.reserved
        )

    def _id(self, prefix: str) -> str:
        """A new item id: `prefix` (h: history, l: live), the seed and a counter."""
        self.n += 1
        return f"{prefix}{self.seed}-{self.n}"

    def _record(self, sym: str, text: str, ts: int, news: bool, prefix: str) -> dict[str, Any]:
        """A wire record about `sym`: a newswire headline, or a tweet carrying it."""
        item_id = self._id(prefix)
        if news:
            return {
                "id": item_id,
                "source": "newswire",
                "published_at": ts,
                "text": text,
                "url": f"https://news.example.com/{item_id}",
            }
        return {
            "id": item_id,
            "source": "twitter",
            "published_at": ts,
            "text": self.rng.choice(SOCIAL).format(sym=sym, text=text),
            "tickers": [sym],
            "author": f"user{self.rng.randint(1, 400)}",
        }

    def _retweet(self, sym: str, of: list[dict[str, Any]], ts: int, prefix: str) -> dict[str, Any]:
        """A retweet of one of the stories `of` (a repeat for novelty), counted in the chain."""
        rec = {
            "id": self._id(prefix),
            "source": "twitter",
            "published_at": ts,
            "text": f"RT @markets: {self.rng.choice(of)['text']}",
            "tickers": [sym],
            "author": "markets_fan",
        }
        self.verdict(sym, rec)
        return rec

    def relevance(self, record: dict[str, Any]) -> dict[str, float]:
        """The tickers the worker will link `record` to, with their relevance."""
        from pipeline.core.tickers import link
        from pipeline.core.validate import parse_obj

        item = parse_obj(record)
        if not isinstance(item, Item):
            raise ValueError(f"{record['id']}: {item.reason}")
        return {m.ticker: m.relevance for m in link(item, self.symbols)}

    def _weighs(self, sym: str, record: dict[str, Any], news: bool) -> bool:
        """Whether `record` links to `sym` alone, as much as every story of its kind does (the
        linker reads context: "Apple widens its operating margin" alone is not about AAPL)."""
        if (sym, news) not in self.standard:
            name = COMPANIES[sym][0]
            ts = record["published_at"]
            probe = self._record(sym, f"{name} beats quarterly profit estimates", ts, news, "p")
            self.standard[sym, news] = self.relevance(probe).get(sym, 0.0)
        return self.relevance(record) == {sym: self.standard[sym, news]}

    def story(self, sym: str, mood: str, ts: int, news: bool, prefix: str = "h") -> dict[str, Any]:
        """A record with a headline novelty will count as a new story for `sym` at `ts`,
        linked to `sym` alone with the relevance of every story of its kind."""
        for _ in range(200):
            rec = self._record(sym, _headline(sym, mood, self.rng), ts, news, prefix)
            if (
                not self._near_reserved(rec["text"])
                and self._weighs(sym, rec, news)
                and self.verdict(sym, rec, commit=False) == "new"
            ):
                break
        else:  # pragma: no cover - 12 x 12 headlines per mood outlast a day of any ticker
            raise RuntimeError(f"no new {mood} story left for {sym}")
        self.verdict(sym, rec)
        self.recent.setdefault(sym, []).append(rec)
        del self.recent[sym][:-20]
        return rec

    def history(
        self, end_ms: int, hours: int = 48, *, tickers: tuple[str, ...] = DEMO_TICKERS
    ) -> list[dict[str, Any]]:
        """`hours` of normal traffic ending at `end_ms` (exclusive): every hour, every ticker
        gets the new stories of `HOURLY`, in that order at random times, plus retweets of
        recent stories (`repeat_share` of the new stories, at most one per ticker and hour, so
        the hourly volume is steady too); in event-time order, each record at its own ms."""
        out: list[dict[str, Any]] = []
        for h in range(hours, 0, -1):
            hour_start = end_ms - h * HOUR_MS
            n_rt = min(len(tickers), round(len(tickers) * len(HOURLY) * self.repeat_share))
            times = self.rng.sample(
                range(hour_start, hour_start + HOUR_MS), len(tickers) * len(HOURLY) + n_rt
            )
            slots: list[tuple[int, str, str | None, bool]] = []  # time, ticker, mood, news
            for k, sym in enumerate(tickers):
                mine = sorted(times[k * len(HOURLY) : (k + 1) * len(HOURLY)])
                news = [self.rng.random() < 0.5 for _ in HOURLY]
                slots += [(t, sym, m, news[j]) for t, (m, j) in zip(mine, HOURLY, strict=True)]
            # at most one retweet per ticker and hour: the hourly volume stays steady too
            rts = self.rng.sample(tickers, n_rt)
            slots += [
                (t, sym, None, False)
                for t, sym in zip(times[len(times) - n_rt :], rts, strict=True)
            ]
            for ts, sym, mood, src in sorted(slots):
                if mood is None and self.recent.get(sym):
                    out.append(self._retweet(sym, self.recent[sym], ts, "h"))
                else:
                    out.append(self.story(sym, mood or "neutral", ts, src))
        return out

    def live(
        self,
        start_ms: int,
        *,
        normal_items: int = 36,
        rate: float = 2.0,
        tickers: tuple[str, ...] = DEMO_TICKERS,
    ) -> list[dict[str, Any]]:
        """The live part from `start_ms`, one record every 1/`rate` s: Boeing's collapse
        (`COLLAPSE`: distinct stories, then two retweets of them) and Nvidia's glow (`GLOW`, one
        retweet) take every other slot of the first part, `normal_items` normal stories of the
        other tickers the rest (in the order of a normal hour, `HOURLY`; neutral past it).

        The scene stays in one 1h window, the one z-scores compare: when the feed would cross
        the top of an hour, the scene starts after it (normal stories only before)."""
        from pipeline.core.windows import window_start_ms

        scene: list[tuple[str, str | None]] = []  # (ticker, headline); None: a retweet
        retweets: list[tuple[str, str | None]] = []
        for sym, texts in (*COLLAPSE.items(), *GLOW.items()):
            if sym in tickers:
                scene += [(sym, t) for t in texts]
                retweets += [(sym, None)] * (2 if sym in COLLAPSE else 1)
        self.rng.shuffle(scene)
        scene += retweets  # last: they copy this scene's stories
        others = [t for t in tickers if t not in COLLAPSE and t not in GLOW]
        normal = [others[i % len(others)] for i in range(normal_items if others else 0)]
        step_ms = 1000 / rate
        boundary = window_start_ms(start_ms, HOUR_MS) + HOUR_MS
        end_ms = start_ms + (len(scene) + len(normal)) * step_ms
        first = math.ceil((boundary - start_ms) / step_ms) if boundary <= end_ms else 0
        told: dict[str, list[dict[str, Any]]] = {}  # the scene's stories so far, by ticker
        seen: dict[str, int] = {}  # normal stories so far, by ticker
        out: list[dict[str, Any]] = []
        i = 0
        while scene or normal:
            ts = start_ms + round(i * step_ms)
            scene_turn = bool(scene) and i >= first and (not normal or (i - first) % 2 == 0)
            if scene_turn:
                sym, text = scene.pop(0)
                if text is None:
                    out.append(self._retweet(sym, told[sym], ts, "l"))
                else:
                    rec = self._record(sym, text, ts, self.rng.random() < 0.5, "l")
                    self.verdict(sym, rec)
                    told.setdefault(sym, []).append(rec)
                    out.append(rec)
            elif normal:
                sym = normal.pop(0)
                k = seen[sym] = seen.get(sym, -1) + 1
                mood, pair = HOURLY[k] if k < len(HOURLY) else ("neutral", k)
                out.append(self.story(sym, mood, ts, pair % 2 == 0, prefix="l"))
            i += 1
        return out


def _fingerprint(text: str) -> tuple[int, int]:
    """The worker's fingerprint of `text` (the scoring stage's vectorised one, equal to the
    core's): what novelty compares."""
    from pipeline.scoring.fingerprints import fingerprint

    return fingerprint(text)
