"""Evidence texts stored beside a ticker's state (pipeline/stream/stored_state.py): each text
is written to the changelog once, deleted when no window shows it, and reading puts it back, so
a recovered worker folds, alerts and answers with the same texts."""

from __future__ import annotations

import asyncio
import json

from pipeline.stream import stored_state
from pipeline.stream.handlers import Tickers, handle_scored_batch
from pipeline.testing import InMemoryTable
from tests.stream.test_handlers import TS, _commit, _passed, _runtime, _scored


def _texts_in(state: dict) -> list[str | None]:
    return [row[5] for accs in state["windows"].values() for a in accs.values() for row in a["top"]]


def test_split_and_join_give_the_state_back_and_a_conflicting_text_stays_inline() -> None:
    row = [0.4, "a", "wire", -0.6, 0.7, "Apple cuts its outlook"]
    clash = [0.1, "a", "wire", -0.2, 0.5, "another text under the same id"]
    state = {"ticker": "AAPL", "windows": {"1m": {"0": {"top": [row]}, "60000": {"top": [clash]}},
                                           "1h": {"0": {"top": [row]}}}}  # fmt: skip
    stored, texts = stored_state.split(state)
    assert texts == {"a": "Apple cuts its outlook"}  # one text for the two rows of item a
    assert _texts_in(stored) == [None, "another text under the same id", None]
    assert stored_state.join(stored, texts.get) == state
    assert stored_state.read({}, "AAPL", state) == state  # an old value: texts inline


def test_each_text_is_written_once_and_deleted_when_no_window_shows_it() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _passed(TS + 2_000)]))
    _commit(rt, topics, table)
    first = [k for _p, k, _v in table.changelog]
    assert "AAPL/text/1" in first
    assert table.data["AAPL"]["text_ids"] == ["1"] and set(_texts_in(table.data["AAPL"])) == {None}
    del table.changelog[:]
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("2", 2), _passed(TS + 3_000)]))
    _commit(rt, topics, table)
    written = {k for _p, k, v in table.changelog if v is not None}
    assert "AAPL/text/2" in written and "AAPL/text/1" not in written  # the old text stays put
    stored_texts = table.data["AAPL/text/1"]["text"], table.data["AAPL/text/2"]["text"]
    assert all(t.startswith("Story number") for t in stored_texts)
    del table.changelog[:]
    # two days later every window of both items has closed: nothing shows their texts
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 2 * 86_400_000)]))
    _commit(rt, topics, table)
    deleted = {k for _p, k, v in table.changelog if v is None}
    assert {"AAPL/text/1", "AAPL/text/2"} <= deleted
    assert not [k for k in table.data if "/text/" in k] and table.data["AAPL"]["text_ids"] == []


def test_a_recovered_worker_reads_the_same_state_with_its_texts() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    events = [_scored(str(i), i) for i in range(4)]
    asyncio.run(handle_scored_batch(rt, topics, table, [*events, _passed(TS + 10_000)]))
    _commit(rt, topics, table)
    here = Tickers(table, {}, {}).get("AAPL")
    recovered = InMemoryTable(data=json.loads(json.dumps(table.data)))  # a restarted worker
    back = Tickers(recovered, {}, {}).get("AAPL")
    assert back == here and back is not None
    assert all(t and t.startswith("Story number") for t in _texts_in(back))
    # and the stored value is smaller than the state it stands for
    assert len(json.dumps(table.data["AAPL"])) < len(json.dumps(back))


def test_the_novelty_chain_packs_and_unpacks_exactly() -> None:
    import random

    rng = random.Random(7)
    entries = [
        [f"item-{i}", rng.getrandbits(64), rng.getrandbits(64), rng.randrange(0, 2**41)]
        for i in range(256)
    ]
    state = {"ticker": "AAPL", "novelty": {"entries": entries}, "windows": {}}
    packed = stored_state.pack_novelty(state)
    assert "entries" not in packed["novelty"]
    assert stored_state.unpack_novelty(packed) == state
    assert len(json.dumps(packed)) < 0.75 * len(json.dumps(state))
    # numbers past 64 bits (never made by the core) are stored as they are, not lost
    odd = {"novelty": {"entries": [["x", 2**64, 1, 2]]}}
    assert stored_state.pack_novelty(odd) == odd and stored_state.unpack_novelty(odd) == odd


def test_the_stage_stores_the_chain_packed_and_reads_it_back() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    events = [_scored(str(i), i) for i in range(3)]
    asyncio.run(handle_scored_batch(rt, topics, table, [*events, _passed(TS + 10_000)]))
    assert "packed" in table.data["AAPL"]["novelty"]
    chain = Tickers(table, {}, {}).get("AAPL")["novelty"]["entries"]  # type: ignore[index]
    assert [e[0] for e in chain] == ["0", "1", "2"] and all(isinstance(e[1], int) for e in chain)
