"""`finsent pretrain`: masked-LM adaptation lowers the loss, keeps the base's pooler, never sees
the rows `finsent train` holds out, and writes a directory that `train --base` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.data import read_examples, stratified_split
from models.pretrain import clean, read_texts
from pipeline.cli import main
from tests.models.conftest import make_rows


def test_clean_drops_urls_and_retweet_prefix() -> None:
    assert clean("RT @trader: $AAPL breaks out https://t.co/x  now") == "$AAPL breaks out now"


def test_labelled_files_lose_exactly_the_rows_train_holds_out(tmp_path: Path) -> None:
    labelled = tmp_path / "lab.jsonl"
    rows = [{**r, "text": f"{r['text']} number {i} today"} for i, r in enumerate(make_rows(20))]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tweets = tmp_path / "tweets.jsonl"
    tweets.write_text(json.dumps({"text": "RT @x: $TSLA deliveries beat, shares jump"}) + "\n")
    texts = read_texts([str(labelled), str(tweets)], val_fraction=0.15, seed=0)
    _, val = stratified_split(read_examples(str(labelled)), 0.15, 0)
    assert not {e.text for e in val} & set(texts)
    assert len(texts) == len(rows) - len(val) + 1 and "$TSLA deliveries beat, shares jump" in texts


def test_pretrain_lowers_mlm_loss_and_keeps_pooler(tiny_base: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    data = tmp_path / "texts.jsonl"
    data.write_text(
        "".join(json.dumps({"text": r["text"] + " again"}) + "\n" for r in make_rows(30))
    )
    out = tmp_path / "adapted"
    args = ["pretrain", "--data", str(data), "--base", str(tiny_base), "--out", str(out)]
    assert main([*args, "--epochs", "6", "--lr", "3e-3", "--batch-size", "8"]) == 0
    report = json.loads((out / "pretrain_report.json").read_text())
    assert report["last_loss_mean"] < sum(report["first_losses"]) / len(report["first_losses"])
    base = transformers.AutoModel.from_pretrained(str(tiny_base))
    adapted = transformers.AutoModel.from_pretrained(str(out))
    assert torch.equal(base.pooler.dense.weight, adapted.pooler.dense.weight)  # kept, not random
    assert not torch.equal(
        base.encoder.layer[0].attention.self.query.weight,
        adapted.encoder.layer[0].attention.self.query.weight,
    )  # the encoder did learn
    clf = transformers.AutoModelForSequenceClassification.from_pretrained(str(out), num_labels=3)
    assert torch.equal(clf.bert.pooler.dense.weight, base.pooler.dense.weight)
