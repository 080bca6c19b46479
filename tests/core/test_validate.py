import json

import pytest

from pipeline.core.records import Item, Rejected
from pipeline.core.validate import REASONS, item_to_dict, parse_item, parse_timestamp_ms
from pipeline.dev.sample import malformed


def _raw(**fields: object) -> bytes:
    return json.dumps(fields).encode()


GOOD = {
    "id": "a1",
    "source": "newswire",
    "published_at": "2024-05-01T12:00:00Z",
    "text": "Apple beats estimates",
}


def test_valid_record_parses_and_keeps_unknown_fields() -> None:
    item = parse_item(_raw(**GOOD, tickers=["$aapl"], vendor_score=0.3))
    assert isinstance(item, Item)
    assert item.published_at_ms == 1714564800000
    assert item.provider_tickers == ("AAPL",)
    assert item.extra == {"vendor_score": 0.3}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (_raw(text="x", published_at=1714564800000), "missing_field"),
        (_raw(id="a", published_at=1714564800000), "missing_field"),
        (_raw(id="a", text="x"), "missing_field"),
        (_raw(id="a", text="x", published_at=None), "missing_field"),
        (_raw(id="a", text=5, published_at=1714564800000), "wrong_type"),
        (_raw(id=True, text="x", published_at=1714564800000), "wrong_type"),
        (_raw(id="a", text="x", published_at=1714564800000, tickers=[1]), "wrong_type"),
        (_raw(id="a", text="x", published_at=1714564800000, source=""), "wrong_type"),
        (_raw(id="a", text="   \n", published_at=1714564800000), "empty_text"),
        (_raw(id="a", text="x", published_at="last tuesday"), "bad_timestamp"),
        (_raw(id="a", text="x", published_at=1714564800), "bad_timestamp"),  # seconds, not ms
        (_raw(id="a", text="x", published_at=True), "bad_timestamp"),
        (_raw(id="a", text="x" * 20_001, published_at=1714564800000), "too_large"),
    ],
)
def test_each_bad_record_kind_is_rejected_with_its_reason(raw: bytes, reason: str) -> None:
    out = parse_item(raw)
    assert isinstance(out, Rejected)
    assert out.reason == reason
    assert out.reason in REASONS
    assert out.raw == raw  # original bytes kept for the dead-letter topic
    assert out.detail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", 1714564800000),
        ("2024-05-01T14:00:00+02:00", 1714564800000),
        ("2024-05-01T12:00:00", 1714564800000),  # naive means UTC
        (1714564800123, 1714564800123),
        ("1714564800123", 1714564800123),
    ],
)
def test_timestamps(value: object, expected: int) -> None:
    assert parse_timestamp_ms(value) == expected


def test_sample_malformed_records_all_match_their_expected_reason() -> None:
    for reason, raw in malformed(20):
        out = parse_item(raw)
        assert isinstance(out, Rejected) and out.reason == reason, raw


def test_item_to_dict_round_trips() -> None:
    item = parse_item(_raw(**GOOD, url="https://x", extra_field=[1]))
    assert isinstance(item, Item)
    again = parse_item(json.dumps(item_to_dict(item)).encode())
    assert again == item


def test_iso_milliseconds_are_exact() -> None:
    """`datetime.timestamp() * 1000` truncated ~1 % of these to one millisecond early."""
    from datetime import UTC, datetime, timedelta

    from pipeline.core.validate import parse_timestamp_ms

    base = datetime(2004, 7, 19, 20, 57, 48, tzinfo=UTC)
    for ms in range(1000):
        t = base + timedelta(milliseconds=ms)
        expected = 1090270668000 + ms
        assert parse_timestamp_ms(t.isoformat()) == expected
        assert (
            parse_timestamp_ms(t.replace(tzinfo=None).isoformat(timespec="milliseconds"))
            == expected
        )
