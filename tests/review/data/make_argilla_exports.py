"""Writes the Argilla fixtures of tests/review/test_formats.py with argilla's own code (not a
finsent dependency: run it by hand in a virtualenv with `pip install argilla==2.8.0`):

    python tests/review/data/make_argilla_exports.py tests/review/data/argilla_tasks.json

It reads finsent's export (`finsent review export --format argilla --predictions`, here the
committed argilla_tasks.json) with argilla's `Record.from_dict` (what `records.from_json`
does), answers the records as annotators would, and writes what argilla exports:
`records.to_json` (argilla_2.8_records.json) and `records.to_list(flatten=True)`
(argilla_2.8_flat.json, the shape of the Hugging Face export)."""

import json
import sys
import uuid
from pathlib import Path

import argilla
from argilla.records._io import GenericIO, JsonIO
from argilla.responses import Response

src = Path(sys.argv[1])
records = JsonIO._records_from_json(src)  # what Dataset.records.from_json reads
ann1, ann2, ann3 = (uuid.UUID(int=n) for n in (1, 2, 3))
# record -> [(user, label, status)]
answers = {
    0: [(ann1, "negative", "submitted")],
    1: [
        (ann1, "positive", "submitted"),
        (ann2, "positive", "submitted"),
        (ann3, "neutral", "submitted"),
    ],
    2: [(ann1, "neutral", "draft")],
    3: [],
    4: [(ann1, "positive", "submitted"), (ann2, "negative", "submitted")],
    5: [(ann1, "neutral", "discarded")],
}
for i, rec in enumerate(records):
    for user, label, status in answers.get(i, []):
        rec.responses.add(
            Response(question_name="sentiment", value=label, user_id=user, status=status)
        )
    submitted = any(s == "submitted" for _u, _l, s in answers.get(i, []))
    rec._model.status = "completed" if submitted else "pending"  # the server sets it
out = src.parent
nested = out / f"argilla_{argilla.__version__}_records.json"
nested.unlink(missing_ok=True)
JsonIO.to_json(records, nested)
flat = GenericIO.to_list(records, flatten=True)
(out / f"argilla_{argilla.__version__}_flat.json").write_text(json.dumps(flat, indent=1))
print(f"wrote {nested} and the flat export, {len(records)} records")
