"""Scale: C connections in one process, connecting and subscribing at once, on soketi.

For each size C, two clients, one after the other, round-robin: C pusher-channels
clients (one ``PusherChannelsClient`` each, each subscribed to its own channel
before ``connect()``, all connected at once), and C raw picows connections doing
the same (the library's WebSocket settings; each sends ``pusher:subscribe`` once
established and waits for the answer). The figures: the time until every
subscription succeeded, the client's CPU per connection, and the growth of the
process's RSS divided by C once every connection is idle (0.5 s after the last
subscription). A size soketi cannot hold is run against the blaster instead, and
the table says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

from .._common import blaster_key
from ..harness import (
    PYTHON,
    ROOT,
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
    profile_client,
    python_client,
)

CLIENTS = {
    "pc-callbacks": "pusher-channels, 1 channel each",
    "picows-raw": "raw picows, 1 channel each",
}
TIME_RATIO = 1.3
RSS_KIB = 16.0


def command(name: str, count: int, port: int, key: str) -> list[str]:
    limit = 120.0 + count * 0.01
    return python_client(name, "scale", port, key, connections=count, max_seconds=limit)


def run_once(name: str, count: int, port: int, key: str) -> dict[str, Any]:
    return Client(name, command(name, count, port, key)).result(150.0 + count * 0.01)


def run(bench: Bench) -> dict[str, Any]:
    sizes = bench.connections or bench.sized((100, 1_000, 5_000, 10_000), (50,))
    repeat = bench.repeats(3)
    log(f"==> scale: {', '.join(f'{c:,}' for c in sizes)} connections, {repeat} round(s)")
    soketi = bench.soketi()
    out = []
    blaster: Blaster | None = None
    try:
        for count in sizes:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
            server = "soketi"
            for rep in range(repeat):
                for name in CLIENTS:
                    if server == "soketi":
                        result = run_once(name, count, soketi.port, soketi.key)
                        if not result.get("ok"):
                            log(f"  scale C={count} on soketi FAILED ({result.get('error')})")
                            server = "blaster"
                    if server == "blaster":
                        blaster = blaster or Blaster(1)
                        result = run_once(name, count, blaster.port, blaster_key(0))
                    result["server"] = server
                    runs[name].append(result)
                    log(
                        f"  scale {rep + 1}/{repeat} C={count:<6} {name:<13} {server:<8}"
                        f"all subscribed in {result.get('subscribed_s', float('nan')):6.2f} s  "
                        f"{result.get('rss_per_connection_kib', float('nan')):6.1f} KiB/connection"
                        f"  {'ok' if result.get('ok') else 'FAILED: ' + str(result.get('error'))}"
                    )
            for name, label in CLIENTS.items():
                good = [r for r in runs[name] if r.get("ok") and r["server"] == server]
                out.append(
                    {
                        "client": name,
                        "label": label,
                        "connections": count,
                        "server": server,
                        "soketi_failed": server != "soketi",
                        "ok": bool(good),
                        "error": None if good else runs[name][-1].get("error"),
                        "subscribed_s": median(r["subscribed_s"] for r in good),
                        "connected_s": median(r["connected_s"] for r in good),
                        "rss_per_connection_kib": median(r["rss_per_connection_kib"] for r in good),
                        "cpu_per_connection_us": median(r["cpu_per_connection_us"] for r in good),
                        "gc_ms": median(r.get("gc_s", 0.0) * 1e3 for r in good),
                        "runs": runs[name],
                    }
                )
    finally:
        if blaster is not None:
            blaster.stop()
    return {"parameters": {"connections": list(sizes), "repeat": repeat}, "sizes": out}


def rows(section: dict[str, Any]) -> Iterator[Row]:
    for row in section["sizes"]:
        where = row["server"] + (" (soketi failed)" if row["soketi_failed"] else "")
        yield (
            f"scale C={row['connections']:,} on {where}",
            row["label"],
            fmt(row["subscribed_s"], ".2f", " s all subscr."),
            fmt(row["rss_per_connection_kib"], ".1f", " KiB RSS/conn"),
            check(
                row["ok"],
                f"all subscribed, {fmt(row['cpu_per_connection_us'], '.0f')} CPU µs/conn"
                f" (cyclic GC {fmt(row.get('gc_ms'), ',.0f', ' ms')})",
                row["error"],
            ),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    largest = max((row["connections"] for row in section["sizes"]), default=0)
    at = {row["client"]: row for row in section["sizes"] if row["connections"] == largest}
    ours, raw = at.get("pc-callbacks"), at.get("picows-raw")
    out: list[Target] = []
    if ours and raw and ours["subscribed_s"] and raw["subscribed_s"]:
        ratio = ours["subscribed_s"] / raw["subscribed_s"]
        out.append(
            Target(
                f"{largest:,} connections connect and subscribe at once ({ours['server']})",
                f"≤ {TIME_RATIO:g}x the time of raw picows clients doing the same",
                f"{ratio:.2f}x ({ours['subscribed_s']:.2f} s vs {raw['subscribed_s']:.2f} s)",
                ratio <= TIME_RATIO and ours["ok"],
                ratio,
                TIME_RATIO,
                profile=f"time:{largest}",
            )
        )
    if ours and ours["rss_per_connection_kib"] is not None:
        kib = ours["rss_per_connection_kib"]
        floor = raw["rss_per_connection_kib"] if raw else None
        out.append(
            Target(
                f"RSS per idle connection at {largest:,} connections",
                f"≤ {RSS_KIB:g} KiB",
                f"{kib:.1f} KiB (raw picows: {fmt(floor, '.1f', ' KiB')})",
                kib <= RSS_KIB and ours["ok"],
                kib,
                RSS_KIB,
                profile=f"rss:{largest}",
            )
        )
    return out


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"scale {row['label']} C={row['connections']}: {row['error']}"
        for row in section["sizes"]
        if not row["ok"]
    ]


def profile(bench: Bench, section: dict[str, Any], what: str) -> Profile:
    """``time:C``: the pusher-channels clients under cProfile; ``rss:C``: where the
    memory of an idle connection goes (``benchmarks.profile_memory``)."""
    kind, _, size = what.partition(":")
    count = int(size)
    soketi = bench.soketi()
    if kind == "time":
        text = profile_client(
            command("pc-callbacks", count, soketi.port, soketi.key),
            f"scale-{count}",
            count,
            "connection",
            300.0 + count * 0.01,
        )
        return Profile(f"scale: {count:,} pusher-channels clients on soketi", text)
    memory = subprocess.run(
        [PYTHON, "-m", "benchmarks.profile_memory", "--connections", str(count), "--top", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = "```text\n" + (memory.stdout or memory.stderr[-3000:]).strip() + "\n```"
    return Profile(f"memory of an idle connection, C={count:,} (benchmarks.profile_memory)", text)


WORKLOAD = Workload(
    name="scale",
    order=50,
    summary="connections in one process on soketi, against raw picows connections",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
    profile=profile,
)
