"""The agents' glue, isolated from Kafka: every bad record goes to its dead-letter topic with a
reason and the batch moves on; scored records fold into state copy-on-write, one table write per
ticker per batch; redeliveries are recognised by source offset. Doubles from `pipeline.testing`;
the core, metrics and symbol table are real (the broker path is tests/integration/)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline.stream.handlers import (
    DLQ_MAX_VALUE_BYTES,
    Tickers,
    handle_raw_batch,
    handle_scored_batch,
    publish_updates,
    write_changelog,
)
from pipeline.stream.runtime import Runtime
from pipeline.stream.topics import Topics
from pipeline.testing import (
    Event,
    FixedScorer,
    InMemoryTable,
    InMemoryTopic,
    Message,
    stream_runtime,
    watermark_event,
)

TS = 1_714_564_800_000


def _runtime() -> tuple[Runtime, Topics]:
    # scored records below come from one input partition, news.raw/3
    return stream_runtime(scorer=FixedScorer(poison="POISON"), sources=("news.raw/3",))  # type: ignore[no-any-return]


def _passed(event_ms: int, partition: int = 1) -> Event:
    """news.raw/3 has delivered everything up to `event_ms`."""
    return watermark_event({"news.raw/3": (event_ms, False)}, partition)


def _ev(obj: Any, topic: str = "news.raw", offset: int = 0, ts_ms: int | None = TS) -> Event:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return Event(Message(topic, raw, b"k", 0, offset, ts_ms / 1000 if ts_ms else None))


def _commit(rt: Runtime, topics: Topics, table: InMemoryTable) -> None:
    """What the aggregation's Delivery does before it commits offsets (its `before_commit`):
    the open windows' newest updates, then the changed states' changelog writes."""
    asyncio.run(publish_updates(rt, topics))
    write_changelog(rt, table)  # type: ignore[arg-type]


def _reasons(topic: InMemoryTopic) -> list[bytes]:
    return [d["headers"]["finsent-reason"] for d in topic.sent]


def test_bad_records_dead_lettered_with_reason_and_poison_isolated() -> None:
    rt, topics = _runtime()
    events = [
        _ev({"id": "1", "text": "$AAPL slumps", "published_at": TS}),
        _ev(b"{broken", offset=1),
        _ev({"id": "2", "text": "$MSFT POISON headline", "published_at": TS}, "social.raw"),
        _ev({"id": "3", "text": "Weather is nice", "published_at": TS}, offset=2),
    ]
    asyncio.run(handle_raw_batch(rt, topics, events))
    dlq_news, dlq_social = topics.dlq_topics["news.raw"], topics.dlq_topics["social.raw"]
    assert _reasons(dlq_news) == [b"not_json"]
    assert dlq_news.sent[0]["value"] == b"{broken"
    assert dlq_news.sent[0]["headers"]["finsent-source"] == b"news.raw/0/1"
    assert _reasons(dlq_social) == [b"processing_error"]
    scored = [json.loads(m["value"]) for m in topics.scored_topic.sent]  # type: ignore[attr-defined]
    assert [(r["id"], r["ticker"]) for r in scored] == [("1", "AAPL")]  # batch survived
    assert scored[0]["origin"] == ["news.raw", 0, 0] and len(scored[0]["fp"]) == 2
    reg = rt.metrics.registry
    assert reg.get_sample_value("finsent_dead_letters_total", {"reason": "processing_error"}) == 1
    assert reg.get_sample_value("finsent_items_unlinked_total") == 1


NASTY: list[tuple[bytes, str]] = [
    (b"[" * 1000 + b"]" * 1000, "not_json"),
    (
        b'{"id": "x", "text": "$AAPL up", "published_at": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "not_json",
    ),
    (b'{"id": "x", "text": "$AAPL up", "published_at": Infinity}', "not_json"),
    (b'{"id": "x", "text": "$AAPL up", "published_at": NaN}', "not_json"),
    (b'{"id": "x", "text": "$AAPL up", "published_at": 1e400}', "bad_timestamp"),
    (b'{"id": "\\ud800", "text": "$AAPL up", "published_at": 1714564800000}', "bad_unicode"),
    (
        b'{"id": "x", "source": "\xed\xa0\x80", "text": "$AAPL up", "published_at": 1714564800000}',
        "bad_unicode",
    ),
    (
        b'{"id": "x", "text": "$AAPL up", "published_at": 1714564800000, "n": '
        + b"9" * 5000
        + b"}",
        "not_json",
    ),
    (b'{"id": "x", "text": "$AAPL up", "published_at": "9999-12-31T00:00:00"}', "bad_timestamp"),
    (b'{"id": "x", "text": "$AAPL up", "published_at": 253402214400000}', "bad_timestamp"),
    (b'{"id": 1e5, "text": "$AAPL up", "published_at": 1714564800000}', "wrong_type"),
    (b'{"id": "x", "text": {"a": 1}, "published_at": 1714564800000}', "wrong_type"),
    (b'{"id": "x", "text": "$AAPL up", "published_at": true}', "bad_timestamp"),
]


def test_every_poison_record_is_dead_lettered_and_the_good_one_still_scored() -> None:
    rt, topics = _runtime()
    events = [_ev(raw, offset=i) for i, (raw, _reason) in enumerate(NASTY)]
    events.append(_ev({"id": "good", "text": "$AAPL beats", "published_at": TS}, offset=99))
    asyncio.run(handle_raw_batch(rt, topics, events))
    assert _reasons(topics.dlq_topics["news.raw"]) == [r.encode() for _, r in NASTY]
    assert [json.loads(m["value"])["id"] for m in topics.scored_topic.sent] == ["good"]  # type: ignore[attr-defined]


def test_a_record_too_large_for_its_dlq_is_truncated_with_a_pointer() -> None:
    rt, topics = _runtime()
    big = b'{"id": "x", "text": "' + b"a" * 1_046_000 + b'", "published_at": 1714564800000}'
    asyncio.run(handle_raw_batch(rt, topics, [_ev(big, offset=7)]))
    (dead,) = topics.dlq_topics["news.raw"].sent
    assert dead["headers"]["finsent-reason"] == b"too_large"
    assert len(dead["value"]) == DLQ_MAX_VALUE_BYTES and big.startswith(dead["value"])
    assert dead["headers"]["finsent-truncated-from-bytes"] == str(len(big)).encode()
    assert dead["headers"]["finsent-source"] == b"news.raw/0/7"


def test_future_dated_and_spam_items_are_rejected_with_a_reason() -> None:
    rt, topics = _runtime()
    day = 86_400_000
    cashtags = " ".join(
        f"${t}"
        for t in [
            "AAPL",
            "MSFT",
            "NVDA",
            "AMZN",
            "META",
            "TSLA",
            "JPM",
            "XOM",
            "WMT",
            "KO",
            "PEP",
            "BA",
        ]
    )
    events = [
        _ev({"id": "f", "text": "$AAPL soars", "published_at": TS + 2 * day}),
        _ev({"id": "s", "text": f"Top movers {cashtags}", "published_at": TS}, offset=1),
        _ev({"id": "ok", "text": "$AAPL soars", "published_at": TS + 3_600_000}, offset=2),
        _ev({"id": "old", "text": "$AAPL soars", "published_at": TS - 900 * day}, offset=3),
    ]
    asyncio.run(handle_raw_batch(rt, topics, events))
    assert _reasons(topics.dlq_topics["news.raw"]) == [b"future_timestamp", b"too_many_tickers"]
    ids = [json.loads(m["value"])["id"] for m in topics.scored_topic.sent]  # type: ignore[attr-defined]
    assert ids == ["ok", "old"]  # an hour ahead is clock skew, old is a replay: both fine


def _scored(
    item_id: str, offset: int, label: str = "negative", ticker: str = "AAPL", text: str = ""
) -> Event:
    rec = {
        "id": item_id,
        "source": "wire",
        "ticker": ticker,
        "relevance": 1.0,
        "label": label,
        "score": -0.6,
        "confidence": 0.7,
        "published_at_ms": TS + offset * 1000,
        "model_version": "m",
        "text": text or f"Story number {item_id} about Apple {'x' * offset}",
        "origin": ["news.raw", 3, offset],
    }
    return Event(Message("sentiment.scored", json.dumps(rec).encode(), ticker.encode(), 1, offset))


def test_each_key_is_written_and_each_window_updated_once_per_commit() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    events = [_scored(str(i), i) for i in range(5)] + [_scored("m", 5, ticker="MSFT")]
    asyncio.run(handle_scored_batch(rt, topics, table, [*events[:3], _passed(TS + 2500)]))
    asyncio.run(handle_scored_batch(rt, topics, table, [*events[3:], _passed(TS + 6000)]))
    assert table.data["AAPL"]["totals"]["items"] == 5  # the local store is current at once
    assert table.changelog == [] and topics.aggregates_topic.sent == []  # type: ignore[attr-defined]
    assert rt.metrics.registry.get_sample_value("finsent_unpublished_updates") == 8
    _commit(rt, topics, table)  # two batches, one write per key, one update per window
    written = sorted(k for _p, k, _v in table.changelog)
    assert [k for k in written if "/text/" not in k] == ["AAPL", "MSFT", "__watermarks__/1"]
    assert len(written) == len(set(written))  # one write each, evidence texts included
    assert {p for p, _k, _v in table.changelog} == {1}  # the scored partition, explicitly
    windows = [json.loads(m["value"]) for m in topics.aggregates_topic.sent]  # type: ignore[attr-defined]
    aapl = [w for w in windows if w["ticker"] == "AAPL"]
    assert sorted(w["window"] for w in aapl) == ["1d", "1h", "1m", "5m"]  # latest only
    assert all(w["count"] == 5 for w in aapl)


def test_redelivery_by_source_offset_is_never_new_nor_late_whatever_the_burst() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    burst = [_scored(str(i), i) for i in range(600)]  # more than the novelty chain holds
    asyncio.run(handle_scored_batch(rt, topics, table, [*burst, _passed(TS + 600_000)]))
    asyncio.run(handle_scored_batch(rt, topics, table, burst))  # redelivered after a crash
    totals = table.data["AAPL"]["totals"]
    assert totals["items"] == 600 and totals["redelivered"] == 600 and totals["late"] == 0
    reg = rt.metrics.registry
    assert reg.get_sample_value("finsent_mentions_total", {"verdict": "redelivery"}) == 600


def test_unreadable_scored_record_goes_to_its_dlq_and_state_is_untouched() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _passed(TS + 1001)]))
    old = table.data["AAPL"]
    before = json.dumps(old, sort_keys=True)
    unreadable = Event(Message("sentiment.scored", b"{nope", b"AAPL"))
    bad = [_scored("2", 2, label="bullish"), _scored("3", 3), unreadable, _passed(TS + 3001)]
    asyncio.run(handle_scored_batch(rt, topics, table, bad))
    dlq = topics.dlq_topics["sentiment.scored"]
    assert _reasons(dlq) == [b"unreadable_scored", b"unreadable_scored"]
    assert table.data["AAPL"]["totals"]["items"] == 2  # the good one after the bad one counted
    assert json.dumps(old, sort_keys=True) == before  # copy-on-write: the old object unchanged


def test_cancelled_agent_finishes_its_batch_before_stopping() -> None:
    from pipeline.stream.agents import finish_even_if_stopped

    done: list[str] = []

    async def batch() -> None:
        await asyncio.sleep(0.05)
        done.append("batch")

    async def agent() -> None:
        await finish_even_if_stopped(batch())

    async def main() -> None:
        task = asyncio.ensure_future(agent())
        await asyncio.sleep(0.01)
        task.cancel()  # what faust does to agents on SIGTERM
        try:
            await task
        except asyncio.CancelledError:
            done.append("cancelled")

    asyncio.run(main())
    assert done == ["batch", "cancelled"]


def test_records_wait_for_the_watermark_and_a_report_alone_releases_them() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _scored("2", 2)]))
    assert table.data["AAPL"]["totals"]["items"] == 0 and table.data["AAPL"]["pending_count"] == 2
    assert len(Tickers(table, {}, {}).get("AAPL")["pending"]) == 2  # type: ignore[index]
    assert rt.metrics.registry.get_sample_value("finsent_pending_records") == 2
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 1500)]))  # a batch of one
    assert table.data["AAPL"]["totals"]["items"] == 1  # only what the watermark passed
    _commit(rt, topics, table)
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 2 * 3_600_000)]))
    _commit(rt, topics, table)
    state = table.data["AAPL"]
    assert state["totals"]["items"] == 2 and state["pending_count"] == 0
    assert not [k for k in table.data if "/pending/" in k]  # emptied chunks deleted
    chunks = [(k, v) for _p, k, v in table.changelog if "/pending/" in k]
    written = {k for k, v in chunks if v is not None}
    assert written and written == {k for k, v in chunks if v is None}  # each one's tombstone
    finals = [json.loads(m["value"]) for m in topics.aggregates_topic.sent]  # type: ignore[attr-defined]
    closed = sorted(w["window"] for w in finals if w["final"])
    assert closed == ["1h", "1m", "5m"]  # no record for AAPL since: time alone closed them
    assert rt.metrics.registry.get_sample_value("finsent_pending_records") == 0
    wm = rt.metrics.registry.get_sample_value(
        "finsent_watermark_timestamp_seconds", {"partition": "1"}
    )
    assert wm == (TS + 2 * 3_600_000) / 1000


def test_watermark_records_are_never_counted_nor_dead_lettered() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS), _passed(TS + 1)]))
    _commit(rt, topics, table)
    assert topics.dlq_topics["sentiment.scored"].sent == []
    assert rt.metrics.registry.get_sample_value("finsent_mentions_total", {"verdict": "new"}) in (
        None,
        0,
    )
    assert [k for _p, k, _v in table.changelog] == ["__watermarks__/1"]


def test_states_recovered_from_the_changelog_are_released_by_the_watermark() -> None:
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _scored("2", 2)]))
    recovered = InMemoryTable(data=json.loads(json.dumps(table.data)))  # a restarted worker
    rt2, topics2 = _runtime()
    asyncio.run(handle_scored_batch(rt2, topics2, recovered, [_passed(TS + 10_000)]))
    state = recovered.data["AAPL"]
    assert state["totals"]["items"] == 2 and state["pending_count"] == 0


def test_a_long_backlog_of_waiting_records_is_stored_in_bounded_chunks() -> None:
    from pipeline.stream.handlers import CHUNK_BYTES

    rt, topics = _runtime()
    table = InMemoryTable()
    # far more than one message holds
    burst = [_scored(str(i), i, text=f"Story {i} about Apple " + "y" * 250) for i in range(3000)]
    for k in range(0, 3000, 500):
        asyncio.run(handle_scored_batch(rt, topics, table, burst[k : k + 500]))
        _commit(rt, topics, table)
    sizes = [len(json.dumps(v)) for _p, _k, v in table.changelog if v is not None]
    assert max(sizes) < CHUNK_BYTES + 50_000  # every changelog message stays small
    assert table.data["AAPL"]["pending_chunks"] > 3
    assert len(Tickers(table, {}, {}).get("AAPL")["pending"]) == 3000  # type: ignore[index]
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 4_000_000)]))
    assert (
        table.data["AAPL"]["totals"]["items"] == 3000 and table.data["AAPL"]["pending_chunks"] == 0
    )


def test_a_closing_window_is_sent_at_once_and_drops_its_pending_update() -> None:
    """Final windows never wait for the update interval, and no stale update of a window can
    follow its final value on the topic."""
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _passed(TS + 1500)]))
    assert topics.aggregates_topic.sent == []  # type: ignore[attr-defined]  # open: waiting
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 2 * 3_600_000)]))
    sent = [json.loads(m["value"]) for m in topics.aggregates_topic.sent]  # type: ignore[attr-defined]
    assert sorted(w["window"] for w in sent) == ["1h", "1m", "5m"] and all(w["final"] for w in sent)
    _commit(rt, topics, table)
    after = [json.loads(m["value"]) for m in topics.aggregates_topic.sent]  # type: ignore[attr-defined]
    assert [w["window"] for w in after[len(sent) :]] == ["1d"]  # only the still-open day


def test_revoked_partitions_leave_nothing_to_write() -> None:
    """Kept only when a commit failed: the partition's new owner replays from the last commit
    onto the changelog as it was, so no late write of ours may land after its own."""
    from pipeline.stream.runtime import Unpublished

    u = Unpublished()
    u.changelog = {"AAPL": (1, {"v": 2}), "MSFT": (2, {"v": 2})}
    u.updates = {("AAPL", "1h", 0): (1, b"{}"), ("MSFT", "1h", 0): (2, b"{}")}
    u.forget([1])
    assert list(u.changelog) == ["MSFT"] and list(u.updates) == [("MSFT", "1h", 0)]


def test_releasing_the_oldest_waiting_records_rewrites_only_the_chunks_they_left() -> None:
    """Sticky chunk boundaries: a hot ticker behind the watermark keeps a long backlog; when the
    watermark passes its oldest records, the chunks holding newer ones are not written again."""
    from pipeline.stream.handlers import CHUNK_BYTES

    rt, topics = _runtime()
    table = InMemoryTable()
    burst = [_scored(str(i), i, text=f"Story {i} about Apple " + "y" * 250) for i in range(3000)]
    asyncio.run(handle_scored_batch(rt, topics, table, burst))
    _commit(rt, topics, table)
    chunks = table.data["AAPL"]["pending_chunk_ids"]
    assert len(chunks) > 3
    table.changelog.clear()
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 100 * 1000)]))  # 100 go
    _commit(rt, topics, table)
    written = [(k, v) for _p, k, v in table.changelog if "/pending/" in k]
    new_ids = table.data["AAPL"]["pending_chunk_ids"]
    replaced = f"AAPL/pending/{new_ids[0]}"  # the first chunk lost 100: written anew, once
    assert new_ids[0] not in chunks and new_ids[1:] == chunks[1:]  # the rest stay as they were
    assert [k for k, v in written if v is not None] == [replaced]
    assert [k for k, v in written if v is None] == [f"AAPL/pending/{chunks[0]}"]
    order = [k for _p, k, _v in table.changelog]  # new chunk, main state, then the tombstone
    assert order.index(replaced) < order.index("AAPL") < order.index(f"AAPL/pending/{chunks[0]}")
    assert table.data["AAPL"]["pending_count"] == 2900
    assert sum(len(json.dumps(v)) for _p, _k, v in table.changelog) < CHUNK_BYTES + 50_000


def test_chunks_are_immutable_and_ids_never_reused() -> None:
    """The main state is the commit point: every chunk id it names keeps its content forever,
    so a crash between the writes of one commit leaves a consistent old or new state."""
    from pipeline.stream.handlers import MAX_CHUNKS, sticky_chunks

    recs = [{"id": str(i), "bytes": 100} for i in range(10)]
    chunks, nxt = sticky_chunks([], recs[:4], 250, 0)
    assert [i for i, _r in chunks] == [0, 1] and nxt == 2
    again, nxt2 = sticky_chunks(chunks, recs[:4] + recs[4:5], 250, nxt)
    assert again[:2] == chunks and again[2] == (2, [recs[4]]) and nxt2 == 3  # only new ones
    released, nxt3 = sticky_chunks(again, recs[1:5], 250, nxt2)
    assert [i for i, _r in released] == [3, 1, 2] and nxt3 == 4  # the changed one: a new id
    empty, nxt4 = sticky_chunks(released, [], 250, nxt3)
    assert empty == [] and nxt4 == 4  # a later record gets id 4, never 0 again
    many = [(k, [{"id": f"t{k}", "bytes": 1}]) for k in range(MAX_CHUNKS + 1)]
    packed, _ = sticky_chunks(many, [r for _k, rs in many for r in rs], 1000, MAX_CHUNKS + 1)
    assert len(packed) == 1 and packed[0][0] == MAX_CHUNKS + 1  # a trickle's chunks packed once


def test_a_chunk_made_and_emptied_between_two_commits_never_reaches_the_changelog() -> None:
    """Records that wait less than a commit interval cost no chunk write and no tombstone
    (chunk ids are never reused, so a buffered chunk value was never written before)."""
    rt, topics = _runtime()
    table = InMemoryTable()
    asyncio.run(handle_scored_batch(rt, topics, table, [_scored("1", 1), _scored("2", 2)]))
    asyncio.run(handle_scored_batch(rt, topics, table, [_passed(TS + 10_000)]))
    _commit(rt, topics, table)
    written = sorted(k for _p, k, _v in table.changelog if "/text/" not in k)
    assert written == ["AAPL", "__watermarks__/1"]
    assert table.data["AAPL"]["totals"]["items"] == 2 and table.data["AAPL"]["pending_count"] == 0
