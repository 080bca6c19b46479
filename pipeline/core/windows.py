"""Event-time window math: pure functions of timestamps, like `faust/windows.py`.

Windows are tumbling and aligned to the epoch (UTC). The *watermark* is how far event time has
got: in the stream, the minimum progress over all input partitions (`core/watermarks.py`); for a
single sorted source (the backtest), the latest event time folded in. A record is *late* when it is
older than `watermark - grace_ms`; a window is *closed* once `window_end + grace_ms <= watermark`.
These two definitions agree: a record that is not late can only fall into a window that is not
closed, so closed windows are final.
"""

from __future__ import annotations

WINDOWS_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}


def window_start_ms(event_ms: int, size_ms: int) -> int:
    """Start of the tumbling window of `size_ms` that holds `event_ms` (epoch ms, UTC-aligned).

    Epoch alignment makes the key a pure function of the timestamp, so the stream and the
    backtest, any worker and any restart, put a record in the same window."""
    return event_ms - event_ms % size_ms


def window_end_ms(event_ms: int, size_ms: int) -> int:
    """Exclusive end of the window that holds `event_ms`: windows are [start, end)."""
    return window_start_ms(event_ms, size_ms) + size_ms


def is_late(event_ms: int, watermark_ms: int | None, grace_ms: int) -> bool:
    """Is a record at `event_ms` too old to count: before `watermark_ms - grace_ms`?

    Late records are dropped from windows because their windows may already be final. A None
    watermark (nothing known yet: no input partition heard from in the stream, a ticker's first
    record in the backtest) makes nothing late. The strict `<` matches `is_closed`: a record that
    is not late never falls into a closed window."""
    return watermark_ms is not None and event_ms < watermark_ms - grace_ms


def is_closed(start_ms: int, size_ms: int, watermark_ms: int, grace_ms: int) -> bool:
    """Is the window [start_ms, start_ms + size_ms) final at `watermark_ms`?

    Closed once its end plus `grace_ms` is at or behind the watermark, not at its end: grace
    leaves room for records of a partition that is slightly out of order, and only a closed
    window's stats are published as `final` and fed to the baseline."""
    return start_ms + size_ms + grace_ms <= watermark_ms


def format_duration_ms(ms: int) -> str:
    """The shortest exact name of a duration (`60_000` -> '1m'), the inverse of
    `parse_duration_ms`: how the settings show a core default without writing it twice."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_duration_ms(text: str) -> int:
    """'90s', '5m', '1h', '1d', '250ms' or a bare number of ms -> milliseconds."""
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    s = text.strip().lower()
    for unit in ("ms", "s", "m", "h", "d"):
        if s.endswith(unit) and s[: -len(unit)].replace(".", "", 1).isdigit():
            return int(float(s[: -len(unit)]) * units[unit])
    if s.isdigit():
        return int(s)
    raise ValueError(f"not a duration: {text!r}")
