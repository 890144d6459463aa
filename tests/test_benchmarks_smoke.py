"""The benchmark command runs (tiny sizes, no timing assertions): a smoke test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_targets_are_judged_on_the_run_figures() -> None:
    """The verdicts follow the figures: one run that meets each target, one that misses."""
    from benchmarks.run import target_rows

    def results(iterator_us: float, rss_kib: float, p99_ms: float, back_s: float) -> dict[str, Any]:
        throughput = [
            {"client": "pc-callbacks", "cpu_us_per_event": 2.0},
            {"client": "pc-iterator", "cpu_us_per_event": iterator_us},
            {"client": "pc-sync", "cpu_us_per_event": 3.0},
            {"client": "pusher-js", "cpu_us_per_event": 4.0},
            {"client": "asyncpusher", "cpu_us_per_event": 5.0},
        ]
        scale = [
            {"connections": 5_000, "rss_per_connection_kib": rss_kib, "ok": True},
            {"connections": 10_000, "subscribed_s": 4.0, "server": "soketi", "ok": True},
        ]
        latency = [
            {"client": "picows-raw", "p99_ms": 2.0},
            {"client": "pc-callbacks", "p99_ms": p99_ms},
        ]
        runs = [{"resubscribed_s": 1.0 + back_s, "soketi_down_s": 1.0}]
        reconnect = [{"client": "pc-callbacks", "ok": True, "runs": runs}]
        return {
            "throughput": throughput,
            "scale": scale,
            "latency": latency,
            "reconnect": reconnect,
        }

    good = target_rows(results(iterator_us=2.5, rss_kib=24.0, p99_ms=2.4, back_s=0.5))
    assert len(good) == 7
    assert all(met for _, _, met in good), good
    bad = {t: met for t, _, met in target_rows(results(2.7, 24.5, 2.6, 1.5))}
    assert not bad["async-iterator path within 1.3x of the callback path"]
    assert not bad["at most 25 KB RSS per idle connection at 5,000 connections"]  # 25,088 B
    assert not bad["latency p99 within 0.5 ms of the raw client"]
    assert not bad["median time back to subscribed after the restart at most 1 s"]
    assert bad["blocking facade within 2x of the callback path"]


def test_the_auth_batching_benchmark_runs_small() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.auth_batching", "--channels", "5", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "batched / one per channel" in result.stdout
    assert "batched:     1 requests" in result.stdout
