"""What an enriched notification says (`pipeline.notify.message`): unit tests on Alertmanager-shaped
payloads and API-shaped answers (the contract of `GET /alerts`), no server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.notify import message as msg

START = "2026-12-02T07:40:00Z"
START_MS = 1_796_197_200_000  # = START
HOUR = 3_600_000
DASH = (
    "http://grafana.example/d/finsent-ticker-drilldown/?var-ticker=BA&from=now-6h&to=now"
    "&var-datasource=prom"
)


def am_alert(**over: Any) -> dict[str, Any]:
    """One alert as Alertmanager's webhook (version 4) carries it."""
    a: dict[str, Any] = {
        "status": "firing",
        "labels": {
            "alertname": "SentimentCollapse",
            "severity": "critical",
            "ticker": "BA",
            "window": "1h",
            "instance": "w1:6066",
        },
        "annotations": {
            "summary": "Sentiment collapse on BA",
            "dashboard_url": DASH,
            "evidence_url": "http://api.example/alerts?ticker=BA",
            "runbook_url": "https://example/runbooks/sentiment-collapse.md",
        },
        "startsAt": START,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc",
    }
    a.update(over)
    return a


def api_alert(rule: str, event_ms: int, texts: list[str], **over: Any) -> dict[str, Any]:
    """One element of `GET /alerts`' answer: `Alert.to_dict()` plus `false_positive`."""
    a = {
        "type": "alert",
        "id": f"{rule}:BA:1h:{event_ms - event_ms % HOUR}",
        "rule": rule,
        "ticker": "BA",
        "severity": "critical",
        "window": "1h",
        "window_start_ms": event_ms - event_ms % HOUR,
        "event_ms": event_ms,
        "values": {"sentiment_z": -4.2},
        "summary": "Sentiment collapse on BA",
        "evidence": [
            {"id": f"i{k}", "source": "newswire", "score": -0.9 + k / 10, "weight": 0.9, "text": t}
            for k, t in enumerate(texts)
        ],
        "false_positive": None,
    }
    a.update(over)
    return a


def test_times_parse_and_the_zero_time_is_none() -> None:
    assert msg.parse_time_ms(START) == START_MS
    assert msg.parse_time_ms("2026-12-02T07:40:00.5+00:00") == START_MS + 500
    assert msg.parse_time_ms("0001-01-01T00:00:00Z") is None
    assert msg.parse_time_ms("yesterday") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected a JSON object"),
        ({"version": "3", "alerts": []}, "version 4"),
        ({"version": "4", "alerts": [{"status": "firing"}]}, "with `labels`"),
    ],
)
def test_a_body_that_is_not_a_webhook_is_refused(body: Any, message: str) -> None:
    with pytest.raises(msg.PayloadError, match=message):
        msg.parse_webhook(body)


def test_the_matching_in_stream_alert_is_same_rule_ticker_window_nearest_in_time() -> None:
    candidates = [  # newest first, as the API answers
        api_alert("SentimentCollapse", START_MS + 2 * HOUR, ["later"]),
        api_alert("VolumeSpike", START_MS - 60_000, ["other rule"]),
        api_alert("SentimentCollapse", START_MS - 3 * 60_000, ["this one"]),
        api_alert("SentimentCollapse", START_MS - 60_000, ["wrong window"], window="1d"),
        api_alert("SentimentCollapse", START_MS - 5 * HOUR, ["earlier"]),
    ]
    found = msg.match(am_alert(), candidates)
    assert found is not None and found["evidence"][0]["text"] == "this one"
    assert (
        msg.match(am_alert(labels={"alertname": "SentimentSurge", "ticker": "BA"}), candidates)
        is None
    )


def test_enriched_alert_has_top_headlines_and_the_exact_dashboard_range() -> None:
    texts = [f"Boeing headline {k}" for k in range(8)]
    found = msg.Enrichment(alerts=(api_alert("SentimentCollapse", START_MS - 120_000, texts),))
    e = msg.enrich(am_alert(), found, 3)
    assert e.enriched and e.matched_id and e.matched_id.startswith("SentimentCollapse:BA:1h:")
    assert [h.text for h in e.headlines] == texts[:3]
    assert e.headlines[0].source == "newswire" and e.headlines[0].score == pytest.approx(-0.9)
    assert e.dashboard_url is not None
    q = parse_qs(urlsplit(e.dashboard_url).query)
    assert q["from"] == [str(START_MS - msg.RANGE_BEFORE_MS)]
    assert q["to"] == [str(START_MS + msg.RANGE_AFTER_MS)]
    assert q["var-ticker"] == ["BA"] and q["var-datasource"] == ["prom"]  # the rest kept


def test_a_resolved_alert_ranges_to_its_end() -> None:
    ends = "2026-12-02T09:10:00Z"
    e = msg.enrich(am_alert(status="resolved", endsAt=ends), None, 5)
    assert e.dashboard_url is not None
    q = parse_qs(urlsplit(e.dashboard_url).query)
    end_ms = msg.parse_time_ms(ends)
    assert end_ms is not None and q["to"] == [str(end_ms + msg.RESOLVED_AFTER_MS)]
    assert not e.fetched and not e.enriched and e.not_enriched is None


def test_an_api_failure_or_no_match_says_so_and_keeps_the_links() -> None:
    down = msg.enrich(am_alert(), msg.Enrichment(error="the evidence API timed out"), 5)
    assert down.fetched and not down.enriched and down.headlines == ()
    assert down.not_enriched == "headlines not available: the evidence API timed out"
    assert down.dashboard_url and down.evidence_url
    none = msg.enrich(am_alert(), msg.Enrichment(alerts=()), 5)
    assert none.not_enriched and "no in-stream alert" in none.not_enriched
    for e in (down, none):
        text = msg.build_message({"status": "firing"}, [e])["text"]
        assert "Not enriched: headlines not available" in text
        assert "|dashboard>" in text and "<http://api.example/alerts?ticker=BA|evidence>" in text


def test_message_text_and_blocks_show_headlines_links_and_a_false_positive_mark() -> None:
    mark = {"by": "ana", "reason": "old news", "marked_ms": START_MS}
    found = msg.Enrichment(
        alerts=(
            api_alert(
                "SentimentCollapse",
                START_MS,
                ["Boeing halts 737 deliveries", "FAA grounds fleet"],
                false_positive=mark,
            ),
        )
    )
    e = msg.enrich(am_alert(), found, 5)
    out = msg.build_message({"status": "firing", "groupKey": "g"}, [e], "slack")
    assert set(out) == {"text", "blocks"}
    text = out["text"]
    assert "*[FIRING] SentimentCollapse BA (critical)* since 2026-12-02 07:40 UTC" in text
    assert "• -0.90 newswire: Boeing halts 737 deliveries" in text
    assert "• -0.80 newswire: FAA grounds fleet" in text
    assert "_Marked false positive by ana: old news_" in text
    assert "|runbook>" in text
    assert text.index("Boeing halts") < text.index("FAA grounds")
    sections = [b["text"]["text"] for b in out["blocks"] if b["type"] == "section"]
    assert any("FAA grounds fleet" in s for s in sections)


def test_untrusted_headline_text_cannot_mention_or_link() -> None:
    evil = "<!channel> buy now <https://evil.example|your bank> & more"
    found = msg.Enrichment(alerts=(api_alert("SentimentCollapse", START_MS, [evil]),))
    text = msg.build_message({}, [msg.enrich(am_alert(), found, 5)])["text"]
    assert "<!channel>" not in text and "<https://evil.example" not in text
    assert "&lt;!channel&gt; buy now &lt;https://evil.example|your bank&gt; &amp; more" in text


def test_a_long_headline_is_cut_on_one_line() -> None:
    long = "word " * 100 + "\nsecond line"
    (h,) = msg.headlines(api_alert("X", START_MS, [long]), 5)
    assert len(h.text) == msg.HEADLINE_CHARS and h.text.endswith("…") and "\n" not in h.text


def test_json_format_carries_the_structured_alerts_and_caps_the_list() -> None:
    found = msg.Enrichment(alerts=(api_alert("SentimentCollapse", START_MS, ["a", "b"]),))
    alerts = [msg.enrich(am_alert(), found, 5)] + [
        msg.enrich(am_alert(labels={"alertname": "FinsentNoInput", "job": f"j{k}"}), None, 5)
        for k in range(msg.MAX_ALERTS + 2)
    ]
    out = msg.build_message({"status": "firing", "truncatedAlerts": 4}, alerts, "json")
    assert out["alerts"][0]["enriched"] is True
    assert [h["text"] for h in out["alerts"][0]["headlines"]] == ["a", "b"]
    assert out["alerts"][1]["enriched"] is False and out["alerts"][1]["not_enriched"] is None
    assert len(out["alerts"]) == len(alerts)  # structured: all of them
    assert f"…and {len(alerts) - msg.MAX_ALERTS + 4} more alert(s)" in out["text"]
    assert sum(b["type"] == "section" for b in out["blocks"]) == 1 + msg.MAX_ALERTS


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        msg.build_message({}, [], "teams")


def test_no_match_while_the_api_index_catches_up_says_so() -> None:
    e = msg.enrich(am_alert(), msg.Enrichment(alerts=(), complete=False), 5)
    assert e.not_enriched is not None and "still catching up" in e.not_enriched
