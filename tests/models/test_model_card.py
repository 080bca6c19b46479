"""The shipped model card is a Hugging Face card: valid YAML front matter and the required parts."""

from __future__ import annotations

from pathlib import Path

import yaml

CARD = Path(__file__).resolve().parents[2] / "models" / "finsent-minilm" / "README.md"


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_front_matter_has_the_hub_fields() -> None:
    meta = front_matter(CARD.read_text(encoding="utf-8"))
    assert meta["license"] == "cc-by-nc-sa-3.0"  # trained on PhraseBank
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert set(meta["datasets"]) == {
        "takala/financial_phrasebank",
        "zeroshot/twitter-financial-news-sentiment",
    }
    assert {"accuracy", "f1"} <= set(meta["metrics"])
    results = meta["model-index"][0]["results"]
    assert len(results) == 2
    for r in results:
        values = {m["type"]: m["value"] for m in r["metrics"]}
        assert 0.5 < values["accuracy"] <= 1 and 0.5 < values["f1"] <= 1


def test_card_states_limits_licences_and_the_teacher_pin() -> None:
    from models.teacher import TEACHER_SHA256

    text = CARD.read_text(encoding="utf-8")
    for needle in ("## Limitations", "Out-of-domain", "Multi-company", "English only",
                   "CC BY-NC-SA 3.0", "Commercial-safe", TEACHER_SHA256, "unknown",
                   "finsent teacher", "finsent distill", "Batch-invariant"):  # fmt: skip
        assert needle in text, needle
