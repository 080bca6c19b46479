"""`pipeline.rules`: the rules file is checked where it is read, with one line that names the
file, the rule and the key (a misspelt gate would otherwise be dropped and the gate with it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import DEFAULT_RULES, REPO_DIR
from pipeline.errors import FinsentError
from pipeline.rules import RulesError, load_doc, load_ticker_rules


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _shipped() -> dict:
    return yaml.safe_load(DEFAULT_RULES.read_text())


def test_shipped_rules_load_with_their_gates() -> None:
    rules = {r.name: r for r in load_ticker_rules(DEFAULT_RULES)}
    assert rules["VolumeSpike"].min_items == 10 and rules["VolumeSpike"].min_unique == 5
    assert rules["SentimentCollapse"].min_unique == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_unqiue": 5}, r"VolumeSpike: unknown key 'min_unqiue' \(did you mean min_unique"),
        ({"min_unique": -2}, "rule VolumeSpike: min_unique must be a whole number >= 0"),
        ({"min_unique": "five"}, "rule VolumeSpike: min_unique must be a whole number >= 0"),
        ({"min_unique": 2.5}, "rule VolumeSpike: min_unique must be a whole number >= 0"),
        ({"signal": "vibes"}, "rule VolumeSpike: unknown signal 'vibes'"),
        ({"evidence": "both"}, "rule VolumeSpike: unknown evidence 'both'"),
    ],
)
def test_a_bad_ticker_rule_is_one_clear_line(tmp_path: Path, change: dict, message: str) -> None:
    doc = _shipped()
    spike = next(r for r in doc["ticker_rules"] if r["name"] == "VolumeSpike")
    spike.update(change)
    path = _write(tmp_path, doc)
    with pytest.raises(RulesError, match=message) as err:
        load_ticker_rules(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert isinstance(err.value, FinsentError)


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    doc = {**_shipped(), "dashbaord_base_url": "http://grafana"}
    with pytest.raises(RulesError, match="did you mean dashboard_base_url"):
        load_doc(_write(tmp_path, doc))


def test_a_missing_or_broken_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_doc(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ticker_rules: [\n")
    with pytest.raises(RulesError, match="not valid YAML") as err:
        load_doc(bad)
    assert "\n" not in str(err.value)


def test_finsent_rules_prints_the_error_without_a_traceback(tmp_path: Path) -> None:
    doc = _shipped()
    doc["ticker_rules"][0]["min_unique"] = -1
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "rules",
            "--rules",
            str(_write(tmp_path, doc)),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "min_unique must be" in out.stderr
    assert "Traceback" not in out.stderr
