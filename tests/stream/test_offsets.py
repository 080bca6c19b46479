"""PartitionCursor: in-order delivery, duplicates within an assignment, holes, and what may be
committed (only the contiguous prefix that was done)."""

from __future__ import annotations

from pipeline.stream.offsets import Admission, PartitionCursor

TP = ("scored", 0)


def run(cursor: PartitionCursor, offsets: list[int]) -> list[Admission]:
    """Feed offsets as the stream delivers them; mark handled ones done, like the agents."""
    out = []
    for offset in offsets:
        admission = cursor.admission(TP, offset)
        if admission is Admission.HOLE:  # the agent reads the missing records first
            for missing in range(cursor.next[TP], offset):
                cursor.done(TP, missing)
        if admission is not Admission.SEEN:
            cursor.done(TP, offset)
        out.append(admission)
    return out


def test_in_order_delivery_processes_everything() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 30})
    assert run(cursor, [30, 31, 32]) == [Admission.PROCESS] * 3
    assert cursor.next[TP] == 33


def test_a_record_that_never_arrived_is_reported_as_a_hole() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 30})
    assert run(cursor, [31, 32]) == [Admission.HOLE, Admission.PROCESS]
    assert cursor.next[TP] == 33


def test_the_first_record_after_assignment_is_checked_against_the_position() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 0})
    assert run(cursor, [0, 1, 3]) == [Admission.PROCESS, Admission.PROCESS, Admission.HOLE]


def test_records_delivered_twice_are_seen_not_processed_again() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 10})
    assert run(cursor, [10, 11, 10, 11, 12]) == [
        Admission.PROCESS, Admission.PROCESS, Admission.SEEN, Admission.SEEN, Admission.PROCESS,
    ]  # fmt: skip


def test_unknown_partition_is_skipped_and_forget_drops_state() -> None:
    cursor = PartitionCursor()
    assert cursor.admission(TP, 99) is Admission.UNASSIGNED  # never processed, never committed
    cursor.assign({TP: 5})
    cursor.forget([TP])
    assert cursor.admission(TP, 99) is Admission.UNASSIGNED and TP not in cursor.next


def test_done_past_the_cursor_is_refused() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 5})
    try:
        cursor.done(TP, 7)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a gap was accepted")
    assert cursor.next[TP] == 5 and cursor.to_commit() == {}


def test_commit_covers_exactly_what_was_done_and_moves_once() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 10, ("news", 1): 0})
    run(cursor, [10, 11, 12])
    assert cursor.to_commit() == {TP: 13}  # the untouched partition has nothing to commit
    cursor.mark_committed({TP: 13})
    assert cursor.to_commit() == {}
    assert cursor.lag({TP: 20, ("news", 1): 4}) == {TP: 7, ("news", 1): 4}


def test_behind_lists_records_past_the_cursor_for_the_tail_filler() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 10, ("news", 1): 3})
    assert cursor.behind({TP: 10, ("news", 1): 9}) == {("news", 1): (3, 9)}


def test_offsets_kafka_confirmed_empty_are_stepped_over_and_nothing_else() -> None:
    cursor = PartitionCursor()
    cursor.assign({TP: 10})
    cursor.mark_absent(TP, 12, 14)  # e.g. transaction markers found while reading a hole
    cursor.done(TP, 10)
    cursor.done(TP, 11)
    assert cursor.next[TP] == 14  # 12 and 13 hold no record
    cursor.done(TP, 14)
    try:
        cursor.done(TP, 16)  # 15 was never confirmed empty
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a gap was accepted")
    cursor.mark_absent(TP, 15, 16)
    assert cursor.next[TP] == 16 and cursor.to_commit() == {TP: 16}
