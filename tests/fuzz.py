"""Nasty input records for the fuzz tests: random bytes, invalid and surrogate UTF-8, deep nesting,
huge numbers and texts, every field with every JSON type, NaN/Infinity, timestamp and unicode
oddities, and mutations of valid records. Deterministic for a seed.

Used by tests/integration/test_fuzz_stream.py (through a real broker and worker) and
tests/core/test_properties.py (the core alone)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

TICKERS = ["AAPL", "MSFT", "NVDA", "BA", "XOM", "JPM", "KO", "TSLA"]
WORDS = "shares jump slump beat miss guidance outlook record profit loss rally deal".split()  # noqa: SIM905
JSON_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**30, -(10**30), "", " ", "x", [], [1, 2], {}, {"a": 1},
    float("nan"), float("inf"), -float("inf"), "\u0000", "\ufeff", "\u202e", "\U0001f680",
]  # fmt: skip
TIMESTAMPS: list[Any] = [
    0, -1, 1, 99_999_999_999, 10**13, 10**19, 2**63, 1.0e12, 1.7e12, "2024-05-01", "2024-13-45",
    "2024-05-01T12:00:00+25:00", "9999-12-31T23:59:59Z", "0001-01-01", "yesterday", "1714564800",
    "1714564800000", " 1714564800000 ", "", "NaN", True, [1714564800000], {"ms": 1},
    253402214400000,
]  # fmt: skip


def valid(rng: random.Random, i: int, now_ms: int) -> dict[str, Any]:
    """A well-formed record about one ticker, within the last hour."""
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
    return {
        "id": f"good-{i}",
        "source": rng.choice(["newswire", "twitter", "reddit"]),
        "published_at": now_ms - rng.randint(0, 3_600_000),
        "text": f"${rng.choice(TICKERS)} {words} #{i}",
    }


def _raw_bytes(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))


def nasty(rng: random.Random, i: int, now_ms: int) -> bytes:
    """One malformed or odd record (some odd ones are still valid: the caller classifies)."""
    kind = rng.randrange(14)
    base = valid(rng, i, now_ms)
    base["id"] = f"nasty-{i}"
    if kind == 0:
        return _raw_bytes(rng)
    if kind == 1:  # invalid UTF-8 and lone surrogates, raw and escaped
        raw = json.dumps(base).encode()
        return rng.choice(
            [raw.replace(b"$", b"\xff$"), raw.replace(b'"id": "', b'"id": "\xed\xa0\x80'),
             raw.replace(b'"source": "', b'"source": "\\ud800'), raw[: rng.randint(1, len(raw))]]
        )  # fmt: skip
    if kind == 2:  # deep nesting
        depth = rng.choice([50, 500, 1000, 5000, 100_000])
        return b'{"id": "x", "text": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == 3:  # huge numbers
        return json.dumps(base).encode()[:-1] + b', "n": ' + b"9" * rng.choice([400, 5000]) + b"}"
    if kind == 4:  # huge text
        base["text"] = "$AAPL " + "a" * rng.choice([20_001, 200_000, 1_046_000])
        return json.dumps(base).encode()
    if kind == 5:  # every field with every type
        field = rng.choice(["id", "source", "published_at", "text", "tickers", "url", "lang"])
        base[field] = rng.choice(JSON_VALUES)
        return json.dumps(base, allow_nan=True).encode()
    if kind == 6:  # NaN / Infinity literals
        lit = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
        return json.dumps(base).encode().replace(str(base["published_at"]).encode(), lit.encode())
    if kind == 7:  # timestamp oddities
        base["published_at"] = rng.choice(TIMESTAMPS)
        return json.dumps(base).encode()
    if kind == 8:  # unicode oddities in the text (valid; may or may not link)
        base["text"] = rng.choice(["\u202e$AAPL", "$ＡＡＰＬ", "$AAPL\u0000", "\U0001f680" * 50,
                                   "e\u0301" * 20 + " $MSFT", "\ufeff$KO up"])  # fmt: skip
        return json.dumps(base).encode()
    if kind == 9:  # not an object
        return json.dumps(rng.choice(JSON_VALUES[:15]), allow_nan=True).encode()
    if kind == 10:  # missing fields
        for field in rng.sample(["id", "text", "published_at"], rng.randint(1, 3)):
            base.pop(field)
        return json.dumps(base).encode()
    if kind == 11:  # byte mutations of a valid record
        mutated = bytearray(json.dumps(base).encode())
        for _ in range(rng.randint(1, 5)):
            mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
        return bytes(mutated)
    if kind == 12:  # future dated and cashtag spam
        if rng.random() < 0.5:
            base["published_at"] = now_ms + rng.choice([2, 30, 3650]) * 86_400_000
        else:
            base["text"] = (
                " ".join(f"${t}" for t in TICKERS)
                + " "
                + " ".join(f"${t}" for t in ["PEP", "WMT", "META", "AMZN", "GOOGL"])
            )
        return json.dumps(base).encode()
    return b"   " if rng.random() < 0.5 else b""  # empty values


def corpus(n_nasty: int, n_good: int, seed: int, now_ms: int) -> Iterator[tuple[bytes, bool]]:
    """(value, made_valid) records, nasty and valid interleaved at random."""
    rng = random.Random(seed)
    kinds = [True] * n_good + [False] * n_nasty
    rng.shuffle(kinds)
    for i, good in enumerate(kinds):
        if good:
            yield json.dumps(valid(rng, i, now_ms)).encode(), True
        else:
            yield nasty(rng, i, now_ms), False
