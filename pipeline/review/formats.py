"""Review records to labelling tasks, and a labelling tool's export back to human labels.

Plain functions on dicts (no I/O), one pair per tool:

- Label Studio: tasks in its JSON import format (`[{"data": {...}, "predictions": [...]}]`) for
  the labeling config `LABEL_STUDIO_CONFIG` (one `Choices` control named "sentiment" on the
  `text`); back from its JSON export (`annotations[].result[].value.choices`, cancelled
  annotations left out) or its JSON_MIN export (the choice under the control's name).
- Argilla (v2): records in the shape `Dataset.records.to_json` writes and
  `Dataset.records.from_json` reads (`id`, `fields`, `metadata`, `suggestions`, `responses`),
  for a dataset made with `ARGILLA_SETUP` (a `LabelQuestion` "sentiment" on a `TextField`
  "text"); back from that shape or its flattened form (`to_list(flatten=True)`, the Hugging Face
  export: `sentiment.responses`, `sentiment.responses.status`), submitted responses only. No
  argilla package is needed on finsent's side.
- JSONL: one review record a line with an empty `label` to fill in; back: rows with a `label`.

The model's answer goes along as a suggestion / pre-annotation only when asked (`predictions`):
a labeller shown the model's label tends to agree with it, which is the opposite of what a
review of the model's doubtful items is for.

Several human labels for one item (several annotators, or the item twice in a file): the label
more than half of them gave, with its share as `agreement`; without such a majority the item is
a conflict and is left out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.records import LABELS
from pipeline.core.review import RECORD_TYPE

FORMATS = ("label-studio", "argilla", "jsonl")
QUESTION = "sentiment"  # the Label Studio control's and the Argilla question's name
FIELD = "text"

LABEL_STUDIO_CONFIG = f"""<View>
  <Header value="What does this text say about the company it names?"/>
  <Text name="{FIELD}" value="${FIELD}"/>
  <Choices name="{QUESTION}" toName="{FIELD}" choice="single" showInline="true" required="true">
    <Choice value="negative"/>
    <Choice value="neutral"/>
    <Choice value="positive"/>
  </Choices>
</View>
"""

ARGILLA_SETUP = f'''"""Create finsent's review dataset in Argilla (v2) and load the exported tasks.

    pip install "argilla>=2"
    ARGILLA_API_URL=... ARGILLA_API_KEY=... python argilla_setup.py review.argilla.json [NAME]

Label in Argilla, then export the records (`dataset.records.to_json("labelled.json")`) and run
`finsent review import labelled.json --format argilla --out DATASET.jsonl`.
"""

import sys

import argilla as rg

client = rg.Argilla()  # reads ARGILLA_API_URL and ARGILLA_API_KEY
settings = rg.Settings(
    guidelines="The sentiment of the text for the company (ticker) it names.",
    fields=[rg.TextField(name="{FIELD}")],
    questions=[rg.LabelQuestion(name="{QUESTION}", labels={list(LABELS)!r})],
    metadata=[
        rg.TermsMetadataProperty(name="source"),
        rg.TermsMetadataProperty(name="reasons"),
        rg.TermsMetadataProperty(name="model_label"),
        rg.FloatMetadataProperty(name="model_confidence"),
        rg.TermsMetadataProperty(name="model_version"),
    ],
    allow_extra_metadata=True,
)
name = sys.argv[2] if len(sys.argv) > 2 else "finsent-review"
dataset = rg.Dataset(name=name, settings=settings, client=client)
dataset.create()
dataset.records.from_json(sys.argv[1])
'''


class FormatError(ValueError):
    """An export file that is not what its format says: one line naming where and what."""


# -- out: review records -> tasks ------------------------------------------------------------


def merge_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One task per item id, in the order first seen: the first record's fields, with every
    reason and every disputed alert id the item was sent for (`reasons`, `alert_ids`). The topic
    may hold an item more than once: picked and later disputed, or picked again after a worker
    restart (the selection state is not kept)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("type") != RECORD_TYPE or not isinstance(r.get("id"), str):
            continue
        task = out.get(r["id"])
        if task is None:
            task = out[r["id"]] = {**r, "reasons": [], "alert_ids": []}
        if r.get("reason") and r["reason"] not in task["reasons"]:
            task["reasons"].append(r["reason"])
        if r.get("alert_id") and r["alert_id"] not in task["alert_ids"]:
            task["alert_ids"].append(r["alert_id"])
    return list(out.values())


def _iso(ms: Any) -> str | None:
    """Epoch ms as ISO 8601 UTC (what a labeller reads), or None."""
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _summary(task: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar facts every tool shows next to the text (strings and numbers only)."""
    return {
        "item_id": task["id"],
        "source": task.get("source") or "",
        "tickers": ",".join(task.get("tickers") or []),
        "reasons": ",".join(task.get("reasons") or []),
        "alert_ids": ",".join(task.get("alert_ids") or []),
        "model_label": task.get("model_label") or "",
        "model_confidence": task.get("model_confidence"),
        "model_version": task.get("model_version") or "",
        "event_time": _iso(task.get("event_ms")) or "",
    }


def label_studio_task(task: Mapping[str, Any], predictions: bool = False) -> dict[str, Any]:
    """A Label Studio task: the text and the facts as `data` (shown in the data manager; only
    `$text` is in the labeling view), optionally the model's answer as a prediction."""
    out: dict[str, Any] = {"data": {FIELD: task.get("text", ""), **_summary(task)}}
    if predictions and task.get("model_label") in LABELS:
        out["predictions"] = [
            {
                "model_version": task.get("model_version") or "",
                "score": task.get("model_confidence"),
                "result": [
                    {
                        "from_name": QUESTION,
                        "to_name": FIELD,
                        "type": "choices",
                        "value": {"choices": [task["model_label"]]},
                    }
                ],
            }
        ]
    return out


def argilla_record(task: Mapping[str, Any], predictions: bool = False) -> dict[str, Any]:
    """An Argilla v2 record as `Record.to_dict` writes it: the item id as the record id."""
    meta = {k: v for k, v in _summary(task).items() if k != "item_id" and v not in ("", None)}
    suggestions: dict[str, Any] = {}
    if predictions and task.get("model_label") in LABELS:
        suggestions[QUESTION] = {
            "value": task["model_label"],
            "score": task.get("model_confidence"),
            "agent": task.get("model_version") or None,
        }
    return {
        "id": task["id"],
        "fields": {FIELD: task.get("text", "")},
        "metadata": meta,
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
    }


def jsonl_row(task: Mapping[str, Any]) -> dict[str, Any]:
    """A plain row: the review record, its reasons and alert ids, and `label` to fill in."""
    row = {k: v for k, v in task.items() if k not in ("type", "v", "reason")}
    row["label"] = None
    return row


# -- in: a tool's export -> human labels -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Labelled:
    """One item's human label, as the dataset stores it."""

    item_id: str
    text: str
    label: str
    agreement: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ImportResult:
    """What an import found: the labelled items, and the counts it reports."""

    labelled: list[Labelled] = field(default_factory=list)
    skipped: int = 0  # tasks without a human label (not annotated, cancelled, draft, discarded)
    conflicts: int = 0  # items whose labels have no majority


def human_label(raw: Any, where: str) -> str:
    """A label as a person chose it, checked: one of LABELS (any case)."""
    key = str(raw).strip().lower()
    if key not in LABELS:
        raise FormatError(f"{where}: label {str(raw)[:40]!r} is not one of {', '.join(LABELS)}")
    return key


def _decide(votes: Sequence[str]) -> tuple[str, float | None] | None:
    """(label, agreement or None for a single vote) by strict majority; None without one."""
    if not votes:
        return None
    label, n = Counter(votes).most_common(1)[0]
    if 2 * n <= len(votes):
        return None
    return label, (None if len(votes) == 1 else round(n / len(votes), 4))


def _collect(
    rows: Iterable[tuple[str | None, str, list[str], dict[str, Any]]],
) -> ImportResult:
    """Per item id, every vote; then one decision per item (`_decide`)."""
    result = ImportResult()
    order: list[str] = []
    votes: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    extras: dict[str, dict[str, Any]] = {}
    for item_id, text, labels, extra in rows:
        if not item_id or not labels:
            result.skipped += 1
            continue
        if item_id not in votes:
            order.append(item_id)
            votes[item_id], texts[item_id], extras[item_id] = [], text, extra
        votes[item_id].extend(labels)
    for item_id in order:
        decided = _decide(votes[item_id])
        if decided is None:
            result.conflicts += 1
            continue
        label, agreement = decided
        result.labelled.append(Labelled(item_id, texts[item_id], label, agreement, extras[item_id]))
    return result


def _facts(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a task carried besides the text, kept on the dataset row."""
    keep = ("source", "tickers", "reasons", "alert_ids", "model_label", "model_version")
    return {k: data[k] for k in keep if data.get(k) not in (None, "", [])}


def from_label_studio(tasks: Any) -> ImportResult:
    """Human labels from Label Studio's JSON export (or JSON_MIN): per task, the choices of
    every annotation that was not cancelled."""
    if not isinstance(tasks, list):
        raise FormatError("a Label Studio export is a JSON list of tasks")

    def rows() -> Iterable[tuple[str | None, str, list[str], dict[str, Any]]]:
        for n, task in enumerate(tasks):
            where = f"task {n}"
            if not isinstance(task, dict):
                raise FormatError(f"{where}: not a JSON object")
            if "annotations" not in task and "data" not in task:  # JSON_MIN: data at the top
                choice = task.get(QUESTION)
                labels = [] if choice in (None, "") else [human_label(choice, where)]
                yield _str(task.get("item_id")), str(task.get(FIELD, "")), labels, _facts(task)
                continue
            data = task.get("data") or {}
            labels = []
            for ann in task.get("annotations") or []:
                if not isinstance(ann, dict) or ann.get("was_cancelled"):
                    continue
                for res in ann.get("result") or []:
                    if isinstance(res, dict) and res.get("type") == "choices":
                        choices = (res.get("value") or {}).get("choices") or []
                        labels += [human_label(c, where) for c in choices[:1]]
            yield _str(data.get("item_id")), str(data.get(FIELD, "")), labels, _facts(data)

    return _collect(rows())


def _submitted(responses: Any, statuses: Any = None, record_status: Any = None) -> list[Any]:
    """The values of submitted responses; drafts and discarded ones are no label. Argilla
    2.8's `records.to_json` writes no status per response, only the record's ("completed" once
    it has its submitted responses, else "pending"): there, a response counts only on a
    completed record (a pending one's responses are drafts or discarded, or too few)."""
    if not isinstance(responses, list):
        return []
    out = []
    for i, r in enumerate(responses):
        value, status = (r.get("value"), r.get("status")) if isinstance(r, dict) else (r, None)
        if isinstance(statuses, list) and i < len(statuses):
            status = statuses[i]
        if status is None and record_status not in (None, "completed"):
            continue
        if value not in (None, "") and status in (None, "submitted"):
            out.append(value)
    return out


def from_argilla(records: Sequence[Any]) -> ImportResult:
    """Human labels from Argilla v2 records: nested (`records.to_json`) or flattened
    (`to_list(flatten=True)`, the Hugging Face export); submitted responses only."""

    def rows() -> Iterable[tuple[str | None, str, list[str], dict[str, Any]]]:
        for n, rec in enumerate(records):
            where = f"record {n}"
            if not isinstance(rec, dict):
                raise FormatError(f"{where}: not a JSON object")
            if isinstance(rec.get("fields"), dict):  # nested
                text = rec["fields"].get(FIELD, "")
                values = _submitted(
                    (rec.get("responses") or {}).get(QUESTION), record_status=rec.get("status")
                )
                meta = rec.get("metadata") or {}
            else:  # flattened: fields and metadata at the top, `question.responses` lists
                text = rec.get(FIELD, "")
                values = _submitted(
                    rec.get(f"{QUESTION}.responses"),
                    rec.get(f"{QUESTION}.responses.status"),
                    rec.get("status"),
                )
                meta = rec
            labels = [human_label(v, where) for v in values]
            yield _str(rec.get("id")), str(text or ""), labels, _facts(meta)

    return _collect(rows())


def from_jsonl(rows_in: Sequence[Any]) -> ImportResult:
    """Human labels from JSONL rows (`jsonl_row`, filled in): `id`, `text` and a `label`."""

    def rows() -> Iterable[tuple[str | None, str, list[str], dict[str, Any]]]:
        for n, row in enumerate(rows_in, 1):
            where = f"line {n}"
            if not isinstance(row, dict):
                raise FormatError(f"{where}: not a JSON object")
            raw = row.get("label")
            labels = [] if raw in (None, "") else [human_label(raw, where)]
            facts = dict(row)
            for k in ("tickers", "reasons", "alert_ids"):
                if isinstance(facts.get(k), list):
                    facts[k] = ",".join(str(x) for x in facts[k])
            yield _str(row.get("id")), str(row.get(FIELD, "")), labels, _facts(facts)

    return _collect(rows())


def _str(v: Any) -> str | None:
    """An id as a string, or None when missing or empty."""
    return None if v in (None, "") else str(v)


READERS = {"label-studio": from_label_studio, "argilla": from_argilla, "jsonl": from_jsonl}
