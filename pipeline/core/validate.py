"""Validate raw input bytes into an `Item`, or a `Rejected` with a machine-readable reason.

Pure: no I/O, no clock. Unknown fields are kept in `Item.extra`. The reasons are a closed set
(`REASONS`), listed in README.md's "Delivery: what a risk team can rely on" section.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
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
    "bad_unicode",  # a lone surrogate: valid JSON, but not encodable as UTF-8 on the way out
    "future_timestamp",  # published_at too far ahead of the record's arrival (Kafka timestamp)
    "too_many_tickers",  # linked to more tickers than FINSENT_MAX_TICKERS_PER_ITEM: spam
    "processing_error",  # valid-looking input that a later stage could not handle
    "unreadable_scored",  # a record on the scored topic that the aggregation cannot read
)
REQUIRED = ("id", "text", "published_at")
KNOWN = {"id", "source", "published_at", "text", "tickers", "url", "author", "lang"}
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 512
# The whole record; Kafka's default max.message.bytes is about 1 MiB. A DLQ copy of anything
# below this fits its dead-letter topic with room for the reason headers.
MAX_RECORD_BYTES = 1_000_000
# Integers below this are almost surely epoch *seconds*; guessing would silently shift the
# event time by a factor of 1000, so we reject with a clear reason instead.
_MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in ms, 5138 AD in seconds
# Above this no event time is sane whatever the arrival time (year 2286): it also keeps every
# value far inside the range of a 64-bit integer and of `datetime`.
MAX_EPOCH_MS = 10_000_000_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp_ms(value: Any) -> int:
    """ISO-8601 string (naive means UTC) or epoch milliseconds -> epoch ms. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("boolean is not a timestamp")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < _MIN_EPOCH_MS:  # NaN, inf or seconds-looking
            raise ValueError(f"epoch value {value!r:.40} is not epoch milliseconds")
        if value > MAX_EPOCH_MS:
            raise ValueError(f"epoch value {value!r:.40} is after the year 2286")
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            if len(s) > 16:
                raise ValueError(f"epoch value {s[:40]!r} has {len(s)} digits")
            return parse_timestamp_ms(int(s))
        try:
            dt = datetime.fromisoformat(s)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            # integer arithmetic: `dt.timestamp() * 1000` is a float and came out 1 ms early for
            # about 1 % of timestamps with milliseconds (…48.123 -> …48.122)
            ms = (dt - _EPOCH) // timedelta(milliseconds=1)
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError(f"unparsable time {value[:60]!r}") from exc
        if not _MIN_EPOCH_MS <= ms <= MAX_EPOCH_MS:
            raise ValueError(f"time {value[:60]!r} is outside 1973..2286")
        return ms
    raise ValueError(f"timestamp of type {type(value).__name__}")


def _reject(reason: str, detail: str, raw: bytes) -> Rejected:
    """A `Rejected` carrying the original bytes of the record."""
    return Rejected(reason=reason, detail=detail, raw=raw)


def _no_constant(name: str) -> Any:
    """`json.loads` hook that refuses NaN / Infinity / -Infinity, which JSON does not allow."""
    raise ValueError(f"{name} is not valid JSON")


def parse_item(raw: bytes, *, default_source: str = "unknown") -> Item | Rejected:
    """Parse one Kafka message value. Never raises: every failure is a `Rejected`.

    Why so defensive: one record that escapes as an exception stops its partition. Besides
    plain syntax errors, `json.loads` raises RecursionError on deep nesting, ValueError on
    integers of more than 4,300 digits, and accepts NaN/Infinity and lone surrogates
    (`"\\ud800"`, or the bytes ED A0 80, which it decodes with 'surrogatepass').
    """
    if len(raw) > MAX_RECORD_BYTES:
        return _reject("too_large", f"record has {len(raw)} bytes (max {MAX_RECORD_BYTES})", raw)
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        return _reject("not_json", "nested too deeply", raw)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return _reject("not_json", str(exc)[:200], raw)
    try:
        return parse_obj(obj, raw=raw, default_source=default_source)
    except RecursionError:
        return _reject("wrong_type", "nested too deeply", raw)


def _encodable(value: str) -> bool:
    """Can `value` be written back out as UTF-8 (no lone surrogate)?"""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    if isinstance(item_id, str) and len(item_id) > MAX_ID_CHARS:
        return _reject("too_large", f"id has {len(item_id)} chars (max {MAX_ID_CHARS})", raw)
    if isinstance(item_id, int) and not -(2**63) <= item_id < 2**63:
        return _reject("wrong_type", "integer id outside 64 bits", raw)
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
    strings = [str(item_id), text, source, *tickers]
    strings += [obj[o] for o in ("url", "author", "lang") if obj.get(o) is not None]
    if not all(_encodable(v) for v in strings):
        return _reject("bad_unicode", "a field holds a lone surrogate (not valid UTF-8)", raw)
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


def check_arrival(item: Item, arrival_ms: int | None, max_ahead_ms: int) -> Rejected | None:
    """A `Rejected` when `item` claims to be published more than `max_ahead_ms` after it arrived.

    Why: event time drives windows and lateness, so one story dated 9999-12-31 would move its
    ticker's clock to the end of time and make every later story late. The Kafka timestamp of
    the input record (its arrival, LogAppendTime on finsent's input topics) is the reference;
    records without one (`None` or negative) are checked against the absolute bounds only.
    """
    if arrival_ms is None or arrival_ms < 0 or item.published_at_ms <= arrival_ms + max_ahead_ms:
        return None
    ahead_s = (item.published_at_ms - arrival_ms) // 1000
    return Rejected(
        reason="future_timestamp",
        detail=f"published_at is {ahead_s} s after the record arrived (max {max_ahead_ms // 1000})",
        raw=b"",
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
