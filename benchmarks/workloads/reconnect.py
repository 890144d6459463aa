"""Reconnect: one client, soketi killed and started again, against pusher-js.

soketi is killed (SIGKILL) and started again on the same port 1 s later;
pusher-channels and pusher-js, subscribed beforehand, report when they are
subscribed again and when they receive the first event triggered after the restart
(one every 10 ms). Times are counted from the kill. ``--small`` leaves pusher-js
out: left to its default strategy it takes 16 s to come back.
"""

from __future__ import annotations

import contextlib
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
    fmt,
    log,
    median,
    node_client,
    python_client,
)

CLIENTS = [("pc-callbacks", "pusher-channels"), ("pusher-js", "pusher-js (Node)")]
OUTAGE_S = 1.0
TRIGGER_EVERY_S = 0.010


def command(name: str, port: int, key: str) -> list[str]:
    options = {"channel": "reconnect", "max_seconds": 120}
    if name == "pusher-js":
        return node_client("reconnect", port, key, **options)
    return python_client(name, "reconnect", port, key, **options)


def run(bench: Bench) -> dict[str, Any]:
    chosen = [c for c in CLIENTS if not bench.small or c[0] != "pusher-js"]
    repeat = bench.repeats(3)
    log(f"==> reconnect: soketi killed and restarted, {repeat} run(s)")
    soketi = bench.soketi()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in chosen}
    for rep in range(repeat):
        clients = [
            Client(name, command(name, soketi.port, soketi.key), stdin=True) for name, _ in chosen
        ]
        try:
            for client in clients:
                if client.wait_for("subscribed", 30) is None:
                    raise BenchmarkError(f"reconnect: {client.name} did not subscribe")
            time.sleep(0.5)
            t_kill = time.time()
            soketi.kill()
            time.sleep(OUTAGE_S)
            t_restart = time.time()
            soketi.start()
            t_up = time.time()
            marks = follow(clients, soketi.server_sdk(), t_kill)
            for client in clients:
                mark = marks[client.name]
                result: dict[str, Any] = {
                    "ok": "event" in mark,
                    "error": None if "event" in mark else "no event after the restart",
                    "soketi_down_s": t_restart - t_kill,
                    "soketi_up_after_kill_s": t_up - t_kill,
                }
                if "subscribed" in mark:
                    result["resubscribed_s"] = mark["subscribed"] - t_kill
                    result["resubscribed_after_up_s"] = mark["subscribed"] - t_up
                if "event" in mark:
                    result["event_s"] = mark["event"] - t_kill
                result["states"] = [
                    (round(line["t"] - t_kill, 3), line["state"])
                    for line in client.seen
                    if line.get("type") == "state" and line["t"] > t_kill
                ]
                runs[client.name].append(result)
                log(
                    f"  reconnect {rep + 1}/{repeat} {client.name:<14}"
                    f"soketi up {result['soketi_up_after_kill_s']:5.2f} s, subscribed "
                    f"{result.get('resubscribed_s', float('nan')):5.2f} s, event "
                    f"{result.get('event_s', float('nan')):5.2f} s after the kill"
                )
        finally:
            for client in clients:
                client.stop()
    out = []
    for name, label in chosen:
        good = [r for r in runs[name] if r.get("ok")]
        out.append(
            {
                "client": name,
                "label": label,
                "ok": len(good) == len(runs[name]),
                "error": None if len(good) == len(runs[name]) else "no event after a restart",
                "soketi_up_after_kill_s": median(r["soketi_up_after_kill_s"] for r in good),
                "resubscribed_s": median(r.get("resubscribed_s") for r in good),
                "resubscribed_after_up_s": median(r.get("resubscribed_after_up_s") for r in good),
                "event_s": median(r.get("event_s") for r in good),
                "runs": runs[name],
            }
        )
    return {"parameters": {"outage_s": OUTAGE_S, "repeat": repeat}, "clients": out}


def follow(clients: list[Client], sdk: Any, t_kill: float) -> dict[str, dict[str, float]]:
    """Trigger an event every 10 ms until every client has one after resubscribing."""
    marks: dict[str, dict[str, float]] = {c.name: {} for c in clients}
    deadline = time.monotonic() + 60
    seq = 0
    while time.monotonic() < deadline and not all("event" in m for m in marks.values()):
        with contextlib.suppress(Exception):
            sdk.trigger("reconnect", "ev", {"seq": seq, "t": time.time()})
            seq += 1
        time.sleep(TRIGGER_EVERY_S)
        for client in clients:
            mark = marks[client.name]
            for line in client.drain():
                if line.get("type") == "subscribed" and line["t"] > t_kill:
                    mark.setdefault("subscribed", line["t"])
                elif line.get("type") == "event" and "subscribed" in mark:
                    mark.setdefault("event", line["t"])
    return marks


def rows(section: dict[str, Any]) -> Iterator[Row]:
    outage = section["parameters"]["outage_s"]
    for row in section["clients"]:
        yield (
            f"reconnect, soketi down {outage:g} s",
            row["label"],
            fmt(row["resubscribed_s"], ".2f", " s resubscr."),
            fmt(row["event_s"], ".2f", " s 1st event"),
            check(
                row["ok"],
                f"soketi up at {fmt(row['soketi_up_after_kill_s'], '.2f', ' s')} (from the kill)",
                row["error"],
            ),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    out = []
    for row in section["clients"]:
        after = [
            r["resubscribed_s"] - r["soketi_down_s"] for r in row["runs"] if "resubscribed_s" in r
        ]
        if row["client"] == "pc-callbacks" and after:
            value = median(after)
            assert value is not None
            out.append(
                Target(
                    "one client back after a server restart",
                    "median time to subscribed ≤ 1 s after the server was started again",
                    f"{value:.2f} s",
                    value <= 1.0 and row["ok"],
                    issue="earlier",
                )
            )
    return out


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"reconnect {row['label']}: {row['error']}" for row in section["clients"] if not row["ok"]
    ]


WORKLOAD = Workload(
    name="reconnect",
    order=60,
    summary="one client back after soketi is killed and restarted, against pusher-js",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
)
