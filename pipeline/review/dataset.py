"""The dataset `finsent review import` writes: JSONL that `finsent train` / `distill` read with
`models.data.read_jsonl` (through `finsent train --data FILE`).

One row per item: `text` (what the labeller saw: the masked text, at most a tweet's length),
`label` (one of LABELS), `source` (the dataset's name, default "finsent_review": the trainer
splits and reports per source), `agreement` when several people labelled it (their majority's
share, as PhraseBank's rows have), and, ignored by the trainer but kept for audits and merges,
`id` (the item id), `feed_source`, `tickers`, `reasons`, `alert_ids`, `model_label`,
`model_version`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.review.formats import Labelled

DEFAULT_SOURCE = "finsent_review"


def row(item: Labelled, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """The dataset row of one labelled item."""
    out: dict[str, Any] = {"text": item.text, "label": item.label, "source": source}
    if item.agreement is not None:
        out["agreement"] = item.agreement
    out["id"] = item.item_id
    for k, v in item.extra.items():
        out["feed_source" if k == "source" else k] = v
    return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an existing dataset file (JSONL objects); ValueError naming the line."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise ValueError(f"{path}:{n}: not a JSON object")
            rows.append(value)
    return rows


@dataclass(frozen=True)
class Merged:
    """What a write did: rows written, new items, items whose label changed, unchanged ones."""

    rows: int
    added: int
    replaced: int
    unchanged: int


def merge(
    existing: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Merged]:
    """`existing` with `new` merged in by item id: a new row replaces the row of the same id
    (a later review is a deliberate correction), rows without an id are kept as they were."""
    out = [dict(r) for r in existing]
    at = {r["id"]: i for i, r in enumerate(out) if isinstance(r.get("id"), str)}
    added = replaced = unchanged = 0
    for r in new:
        i = at.get(r["id"])
        if i is None:
            at[r["id"]] = len(out)
            out.append(r)
            added += 1
        elif out[i].get("label") == r["label"]:
            out[i] = r
            unchanged += 1
        else:
            out[i] = r
            replaced += 1
    return out, Merged(len(out), added, replaced, unchanged)


def write_rows(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write JSONL atomically (a temporary file renamed), so a failed write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
