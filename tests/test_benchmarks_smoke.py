"""The benchmark command runs (tiny sizes, no timing assertions): a smoke test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_command_runs_small() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--small", "--only", "throughput", "scale"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pusher-channels" in result.stdout
