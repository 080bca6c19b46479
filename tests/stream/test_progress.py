"""The scoring stage's progress reports (pipeline/stream/watermarks.py), on a fake clock: what a
partition reports, when it is idle, and when a report is sent."""

from __future__ import annotations

from pipeline.stream.watermarks import ProgressReporter, decode, encode, is_watermark


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_the_largest_event_time_delivered_and_idle_needs_quiet_and_caught_up() -> None:
    clock = Clock()
    p = ProgressReporter(idle_timeout_s=30, clock=clock)
    owned = ["news.raw/0", "news.raw/1"]
    # just assigned: busy, progress unknown (a stale idle flag of the last owner is overridden)
    assert p.report(owned, caught_up=[]) == {
        "news.raw/0": (None, False),
        "news.raw/1": (None, False),
    }
    p.delivered("news.raw/0", 2_000)
    p.delivered("news.raw/0", 1_000)  # out of order in its partition: progress stays
    assert p.report(owned, caught_up=owned)["news.raw/0"] == (2_000, False)
    clock.now += 31
    assert p.report(owned, caught_up=["news.raw/1"]) == {
        "news.raw/0": (2_000, False),  # quiet but not caught up: a backlog is not idle
        "news.raw/1": (None, True),
    }
    assert p.report(owned, caught_up=owned)["news.raw/0"] == (2_000, True)
    p.delivered("news.raw/0", 3_000)  # a record: busy again
    assert p.report(owned, caught_up=owned)["news.raw/0"] == (3_000, False)


def test_an_empty_log_waits_the_timeout_and_reports_are_sent_when_they_change() -> None:
    """An empty log idle at once let the partitions written first run time ahead of one written
    a moment later (its first records were late): it waits the timeout like any other."""
    clock = Clock()
    p = ProgressReporter(idle_timeout_s=30, clock=clock)
    owned = ["social.raw/0", "social.raw/1"]
    assert p.quiet(owned) == owned  # never delivered: their log ends are looked at
    reports = p.report(owned, caught_up=owned)
    assert reports == {"social.raw/0": (None, False), "social.raw/1": (None, False)}
    clock.now += 29
    assert p.report(owned, caught_up=owned) == reports
    clock.now += 1
    reports = p.report(owned, caught_up=["social.raw/1"])
    # /0 has records to read: a backlog is busy however long it waits
    assert reports == {"social.raw/0": (None, False), "social.raw/1": (None, True)}
    assert p.due(reports)
    p.sent(reports)
    assert not p.due(reports)
    clock.now += 60
    assert not p.due(reports)  # nothing new: an idle pipeline writes nothing
    assert p.due({**reports, "social.raw/0": (7, False)})
    p.forget(["social.raw/1"])
    assert p.report(["social.raw/1"], caught_up=[]) == {"social.raw/1": (None, False)}


def test_a_report_round_trips_and_is_told_apart_from_a_scored_record() -> None:
    import json

    reports = {"news.raw/0": (5, False), "news.raw/1": (None, True)}
    value = json.loads(encode(reports))
    assert is_watermark(value) and decode(value) == reports
    assert not is_watermark({"id": "1", "ticker": "AAPL"})


def test_what_a_commit_must_report_first_is_the_progress_not_yet_sent() -> None:
    clock = Clock()
    p = ProgressReporter(idle_timeout_s=30, clock=clock)
    owned = ["news.raw/0", "news.raw/1"]
    assert p.unreported(owned) == {}
    p.delivered("news.raw/0", 10)
    assert p.unreported(owned) == {"news.raw/0": (10, False)}
    p.sent(p.unreported(owned))
    assert p.unreported(owned) == {}
    p.delivered("news.raw/0", 20)
    assert p.unreported(owned) == {"news.raw/0": (20, False)}
