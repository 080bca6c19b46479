"""The review loop with real parts: a real worker with the shipped model on the broker picks the
items it is unsure of (and a sample) onto the review topic; `finsent review export` writes Label
Studio tasks; labels filled in as Label Studio's JSON export has them come back through
`finsent review import` as a dataset that the loader of `finsent train` reads. The JSONL and
Argilla round trips start from a review topic filled directly with review records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from models.finetune import split_data
from pipeline.cli import main
from pipeline.core import novelty, review
from pipeline.kafka_clients import read_to_end
from tests.integration.harness import Env, Worker, produce, sample_value, wait_for
from tests.review.test_formats import _annotation, _tasks, label_studio_export

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
DATA = Path(__file__).resolve().parent.parent / "review" / "data"
SAMPLE = 0.5

# StockNet tweets (MIT) the shipped model is unsure of, and headlines it is sure of; the test
# scores them itself and checks that premise before relying on it.
UNSURE = [
    "RT @KevinKingsbury: Oh boy. As if $BA needed more drama.\n\nDJ: *Boeing Suspends Earnings "
    "Call, Restarting At 1pm ET",
    "$GE $BA $UTX:\n\nAirbus Said to Near GE Lessor Order for $6.4 Billion of A320neos:\n\n"
    "http://t.co/dEL4AS26wS",
    "$BA: Boeing 747 Only Good for U.S. President as Jumbo Era Ends http://t.co/ADyOXBrWKM",
    "$BA [$$] SpaceX to Compete With Boeing-Lockheed Venture for Satellite Laun... "
    "http://t.co/QnmDd6IemA",
    "@PipsToDollars Does $BA continue to go lower?",
    "$BA Boeing says talks with India's Jet on 'right' track http://t.co/Flfi4IWcwj",
]
SURE = [
    "$BA Boeing shares jump 8% after record quarterly deliveries",
    "$AAPL Apple beats earnings estimates and raises its dividend",
    "$MSFT Microsoft shares slump after weak cloud guidance",
    "$XOM Exxon cuts jobs as oil prices tumble",
    "$KO Coca-Cola names new chief financial officer",
    "$DIS Disney parks reopen with limited capacity",
    "$TSLA deliveries tomorrow",
    "$AAPL holding into earnings, we'll see",
]
COPY = (
    "RT @another: Oh boy. As if $BA needed more drama.\n\nDJ: *Boeing Suspends Earnings Call, "
    + ("Restarting At 1pm ET")
)


def _env(kafka_bootstrap: str, tmp_path: Path, **overrides: str) -> Env:
    env = Env(kafka_bootstrap, tmp_path)
    env.overrides.update(
        {
            "FINSENT_REVIEW_TOPIC": f"{env.prefix}.sentiment.review",
            "FINSENT_ALERT_MARKS_TOPIC": f"{env.prefix}.sentiment.alert_marks",
            **overrides,
        }
    )
    return env


def _cli(env: Env, monkeypatch: pytest.MonkeyPatch, command: str) -> int:
    """`finsent COMMAND` (split on spaces) in this process, configured by the test deployment's
    environment."""
    for k, v in env.env().items():
        monkeypatch.setenv(k, v)
    return main(command.split())


def test_worker_picks_unsure_items_and_labels_come_back_as_a_dataset(
    kafka_bootstrap: str,
    tmp_path: Path,
    shipped_scorer: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = [*UNSURE, *SURE]
    conf = {t: s.confidence for t, s in zip(texts, shipped_scorer.score(texts), strict=True)}
    # The premise, with a margin: the unsure tweets score below the sure headlines. The int8
    # model's confidences differ a little between CPUs (ONNX Runtime's int8 kernels: AVX2
    # without VNNI saturates), so the threshold is set between the two groups as measured here.
    unsure_max, sure_min = max(conf[t] for t in UNSURE), min(conf[t] for t in SURE)
    assert unsure_max + 0.06 < sure_min, conf
    threshold = round((unsure_max + sure_min) / 2, 3)
    now = int(time.time() * 1000) - 3_600_000
    feed = [
        {"id": f"u{i}", "source": "twitter", "published_at": now + i * 1000, "text": t}
        for i, t in enumerate(UNSURE)
    ]
    feed += [
        {"id": f"s{i}", "source": "newswire", "published_at": now + i * 1000, "text": t}
        for i, t in enumerate(SURE)
    ]
    feed.append({"id": "u0-rt", "source": "twitter", "published_at": now + 500, "text": COPY})
    assert novelty.fingerprint(COPY)[0] == novelty.fingerprint(UNSURE[0])[0]  # one story
    sampled = {
        r["id"] for r in feed if r["id"].startswith("s") and review.in_sample(r["id"], SAMPLE)
    }
    assert sampled and len(sampled) < len(SURE)  # some of the sure ones, not all

    env = _env(
        kafka_bootstrap,
        tmp_path,
        FINSENT_REVIEW_CONFIDENCE=str(threshold),
        FINSENT_REVIEW_SAMPLE_RATE=str(SAMPLE),
    )
    env.create_topics()
    s = env.settings()
    worker = Worker(env)
    try:
        worker.wait_ready()
        produce(
            env, s.social_topic, [(r["id"].encode(), json.dumps(r).encode(), None) for r in feed]
        )
        wait_for(lambda: worker.drained([s.news_topic, s.social_topic]), timeout_s=180)
        metrics = worker.metrics()
    finally:
        worker.stop()

    on_topic = [json.loads(r.value) for r in read_to_end(s, s.review_topic)]
    by_id = {r["id"]: r for r in on_topic}
    assert len(by_id) == len(on_topic)  # each item once
    unsure_ids = {f"u{i}" for i in range(len(UNSURE))}
    picked_unsure = set(by_id) & (unsure_ids | {"u0-rt"})
    # every unsure story once: the original or its retweet, whichever was scored first
    assert picked_unsure - {"u0", "u0-rt"} == unsure_ids - {"u0"}
    assert len(picked_unsure & {"u0", "u0-rt"}) == 1
    assert set(by_id) - picked_unsure == sampled
    assert {by_id[i]["reason"] for i in picked_unsure} == {"low_confidence"}
    assert {by_id[i]["reason"] for i in sampled} == {"sample"}
    original = {r["id"]: r["text"] for r in feed}
    for r in on_topic:  # the worker's model answer is the one measured here
        assert r["model_confidence"] == pytest.approx(conf[original[r["id"]]], abs=1e-3)
    assert by_id["u4"]["text"] == "[handle] Does $BA continue to go lower?"  # masked, as scored
    for reason, n in (("low_confidence", len(UNSURE)), ("sample", len(sampled))):
        assert sample_value(metrics, "finsent_review_items_total", {"reason": reason}) == n

    tasks_file = tmp_path / "tasks.json"
    assert _cli(env, monkeypatch, f"review export --format label-studio --out {tasks_file}") == 0
    tasks = json.loads(tasks_file.read_text())
    assert sorted(t["data"]["item_id"] for t in tasks) == sorted(by_id)
    assert all("predictions" not in t for t in tasks)
    config = tmp_path / "label_config.xml"
    assert _cli(env, monkeypatch, f"review export --format label-studio --config-out {config}") == 0
    assert 'name="sentiment"' in config.read_text()

    # a labeller answers every unsure item, skips one sampled item and cancels another
    human = {
        "u1": "positive",
        "u2": "neutral",
        "u3": "positive",
        "u4": "negative",
        "u5": "positive",
    }
    human[next(iter(picked_unsure & {"u0", "u0-rt"}))] = "negative"
    answers = {i: [_annotation(lab)] for i, lab in human.items()}
    first_sampled = sorted(sampled)[0]
    answers[first_sampled] = [_annotation("neutral", cancelled=True)]
    export = tmp_path / "project-7-at-2026-12-02.json"
    export.write_text(json.dumps(label_studio_export(tasks, answers)))
    capsys.readouterr()
    dataset = tmp_path / "data" / "review.jsonl"
    assert (
        _cli(env, monkeypatch, f"review import {export} --format label-studio --out {dataset}") == 0
    )
    said = capsys.readouterr().out
    assert f"labelled {len(human)}, skipped {len(sampled)} (no human label), conflicts 0" in said

    train, val = split_data([str(dataset)], val_fraction=0.2, seed=0)  # what `finsent train` does
    loaded = {(e.text, e.label) for e in train + val}
    assert loaded == {(by_id[i]["text"], lab) for i, lab in human.items()}
    assert {e.source for e in train + val} == {"finsent_review"}


def _fill_topic(env: Env, records: list[dict[str, Any]], stamps: list[int]) -> None:
    from kafka.admin import NewTopic

    from pipeline.kafka_clients import admin

    a = admin(env.settings())
    try:
        a.create_topics([NewTopic(env.settings().review_topic, 2, 1)])
    finally:
        a.close()
    produce(
        env,
        env.settings().review_topic,
        [
            (r["id"].encode(), json.dumps(r).encode(), ts)
            for r, ts in zip(records, stamps, strict=True)
        ],
    )


def test_jsonl_and_argilla_round_trips_from_a_filled_review_topic(
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = [json.loads(x) for x in (DATA / "review_records.jsonl").read_text().splitlines()]
    env = _env(kafka_bootstrap, tmp_path)
    now = int(time.time() * 1000)
    old = now - 3 * 86_400_000  # picked three days ago: outside --since 24h
    _fill_topic(
        env,
        [*records, {"id": "old-1", "type": "review", "reason": "sample", "text": "old"}],
        [now + i for i in range(len(records))] + [old],  # picked in this order
    )

    # Argilla: the export is exactly the file argilla 2.8.0 read (tests/review/data)
    tasks = tmp_path / "argilla.json"
    assert (
        _cli(
            env,
            monkeypatch,
            f"review export --format argilla --predictions --since 24h --out {tasks}",
        )
        == 0
    )
    assert json.loads(tasks.read_text()) == json.loads((DATA / "argilla_tasks.json").read_text())
    out = tmp_path / "review.jsonl"
    for export in ("argilla_2.8.0_records.json", "argilla_2.8.0_flat.json"):
        code = _cli(
            env, monkeypatch, f"review import {DATA / export} --format argilla --out {out} --merge"
        )
        assert code == 0
    said = capsys.readouterr().out
    assert "labelled 2, skipped 3 (no human label), conflicts 1" in said
    assert "wrote 2 rows" in said and "(0 new, 0 relabelled, 2 unchanged)" in said  # the 2nd import

    # JSONL: the whole topic (the old record too), labels filled in a text editor's way
    rows_file = tmp_path / "tasks.jsonl"
    assert _cli(env, monkeypatch, f"review export --format jsonl --out {rows_file}") == 0
    rows = [json.loads(x) for x in rows_file.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted([*(r["id"] for r in _tasks()), "old-1"])
    labels = {"tw-1001": "positive", "nw-77": "neutral", "old-1": "neutral"}
    for r in rows:
        r["label"] = labels.get(r["id"])
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _cli(env, monkeypatch, f"review import {rows_file} --format jsonl --out {out}") == 2
    assert "exists: pass --merge" in capsys.readouterr().err
    assert (
        _cli(env, monkeypatch, f"review import {rows_file} --format jsonl --out {out} --merge") == 0
    )
    said = capsys.readouterr().out
    assert "labelled 3, skipped 4 (no human label), conflicts 0" in said
    assert "wrote 4 rows" in said and "(2 new, 1 relabelled, 0 unchanged)" in said

    train, val = split_data([str(out)], val_fraction=0.25, seed=0)
    got = {e.text: e.label for e in train + val}
    assert len(got) == 4 and got["old"] == "neutral"
    assert got[records[0]["text"]] == "positive"  # relabelled by the later review
    assert got[records[1]["text"]] == "positive"  # from Argilla, 2 of 3 annotators
