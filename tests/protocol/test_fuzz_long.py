"""The long fuzz run: at least 100 000 generated frames and event sequences.

Marked ``soak``: not part of the default test command (which runs the same
properties with a few hundred examples, in test_robustness.py). Run it with::

    .venv/bin/pytest -m soak tests/protocol/test_fuzz_long.py -s
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from pusher_channels.protocol.actions import ConnectionState
from tests.protocol.test_robustness import FRAMES, ConnectionMachine, check_receive_in_state

pytestmark = pytest.mark.soak

LONG = settings(
    max_examples=12_000,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_at_least_100_000_frames_in_every_state() -> None:
    fed = 0

    @LONG
    @given(frames=st.lists(FRAMES, min_size=1, max_size=4))
    def feed(frames: list[Any]) -> None:
        nonlocal fed
        for state in ConnectionState:
            check_receive_in_state(state, frames)
            fed += len(frames)

    started = time.monotonic()
    feed()
    print(f"{fed} frames fuzzed in {time.monotonic() - started:.0f} s")
    assert fed >= 100_000


def test_long_stateful_run() -> None:
    started = time.monotonic()
    run_state_machine_as_test(
        ConnectionMachine,
        settings=settings(
            max_examples=3_000,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    print(f"3000 event sequences of up to 40 steps in {time.monotonic() - started:.0f} s")
