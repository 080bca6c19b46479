"""Labelled-data readers (JSONL, CSV, Hugging Face `datasets`) and a stratified validation split.

Stdlib only (`datasets` is imported lazily, and only for `hf:` names). Data is read from a path
and never copied into the repository (PhraseBank's license forbids redistribution for profit).
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.core.records import LABELS

# Twitter Financial News calls its classes bearish/bullish; normalise to LABELS.
LABEL_ALIASES: dict[str, str] = {
    "negative": "negative", "neg": "negative", "bearish": "negative",
    "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive", "bullish": "positive",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text. `source` names the dataset (per-dataset split and metrics)."""

    text: str
    label: str
    source: str = ""
    agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def normalize_label(raw: Any, names: Sequence[str] | None = None) -> str:
    """Map a raw label (string alias, or int index into `names`, default LABELS) to LABELS."""
    if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
        raw = (names or LABELS)[int(raw)]
    key = str(raw).strip().lower()
    if key not in LABEL_ALIASES:
        raise ValueError(f"unknown label {raw!r}; expected one of {sorted(LABEL_ALIASES)}")
    return LABEL_ALIASES[key]


def read_jsonl(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> list[Example]:
    """Read a JSONL file with a text and a label field (PhraseBank rows may carry `agreement`)."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                agreement = row.get("agreement")
                out.append(
                    Example(
                        text=str(row[text_column]),
                        label=normalize_label(row[label_column]),
                        source=str(row.get("source") or path.parent.name or path.stem),
                        agreement=None if agreement is None else float(agreement),
                    )
                )
            except (KeyError, ValueError) as e:
                raise ValueError(f"{path}:{n}: {e}") from e
    return out


def read_csv(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> list[Example]:
    """Read a CSV (or TSV by extension) using the chosen text and label columns."""
    path = Path(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        missing = {text_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}; has {reader.fieldnames}")
        return [
            Example(
                text=row[text_column], label=normalize_label(row[label_column]), source=path.stem
            )
            for row in reader
        ]


def read_hf(spec: str, text_column: str = "text", label_column: str = "label") -> list[Example]:
    """Read `name[:config][@split]` with Hugging Face `datasets` (needs the hub or its cache)."""
    try:
        import datasets  # noqa: PLC0415 - optional, heavy
    except ImportError as e:
        raise RuntimeError(
            f"reading {spec!r} needs the `datasets` package (pip install datasets) and hub access; "
            "or pass a local JSONL/CSV file"
        ) from e
    name, _, split = spec.partition("@")
    name, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(name, config or None, split=split or "train")
    except Exception as e:  # noqa: BLE001 - offline, unknown name, ...
        raise RuntimeError(f"cannot load Hugging Face dataset {spec!r} (offline?): {e}") from e
    feature = ds.features.get(label_column)
    names = getattr(feature, "names", None)
    return [
        Example(
            text=str(r[text_column]), label=normalize_label(r[label_column], names), source=name
        )
        for r in ds
    ]


def read_examples(
    specs: str | Path | Iterable[str | Path], text_column: str = "text", label_column: str = "label"
) -> list[Example]:
    """Dispatch on each spec: *.jsonl/*.json, *.csv/*.tsv, or `hf:NAME[:CONFIG][@SPLIT]`."""
    if isinstance(specs, (str, Path)):
        specs = [specs]
    out: list[Example] = []
    for spec in specs:
        s = str(spec)
        if s.startswith("hf:"):
            out += read_hf(s[3:], text_column, label_column)
        elif not Path(s).exists():
            raise FileNotFoundError(f"data file not found: {s} (use hf:NAME for a hub dataset)")
        elif Path(s).suffix.lower() in (".csv", ".tsv"):
            out += read_csv(s, text_column, label_column)
        else:
            out += read_jsonl(s, text_column, label_column)
    return out


def stratified_split(
    examples: Sequence[Example], val_fraction: float = 0.15, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """Split per (source, label) group with a fixed seed, so each dataset keeps its label mix."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[(ex.source, ex.label)].append(i)
    rng = random.Random(seed)
    val_idx: set[int] = set()
    for key in sorted(groups):
        idx = groups[key][:]
        rng.shuffle(idx)
        k = round(len(idx) * val_fraction)
        val_idx.update(idx[:k])
    train = [ex for i, ex in enumerate(examples) if i not in val_idx]
    val = [ex for i, ex in enumerate(examples) if i in val_idx]
    return train, val


def write_jsonl(examples: Iterable[Example], path: str | Path) -> Path:
    """Write examples as JSONL (used for the validation split next to a checkpoint)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
    return path
