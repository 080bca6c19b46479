"""`finsent demo` (the README's first command) end to end on a real broker, worker and model:
it warms the baseline from the whole history, shows BA's sentiment z-score as a number far
below -3, shows the SentimentCollapse alert for BA with the headlines behind it and the URLs to
open, and ends by itself."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pipeline.dev.sample import COLLAPSE, DEMO_TICKERS

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def cells(out: str, ticker: str) -> list[str]:
    """The last table row of `ticker` the demo printed, as its cells after the ticker."""
    rows = [line for line in out.splitlines() if re.match(rf"│ {ticker}\s+│", line)]
    assert rows, out[-3000:]
    return [c.strip() for c in rows[-1].split("│")[2:-1]]


def test_demo_warms_the_baseline_and_shows_boeings_collapse_with_its_headlines(
    kafka_bootstrap: str, clean_finsent_env: dict[str, str]
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--bootstrap", kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=420,
        env={**clean_finsent_env, "COLUMNS": "200"},
    )
    text = out.stdout
    assert out.returncode == 0, text[-4000:] + out.stderr[-3000:]
    assert "worker ready; metrics at http://127.0.0.1:" in text
    warm = re.search(r"warming the baseline: ([\d,]+)/([\d,]+) history items read", text)
    assert warm and warm.group(1) == warm.group(2) and int(warm.group(2).replace(",", "")) > 2000
    # the table: every ticker, BA's z-score a number below -3 over a 48-hour baseline
    assert all(cells(text, t) for t in DEMO_TICKERS)
    ba = cells(text, "BA")
    z, baseline = ba[7], ba[8]
    assert re.fullmatch(r"[+-]\d+\.\d", z) and float(z) < -3, ba
    assert int(baseline) >= 24
    # the alert, with the headlines behind it, and where to look next
    panel = text[text.index("ALERT SentimentCollapse BA") :]
    assert "critical" in panel[:300]
    shown = [h for h in COLLAPSE["BA"] if h in panel]
    assert len(shown) >= 5, panel[:3000]
    for path in ("/metrics", "/tickers/BA", "/alerts?ticker=BA"):
        assert re.search(rf"http://127\.0\.0\.1:\d+{re.escape(path)}", text), path
    assert "SentimentCollapse fired for BA" in text
    # history and live part join in event time: the worker read them all, none was late
    read = re.search(r"the worker read ([\d,]+) items, (\d+) late", text)
    assert read and read.group(2) == "0", text[-2000:]
    live = re.search(r"5/5 live: (\d+) items", text)
    assert live, text[-2000:]
    assert int(read.group(1).replace(",", "")) == int(warm.group(2).replace(",", "")) + int(
        live.group(1)
    )
