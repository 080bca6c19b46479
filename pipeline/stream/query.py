"""The JSON answers of the query API (`web.py`), built from a ticker's stored state.

Plain functions of their inputs (no faust, no clock): the web handlers fetch, these shape, so
the shapes are tested without a worker. Every answer is in event time (`event_ms`, window
starts); "now" is the ticker's own clock, the newest event folded in, as in `aggregate.snapshot`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pipeline.core import aggregate
from pipeline.core.aggregate import AggregationConfig
from pipeline.core.records import Snapshot
from pipeline.core.symbols import SymbolTable

# GET /tickers?sort=...: the key each sort reads from a summary row (None sorts last).
SORTS: dict[str, str] = {
    "abs_z": "abs_z",  # the biggest movers either way: max(|sentiment z|, |volume z|)
    "sentiment_z": "sentiment_z",
    "volume_z": "volume_z",
    "volume": "volume",  # items in the baseline window (repeats included)
    "unique": "unique",
    "score": "score",  # mean sentiment of the baseline window
    "ticker": "ticker",
}
MAX_LIMIT = 1000


class BadQuery(ValueError):
    """A query parameter the API cannot use; the message names it and what is accepted."""


def company(symbols: SymbolTable, ticker: str) -> dict[str, str] | None:
    """Name and sector of a known symbol (former tickers resolve), None for an unknown one."""
    resolved = symbols.resolve(ticker)
    if resolved is None:
        return None
    c = symbols.companies[resolved]
    return {"symbol": resolved, "name": c.name, "sector": c.sector}


def ticker_view(
    ticker: str, state: Mapping[str, Any] | None, cfg: AggregationConfig, about: Mapping[str, str]
) -> dict[str, Any]:
    """GET /tickers/{T}: windows, decayed scores, z-scores and the items that moved each current
    window. A known ticker without state yet is an empty answer (`has_data` false), not a 404."""
    if state is None:
        return {
            "ticker": ticker,
            "company": dict(about),
            "has_data": False,
            "event_ms": None,
            "windows": {},
            "decayed": {},
            "sentiment_z": None,
            "volume_z": None,
            "evidence": {},
            "totals": {},
            "pending": 0,
        }
    snap = aggregate.snapshot(dict(state), cfg)
    evidence = {}
    for name, w in snap.windows.items():
        acc = state["windows"].get(name, {}).get(str(w.start_ms))
        evidence[name] = [e.to_dict() for e in aggregate.evidence(acc)] if acc else []
    return {
        "ticker": ticker,
        "company": dict(about),
        "has_data": True,
        "event_ms": snap.event_ms,
        "windows": {k: v.to_dict() for k, v in snap.windows.items()},
        "decayed": dict(snap.decayed),
        "sentiment_z": snap.sentiment_z,
        "volume_z": snap.volume_z,
        "baseline_windows": snap.baseline_windows,
        "evidence": evidence,
        "totals": dict(state.get("totals", {})),
        "pending": state.get("pending_count", len(state.get("pending", ()))),
    }


def summary_row(snap: Snapshot, baseline_window: str) -> dict[str, Any]:
    """One row of GET /tickers: what a top-movers table shows."""
    base = snap.windows[baseline_window]
    zs = [abs(z) for z in (snap.sentiment_z, snap.volume_z) if z is not None]
    return {
        "ticker": snap.ticker,
        "event_ms": snap.event_ms,
        "window": baseline_window,
        "volume": base.count,
        "unique": base.unique,
        "score": base.mean_score,
        "share_negative": base.share_negative,
        "sentiment_z": snap.sentiment_z,
        "volume_z": snap.volume_z,
        "abs_z": max(zs) if zs else None,
        "decayed": dict(snap.decayed),
    }


def summary_rows(
    states: Iterable[Mapping[str, Any]], cfg: AggregationConfig
) -> list[dict[str, Any]]:
    """Summary rows of `states` (this worker's part of GET /tickers)."""
    return [summary_row(aggregate.snapshot(dict(s), cfg), cfg.baseline_window) for s in states]


def sort_rows(
    rows: Iterable[Mapping[str, Any]], sort: str = "abs_z", order: str = "desc", limit: int = 100
) -> list[dict[str, Any]]:
    """Rows sorted by `sort` (a key of `SORTS`), `order` asc|desc, missing values last, the
    ticker breaking ties so every replica lists the same order; the first `limit`."""
    if sort not in SORTS:
        raise BadQuery(f"sort={sort!r}: expected one of {', '.join(SORTS)}")
    if order not in ("asc", "desc"):
        raise BadQuery(f"order={order!r}: expected asc or desc")
    key = SORTS[sort]
    have = [dict(r) for r in rows if r.get(key) is not None]
    missing = sorted((dict(r) for r in rows if r.get(key) is None), key=lambda r: r["ticker"])
    have.sort(key=lambda r: r["ticker"])
    have.sort(key=lambda r: r[key], reverse=order == "desc")
    return (have + missing)[:limit]


def parse_limit(text: str | None, default: int = 100) -> int:
    """`limit` query parameter: 1..MAX_LIMIT."""
    if text is None or text == "":
        return default
    try:
        n = int(text)
    except ValueError:
        raise BadQuery(f"limit={text!r}: expected an integer 1..{MAX_LIMIT}") from None
    if not 1 <= n <= MAX_LIMIT:
        raise BadQuery(f"limit={text!r}: expected an integer 1..{MAX_LIMIT}")
    return n


def parse_since(text: str | None) -> int | None:
    """`since`: epoch milliseconds, or an ISO-8601 time with a zone (e.g. 2026-12-02T10:00Z)."""
    if text is None or text == "":
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(
            f"since={text!r}: expected epoch milliseconds or ISO-8601 with a zone"
        ) from None
    if t.tzinfo is None:
        raise BadQuery(f"since={text!r}: give a zone (Z or +hh:mm); event times are UTC")
    return int(t.timestamp() * 1000)


def parse_texts(body: Any, max_texts: int, max_chars: int) -> list[str]:
    """POST /score body: {"texts": ["...", ...]}, 1..max_texts non-empty strings, each cut to
    `max_chars` (the stream's own limit, so the API scores what the stream would)."""
    texts = body.get("texts") if isinstance(body, dict) else None
    if not isinstance(texts, list) or not texts:
        raise BadQuery('expected a JSON body {"texts": ["...", ...]}')
    if len(texts) > max_texts:
        raise BadQuery(
            f"{len(texts)} texts: at most {max_texts} per request (FINSENT_API_SCORE_MAX_TEXTS)"
        )
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise BadQuery("every text must be a non-empty string")
    return [t[:max_chars] for t in texts]
