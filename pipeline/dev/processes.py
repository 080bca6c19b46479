"""A `finsent worker` as a child process, for the demo, `bench --stream` and the integration
tests: one place that says how it is started and where its output goes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def spawn_worker(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `finsent worker` (warnings and above) with exactly `env`, stdout and stderr into
    `log_path`. The parent's copy of the log file is closed at once: the child keeps its own
    descriptor, and an open copy here would be a ResourceWarning."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", "--log-level", "warning"],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
