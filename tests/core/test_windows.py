import pytest

from pipeline.core.windows import (
    is_closed,
    is_late,
    parse_duration_ms,
    window_end_ms,
    window_start_ms,
)


@pytest.mark.parametrize(
    ("ts", "size", "start"),
    [
        (0, 60_000, 0),
        (59_999, 60_000, 0),
        (60_000, 60_000, 60_000),
        (1714564812345, 3_600_000, 1714564800000),
    ],
)
def test_window_start(ts: int, size: int, start: int) -> None:
    assert window_start_ms(ts, size) == start
    assert window_end_ms(ts, size) == start + size


@pytest.mark.parametrize(
    ("event", "watermark", "grace", "late"),
    [
        (100, None, 0, False),
        (100, 100, 0, False),
        (99, 100, 0, True),
        (50, 100, 50, False),
        (49, 100, 50, True),
    ],
)
def test_is_late(event: int, watermark: int | None, grace: int, late: bool) -> None:
    assert is_late(event, watermark, grace) is late


def test_a_record_that_is_not_late_never_falls_in_a_closed_window() -> None:
    size, grace = 60_000, 10_000
    for wm in range(0, 300_000, 7_000):
        for ev in range(max(0, wm - 20_000), wm + 1, 1_000):
            if not is_late(ev, wm, grace):
                assert not is_closed(window_start_ms(ev, size), size, wm, grace)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("90s", 90_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        ("1500", 1500),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_duration_ms("soon")
