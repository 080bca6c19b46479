"""Data readers and the stratified split (models.data)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from models.data import normalize_label, read_csv, read_examples, read_jsonl, stratified_split


def test_read_jsonl_and_csv(tmp_path: Path) -> None:
    j = tmp_path / "a.jsonl"
    j.write_text(
        json.dumps({"text": "up", "label": "positive", "agreement": 1.0, "source": "pb"}) + "\n\n"
        + json.dumps({"text": "down", "label": "Bearish"}) + "\n"
    )  # fmt: skip
    rows = read_jsonl(j)
    assert [(r.text, r.label, r.agreement) for r in rows] == [
        ("up", "positive", 1.0),
        ("down", "negative", None),
    ]
    assert rows[0].source == "pb"
    c = tmp_path / "b.csv"
    c.write_text('headline,sentiment\nflat,neutral\n"up, a lot",2\n')
    rows = read_csv(c, text_column="headline", label_column="sentiment")
    assert [(r.text, r.label) for r in rows] == [("flat", "neutral"), ("up, a lot", "positive")]
    assert len(read_examples([j])) == 2


def test_csv_missing_column_is_clear(tmp_path: Path) -> None:
    c = tmp_path / "b.csv"
    c.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_csv(c)


def test_unknown_label_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        normalize_label("meh")
    assert normalize_label(0, names=["bearish", "bullish", "neutral"]) == "negative"
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_examples(tmp_path / "nope.jsonl")


def test_hf_reader_without_datasets_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match="datasets"):
        read_examples("hf:zeroshot/twitter-financial-news-sentiment")


def test_stratified_split_keeps_mix_and_is_deterministic(tmp_path: Path) -> None:
    from models.data import Example

    rows = [
        Example(f"t{i}", lab, "a")
        for i, lab in enumerate(["negative"] * 20 + ["neutral"] * 60 + ["positive"] * 20)
    ]
    rows += [Example(f"u{i}", "neutral", "b") for i in range(40)]
    tr, va = stratified_split(rows, 0.2, seed=0)
    assert len(tr) + len(va) == len(rows) and not {r.text for r in tr} & {r.text for r in va}
    assert Counter((r.source, r.label) for r in va) == {
        ("a", "negative"): 4,
        ("a", "neutral"): 12,
        ("a", "positive"): 4,
        ("b", "neutral"): 8,
    }
    assert stratified_split(rows, 0.2, seed=0) == (tr, va)
    assert stratified_split(rows, 0.2, seed=1)[1] != va
