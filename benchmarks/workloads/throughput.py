"""Throughput: CPU per event of every way to receive events, side by side.

A local blaster (``benchmarks/blaster.py``, its own process) sends N pre-built event
frames as fast as the socket accepts them; each client, in a subprocess of its own,
decodes every event's ``data`` and checks its ``seq`` (all N, exactly once, in
order). The figure is the client process's CPU (user + system, every thread) per
event, from just before the subscription to the callback of the N-th event. On 2+
CPUs the blaster runs on the last CPU and the client on the first. The clients run
round-robin, ``repeat`` rounds; the table gives medians.

Clients: raw picows + orjson (the ceiling: parse the frame and its data, nothing
else), pusher-channels with ``on_event``, with a handler bound by name and by glob,
with ``channel.events()`` (``max_buffer=N`` and the default), the blocking facade,
on a private channel and on a private-encrypted one (the same events, encrypted by
the blaster as Pusher does), then pusher-js (Node), asyncpusher and pysher.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._common import ENCRYPTED_CHANNEL, PRIVATE_CHANNEL, THROUGHPUT_CHANNEL, blaster_key
from ..harness import (
    Bench,
    Blaster,
    Client,
    Profile,
    Row,
    Target,
    Workload,
    fmt,
    log,
    median,
    node_client,
    peer_client,
    profile_client,
    python_client,
    ratio_target,
    run_rounds,
)


@dataclass(frozen=True)
class ThroughputClient:
    name: str
    label: str
    kind: str = "python"
    """``python`` (``benchmarks.clients``), ``peer`` (the peers' venv) or ``node``."""
    informative: bool = False
    """Its figures never fail the run (the default-buffer iterator may drop events)."""


CLIENTS = [
    ThroughputClient("picows-raw", "raw picows + orjson (ceiling)"),
    ThroughputClient("pc-callbacks", "pusher-channels on_event"),
    ThroughputClient("pc-bind", 'pusher-channels channel.bind("ev", f)'),
    ThroughputClient("pc-glob", 'pusher-channels channel.bind("e*", f)'),
    ThroughputClient("pc-iterator", "pusher-channels events(max_buffer=N)"),
    ThroughputClient(
        "pc-iterator-default", "pusher-channels events() default buffer", informative=True
    ),
    ThroughputClient("pc-sync", "pusher-channels sync facade"),
    ThroughputClient("pc-private", "pusher-channels on_event, private channel"),
    ThroughputClient("pc-encrypted", "pusher-channels on_event, private-encrypted"),
    ThroughputClient("pusher-js", "pusher-js (Node)", "node"),
    ThroughputClient("asyncpusher", "asyncpusher", "peer"),
    ThroughputClient("pysher", "pysher", "peer"),
]
PREBUILT = [THROUGHPUT_CHANNEL, PRIVATE_CHANNEL, ENCRYPTED_CHANNEL]


def command(client: ThroughputClient, port: int, n: int, limit: float) -> list[str]:
    key = blaster_key(n)
    if client.kind == "node":
        return node_client("throughput", port, key, events=n, max_seconds=limit)
    if client.kind == "peer":
        return peer_client(client.name, "throughput", port, key, events=n, max_seconds=limit)
    return python_client(client.name, "throughput", port, key, events=n, max_seconds=limit)


def time_limit(n: int) -> float:
    return 60.0 + n * 100e-6  # 100 µs per event on top of a minute


def run(bench: Bench) -> dict[str, Any]:
    n = bench.events or bench.sized(200_000, 2_000)
    repeat = bench.repeats(5)
    client_cpu, server_cpu = bench.cpus
    by_name = {client.name: client for client in CLIENTS}
    limit = time_limit(n)
    log(f"==> throughput: {n:,} events per run, {repeat} round(s)")
    with Blaster(n, server_cpu, PREBUILT) as blaster:

        def run_one(name: str, rep: int) -> dict[str, Any]:
            client = by_name[name]
            process = Client(name, command(client, blaster.port, n, limit), client_cpu)
            result = process.result(limit + 15)
            cpu = result.get("cpu_s", 0.0) * 1e6 / n
            status = "ok" if result.get("ok") else f"FAILED: {result.get('error')}"
            label = f"{rep + 1}/{repeat} {client.label}"
            log(f"  throughput {label:<50}{cpu:7.2f} CPU µs/event  {status}")
            return result

        runs = run_rounds(list(by_name), repeat, run_one)
    rows = []
    for client in CLIENTS:
        client_runs = runs[client.name]
        # events/s counts the events delivered (all N unless some were dropped); CPU is
        # per event sent, as the client parsed every one of the N frames.
        good = [r for r in client_runs if r.get("wall_s") and r.get("received")]
        failed = [r for r in client_runs if not r.get("ok")]
        rows.append(
            {
                "client": client.name,
                "label": client.label,
                "informative": client.informative,
                "events": n,
                "cpu_pinned": client_cpu is not None,
                "ok": not failed,
                "error": failed[0].get("error") if failed else None,
                "received": min((r.get("received", 0) for r in client_runs), default=0),
                "dropped": max((r.get("dropped", 0) for r in client_runs), default=0),
                "events_per_s": median(r["received"] / r["wall_s"] for r in good),
                "cpu_us_per_event": median(r["cpu_s"] * 1e6 / n for r in good),
                "runs": client_runs,
            }
        )
    return {"parameters": {"events": n, "repeat": repeat}, "clients": rows}


def rows(section: dict[str, Any]) -> Iterator[Row]:
    n = section["parameters"]["events"]
    for row in section["clients"]:
        if row["ok"]:
            outcome = f"{row['events']:,} in order"
        elif row["dropped"]:
            outcome = f"dropped up to {row['dropped']:,} (buffer full)"
        else:
            outcome = f"FAILED: {row['error']}"
        yield (
            f"throughput N={n:,}",
            row["label"],
            fmt(row["events_per_s"], ",.0f", " ev/s"),
            fmt(row["cpu_us_per_event"], ".2f", " CPU µs/ev"),
            outcome,
        )


CEILING = "raw picows + orjson (the ceiling)"
ON_EVENT = "the on_event path"

# (client, target name, baseline client, baseline name, limit)
RATIOS = [
    ("pc-callbacks", "CPU per event, on_event", "picows-raw", CEILING, 1.4),
    ("pc-bind", 'CPU per event, channel.bind("ev", f)', "pc-callbacks", ON_EVENT, 1.1),
    ("pc-glob", 'CPU per event, channel.bind("e*", f)', "pc-callbacks", ON_EVENT, 1.1),
    ("pc-sync", "CPU per event, blocking facade", "pc-callbacks", ON_EVENT, 1.5),
    (
        "pc-encrypted",
        "CPU per event, private-encrypted channel",
        "pc-private",
        "the same events on a private channel",
        2.0,
    ),
]


def targets(section: dict[str, Any]) -> list[Target]:
    cpu = {
        row["client"]: row["cpu_us_per_event"]
        for row in section["clients"]
        if row["cpu_us_per_event"] is not None
    }
    out: list[Target] = []
    for name, title, base, base_name, limit in RATIOS:
        if name in cpu and base in cpu:
            out.append(
                ratio_target(
                    title, cpu[name], cpu[base], limit, baseline_name=base_name, profile=name
                )
            )
        if name == "pc-glob":
            out.extend(_iterator_target(cpu))
    ours = cpu.get("pc-callbacks")
    peers = {name: cpu[name] for name in ("pusher-js", "asyncpusher", "pysher") if name in cpu}
    if ours and peers:
        out.append(
            Target(
                "CPU per event, on_event, against the other clients",
                "fewer µs than pusher-js and every Python peer",
                ", ".join(f"{name} {value / ours:.2f}x" for name, value in peers.items()),
                all(value > ours for value in peers.values()),
                issue="earlier",
            )
        )
    return out


def _iterator_target(cpu: dict[str, float]) -> list[Target]:
    base = cpu.get("pc-callbacks")
    ratios = {n: cpu[n] / base for n in ("pc-iterator", "pc-iterator-default") if n in cpu and base}
    if not ratios:
        return []
    worst = max(ratios, key=ratios.__getitem__)
    return [
        Target(
            "CPU per event, events() iterator",
            f"≤ 1.2x {ON_EVENT}",
            ", ".join(
                f"{'max_buffer=N' if n == 'pc-iterator' else 'default buffer'} {r:.2f}x"
                for n, r in ratios.items()
            ),
            ratios[worst] <= 1.2,
            ratios[worst],
            1.2,
            profile=worst,
        )
    ]


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"throughput {row['label']}: {row['error']}"
        for row in section["clients"]
        if not row["ok"] and not row["informative"]
    ]


def profile(bench: Bench, section: dict[str, Any], name: str) -> Profile:
    """The client behind a missed target, once, under cProfile (the blocking facade's
    callback thread is not profiled: cProfile follows one thread)."""
    n = section["parameters"]["events"]
    client = next(client for client in CLIENTS if client.name == name)
    with Blaster(n, bench.cpus[1], PREBUILT) as blaster:
        text = profile_client(
            command(client, blaster.port, n, time_limit(n) * 3), name, n, "event", time_limit(n) * 3
        )
    return Profile(f"throughput: {client.label}, N={n:,}", text)


WORKLOAD = Workload(
    name="throughput",
    order=10,
    summary="CPU per event of every client against a local blaster",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
    profile=profile,
)
