"""Fixtures for model-lifecycle tests: a tiny random BERT and a tiny generated dataset (offline)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

SHIPPED_TOKENIZER = (
    Path(__file__).resolve().parents[2] / "models" / "finsent-minilm" / "tokenizer.json"
)

POS = ["rises", "beats estimates", "jumps", "raises guidance", "soars", "upgraded"]
NEG = ["falls", "misses estimates", "plunges", "cuts guidance", "slumps", "downgraded"]
NEU = [
    "holds meeting",
    "publishes report",
    "names director",
    "moves office",
    "files notice",
    "lists shares",
]
COMPANIES = ["Nokia", "Apple", "Fortum", "Tesla"]


def make_rows(n_per_class: int = 16, seed: int = 0) -> list[dict[str, str]]:
    """Short synthetic headlines whose label is decided by the verb phrase."""
    rng = random.Random(seed)
    rows = []
    for label, phrases in (("positive", POS), ("negative", NEG), ("neutral", NEU)):
        for i in range(n_per_class):
            rows.append(
                {
                    "text": f"{rng.choice(COMPANIES)} {phrases[i % len(phrases)]}",
                    "label": label,
                    "source": "toy",
                }
            )
    return rows


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, hidden-32 BertForSequenceClassification with the shipped vocab, saved to disk."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=3,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(cfg)
    out = tmp_path_factory.mktemp("tiny-bert")
    model.save_pretrained(str(out))
    transformers.BertTokenizerFast(tokenizer_file=str(SHIPPED_TOKENIZER)).save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in make_rows()))
    return path


def _train_args(base: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--base", str(base), "--out", str(out),
            "--batch-size", "8", "--val-fraction", "0.25", "--patience", "99", "--threads", "2",
            "--seed", "0", *extra]  # fmt: skip


@pytest.fixture(scope="session")
def train_args() -> Callable[..., list[str]]:
    """Builds `finsent train` argv for the tiny model (a fixture: test dirs are not packages)."""
    return _train_args


@pytest.fixture(scope="session")
def tiny_trained(tiny_base: Path, toy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Full fine-tune of the tiny model on the toy data (a few seconds)."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("tiny-ckpt")
    assert (
        main(
            _train_args(tiny_base, toy_data, out, "--epochs", "6", "--lr", "3e-3", "--warmup", "0")
        )
        == 0
    )
    return out


@pytest.fixture(scope="session")
def tiny_mpnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, hidden-32 MPNet (the teacher's architecture) whose pad token is id 1, as MPNet's.

    The shipped BERT vocab stands in for MPNet's; `[unused0]` (id 1) plays `<pad>`, so a loop that
    pads with 0 instead of the tokenizer's pad id would shift MPNet's position ids.
    """
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.MPNetConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=160, pad_token_id=1, num_labels=3,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("tiny-mpnet")
    transformers.MPNetForMaskedLM(cfg).save_pretrained(str(out))
    tok = transformers.BertTokenizerFast(
        tokenizer_file=str(SHIPPED_TOKENIZER), pad_token="[unused0]"
    )
    tok.save_pretrained(str(out))
    return out
