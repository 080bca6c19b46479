"""`finsent bench --stream`: which window update first counts a latency probe."""

from __future__ import annotations

from pathlib import Path

from pipeline.dev.bench_stream import aggregate_latency

MIN = 60_000


def test_a_probe_is_timed_to_the_first_update_that_counts_it() -> None:
    # window [0, 1m) of MSFT: 2 pre-loaded records, then probes a (t=10s) and b (t=20s)
    probes = [(20_000, "lat-b", "MSFT", 20_100), (10_000, "lat-a", "MSFT", 10_050)]
    others = {("MSFT", 5_000): 2, ("MSFT", MIN + 1): 7}  # the second is in the next window
    updates = {("MSFT", 0): [(2, 9_000), (3, 10_500), (4, 21_000)]}
    assert aggregate_latency(probes, others, updates, MIN) == [450, 900]


def test_an_update_that_counts_two_probes_at_once_times_both_and_uncounted_are_left_out() -> None:
    probes = [
        (1_000, "lat-a", "X", 1_000),
        (2_000, "lat-b", "X", 2_000),
        (3_000, "lat-c", "X", 3_000),
    ]
    updates = {("X", 0): [(2, 2_500)]}  # one commit published both; c never counted
    assert aggregate_latency(probes, {}, updates, MIN) == [1_500, 500]


def test_overlap_says_when_aggregation_began_and_how_long_it_ran_alone() -> None:
    from pipeline.dev.bench_stream import overlap

    # (seconds, input consumed, mentions aggregated): aggregation starts at 250 of 1000 and
    # the input is all read at 8 s of a 10 s drain
    timeline = [(0.0, 0, 0), (2.0, 250, 0), (4.0, 500, 120), (8.0, 1000, 900), (10.0, 1000, 1300)]
    got = overlap(timeline)
    assert got["input_share_at_first_aggregate"] == 0.5
    assert got["aggregation_only_tail_share"] == 0.2
    # the stages in series: nothing aggregated until the input was all read
    serial = overlap([(0.0, 0, 0), (5.0, 1000, 0), (10.0, 1000, 1300)])
    assert serial == {"input_share_at_first_aggregate": 1.0, "aggregation_only_tail_share": 0.5}
    assert overlap([])["input_share_at_first_aggregate"] is None


def test_the_drain_is_drawn_as_a_png(tmp_path: Path) -> None:
    from pipeline.dev.bench_stream import plot_drain

    out = plot_drain({"a run": [(0.0, 0, 0), (1.0, 10, 4), (2.0, 10, 13)]}, tmp_path / "d.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000
