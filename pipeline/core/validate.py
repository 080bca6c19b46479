"""Validate raw input bytes into an `Item`, or a `Rejected` with a machine-readable reason.

Pure: no I/O, no clock. Unknown fields are kept in `Item.extra` (DESIGN.md, input record).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipeline.core.records import Item, Rejected

# The closed set of dead-letter reasons; metrics pre-create one series per reason.
REASONS: tuple[str, ...] = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "empty_text",
    "bad_timestamp",
    "too_large",
    "processing_error",  # valid-looking input that the model stage could not handle
)
REQUIRED = ("id", "text", "published_at")
KNOWN = {"id", "source", "published_at", "text", "tickers", "url", "author", "lang"}
MAX_TEXT_CHARS = 20_000
# Integers below this are almost surely epoch *seconds*; guessing would silently shift the
# event time by a factor of 1000, so we reject with a clear reason instead.
_MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in ms, 5138 AD in seconds


def parse_timestamp_ms(value: Any) -> int:
    """ISO-8601 string (naive means UTC) or epoch milliseconds -> epoch ms. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("boolean is not a timestamp")
    if isinstance(value, int | float):
        if value != value or value < _MIN_EPOCH_MS:  # NaN or seconds-looking
            raise ValueError(f"epoch value {value!r} is not epoch milliseconds")
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return parse_timestamp_ms(int(s))
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise ValueError(f"unparsable time {value!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    raise ValueError(f"timestamp of type {type(value).__name__}")


def _reject(reason: str, detail: str, raw: bytes) -> Rejected:
    return Rejected(reason=reason, detail=detail, raw=raw)


def parse_item(raw: bytes, *, default_source: str = "unknown") -> Item | Rejected:
    """Parse one Kafka message value. Never raises: every failure is a `Rejected`."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _reject("not_json", str(exc)[:200], raw)
    return parse_obj(obj, raw=raw, default_source=default_source)


def parse_obj(obj: Any, *, raw: bytes = b"", default_source: str = "unknown") -> Item | Rejected:
    """Validate an already-decoded JSON value (used by replay readers too)."""
    if not isinstance(obj, dict):
        return _reject("not_object", f"expected a JSON object, got {type(obj).__name__}", raw)
    missing = [f for f in REQUIRED if obj.get(f) is None]
    if missing:
        return _reject("missing_field", f"missing required field(s): {', '.join(missing)}", raw)
    item_id, text = obj["id"], obj["text"]
    if not isinstance(item_id, str | int) or isinstance(item_id, bool) or str(item_id) == "":
        return _reject("wrong_type", "id must be a non-empty string or integer", raw)
    if not isinstance(text, str):
        return _reject("wrong_type", f"text must be a string, got {type(text).__name__}", raw)
    if not text.strip():
        return _reject("empty_text", "text is empty or whitespace", raw)
    if len(text) > MAX_TEXT_CHARS:
        return _reject("too_large", f"text has {len(text)} chars (max {MAX_TEXT_CHARS})", raw)
    try:
        published_at_ms = parse_timestamp_ms(obj["published_at"])
    except ValueError as exc:
        return _reject("bad_timestamp", f"published_at: {exc}", raw)
    source = obj.get("source", default_source)
    tickers = obj.get("tickers") or []
    if not isinstance(source, str) or not source:
        return _reject("wrong_type", "source must be a non-empty string", raw)
    if isinstance(tickers, str):
        tickers = [tickers]
    if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
        return _reject("wrong_type", "tickers must be a list of strings", raw)
    for opt in ("url", "author", "lang"):
        if obj.get(opt) is not None and not isinstance(obj[opt], str):
            return _reject("wrong_type", f"{opt} must be a string", raw)
    return Item(
        id=str(item_id),
        source=source,
        published_at_ms=published_at_ms,
        text=text,
        provider_tickers=tuple(t.strip().upper().lstrip("$") for t in tickers if t.strip()),
        url=obj.get("url"),
        author=obj.get("author"),
        lang=obj.get("lang"),
        extra={k: v for k, v in obj.items() if k not in KNOWN},
    )


def item_to_dict(item: Item) -> dict[str, Any]:
    """The wire form of an `Item` (inverse of `parse_obj`), used by replay and the demo feed."""
    out: dict[str, Any] = dict(item.extra)
    out.update(
        id=item.id,
        source=item.source,
        published_at=item.published_at_ms,
        text=item.text,
        tickers=list(item.provider_tickers),
    )
    for opt in ("url", "author", "lang"):
        if getattr(item, opt) is not None:
            out[opt] = getattr(item, opt)
    return out
