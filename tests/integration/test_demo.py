"""`finsent demo` (the README's first command) runs end to end and shows per-ticker rows."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_demo_feeds_through_kafka_and_shows_live_table(kafka_bootstrap: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "demo",
            "--bootstrap",
            kafka_bootstrap,
            "--duration",
            "25",
            "--items",
            "150",
            "--rate",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "worker ready; metrics at http://127.0.0.1:" in out.stdout
    rows = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"│ (AAPL|MSFT|TSLA|JPM|XOM|BA|NVDA|AMZN)\s+│\s+(\d+)", out.stdout)
    }
    assert len(rows) == 8 and sum(rows.values()) > 50, out.stdout[-3000:]
