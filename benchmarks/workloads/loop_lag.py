"""Event-loop lag while receiving at full speed.

The throughput run of the ``on_event`` client and of the ceiling (raw picows +
orjson), each with one more task in its event loop: it sleeps 1 ms in a loop and
records how late it wakes (``benchmarks._common.LagMonitor``). While events pour
in, a wake-up is late by as long as the loop spends on the frames that one read of
the socket handed over. Percentiles are over the wake-ups of every run, pooled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .._common import blaster_key
from ..harness import (
    Bench,
    Blaster,
    Client,
    Profile,
    Row,
    Target,
    Workload,
    check,
    fmt,
    log,
    median,
    percentile,
    profile_client,
    python_client,
    run_rounds,
)

CLIENTS = {
    "picows-raw": "raw picows + orjson (ceiling)",
    "pc-callbacks": "pusher-channels on_event",
}
LIMIT_MS = 5.0


def run(bench: Bench) -> dict[str, Any]:
    n = bench.events or bench.sized(200_000, 2_000)
    repeat = bench.repeats(5)
    client_cpu, server_cpu = bench.cpus
    limit = 60.0 + n * 100e-6
    log(f"==> loop lag: {n:,} events per run, a 1 ms timer task, {repeat} round(s)")
    with Blaster(n, server_cpu) as blaster:

        def run_one(name: str, rep: int) -> dict[str, Any]:
            command = python_client(
                name, "lag", blaster.port, blaster_key(n), events=n, max_seconds=limit
            )
            result = Client(name, command, client_cpu).result(limit + 15)
            lags = result.get("lags_ms", [])
            log(
                f"  lag {rep + 1}/{repeat} {CLIENTS[name]:<32} p99 "
                f"{percentile(lags, 0.99):6.2f} ms  max {max(lags, default=float('nan')):6.2f} ms"
                f"  {'ok' if result.get('ok') else 'FAILED: ' + str(result.get('error'))}"
            )
            return result

        runs = run_rounds(list(CLIENTS), repeat, run_one)
    rows = []
    for name, label in CLIENTS.items():
        client_runs = runs[name]
        lags = [lag for r in client_runs for lag in r.get("lags_ms", [])]
        failed = [r for r in client_runs if not r.get("ok")]
        rows.append(
            {
                "client": name,
                "label": label,
                "ok": not failed and bool(lags),
                "error": failed[0].get("error") if failed else None,
                "wakeups": len(lags),
                "p50_ms": percentile(lags, 0.50) if lags else None,
                "p99_ms": percentile(lags, 0.99) if lags else None,
                "max_ms": max(lags) if lags else None,
                "cpu_us_per_event": median(r.get("cpu_s", 0.0) * 1e6 / n for r in client_runs),
                "lags_ms": lags,
            }
        )
    return {"parameters": {"events": n, "repeat": repeat, "interval_ms": 1.0}, "clients": rows}


def rows(section: dict[str, Any]) -> Iterator[Row]:
    n = section["parameters"]["events"]
    for row in section["clients"]:
        yield (
            f"loop lag, N={n:,} at full speed",
            row["label"],
            fmt(row["p50_ms"], ".2f", " ms p50"),
            fmt(row["p99_ms"], ".2f", " ms p99"),
            check(
                row["ok"],
                f"max {fmt(row['max_ms'], '.1f', ' ms')}, {row['wakeups']:,} wake-ups",
                row["error"],
            ),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    by_client = {row["client"]: row for row in section["clients"]}
    ours, ceiling = by_client.get("pc-callbacks"), by_client.get("picows-raw")
    if ours is None or ours["p99_ms"] is None:
        return []
    base = f", the ceiling {ceiling['p99_ms']:.2f} ms" if ceiling and ceiling["p99_ms"] else ""
    return [
        Target(
            "event-loop lag while receiving at full speed",
            f"p99 ≤ {LIMIT_MS:g} ms (the ceiling client's lag alongside)",
            f"p99 {ours['p99_ms']:.2f} ms, max {ours['max_ms']:.1f} ms{base}",
            ours["p99_ms"] <= LIMIT_MS,
            ours["p99_ms"],
            LIMIT_MS,
            profile="pc-callbacks",
        )
    ]


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"loop lag {row['label']}: {row['error']}" for row in section["clients"] if not row["ok"]
    ]


def profile(bench: Bench, section: dict[str, Any], name: str) -> Profile:
    n = section["parameters"]["events"]
    limit = 3 * (60.0 + n * 100e-6)
    with Blaster(n, bench.cpus[1]) as blaster:
        command = python_client(
            name, "lag", blaster.port, blaster_key(n), events=n, max_seconds=limit
        )
        text = profile_client(command, f"lag-{name}", n, "event", limit)
    return Profile(f"loop lag: {CLIENTS[name]}, N={n:,}", text)


WORKLOAD = Workload(
    name="loop_lag",
    order=20,
    summary="event-loop lag (a 1 ms timer task) while receiving at full speed",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
    profile=profile,
)
