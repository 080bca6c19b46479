"""Review tasks out and human labels back, per tool (pipeline/review/formats.py, dataset.py), and
the dataset loading with the loader `finsent train` uses (models.finetune.split_data).

The Argilla files under data/ were written by argilla 2.8.0's own code
(data/make_argilla_exports.py): it read finsent's export with `Record.from_dict`, as
`records.from_json` does, and exported the answered records with `records.to_json` and
`to_list(flatten=True)`. The Label Studio exports are filled in here the way its JSON export
writes them (annotations[].result[].value.choices, was_cancelled)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from models.finetune import split_data
from pipeline.core.records import LABELS
from pipeline.review import dataset, formats

DATA = Path(__file__).parent / "data"


def _records() -> list[dict[str, Any]]:
    lines = (DATA / "review_records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _tasks() -> list[dict[str, Any]]:
    return formats.merge_records(_records())


def test_one_task_per_item_with_every_reason_and_alert() -> None:
    tasks = _tasks()
    ids = [t["id"] for t in tasks]
    assert len(ids) == len(set(ids)) == 6 and len(_records()) == 7
    first = tasks[0]
    assert first["reasons"] == ["low_confidence", "disputed"]
    assert first["alert_ids"] == ["SentimentCollapse:BA:1h:1764655200000"]
    assert first["model_label"] == "negative"  # the first record's model answer stays


def test_the_argilla_export_is_what_argilla_read() -> None:
    """If this fails, the Argilla shape changed: rerun data/make_argilla_exports.py."""
    ours = [formats.argilla_record(t, predictions=True) for t in _tasks()]
    assert ours == json.loads((DATA / "argilla_tasks.json").read_text())
    plain = formats.argilla_record(_tasks()[0])
    assert plain["suggestions"] == {} and plain["fields"]["text"].startswith("RT [handle]")


@pytest.mark.parametrize("export", ["argilla_2.8.0_records.json", "argilla_2.8.0_flat.json"])
def test_argilla_exports_give_the_submitted_majority_labels(export: str) -> None:
    result = formats.from_argilla(json.loads((DATA / export).read_text()))
    got = [(x.item_id, x.label, x.agreement) for x in result.labelled]
    # tw-1001: one annotator; tw-1002: 2 of 3; nw-77 a draft, tw-1003 unanswered, tw-1004
    # discarded: no label; nw-78: 1 against 1, a conflict
    assert got == [("tw-1001", "negative", None), ("tw-1002", "positive", 0.6667)]
    assert (result.skipped, result.conflicts) == (3, 1)


def test_the_label_studio_config_matches_the_tasks() -> None:
    view = ET.fromstring(formats.LABEL_STUDIO_CONFIG)
    text = view.find("Text")
    choices = view.find("Choices")
    assert text is not None and choices is not None
    assert text.get("value") == "$text" and choices.get("toName") == text.get("name")
    assert [c.get("value") for c in choices.iter("Choice")] == list(LABELS)
    task = formats.label_studio_task(_tasks()[0])
    assert set(task) == {"data"} and task["data"]["text"].startswith("RT [handle]")
    assert task["data"]["item_id"] == "tw-1001" and task["data"]["tickers"] == "BA"
    with_pred = formats.label_studio_task(_tasks()[0], predictions=True)
    (pred,) = with_pred["predictions"]
    (res,) = pred["result"]
    assert (res["from_name"], res["to_name"]) == (choices.get("name"), text.get("name"))
    assert res["value"] == {"choices": ["negative"]} and pred["score"] == 0.491


def _annotation(label: str, *, cancelled: bool = False, user: int = 1) -> dict[str, Any]:
    """One annotation as Label Studio's JSON export writes it."""
    return {
        "id": 100 + user,
        "completed_by": user,
        "result": []
        if cancelled
        else [
            {
                "value": {"choices": [label]},
                "id": f"r{user}",
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
            }
        ],
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2026-12-02T08:00:00.000000Z",
        "updated_at": "2026-12-02T08:00:05.000000Z",
        "lead_time": 4.2,
        "task": 1,
    }


def label_studio_export(
    tasks: list[dict[str, Any]], answers: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Label Studio's JSON export of imported `tasks` with `answers` (item id -> annotations)."""
    out = []
    for n, task in enumerate(tasks, 1):
        out.append(
            {
                "id": n,
                "annotations": answers.get(task["data"]["item_id"], []),
                "drafts": [],
                "predictions": [p.get("id", 0) for p in task.get("predictions", [])],
                "data": task["data"],
                "meta": {},
                "created_at": "2026-12-02T07:59:00.000000Z",
                "updated_at": "2026-12-02T08:00:05.000000Z",
                "inner_id": n,
                "total_annotations": len(answers.get(task["data"]["item_id"], [])),
                "cancelled_annotations": 0,
                "total_predictions": len(task.get("predictions", [])),
                "project": 7,
            }
        )
    return out


def test_label_studio_round_trip_to_a_training_dataset(tmp_path: Path) -> None:
    tasks = [formats.label_studio_task(t, predictions=True) for t in _tasks()]
    answers = {
        "tw-1001": [_annotation("negative")],
        "tw-1002": [_annotation("Positive", user=1), _annotation("positive", user=2)],
        "nw-77": [_annotation("neutral", cancelled=True)],  # skipped by the labeller
        "nw-78": [_annotation("negative", user=1), _annotation("neutral", user=2)],  # conflict
        # tw-1003 and tw-1004: not annotated (their predictions are no human label)
    }
    result = formats.from_label_studio(label_studio_export(tasks, answers))
    assert [(x.item_id, x.label, x.agreement) for x in result.labelled] == [
        ("tw-1001", "negative", None),
        ("tw-1002", "positive", 1.0),
    ]
    assert (result.skipped, result.conflicts) == (3, 1)
    out = tmp_path / "review.jsonl"
    rows, merged = dataset.merge([], [dataset.row(x) for x in result.labelled])
    dataset.write_rows(rows, out)
    assert merged.added == 2
    train, val = split_data([str(out)], val_fraction=0.5, seed=0)
    examples = sorted(train + val, key=lambda e: e.label)
    assert [(e.text[:16], e.label, e.source) for e in examples] == [
        ("RT [handle]: Oh ", "negative", "finsent_review"),
        ("$AAPL trimmed 14", "positive", "finsent_review"),
    ]
    assert {e.agreement for e in examples} == {None, 1.0}
    row = json.loads(out.read_text().splitlines()[0])
    assert (row["id"], row["feed_source"], row["reasons"]) == (
        "tw-1001",
        "twitter",
        "low_confidence,disputed",
    )


def test_label_studio_json_min_export() -> None:
    rows = [
        {"id": 1, "item_id": "tw-1001", "text": "a", "sentiment": "negative", "annotator": 1},
        {"id": 2, "item_id": "tw-1002", "text": "b"},  # not annotated
    ]
    result = formats.from_label_studio(rows)
    assert [(x.item_id, x.label) for x in result.labelled] == [("tw-1001", "negative")]
    assert result.skipped == 1


def test_jsonl_rows_have_an_empty_label_and_come_back_labelled() -> None:
    rows = [formats.jsonl_row(t) for t in _tasks()]
    assert all(r["label"] is None and "reason" not in r for r in rows)
    rows[0]["label"] = "NEGATIVE"
    rows[3]["label"] = "neutral"
    rows[4]["label"] = ""  # left empty
    back = json.loads(json.dumps(rows))
    result = formats.from_jsonl(back)
    assert [(x.item_id, x.label) for x in result.labelled] == [
        ("tw-1001", "negative"),
        ("tw-1003", "neutral"),
    ]
    assert result.labelled[0].extra["tickers"] == "BA" and result.skipped == 4


@pytest.mark.parametrize(
    ("reader", "rows", "where"),
    [
        (formats.from_jsonl, [{"id": "a", "text": "t", "label": "postive"}], "line 1"),
        (
            formats.from_argilla,
            [{"id": "a", "text": "t", "sentiment.responses": ["meh"]}],
            "record 0",
        ),
        (formats.from_label_studio, {"not": "a list"}, "JSON list"),
    ],
)
def test_a_bad_label_or_shape_is_one_line_naming_where(reader: Any, rows: Any, where: str) -> None:
    with pytest.raises(formats.FormatError) as info:
        reader(rows)
    assert where in str(info.value) and "\n" not in str(info.value)


def test_merge_keeps_other_rows_and_replaces_by_item_id() -> None:
    existing = [
        {"text": "PhraseBank row", "label": "neutral", "source": "fpb"},  # no id: kept
        {"text": "x", "label": "negative", "source": "finsent_review", "id": "a"},
        {"text": "y", "label": "neutral", "source": "finsent_review", "id": "b"},
    ]
    new = [
        {"text": "x", "label": "positive", "source": "finsent_review", "id": "a"},
        {"text": "y", "label": "neutral", "source": "finsent_review", "id": "b"},
        {"text": "z", "label": "neutral", "source": "finsent_review", "id": "c"},
    ]
    rows, merged = dataset.merge(existing, new)
    assert [(r.get("id"), r["label"]) for r in rows] == [
        (None, "neutral"),
        ("a", "positive"),
        ("b", "neutral"),
        ("c", "neutral"),
    ]
    assert (merged.rows, merged.added, merged.replaced, merged.unchanged) == (4, 1, 1, 1)
