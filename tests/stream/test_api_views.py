"""The query API's pieces without a worker: answer shapes (`query.py`), access (`auth.py`), the
alert index (`alert_index.py`) and the OpenAPI description. The two-worker behaviour (forwarding,
fan-out, tokens over HTTP) is tested against real workers in tests/integration/test_query_api.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.core.records import Alert, Evidence, Scored
from pipeline.core.step import CoreConfig, step
from pipeline.reference import load_symbols
from pipeline.stream import query
from pipeline.stream.alert_index import AlertIndex, apply
from pipeline.stream.auth import Access, Policy, TokenFile

HOUR = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR)


def _scored(i: int, ticker: str, score: float, at_ms: int) -> Scored:
    label = "positive" if score > 0 else "negative"
    return Scored(
        item_id=f"id-{ticker}-{i}",
        source="newswire",
        ticker=ticker,
        relevance=1.0,
        label=label,
        score=score,
        confidence=0.9,
        published_at_ms=at_ms,
        model_version="test",
        text=f"story {i} about {ticker} number {i * 7919}",
    )


def _state(ticker: str, scores: list[float]) -> dict[str, Any]:
    """A ticker state folded by the core itself, with the watermark past every record."""
    cfg = CoreConfig()
    state: dict[str, Any] | None = None
    for i, s in enumerate(scores):
        at = T0 + i * 60_000
        state, _out = step(state, _scored(i, ticker, s, at), cfg)
    assert state is not None
    return state


# -- answers -----------------------------------------------------------------------------------


def test_known_ticker_without_data_is_an_empty_answer_and_unknown_is_none() -> None:
    symbols = load_symbols()
    about = query.company(symbols, "BA")
    assert about is not None and about["symbol"] == "BA" and "Boeing" in about["name"]
    assert query.company(symbols, "ZZZZQ") is None
    view = query.ticker_view("BA", None, CoreConfig().aggregation, about)
    assert view["has_data"] is False and view["windows"] == {} and view["sentiment_z"] is None


def test_ticker_view_shows_windows_and_the_evidence_of_the_current_window() -> None:
    cfg = CoreConfig().aggregation
    state = _state("BA", [-0.9, -0.8, 0.5])
    view = query.ticker_view("BA", state, cfg, {"symbol": "BA"})
    assert view["has_data"] is True
    assert view["windows"]["1h"]["count"] == 3
    assert view["event_ms"] == T0 + 2 * 60_000
    ids = [e["id"] for e in view["evidence"]["1h"]]
    assert set(ids) == {"id-BA-0", "id-BA-1", "id-BA-2"}
    assert json.loads(json.dumps(view)) == view  # what the web handler sends is plain JSON


def test_sort_rows_orders_by_the_key_missing_last_ties_by_ticker() -> None:
    rows = [
        {"ticker": "B", "abs_z": 1.0},
        {"ticker": "A", "abs_z": 1.0},
        {"ticker": "C", "abs_z": None},
        {"ticker": "D", "abs_z": 5.0},
    ]
    assert [r["ticker"] for r in query.sort_rows(rows)] == ["D", "A", "B", "C"]
    assert [r["ticker"] for r in query.sort_rows(rows, order="asc")] == ["A", "B", "D", "C"]
    assert [r["ticker"] for r in query.sort_rows(rows, limit=2)] == ["D", "A"]
    with pytest.raises(query.BadQuery, match="sort='nope'"):
        query.sort_rows(rows, sort="nope")


def test_summary_row_abs_z_is_the_larger_z_either_way() -> None:
    state = _state("NVDA", [0.9] * 3)
    (row,) = query.summary_rows([state], CoreConfig().aggregation)
    assert row["ticker"] == "NVDA" and row["volume"] == 3 and row["abs_z"] is None  # no baseline
    snap = SimpleNamespace(
        ticker="X",
        event_ms=1,
        windows={"1h": SimpleNamespace(count=9, unique=9, mean_score=-0.5, share_negative=1.0)},
        decayed={},
        sentiment_z=-4.0,
        volume_z=2.0,
    )
    assert query.summary_row(snap, "1h")["abs_z"] == 4.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1700000000000", 1_700_000_000_000), ("2023-11-14T22:13:20Z", 1_700_000_000_000)],
)
def test_since_takes_epoch_ms_or_zoned_iso(text: str, ms: int) -> None:
    assert query.parse_since(text) == ms


@pytest.mark.parametrize("bad", ["yesterday", "2023-11-14T22:13:20"])
def test_since_refuses_what_it_cannot_read(bad: str) -> None:
    with pytest.raises(query.BadQuery, match="since="):
        query.parse_since(bad)


def test_score_body_is_bounded() -> None:
    assert query.parse_texts({"texts": ["a" * 5000]}, 4, 100) == ["a" * 100]
    for body in ({}, {"texts": []}, {"texts": [""]}, {"texts": [1]}, ["x"]):
        with pytest.raises(query.BadQuery):
            query.parse_texts(body, 4, 100)
    with pytest.raises(query.BadQuery, match="FINSENT_API_SCORE_MAX_TEXTS"):
        query.parse_texts({"texts": ["x"] * 5}, 4, 100)


# -- access ------------------------------------------------------------------------------------


def test_writes_are_off_without_a_token_file_and_reads_open_by_default() -> None:
    policy = Policy.from_settings(None, read_auth=False, metrics_auth=False)
    denied = policy.check(Access.WRITE, "Bearer anything")
    assert denied is not None and denied.status == 403
    assert policy.check(Access.READ, None) is None
    assert policy.check(Access.METRICS, None) is None


def test_token_checks_each_kind_as_configured(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    policy = Policy.from_settings(secret, read_auth=True, metrics_auth=False)
    for kind in (Access.WRITE, Access.READ):
        assert policy.check(kind, "Bearer s3cret") is None
        assert policy.check(kind, "bearer s3cret") is None  # the scheme is case-insensitive
        for bad in (None, "", "Bearer", "Bearer wrong", "Basic s3cret"):
            denied = policy.check(kind, bad)
            assert denied is not None and denied.status == 401, bad
    assert policy.check(Access.METRICS, None) is None
    assert policy.check(Access.OPEN, None) is None


def test_a_rotated_secret_takes_effect_without_a_restart(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("old")
    tf = TokenFile(secret)
    assert tf.token() == "old"
    secret.write_text("new")
    st = secret.stat()
    os.utime(secret, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a visible change
    assert tf.token() == "new"
    secret.unlink()
    assert tf.token() == ""  # a missing secret matches nothing


def test_read_auth_without_a_token_file_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.errors import ConfigError

    monkeypatch.setenv("FINSENT_API_READ_AUTH", "true")
    with pytest.raises(
        ConfigError, match="FINSENT_API_READ_AUTH=true needs FINSENT_API_TOKEN_FILE"
    ):
        Settings()


# -- the alert index ---------------------------------------------------------------------------


def _alert(ticker: str, start_ms: int, rule: str = "SentimentCollapse") -> dict[str, Any]:
    return Alert(
        rule=rule,
        ticker=ticker,
        severity="critical",
        window="1h",
        window_start_ms=start_ms,
        event_ms=start_ms + 1000,
        values={"sentiment_z": -4.0},
        summary=f"Sentiment collapse on {ticker}",
        evidence=(Evidence("i1", "newswire", -0.9, 1.0, "bad news"),),
    ).to_dict()


def test_index_answers_newest_first_by_ticker_and_since() -> None:
    idx = AlertIndex()
    for i, t in enumerate(["BA", "NVDA", "BA", "AAPL"]):
        idx.add(_alert(t, T0 + i * HOUR))
    assert [a["window_start_ms"] for a in idx.query("BA")] == [T0 + 2 * HOUR, T0]
    assert [a["ticker"] for a in idx.query(since_ms=T0 + HOUR)] == ["AAPL", "BA", "NVDA"]
    assert len(idx.query(limit=2)) == 2
    assert all(a["false_positive"] is None for a in idx.query())


def test_index_keeps_an_alert_once_and_only_the_newest_keep() -> None:
    idx = AlertIndex(keep=3)
    for i in range(5):
        idx.add(_alert("BA", T0 + i * HOUR))
    idx.add(_alert("BA", T0 + 4 * HOUR))  # re-fired after a crash: same id
    assert len(idx) == 3
    assert [a["window_start_ms"] for a in idx.query()] == [T0 + k * HOUR for k in (4, 3, 2)]
    assert idx.get(_alert("BA", T0)["id"]) is None


def test_marks_join_the_alerts_and_a_tombstone_withdraws_them() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    idx = AlertIndex()
    a = _alert("BA", T0)
    mark = {"by": "risk", "reason": "retweets", "marked_ms": 5}

    def rec(key: bytes | None, value: bytes | None) -> Any:
        return SimpleNamespace(key=key, value=value, partition=0, offset=0)

    apply(idx, s.alerts_topic, s, [rec(b"BA", json.dumps(a).encode()), rec(b"BA", b"not json")])
    apply(idx, s.alert_marks_topic, s, [rec(a["id"].encode(), json.dumps(mark).encode())])
    assert idx.query("BA")[0]["false_positive"] == mark
    apply(idx, s.alert_marks_topic, s, [rec(a["id"].encode(), None)])
    assert idx.get(a["id"])["false_positive"] is None  # type: ignore[index]


def test_an_alert_without_an_id_gets_the_same_id_as_a_new_one() -> None:
    a = _alert("BA", T0)
    legacy = {k: v for k, v in a.items() if k != "id"}
    idx = AlertIndex()
    idx.add(legacy)
    idx.add(a)
    assert len(idx) == 1 and idx.get(a["id"]) is not None


# -- the description ---------------------------------------------------------------------------


def test_openapi_description_is_valid_and_describes_every_page() -> None:
    from openapi_spec_validator import validate

    from pipeline.stream import api, web
    from pipeline.stream.openapi import spec

    doc = spec(Settings(_env_file=None))  # type: ignore[call-arg]
    validate(doc)
    served = set()
    for module in (api, web):
        source = Path(module.__file__).read_text()  # type: ignore[arg-type]
        served |= set(re.findall(r'@app\.page\("([^"]+)"\)', source))
    assert served - {"/openapi.json"} == set(doc["paths"])


def test_openapi_marks_reads_secured_only_when_configured(tmp_path: Path) -> None:
    from pipeline.stream.openapi import spec

    secret = tmp_path / "t"
    secret.write_text("x")
    open_doc = spec(Settings(_env_file=None))  # type: ignore[call-arg]
    closed = spec(Settings(_env_file=None, api_read_auth=True, api_token_file=secret))  # type: ignore[call-arg]
    assert open_doc["paths"]["/tickers"]["get"]["security"] == []
    assert closed["paths"]["/tickers"]["get"]["security"] == [{"bearer": []}]
    assert open_doc["paths"]["/score"]["post"]["security"] == [{"bearer": []}]
