"""The benchmark command runs (tiny sizes, no timing assertions): a smoke test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_the_benchmark_command_runs_every_workload_small() -> None:
    from benchmarks.run import WORKLOADS

    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--small"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pusher-channels" in result.stdout
    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    assert latest["workloads"] == [workload.name for workload in WORKLOADS]
    assert all(name in latest for name in latest["workloads"])
    ways = latest["auth_batching"]["ways"]
    assert ways["batched"]["requests"] == 1
    assert ways["one per channel"]["requests"] == latest["auth_batching"]["parameters"]["channels"]
    # Every target of the issue is judged, with a verdict printed.
    judged = {target["target"] for target in latest["targets"]}
    assert len(judged) >= 14, judged
    assert "targets (judged on this run" in result.stdout


def test_adding_a_workload_is_adding_a_file() -> None:
    from benchmarks.harness import Workload
    from benchmarks.workloads import discover

    found = discover()
    assert all(isinstance(workload, Workload) for workload in found)
    names = [workload.name for workload in found]
    assert len(names) == len(set(names))
    for wanted in ("throughput", "loop_lag", "channels", "presence", "scale", "restart"):
        assert wanted in names
    assert "auth_batching" in names


def _clients(cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "parameters": {"events": 1000, "repeat": 1},
        "clients": [{"client": name, "cpu_us_per_event": us} for name, us in cpu.items()],
    }


def _results(good: bool) -> dict[str, Any]:
    """A run's sections, every figure meeting its target (``good``) or missing it."""
    on_event = 1.35 if good else 2.16
    throughput = {
        "picows-raw": 1.0,
        "pc-callbacks": on_event,
        "pc-bind": on_event * (1.05 if good else 1.15),
        "pc-glob": on_event * (1.08 if good else 1.2),
        "pc-iterator": on_event * (1.15 if good else 1.25),
        "pc-sync": on_event * (1.45 if good else 1.55),
        "pc-private": 2.0,
        "pc-encrypted": 3.9 if good else 4.1,
        "pusher-js": 4.0,
        "asyncpusher": 5.0,
    }
    lag = {
        "clients": [
            {"client": "picows-raw", "p99_ms": 1.0, "max_ms": 2.0},
            {"client": "pc-callbacks", "p99_ms": 4.9 if good else 5.1, "max_ms": 6.0},
        ]
    }
    channels = {
        "sizes": [
            {"channels": 10_000, "per_channel_us": 10.0, "max_stall_ms": 20.0, "ok": True},
            {
                "channels": 100_000,
                "per_channel_us": 14.0 if good else 16.0,
                "max_stall_ms": 49.0 if good else 51.0,
                "ok": True,
            },
        ]
    }
    presence = {
        "sizes": [
            {"members": 100, "cpu_per_member_us": 4.0, "cpu_per_change_us": 10.0, "ok": True},
            {
                "members": 10_000,
                "cpu_per_member_us": 4.0 if good else 6.5,
                "cpu_per_change_us": 10.0,
                "subscribe_stall_ms": 40.0 if good else 60.0,
                "subscribe_cpu_ms": 38.0,
                "ok": True,
            },
        ]
    }

    def scale_row(client: str, seconds: float, kib: float) -> dict[str, Any]:
        return {
            "client": client,
            "connections": 10_000,
            "server": "soketi",
            "ok": True,
            "subscribed_s": seconds,
            "rss_per_connection_kib": kib,
        }

    scale = {
        "sizes": [
            scale_row("pc-callbacks", 5.1 if good else 5.3, 15.9 if good else 16.1),
            scale_row("picows-raw", 4.0, 11.0),
        ]
    }
    restart = {
        "parameters": {"connections": 1_000},
        "ok": True,
        "all_back_after_up_s": 1.9 if good else 2.1,
        "median_back_after_up_s": 0.5,
        "busiest_10ms": 200 if good else 300,
        "first_attempt_span_s": 0.12,
    }
    latency = {
        "clients": [
            {"client": "picows-raw", "p99_ms": 2.0},
            {"client": "pc-callbacks", "p99_ms": 2.4 if good else 2.6},
        ]
    }
    runs = [{"resubscribed_s": 1.0 + (0.5 if good else 1.5), "soketi_down_s": 1.0}]
    reconnect = {"clients": [{"client": "pc-callbacks", "ok": True, "runs": runs}]}
    return {
        "throughput": _clients(throughput),
        "loop_lag": lag,
        "channels": channels,
        "presence": presence,
        "scale": scale,
        "restart": restart,
        "latency": latency,
        "reconnect": reconnect,
    }


def test_targets_are_judged_on_the_run_figures() -> None:
    """The verdicts follow the figures: one run that meets each target, one that misses."""
    from benchmarks.run import target_rows

    good = target_rows(_results(good=True))
    assert len(good) == 18, [t.name for t in good]
    assert all(t.met for t in good), [t for t in good if not t.met]
    bad = target_rows(_results(good=False))
    assert [t.name for t in bad] == [t.name for t in good]
    missed = {t.name for t in bad if not t.met}
    # Every target misses, but the one against the other clients (still ahead of them).
    assert missed == {t.name for t in good} - {"CPU per event, on_event, against the other clients"}
    by_name = {t.name: t for t in bad}
    on_event = by_name["CPU per event, on_event"]
    assert on_event.rule == "≤ 1.4x raw picows + orjson (the ceiling)"
    assert on_event.figure.startswith("2.16x (2.16 vs 1.00 µs)")


def test_a_target_whose_figures_were_not_measured_is_not_listed() -> None:
    from benchmarks.run import target_rows

    only = {"throughput": _clients({"pc-callbacks": 2.0, "pc-bind": 2.1})}
    assert [t.name for t in target_rows(only)] == ['CPU per event, channel.bind("ev", f)']
