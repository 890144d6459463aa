"""Command-line options of the simulation: which seeds, how many steps."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simulation", "deterministic simulation of the client")
    group.addoption("--sim-seed", type=int, default=None, help="run this one seed (test_seed)")
    group.addoption(
        "--sim-steps", type=int, default=None, help="steps per seed (default: per test)"
    )
    group.addoption("--sim-seeds", type=int, default=None, help="how many seeds test_seeds runs")
    group.addoption(
        "--sim-first-seed", type=int, default=None, help="the first seed test_seeds runs"
    )
    group.addoption(
        "--sim-without",
        default="",
        help="comma-separated driver actions or callback behaviours to leave out "
        "(e.g. hang,cancel,init_again), to look past a known failure",
    )
