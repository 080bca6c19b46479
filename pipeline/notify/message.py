"""What an enriched notification says: Alertmanager's webhook (version 4) in, the in-stream alert
that matches each ticker alert picked from the API's answer, one message out. Pure: no I/O, no
clock (`server` fetches and posts; everything here is a function of its arguments).

The message is Slack-compatible (`text` + `blocks`): Slack's incoming webhooks read both, and
the Slack-compatible webhooks of Mattermost and Rocket.Chat (and most chat bridges) read `text`,
so one shape reaches most chat tools; `json` adds the structured alerts for a bridge of your own.
`text` always holds everything (headlines, links as `<url|label>`, the enrichment status), so a
reader of `text` alone misses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipeline.config import NOTIFY_FORMATS as FORMATS

# How far before an alert's startsAt the API is asked for in-stream alerts, and the drill-down
# range a link opens around it: a ticker rule reads a 1h window and Prometheus adds `for:`, so
# the in-stream alert is at most a window before the page; the range shows the hours before.
SINCE_BEFORE_MS = 6 * 3_600_000
RANGE_BEFORE_MS = 3 * 3_600_000
RANGE_AFTER_MS = 3_600_000
RESOLVED_AFTER_MS = 15 * 60_000
HEADLINE_CHARS = 200
MAX_ALERTS = 20  # per message; Slack takes at most 50 blocks, and a page of 20 is read already


class PayloadError(ValueError):
    """The webhook body is not an Alertmanager version-4 notification (one line)."""


@dataclass(frozen=True)
class Enrichment:
    """What the API said for one ticker: the in-stream alerts (newest first, as `GET /alerts`
    answers), or why there is nothing (`error`, e.g. "timed out after 2 s")."""

    alerts: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    complete: bool = True  # False: the API's alert index was still catching up


@dataclass(frozen=True)
class Headline:
    """One evidence item as a notification shows it."""

    source: str
    score: float
    text: str
    id: str = ""


@dataclass(frozen=True)
class Enriched:
    """One Alertmanager alert with what the enricher found for it."""

    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_ms: int | None
    ends_ms: int | None
    dashboard_url: str | None
    evidence_url: str | None
    headlines: tuple[Headline, ...] = ()
    matched_id: str | None = None
    false_positive: Mapping[str, Any] | None = None
    fetched: bool = False  # the API was asked (a firing ticker alert)
    # None: enriched (or nothing to enrich); else the sentence the message shows instead.
    not_enriched: str | None = None

    @property
    def enriched(self) -> bool:
        """Whether the API answered and an in-stream alert matched (headlines shown)."""
        return self.fetched and self.not_enriched is None

    @property
    def ticker(self) -> str | None:
        """The alert's `ticker` label: only ticker alerts are enriched."""
        return self.labels.get("ticker") or None


def parse_time_ms(text: str | None) -> int | None:
    """Alertmanager's RFC 3339 time in epoch ms; None for missing or the zero time (a firing
    alert's endsAt is often 0001-01-01)."""
    if not text or text.startswith("0001-"):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_webhook(body: Any) -> dict[str, Any]:
    """The webhook body, checked: a mapping with `version` "4" and a list of alerts, each with
    labels. Raises PayloadError naming what is wrong."""
    if not isinstance(body, dict):
        raise PayloadError("expected a JSON object (Alertmanager webhook, version 4)")
    if str(body.get("version")) != "4":
        raise PayloadError(f"expected webhook version 4, got {body.get('version')!r}")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not all(
        isinstance(a, dict) and isinstance(a.get("labels"), dict) for a in alerts
    ):
        raise PayloadError("expected `alerts`: a list of objects with `labels`")
    return body


def since_ms(alert: Mapping[str, Any]) -> int | None:
    """The `since` of the API query for an Alertmanager alert: SINCE_BEFORE_MS before it started."""
    start = parse_time_ms(alert.get("startsAt"))
    return None if start is None else start - SINCE_BEFORE_MS


def time_range(starts_ms: int | None, ends_ms: int | None, status: str) -> tuple[int, int] | None:
    """The drill-down range around an alert: from RANGE_BEFORE_MS before its start to
    RANGE_AFTER_MS after it (a resolved alert: to RESOLVED_AFTER_MS after its end)."""
    if starts_ms is None:
        return None
    if status == "resolved" and ends_ms is not None and ends_ms >= starts_ms:
        return starts_ms - RANGE_BEFORE_MS, ends_ms + RESOLVED_AFTER_MS
    return starts_ms - RANGE_BEFORE_MS, starts_ms + RANGE_AFTER_MS


def with_range(url: str, span: tuple[int, int] | None) -> str:
    """`url` with Grafana's `from`/`to` (epoch ms) set to `span`, other parameters kept."""
    if span is None:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k not in ("from", "to")]
    query += [("from", str(span[0])), ("to", str(span[1]))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def match(
    alert: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The in-stream alert behind a Prometheus alert: same rule (alertname) and ticker, the
    window label's window when it has one, and the nearest in event time to startsAt
    (Prometheus does not know the in-stream id; a rule fires once per ticker and window)."""
    labels = alert.get("labels") or {}
    rule, ticker, window = labels.get("alertname"), labels.get("ticker"), labels.get("window")
    start = parse_time_ms(alert.get("startsAt"))
    same = [
        c
        for c in candidates
        if c.get("rule") == rule
        and c.get("ticker") == ticker
        and (window is None or c.get("window") == window)
    ]
    if not same:
        return None
    if start is None:
        return same[0]  # newest first

    def distance(c: Mapping[str, Any]) -> float:
        event = c.get("event_ms")
        return abs(event - start) if isinstance(event, int | float) else math.inf

    return min(same, key=distance)


def headlines(api_alert: Mapping[str, Any], n: int) -> tuple[Headline, ...]:
    """The first `n` evidence items of an in-stream alert (already in the rule's order: the most
    negative first for a collapse), texts cut to HEADLINE_CHARS on one line."""
    out = []
    for e in list(api_alert.get("evidence") or [])[:n]:
        if not isinstance(e, Mapping):
            continue
        text = " ".join(str(e.get("text", "")).split())
        if len(text) > HEADLINE_CHARS:
            text = text[: HEADLINE_CHARS - 1] + "…"
        try:
            score = float(e.get("score", 0.0))
        except (TypeError, ValueError):
            score = 0.0
        out.append(Headline(str(e.get("source", "")), score, text, str(e.get("id", ""))))
    return tuple(out)


def enrich(alert: Mapping[str, Any], found: Enrichment | None, n_headlines: int) -> Enriched:
    """One Alertmanager alert with its headlines and exact-range dashboard link. `found` is the
    API's answer for its ticker (None: not a ticker alert, or a resolved one, not fetched)."""
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
    status = str(alert.get("status", "firing"))
    starts, ends = parse_time_ms(alert.get("startsAt")), parse_time_ms(alert.get("endsAt"))
    dashboard = annotations.get("dashboard_url")
    if dashboard:
        dashboard = with_range(dashboard, time_range(starts, ends, status))
    base = Enriched(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_ms=starts,
        ends_ms=ends,
        dashboard_url=dashboard,
        evidence_url=annotations.get("evidence_url"),
    )
    if found is None:
        return base
    base = replace(base, fetched=True)
    if found.error is not None:
        return replace(base, not_enriched=f"headlines not available: {found.error}")
    api_alert = match(alert, found.alerts)
    if api_alert is None:
        why = "no in-stream alert of this rule for the ticker near the alert's start"
        if not found.complete:
            why += " (the API's alert index is still catching up)"
        return replace(base, not_enriched=f"headlines not available: {why}")
    fp = api_alert.get("false_positive")
    return replace(
        base,
        headlines=headlines(api_alert, n_headlines),
        matched_id=str(api_alert.get("id")) if api_alert.get("id") is not None else None,
        false_positive=fp if isinstance(fp, Mapping) else None,
    )


# -- rendering ---------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack mrkdwn escaping (&, <, >): a headline is untrusted text, and `<!channel>` or
    `<https://evil|bank>` in a post must reach the channel as text, not as a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    """A Slack mrkdwn link; the URL is ours (annotations), its `|` and `>` are escaped anyway."""
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{label}>"


def _iso(ms: int | None) -> str:
    """An epoch-ms time as `2026-12-02 07:40 UTC`, for humans."""
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def title(e: Enriched) -> str:
    """`[FIRING] SentimentCollapse BA (critical)`: status, rule, ticker, severity."""
    name = e.labels.get("alertname", "alert")
    who = f" {e.ticker}" if e.ticker else ""
    sev = e.labels.get("severity")
    return f"[{e.status.upper()}] {name}{who}" + (f" ({sev})" if sev else "")


def alert_lines(e: Enriched) -> list[str]:
    """The mrkdwn lines of one alert: title, summary, headlines or why there are none, a
    false-positive mark, links."""
    lines = [f"*{escape(title(e))}* since {_iso(e.starts_ms)}"]
    summary = e.annotations.get("summary")
    if summary:
        lines.append(escape(summary))
    if e.headlines:
        lines.append("Top headlines:")
        lines += [f"• {h.score:+.2f} {escape(h.source)}: {escape(h.text)}" for h in e.headlines]
    if e.not_enriched:
        lines.append(f"_Not enriched: {escape(e.not_enriched)}_")
    if e.false_positive:
        by = escape(str(e.false_positive.get("by", "?")))
        reason = escape(str(e.false_positive.get("reason", "")))
        lines.append(f"_Marked false positive by {by}: {reason}_")
    links = [
        _link(url, label)
        for url, label in (
            (e.dashboard_url, "dashboard"),
            (e.evidence_url, "evidence"),
            (e.annotations.get("runbook_url"), "runbook"),
        )
        if url
    ]
    if links:
        lines.append(" | ".join(links))
    return lines


def build_message(
    payload: Mapping[str, Any], alerts: Sequence[Enriched], fmt: str = "slack"
) -> dict[str, Any]:
    """The body posted to the destination: `text` (everything, mrkdwn) and `blocks` (Slack);
    `fmt="json"` also carries the structured alerts. At most MAX_ALERTS alerts are shown, with
    a line saying how many more there were (Alertmanager's own `truncatedAlerts` included)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    shown = list(alerts)[:MAX_ALERTS]
    hidden = len(alerts) - len(shown) + int(payload.get("truncatedAlerts") or 0)
    firing = sum(1 for a in alerts if a.status == "firing")
    head = f"finsent: {firing} firing, {len(alerts) - firing} resolved"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(head)}}
    ]
    text_parts = [escape(head)]
    for e in shown:
        body = "\n".join(alert_lines(e))
        text_parts.append(body)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    if hidden > 0:
        more = f"…and {hidden} more alert(s) in this group"
        text_parts.append(more)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    out: dict[str, Any] = {"text": "\n\n".join(text_parts), "blocks": blocks}
    if fmt == "json":
        out["status"] = payload.get("status")
        out["groupKey"] = payload.get("groupKey")
        out["alerts"] = [as_json(e) for e in alerts]
    return out


def as_json(e: Enriched) -> dict[str, Any]:
    """One enriched alert as plain JSON (the `json` format's `alerts`)."""
    return {
        "status": e.status,
        "labels": dict(e.labels),
        "annotations": dict(e.annotations),
        "startsAt_ms": e.starts_ms,
        "endsAt_ms": e.ends_ms,
        "dashboard_url": e.dashboard_url,
        "evidence_url": e.evidence_url,
        "enriched": e.enriched,
        "not_enriched": e.not_enriched,
        "in_stream_id": e.matched_id,
        "false_positive": dict(e.false_positive) if e.false_positive else None,
        "headlines": [
            {"id": h.id, "source": h.source, "score": h.score, "text": h.text} for h in e.headlines
        ],
    }
