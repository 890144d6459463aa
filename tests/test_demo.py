"""The README's demo command runs as written and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


def test_demo_runs_to_the_end() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[-1] == "done"
    assert "  back and subscribed" in result.stdout
    assert "ada got private-encrypted-vault code {'pin': '1234'}" in lines
    assert "ada got a client event from user bob: {'text': 'hi Ada'}" in lines
    assert "got {'text': 'no event loop needed'}" in lines
    assert "iterated tick {'tick': 2}" in lines
    bound = "bound handlers saw ['order-created', 'refund'] (nothing was bound to 'invoice')"
    assert bound in lines
    assert "the channel was not subscribed for" in result.stdout
    assert "private-deploys subscribed through two 503s from the auth endpoint" in lines
    assert any(line.startswith("health: healthy; private-orders subscribed") for line in lines)
