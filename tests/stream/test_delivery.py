"""`Delivery` on its own, with an app double: holes are read from Kafka and processed first,
foreign and already-done records are skipped, the producer is flushed before offsets are
committed, and an idle agent's pending tail is read directly (the real broker path is
tests/integration/test_delivery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP as FaustTP

from pipeline.config import Settings
from pipeline.stream import delivery as delivery_mod
from pipeline.stream.delivery import Delivery
from pipeline.testing import Event, Message

TP = FaustTP("news.raw", 0)  # a NamedTuple: equal to the (topic, partition) of testing.Message


@dataclass
class FakeApp:
    ends: dict[Any, int] = field(default_factory=dict)
    calls: list[Any] = field(default_factory=list)
    rebalancing: bool = False

    def __post_init__(self) -> None:
        app = self

        class Consumer:
            async def highwaters(self, *tps: Any) -> dict[Any, int]:
                return {tp: app.ends[tp] for tp in tps if tp in app.ends}

            async def _commit(self, offsets: dict[Any, int]) -> bool:
                app.calls.append(("commit", dict(offsets)))
                return True

        class Producer:
            async def flush(self) -> None:
                app.calls.append(("flush",))

        self.consumer = Consumer()
        self.producer = Producer()


def _record(offset: int) -> Any:
    return SimpleNamespace(
        topic=TP[0], partition=TP[1], offset=offset, timestamp=0, timestamp_type=1,
        headers=[], key=None, value=b"{}",
    )  # fmt: skip


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []

    def read_range(settings: Any, topic: str, partition: int, start: int, end: int) -> list[Any]:
        seen.append((start, end))
        return [_record(o) for o in range(start, end)]

    monkeypatch.setattr(delivery_mod, "read_range", read_range)
    monkeypatch.setattr(delivery_mod, "start_offsets", lambda s, group, tps: {tp: 10 for tp in tps})
    return seen


async def _ignore(events: Sequence[Any]) -> None:
    pass


def _delivery(app: FakeApp, work: Any = _ignore) -> Delivery:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    d = Delivery(app, settings, ["news.raw"], work, idle_s=0.0)  # type: ignore[arg-type]
    d.cursor.assign({TP: 10})
    return d


def _ev(offset: int, topic: str = "news.raw") -> Event:
    return Event(Message(topic, b"{}", None, 0, offset))


def test_admit_fills_holes_first_and_skips_done_and_foreign(reads: list[tuple[int, int]]) -> None:
    d = _delivery(FakeApp())
    todo = asyncio.run(d.admit([_ev(9), _ev(10), _ev(13), _ev(14), _ev(3, "other")]))
    assert [e.message.offset for e in todo] == [10, 11, 12, 13, 14]
    assert reads == [(11, 13)]
    d.done(todo)
    assert d.cursor.next[TP] == 15


@pytest.mark.parametrize("phase", ["first_recovery", "later_recovery"])
def test_nothing_is_processed_while_the_tables_load(
    reads: list[tuple[int, int]], phase: str
) -> None:
    """A record folded while the tables still load from their changelogs was overwritten by
    the recovered state, with the cursor already past it (records lost after kill -9): until
    recovery ends, records and holes are left below the cursor, then processed as usual."""
    app = FakeApp(ends={TP: 14})
    completed = asyncio.Event()
    if phase == "later_recovery":
        completed.set()  # faust sets it once, after the first recovery
    recovery = SimpleNamespace(completed=completed, in_recovery=phase == "later_recovery")
    app.tables = SimpleNamespace(recovery=recovery)  # type: ignore[attr-defined]
    d = _delivery(app)
    assert asyncio.run(d.admit([_ev(10), _ev(13)])) == []
    assert reads == [] and d.cursor.next[TP] == 10
    assert asyncio.run(d.fill_tail(max_records=256)) == 0 and reads == []
    completed.set()
    recovery.in_recovery = False
    todo = asyncio.run(d.admit([_ev(10), _ev(13)]))
    assert [e.message.offset for e in todo] == [10, 11, 12, 13] and reads == [(11, 13)]


def test_commit_flushes_first_and_commits_only_what_moved(reads: list[tuple[int, int]]) -> None:
    app = FakeApp()
    d = _delivery(app)
    assert asyncio.run(d.commit()) is False and app.calls == []  # nothing done yet
    todo = asyncio.run(d.admit([_ev(10), _ev(11)]))
    d.done(todo)
    assert asyncio.run(d.commit()) is True
    assert app.calls == [("flush",), ("commit", {TP: 12})]
    assert asyncio.run(d.commit()) is False  # no second commit for the same offsets


def test_an_idle_agents_pending_tail_is_read_and_processed(reads: list[tuple[int, int]]) -> None:
    app = FakeApp(ends={TP: 14})
    processed: list[int] = []

    async def work(events: Sequence[Any]) -> None:
        processed.extend(e.message.offset for e in events)

    d = _delivery(app, work)
    assert asyncio.run(d.fill_tail(max_records=256)) == 4
    assert processed == [10, 11, 12, 13] and d.cursor.next[TP] == 14
    app.rebalancing = True
    app.ends[TP] = 20
    assert asyncio.run(d.fill_tail(max_records=256)) == 0  # never during a rebalance


def test_records_delivered_while_the_start_offset_is_read_wait_for_it(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[int, int]]
) -> None:
    """faust fetches as soon as a partition is assigned, before `on_assigned` has read its
    committed offset: those records wait for the start instead of being skipped (skipped, a
    whole backlog went through the slow tail read, one partition at a time)."""
    gate = __import__("threading").Event()

    def slow_start(settings: Any, group: str, tps: Any) -> dict[Any, int]:
        gate.wait(5)
        return {tp: 10 for tp in tps}

    monkeypatch.setattr(delivery_mod, "start_offsets", slow_start)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    d = Delivery(FakeApp(), settings, ["news.raw"], _ignore, idle_s=0.0)  # type: ignore[arg-type]

    async def race() -> list[int]:
        assigning = asyncio.ensure_future(d.on_assigned([TP]))
        await asyncio.sleep(0)  # the start offset is being read in the executor
        admitted = asyncio.ensure_future(d.admit([_ev(9), _ev(10), _ev(12)]))
        await asyncio.sleep(0.05)
        assert not admitted.done()  # waiting for the start, not skipping
        gate.set()
        await assigning
        return [e.message.offset for e in await admitted]

    assert asyncio.run(race()) == [10, 11, 12]  # 9 is before the start; 11 read from Kafka
    assert reads == [(11, 12)] and d.assigning == {}


def test_a_failed_start_read_lets_the_waiting_records_go_as_unassigned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If reading the start offset fails, nothing waits for ever: the records are skipped as
    for any partition without a cursor (the timer's `reconcile` assigns it again)."""

    def broken(settings: Any, group: str, tps: Any) -> dict[Any, int]:
        raise OSError("broker gone")

    monkeypatch.setattr(delivery_mod, "start_offsets", broken)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    d = Delivery(FakeApp(), settings, ["news.raw"], _ignore, idle_s=0.0)  # type: ignore[arg-type]

    async def race() -> list[Any]:
        assigning = asyncio.ensure_future(d.on_assigned([TP]))
        await asyncio.sleep(0)
        todo = await d.admit([_ev(10)])
        with pytest.raises(OSError):
            await assigning
        return todo

    assert asyncio.run(race()) == [] and not d.cursor.owns(TP) and d.assigning == {}


class FakeStream:
    """faust's `stream.noack().noack_take(n, within=...)`: the given batches, then the end."""

    def __init__(self, batches: list[list[Event]]) -> None:
        self.batches = batches

    def noack(self) -> FakeStream:
        return self

    async def noack_take(self, n: int, within: float) -> Any:
        for batch in self.batches:
            yield batch


def test_consume_hands_admitted_batches_to_the_work_and_moves_the_cursor(
    reads: list[tuple[int, int]],
) -> None:
    """The agent's whole body: each batch admitted (a hole read first, a duplicate dropped),
    handled, then done; a batch with nothing new never reaches the handler."""
    handled: list[list[int]] = []

    async def work(events: Sequence[Any]) -> None:
        handled.append([e.message.offset for e in events])

    d = _delivery(FakeApp(), work)
    stream = FakeStream([[_ev(10), _ev(12)], [_ev(12)], [_ev(13)]])
    asyncio.run(d.consume(stream))  # type: ignore[arg-type]
    assert handled == [[10, 11, 12], [13]] and reads == [(11, 12)]
    assert d.cursor.next[TP] == 14


def test_maintain_commits_then_reads_an_idle_tail_and_commits_again(
    reads: list[tuple[int, int]],
) -> None:
    app = FakeApp(ends={TP: 12})
    handled: list[int] = []

    async def work(events: Sequence[Any]) -> None:
        handled.extend(e.message.offset for e in events)

    d = _delivery(app, work)
    asyncio.run(d.maintain([TP]))
    assert handled == [10, 11] and app.calls == [("flush",), ("commit", {TP: 12})]


def test_revocation_commits_then_forgets(reads: list[tuple[int, int]]) -> None:
    app = FakeApp()
    d = _delivery(app)
    d.done(asyncio.run(d.admit([_ev(10)])))
    asyncio.run(d.on_revoked([TP]))
    assert app.calls == [("flush",), ("commit", {TP: 11})]
    assert not d.cursor.owns(TP)


def test_offsets_missing_from_kafka_do_not_stall_the_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Transaction markers or compaction leave offsets no consumer sees: a fill confirms them
    empty and the cursor steps over them instead of refusing the next record."""
    monkeypatch.setattr(
        delivery_mod,
        "read_range",
        lambda s, topic, part, start, end: [_record(o) for o in range(start, end) if o % 2 == 0],
    )
    d = _delivery(FakeApp())
    todo = asyncio.run(d.admit([_ev(16)]))  # 10..15 never arrived; only 10, 12, 14 exist
    assert [e.message.offset for e in todo] == [10, 12, 14, 16]
    d.done(todo)
    assert d.cursor.next[TP] == 17
