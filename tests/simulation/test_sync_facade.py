"""The blocking facade over the simulated network, in real time (see ``sync_facade.py``)."""

from __future__ import annotations

import pytest

from .sync_facade import run_sync_seed

SYNC_SEEDS = 6


@pytest.mark.parametrize("seed", range(SYNC_SEEDS))
def test_sync_seeds(seed: int) -> None:
    """A few seeds: every blocking call returns promptly, no thread is left."""
    run = run_sync_seed(seed)
    if run.failures:
        pytest.fail(run.report(), pytrace=False)


def test_sync_seed(pytestconfig: pytest.Config) -> None:
    """One seed (``--sim-seed``), as a failure's reproduction runs it."""
    seed = pytestconfig.getoption("--sim-seed")
    run = run_sync_seed(0 if seed is None else int(seed))
    if run.failures:
        pytest.fail(run.report(), pytrace=False)
