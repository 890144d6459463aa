"""The deterministic simulation of the asyncio client (see ``driver.py``).

- ``test_seeds``: the default run, ``--sim-seeds`` seeds (default 300) of
  ``--sim-steps`` steps (default 100) each.
- ``test_seed``: one seed, ``--sim-seed N``: what a failure's reproduction runs.
- ``test_same_seed_same_run``: a seed replays bit for bit.
- ``test_soak``: at least 500,000 steps in all (marked ``soak``; about 7 minutes
  on two cores).

A failing seed prints one line with the command that reproduces it, then the last
steps of its trace.
"""

from __future__ import annotations

import collections
import time

import pytest

from .driver import SimulationResult, run_seed

DEFAULT_SEEDS = 300
DEFAULT_STEPS = 100
SOAK_SEEDS = 2_000
SOAK_STEPS = 250
SOAK_MINIMUM = 500_000


def _option(config: pytest.Config, name: str, default: int) -> int:
    value = config.getoption(name)
    return default if value is None else int(value)


def _summary(results: list[SimulationResult]) -> str:
    """The first failure in full, then one line per broken invariant."""
    failed = [result for result in results if result.failure is not None]
    if not failed:
        return ""
    by_invariant: dict[str, list[SimulationResult]] = collections.defaultdict(list)
    for result in failed:
        assert result.failure is not None
        by_invariant[result.failure.invariant].append(result)
    lines = [failed[0].report(), "", f"{len(failed)} of {len(results)} seeds failed:"]
    for name, group in sorted(by_invariant.items()):
        seeds = ", ".join(str(result.seed) for result in group[:8])
        lines.append(f"  {name}: {len(group)} seeds (e.g. {seeds})")
    lines.append("")
    lines.extend(result.report().splitlines()[0] for result in failed[1:20])
    return "\n".join(lines)


def _without(config: pytest.Config) -> frozenset[str]:
    text = str(config.getoption("--sim-without") or "")
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def _run(config: pytest.Config, first: int, seeds: int, steps: int) -> list[SimulationResult]:
    without = _without(config)
    return [run_seed(seed, steps, without) for seed in range(first, first + seeds)]


def test_seeds(pytestconfig: pytest.Config) -> None:
    """Many seeds, few steps each: the default run (well under a minute)."""
    seeds = _option(pytestconfig, "--sim-seeds", DEFAULT_SEEDS)
    steps = _option(pytestconfig, "--sim-steps", DEFAULT_STEPS)
    first = _option(pytestconfig, "--sim-first-seed", 0)
    results = _run(pytestconfig, first, seeds, steps)
    summary = _summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)


def test_seed(pytestconfig: pytest.Config) -> None:
    """One seed (``--sim-seed``; 0 by default), as a failure's reproduction runs it."""
    seed = _option(pytestconfig, "--sim-seed", 0)
    steps = _option(pytestconfig, "--sim-steps", DEFAULT_STEPS)
    result = run_seed(seed, steps, _without(pytestconfig))
    if result.failure is not None:
        pytest.fail(result.report(), pytrace=False)


def test_same_seed_same_run() -> None:
    """Two runs of one seed take the same steps and see the same things, bit for bit."""
    for seed in (3, 17, 101):
        first, second = run_seed(seed, 150), run_seed(seed, 150)
        assert first.digest == second.digest, f"seed {seed} did not replay identically"
        assert first.steps_done == second.steps_done
        assert first.trace_tail == second.trace_tail


@pytest.mark.soak
@pytest.mark.timeout(3600)  # the default 120 s would fire inside a seed, as a loop error
def test_soak(pytestconfig: pytest.Config) -> None:
    """At least 500,000 steps in all, over longer runs."""
    seeds = _option(pytestconfig, "--sim-seeds", SOAK_SEEDS)
    steps = _option(pytestconfig, "--sim-steps", SOAK_STEPS)
    first = _option(pytestconfig, "--sim-first-seed", 10_000)
    started = time.perf_counter()
    results = _run(pytestconfig, first, seeds, steps)
    total = sum(result.steps_done for result in results)
    summary = _summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)
    assert seeds * steps >= SOAK_MINIMUM or pytestconfig.getoption("--sim-seeds") is not None
    print(f"soak: {total} steps over {seeds} seeds in {time.perf_counter() - started:.1f} s")
