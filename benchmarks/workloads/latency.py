"""Latency through a real soketi: from the HTTP trigger to the callback.

The official server SDK triggers events through soketi's HTTP API at a fixed rate,
each carrying its send time; every client is subscribed at once and records
``receive time - send time``. soketi sends each event to its subscribers one after
another, so each run subscribes the clients in a rotated order; p50 and p99 are
taken over the samples of every run, pooled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..harness import (
    Bench,
    BenchmarkError,
    Client,
    Row,
    Target,
    Workload,
    check,
    log,
    median,
    node_client,
    peer_client,
    percentile,
    python_client,
)

CLIENTS: list[tuple[str, str]] = [
    ("picows-raw", "raw picows + orjson"),
    ("pc-callbacks", "pusher-channels on_event"),
    ("pusher-js", "pusher-js (Node)"),
    ("asyncpusher", "asyncpusher"),
    ("pysher", "pysher"),
]


def command(name: str, port: int, key: str, events: int, limit: float) -> list[str]:
    options = {"channel": "latency", "events": events, "max_seconds": limit}
    if name == "pusher-js":
        return node_client("latency", port, key, **options)
    if name in ("asyncpusher", "pysher"):
        return peer_client(name, "latency", port, key, **options)
    return python_client(name, "latency", port, key, **options)


def run(bench: Bench) -> dict[str, Any]:
    rate, seconds = bench.sized((200.0, 5.0), (100.0, 1.0))
    runs_wanted = bench.repeat or bench.sized(5, 1)
    m = round(rate * seconds)
    log(f"==> latency through soketi: {rate:g} events/s for {seconds:g} s, {runs_wanted} run(s)")
    soketi = bench.soketi()
    sdk = soketi.server_sdk()
    limit = seconds + 60
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in CLIENTS}
    samples: dict[str, list[float]] = {name: [] for name, _ in CLIENTS}
    rates: list[float] = []
    names = [name for name, _ in CLIENTS]
    for rep in range(runs_wanted):
        # soketi sends each event to the subscribers one after another: rotate who
        # subscribes (and so is served) first.
        order = names[rep % len(names) :] + names[: rep % len(names)]
        clients: list[Client] = []
        try:
            for name in order:
                client = Client(name, command(name, soketi.port, soketi.key, m, limit))
                clients.append(client)
                if client.wait_for("ready", 30) is None:
                    raise BenchmarkError(f"latency: {client.name} did not subscribe")
            time.sleep(0.2)
            start = time.perf_counter()
            for i in range(m):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sdk.trigger("latency", "ev", {"seq": i, "t": time.time()})
            rates.append(m / (time.perf_counter() - start))
            for client in clients:
                result = client.result(30)
                latencies = result.pop("latencies_ms", [])
                samples[client.name].extend(latencies)
                result["position"] = order.index(client.name) + 1
                result["p50_ms"] = percentile(latencies, 0.50)
                result["p99_ms"] = percentile(latencies, 0.99)
                runs[client.name].append(result)
                log(
                    f"  latency {rep + 1}/{runs_wanted} {client.name:<14}"
                    f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                    f"{'ok' if result.get('ok') else 'FAILED: ' + str(result.get('error'))}"
                )
        finally:
            for client in clients:
                client.stop()
    out = []
    for name, label in CLIENTS:
        failed = [r for r in runs[name] if not r.get("ok")]
        out.append(
            {
                "client": name,
                "label": label,
                "events": m,
                "achieved_rate_per_s": median(rates),
                "ok": not failed,
                "error": failed[0].get("error") if failed else None,
                # Percentiles of every run's samples pooled: the p99 of 1,000 events
                # is their 10th worst, too few to compare clients run by run.
                "samples": len(samples[name]),
                "p50_ms": percentile(samples[name], 0.50),
                "p99_ms": percentile(samples[name], 0.99),
                "max_ms": max(samples[name], default=float("nan")),
                "runs": runs[name],
            }
        )
    parameters = {"rate_per_s": rate, "seconds": seconds, "runs": runs_wanted}
    return {"parameters": parameters, "clients": out}


def rows(section: dict[str, Any]) -> Iterator[Row]:
    p = section["parameters"]
    for row in section["clients"]:
        yield (
            f"latency soketi {p['rate_per_s']:g}/s x {p['seconds']:g} s x {p['runs']}",
            row["label"],
            f"{row['p50_ms']:.2f} ms p50",
            f"{row['p99_ms']:.2f} ms p99",
            check(row["ok"], f"{row['events']:,} in order, each run", row["error"]),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    p99 = {row["client"]: row["p99_ms"] for row in section["clients"]}
    if "pc-callbacks" not in p99 or "picows-raw" not in p99:
        return []
    gap = p99["pc-callbacks"] - p99["picows-raw"]
    return [
        Target(
            "latency through soketi, p99",
            "within 0.5 ms of the raw client",
            f"{p99['pc-callbacks']:.2f} ms vs {p99['picows-raw']:.2f} ms ({gap:+.2f} ms)",
            gap <= 0.5,
            issue="earlier",
        )
    ]


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"latency {row['label']}: {row['error']}" for row in section["clients"] if not row["ok"]
    ]


WORKLOAD = Workload(
    name="latency",
    order=30,
    summary="latency from soketi's HTTP API to the callback, every client at once",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
)
