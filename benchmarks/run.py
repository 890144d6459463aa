"""Benchmarks of pusher-channels, against its ceiling and the other Pusher clients: one command.

How to run
----------
From the project root, after the project's set-up (``./dev test`` or ``./dev demo``
once, which creates ``.venv`` and ``devtools/node_modules``)::

    .venv/bin/python -m benchmarks.run            # the full run
    .venv/bin/python -m benchmarks.run --small    # a smoke run (under a minute)
    .venv/bin/python -m benchmarks.run --only throughput presence --profile

The command installs what else it needs by itself: ``benchmarks/.venv-peers`` (a
separate virtual environment with pysher, asyncpusher and matplotlib, at pinned
versions, created on first use) and, if missing, ``npm ci`` in ``devtools/``.

What it does
------------
It runs the workloads of :mod:`benchmarks.workloads` (one module each; ``--only``
picks some, ``--help`` lists them) one after another, each measuring its clients
side by side, in subprocesses of their own, round-robin. Then it

1. prints one table of every figure, and the targets, each judged on this run's own
   figures against the baseline it names (``met`` / ``MISSED``);
2. writes every sample, the targets and the machine's description to
   ``benchmarks/results/benchmark-<time>.json`` (and ``latest.json``);
3. draws ``benchmarks/results/performance.png`` (``--chart PATH`` draws it there too,
   e.g. ``--chart docs/images/performance.png``);
4. with ``--profile``, runs the client behind each missed target once more under
   cProfile and prints (and writes to ``benchmarks/results/profiles.md``) where the
   time goes: the functions with the most own time, and the library's functions with
   the most cumulative time.

It exits with 1 if a check failed (a client missed, duplicated or reordered an
event, a connection or subscription failed), 0 otherwise; a missed target does not
fail the run. Every server listens on 127.0.0.1 and is stopped by its PID; every
client has a hard time limit. What each workload measures is in its module's
docstring; the shared measuring code is :mod:`benchmarks.harness` (parent side) and
:mod:`benchmarks._common` (client side).

``--small`` runs every workload tiny (a few thousand events, tens of connections, one
run each) for the smoke test: its figures are too small to judge the targets.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import raise_fd_limit
from .environment import (
    ensure_node_modules,
    ensure_peers_venv,
    machine,
    npm_version,
    peer_versions,
)
from .harness import (
    PEERS_PYTHON,
    RESULTS,
    ROOT,
    Bench,
    Profile,
    Row,
    Target,
    Workload,
    log,
    table_lines,
)
from .workloads import discover

WORKLOADS = discover()


def workloads_named(names: Sequence[str] | None) -> list[Workload]:
    return [w for w in WORKLOADS if names is None or w.name in names]


def table_rows(results: dict[str, Any]) -> list[Row]:
    """Every workload's rows, in their order, for the sections this run has."""
    return [
        row
        for workload in WORKLOADS
        if workload.name in results
        for row in workload.rows(results[workload.name])
    ]


def target_rows(results: dict[str, Any]) -> list[Target]:
    """The performance targets, judged on this run's figures.

    Only the targets whose figures this run measured are listed.
    """
    return [
        target
        for workload in WORKLOADS
        if workload.name in results
        for target in workload.targets(results[workload.name])
    ]


def failed_checks(results: dict[str, Any]) -> list[str]:
    return [
        failure
        for workload in WORKLOADS
        if workload.name in results
        for failure in workload.failures(results[workload.name])
    ]


def print_table(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(
        f"\npusher-channels benchmarks ({results['mode']} run) on {m['nproc']} x "
        f"{m['cpu_model']}, Python {m['python']}, Node {m['node']}; load average at start "
        f"{', '.join(map(str, m['load_average_at_start']))}\n"
    )
    for line in table_lines(table_rows(results)):
        print(line)
    print("\nCPU = user + system time of the client process, every thread; medians of the runs")


def print_targets(targets: list[Target], small: bool) -> None:
    if not targets:
        return
    width = max(len(t.name) for t in targets)
    rule_width = max(len(t.rule) for t in targets)
    note = ": a --small run is too small to judge them, see a full run" if small else ""
    print(f"\ntargets (judged on this run{note})")
    for t in targets:
        verdict = "met   " if t.met else "MISSED"
        origin = "" if t.issue == "15" else f"  [{t.issue} target]"
        print(f"  {verdict}  {t.name.ljust(width)}  {t.rule.ljust(rule_width)}  {t.figure}{origin}")


def run_profiles(bench: Bench, results: dict[str, Any], targets: list[Target]) -> list[Profile]:
    """Profile the client behind each missed target (each one once)."""
    profiles: list[Profile] = []
    done: set[tuple[str, str]] = set()
    for workload in WORKLOADS:
        if workload.name not in results or workload.profile is None:
            continue
        for target in workload.targets(results[workload.name]):
            if target.met or target.profile is None or (workload.name, target.profile) in done:
                continue
            done.add((workload.name, target.profile))
            log(f"==> profiling {workload.name}: {target.profile} (missed: {target.name})")
            profile = workload.profile(bench, results[workload.name], target.profile)
            profiles.append(Profile(f"{profile.title} — missed: {target.name}", profile.text))
    return profiles


def draw_chart(results_path: Path, targets: list[Path]) -> None:
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(PEERS_PYTHON), "-m", "benchmarks.chart", str(results_path), str(target)],
            cwd=ROOT,
            check=True,
        )
        log(f"chart written to {target}")


def write_results(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"benchmark-{stamp}.json"
    text = json.dumps(results, indent=1) + "\n"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


def versions() -> dict[str, str]:
    return {
        "pusher-channels": importlib.metadata.version("pusher-channels"),
        "picows": importlib.metadata.version("picows"),
        "orjson": importlib.metadata.version("orjson"),
        "pynacl": importlib.metadata.version("pynacl"),
        "pusher-js": npm_version("pusher-js"),
        "soketi": npm_version("@soketi/soketi"),
        **peer_versions(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    listing = "; ".join(f"{w.name}: {w.summary}" for w in WORKLOADS)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=f"Benchmarks of pusher-channels. Workloads: {listing}.",
    )
    parser.add_argument("--small", action="store_true", help="tiny smoke run (under a minute)")
    parser.add_argument("--events", type=int, help="events per throughput and loop-lag run")
    parser.add_argument("--repeat", type=int, help="runs per client (medians are reported)")
    parser.add_argument(
        "--connections", type=int, nargs="+", help="scale sizes (e.g. 100 1000 10000)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=[w.name for w in WORKLOADS], help="run only these workloads"
    )
    parser.add_argument("--chart", type=Path, action="append", default=[], help="also draw here")
    parser.add_argument(
        "--profile", action="store_true", help="profile the client behind each missed target"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if (args.events is not None and args.events < 1) or (
        args.repeat is not None and args.repeat < 1
    ):
        raise SystemExit("--events and --repeat must be at least 1")
    bench = Bench(
        small=args.small,
        events=args.events,
        repeat=args.repeat,
        connections=tuple(args.connections) if args.connections else None,
    )
    chosen = workloads_named(args.only)
    raise_fd_limit(max(bench.connections or (10_000,)) * 2 + 4096)  # soketi inherits it
    ensure_node_modules()
    ensure_peers_venv()
    results: dict[str, Any] = {
        "benchmark": "pusher-channels",
        "mode": "small" if args.small else "full",
        "command": " ".join([".venv/bin/python -m benchmarks.run", *(argv or sys.argv[1:])]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "versions": versions(),
        "workloads": [w.name for w in chosen],
    }
    started = time.monotonic()
    try:
        for workload in chosen:
            began = time.monotonic()
            results[workload.name] = workload.run(bench)
            results[workload.name]["duration_s"] = time.monotonic() - began
        results["duration_s"] = time.monotonic() - started
        targets = target_rows(results)
        results["targets"] = [target.as_json() for target in targets]
        path = write_results(results)
        print_table(results)
        print_targets(targets, small=args.small)
        print(f"\nresults: {path.relative_to(ROOT)} ({results['duration_s']:.0f} s)")
        draw_chart(path, [RESULTS / "performance.png", *args.chart])
        if args.profile:
            profiles = run_profiles(bench, results, targets)
            text = "\n\n".join(f"### {p.title}\n\n{p.text}" for p in profiles)
            (RESULTS / "profiles.md").write_text(text + "\n")
            print(f"\n{text or 'no missed target to profile'}")
    finally:
        bench.close()
    failures = failed_checks(results)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
