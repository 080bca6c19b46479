"""`finsent review export|import`: labelling tasks out of the review topic, human labels back in
as a dataset for `finsent train` / `finsent distill`.

Usage:
    finsent review export --format label-studio --out review.json [--since 24h] [--predictions]
    finsent review export --format label-studio --config-out label_config.xml
    finsent review import labelled.json --format label-studio --out data/review.jsonl [--merge]
    finsent train --data data/review.jsonl --data ... --out /tmp/ckpt
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from pipeline.errors import FinsentError
from pipeline.review import dataset, formats

DEFAULT_OUT = {
    "label-studio": "review.label-studio.json",
    "argilla": "review.argilla.json",
    "jsonl": "review.jsonl",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """`export` and `import`, each with its options."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ex = sub.add_parser("export", help="review topic -> labelling tasks (reads to the end, stops)")
    ex.add_argument("--format", choices=formats.FORMATS, required=True)
    ex.add_argument("--out", type=Path, help="tasks file (default: review.<format>.json[l])")
    ex.add_argument(
        "--since",
        help="only records picked since then: an ISO date/time (UTC unless it says) or a "
        "duration ago, e.g. 24h (default: the whole topic)",
    )
    ex.add_argument(
        "--predictions",
        action="store_true",
        help="include the model's label as a pre-annotation / suggestion (off: it anchors "
        "the labeller)",
    )
    ex.add_argument(
        "--config-out",
        type=Path,
        help="write the tool's labelling setup instead of tasks (Label Studio: the labeling "
        "config XML; Argilla: a script that creates the dataset and loads the tasks)",
    )
    ex.add_argument("--timeout", type=float, default=120.0, help="seconds to read the topic")
    im = sub.add_parser("import", help="a labelling tool's export -> a dataset for finsent train")
    im.add_argument("file", type=Path, help="the tool's export (JSON or JSONL)")
    im.add_argument("--format", choices=formats.FORMATS, required=True)
    im.add_argument("--out", type=Path, required=True, help="the dataset (JSONL) to write")
    im.add_argument("--merge", action="store_true", help="merge into an existing --out, by item id")
    im.add_argument(
        "--source",
        default=dataset.DEFAULT_SOURCE,
        help="the dataset name on each row (the trainer splits and reports per source)",
    )


def since_ms(text: str, now_s: float) -> int:
    """`--since` as epoch ms: an ISO 8601 date or date-time (UTC when it has no offset), or a
    duration before `now_s` (e.g. 90m, 24h, 7d)."""
    from pipeline.core.windows import parse_duration_ms

    try:
        return int(now_s * 1000) - parse_duration_ms(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FinsentError(
            f"--since {text!r}: expected an ISO date/time (2026-12-01, 2026-12-01T08:00Z) or a "
            "duration ago (90m, 24h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _export(args: argparse.Namespace) -> int:
    """Read the review topic to its end and write one task per item."""
    if args.config_out is not None:
        if args.format == "jsonl":
            raise FinsentError("--config-out: plain JSONL needs no labelling setup")
        text = (
            formats.LABEL_STUDIO_CONFIG if args.format == "label-studio" else formats.ARGILLA_SETUP
        )
        args.config_out.write_text(text, encoding="utf-8")
        print(f"wrote the {args.format} setup to {args.config_out}")
        return 0
    from pipeline.config import Settings
    from pipeline.review.topic import read_review

    settings = Settings()
    settings.require_files()
    start = since_ms(args.since, time.time()) if args.since else None
    records, unreadable = read_review(settings, start, args.timeout)
    tasks = formats.merge_records(records)
    out = args.out or Path(DEFAULT_OUT[args.format])
    if args.format == "jsonl":
        text = "".join(json.dumps(formats.jsonl_row(t), ensure_ascii=False) + "\n" for t in tasks)
    else:
        make = (
            formats.label_studio_task if args.format == "label-studio" else formats.argilla_record
        )
        text = json.dumps([make(t, args.predictions) for t in tasks], ensure_ascii=False, indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    skipped = f", {unreadable} unreadable skipped" if unreadable else ""
    print(
        f"exported {len(tasks)} tasks ({len(records)} review records{skipped}) from "
        f"{settings.review_topic} to {out}"
    )
    return 0


def _load(path: Path) -> list[Any]:
    """A JSON list, or JSONL (one value a line): what the tools export."""
    if not path.is_file():
        raise FinsentError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FinsentError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        return list(value)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FinsentError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return rows


def _import(args: argparse.Namespace) -> int:
    """Read the tool's export, write (or merge into) the dataset, report the counts."""
    if args.out.exists() and not args.merge:
        raise FinsentError(f"{args.out} exists: pass --merge to merge into it by item id")
    try:
        result = formats.READERS[args.format](_load(args.file))
    except formats.FormatError as exc:
        raise FinsentError(f"{args.file}: {exc}") from None
    counts = (
        f"labelled {len(result.labelled)}, skipped {result.skipped} (no human label), "
        f"conflicts {result.conflicts} (no majority label)"
    )
    if not result.labelled:
        print(f"{counts}; nothing to write to {args.out}")
        return 1
    new = [dataset.row(item, args.source) for item in result.labelled]
    try:
        existing = dataset.read_rows(args.out) if args.out.exists() else []
    except ValueError as exc:
        raise FinsentError(str(exc)) from None
    rows, merged = dataset.merge(existing, new)
    dataset.write_rows(rows, args.out)
    print(
        f"{counts}; wrote {merged.rows} rows to {args.out} ({merged.added} new, "
        f"{merged.replaced} relabelled, {merged.unchanged} unchanged)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """`finsent review export` or `finsent review import`."""
    return _export(args) if args.action == "export" else _import(args)
