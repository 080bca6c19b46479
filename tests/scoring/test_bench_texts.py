"""Benchmark texts are deterministic and realistic (9-60 words); a tiny bench run works."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from pipeline.dev.bench_texts import make_texts


def test_texts_deterministic_and_in_range() -> None:
    a, b = make_texts(200), make_texts(200)
    assert a == b and len(set(a)) > 190
    words = [len(t.split()) for t in a]
    assert min(words) >= 9 and max(words) <= 61
    assert 25 <= sum(words) / len(words) <= 45


def test_bench_json_runs_shipped_rows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # the worker-only install: torch rows skip
    assert main(["bench", "--n", "16", "--batch", "8", "--json", "--providers", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = [r["name"] for r in out["rows"]]
    assert names == ["shipped int8 (unsorted)", "shipped int8 (length-sorted)"]
    assert all(r["texts_per_s"] > 0 for r in out["rows"]) and out["cpu_count"] >= 1
    assert any("torch" in n for n in out["notes"])
