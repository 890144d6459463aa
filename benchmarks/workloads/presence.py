"""Presence rooms: subscribing to a room of M members, then member changes.

One pusher-channels client (authorized by signing locally) subscribes to a presence
channel whose ``subscription_succeeded`` carries M members (100, then 10,000), then
sends a client event, on which the blaster sends J member changes (J
``member_removed`` and J ``member_added``, so the room keeps M members). The
figures, for each M: the client's CPU from ``subscribe()`` to the
``on_subscription_succeeded`` callback, per member; the event loop's longest stall
around it (a task that sleeps 1 ms in a loop and records how late it wakes), which
is how long handling the ``subscription_succeeded`` of M members kept the loop; and
the CPU per member change, from the client event to the last change's callback.

The blaster, not soketi: a room of 10,000 members would need 10,000 connections
subscribed to it, on top of this one, on a 2-core machine.

The client runs as ``python -m benchmarks.workloads.presence client ...``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from .._common import (
    BENCH_SECRET,
    LagMonitor,
    Window,
    blaster_key,
    emit,
    hard_deadline,
    workload_client_arguments,
)
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
    module_client,
    profile_client,
)

MODULE = "benchmarks.workloads.presence"
RATIO = 1.5
HANDLED_MS = 50.0


def command(port: int, members: int, changes: int) -> list[str]:
    return module_client(MODULE, port, blaster_key(changes), size=members, max_seconds=120)


def run(bench: Bench) -> dict[str, Any]:
    sizes = bench.sized((100, 10_000), (100, 1_000))
    changes = bench.sized(1_000, 100)
    repeat = bench.repeats(3)
    client_cpu, server_cpu = bench.cpus
    log(
        f"==> presence: rooms of {', '.join(f'{m:,}' for m in sizes)} members, "
        f"{changes:,} joins and leaves, {repeat} round(s)"
    )
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    with Blaster(1, server_cpu) as blaster:
        for rep in range(repeat):
            for size in sizes:
                name = f"presence-{size}"
                result = Client(name, command(blaster.port, size, changes), client_cpu).result(150)
                runs[size].append(result)
                log(
                    f"  presence {rep + 1}/{repeat} M={size:<6} subscription "
                    f"{result.get('subscribe_cpu_s', float('nan')) * 1e3:6.2f} CPU ms, stall "
                    f"{result.get('subscribe_stall_ms', float('nan')):6.2f} ms; "
                    f"{result.get('change_cpu_s', float('nan')) * 1e6 / (2 * changes):5.1f} "
                    f"CPU µs/change  "
                    f"{'ok' if result.get('ok') else 'FAILED: ' + str(result.get('error'))}"
                )
    out = []
    for size in sizes:
        good = [r for r in runs[size] if r.get("ok")]
        out.append(
            {
                "members": size,
                "ok": len(good) == len(runs[size]),
                "error": next((r.get("error") for r in runs[size] if not r.get("ok")), None),
                "subscribe_cpu_ms": median(r["subscribe_cpu_s"] * 1e3 for r in good),
                "subscribe_wall_ms": median(r["subscribe_wall_s"] * 1e3 for r in good),
                "subscribe_stall_ms": median(r["subscribe_stall_ms"] for r in good),
                "cpu_per_member_us": median(r["subscribe_cpu_s"] * 1e6 / size for r in good),
                "cpu_per_change_us": median(r["change_cpu_s"] * 1e6 / (2 * changes) for r in good),
                "change_stall_ms": median(r["change_stall_ms"] for r in good),
                "runs": runs[size],
            }
        )
    parameters = {"members": list(sizes), "changes": changes, "repeat": repeat, "server": "blaster"}
    return {"parameters": parameters, "sizes": out}


def rows(section: dict[str, Any]) -> Iterator[Row]:
    changes = section["parameters"]["changes"]
    for row in section["sizes"]:
        yield (
            f"presence M={row['members']:,} (blaster)",
            "subscription_succeeded",
            fmt(row["cpu_per_member_us"], ".2f", " CPU µs/member"),
            fmt(row["subscribe_stall_ms"], ".2f", " ms stall"),
            check(
                row["ok"],
                f"{row['members']:,} members, {fmt(row['subscribe_cpu_ms'], '.2f')} CPU ms",
                row["error"],
            ),
        )
        yield (
            f"presence M={row['members']:,} (blaster)",
            f"{changes:,} leaves + {changes:,} joins",
            fmt(row["cpu_per_change_us"], ".2f", " CPU µs/change"),
            fmt(row["change_stall_ms"], ".2f", " ms stall"),
            check(row["ok"], f"{2 * changes:,} member callbacks", row["error"]),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    sizes = sorted(section["sizes"], key=lambda row: row["members"])
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    out: list[Target] = []
    if small["cpu_per_member_us"] and large["cpu_per_member_us"] and large["cpu_per_change_us"]:
        subscription = large["cpu_per_member_us"] / small["cpu_per_member_us"]
        change = large["cpu_per_change_us"] / small["cpu_per_change_us"]
        worst = max(subscription, change)
        out.append(
            Target(
                f"presence room of {large['members']:,}: subscribe, then joins and leaves",
                f"linear: per-member cost ≤ {RATIO:g}x that at {small['members']:,} members",
                f"subscription {subscription:.2f}x ({large['cpu_per_member_us']:.2f} vs "
                f"{small['cpu_per_member_us']:.2f} µs/member), changes {change:.2f}x "
                f"({large['cpu_per_change_us']:.2f} vs {small['cpu_per_change_us']:.2f} µs)",
                worst <= RATIO and large["ok"],
                worst,
                RATIO,
                profile=str(large["members"]),
            )
        )
    if large["subscribe_stall_ms"] is not None:
        out.append(
            Target(
                f"subscription_succeeded with {large['members']:,} members",
                f"handled in ≤ {HANDLED_MS:g} ms (the event loop's stall)",
                f"{large['subscribe_stall_ms']:.1f} ms stall, "
                f"{large['subscribe_cpu_ms']:.1f} CPU ms",
                large["subscribe_stall_ms"] <= HANDLED_MS and large["ok"],
                large["subscribe_stall_ms"],
                HANDLED_MS,
                profile=str(large["members"]),
            )
        )
    return out


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"presence M={row['members']}: {row['error']}" for row in section["sizes"] if not row["ok"]
    ]


def profile(bench: Bench, section: dict[str, Any], what: str) -> Profile:
    members, changes = int(what), section["parameters"]["changes"]
    with Blaster(1, bench.cpus[1]) as blaster:
        text = profile_client(
            command(blaster.port, members, changes), f"presence-{members}", members, "member", 300
        )
    return Profile(
        f"presence: a room of {members:,} members, then {changes:,} joins and leaves"
        " (µs per member of the room)",
        text,
    )


WORKLOAD = Workload(
    name="presence",
    order=45,
    summary="presence rooms of 100 and 10,000 members, then joins and leaves (blaster)",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
    profile=profile,
)


# --------------------------------------------------------------------- the client


async def client(args: Any) -> None:
    from pusher_channels import PusherChannelsClient, PusherMember

    members = args.size
    changes = int(args.key.rsplit("-", 1)[1])
    subscribed, changed = asyncio.Event(), asyncio.Event()
    marks: dict[str, float] = {}
    seen = 0

    def on_subscription_succeeded(data: Any) -> None:
        marks["subscribed_cpu"], marks["subscribed_wall"] = time.process_time(), time.perf_counter()
        subscribed.set()

    def on_member(member: PusherMember) -> None:
        nonlocal seen
        seen += 1
        if seen == 2 * changes:
            marks["changed_cpu"] = time.process_time()
            changed.set()

    pusher = PusherChannelsClient(
        api_key=args.key,
        host=args.host,
        ws_port=args.port,
        use_tls=False,
        secret=BENCH_SECRET,
        presence_channel_data={"user_id": "bench-me", "user_info": {"name": "Bench"}},
    )
    await pusher.connect(timeout=30)
    lag, window = LagMonitor(), Window(args.profile)
    lag.start()
    await asyncio.sleep(0.01)
    error = None
    window.start()
    try:
        lags_before = len(lag.lags_ms)
        channel = await pusher.subscribe(
            f"presence-room-{members}",
            on_subscription_succeeded=on_subscription_succeeded,
            on_member_added=on_member,
            on_member_removed=on_member,
        )
        await asyncio.wait_for(subscribed.wait(), 60)
        await asyncio.sleep(0.005)  # the monitor's late wake-up is recorded
        subscribe_lags = lag.lags_ms[lags_before:]
        if len(channel.members) != members:
            error = f"{len(channel.members)} members, expected {members}"
        lags_before = len(lag.lags_ms)
        cpu0 = time.process_time()
        await channel.trigger(event_name="client-changes", data={})
        await asyncio.wait_for(changed.wait(), 60)
        await asyncio.sleep(0.005)
        change_lags = lag.lags_ms[lags_before:]
        if len(channel.members) != members:
            error = f"{len(channel.members)} members after the changes, expected {members}"
    except TimeoutError:
        error = f"timed out: subscribed {subscribed.is_set()}, {seen} member changes seen"
    window.stop()
    lag.stop()
    await pusher.disconnect()
    if error is not None:
        emit({"type": "result", "ok": False, "error": error})
        return
    emit(
        {
            "type": "result",
            "ok": True,
            "error": None,
            "members": members,
            "subscribe_cpu_s": marks["subscribed_cpu"] - window.cpu0,
            "subscribe_wall_s": marks["subscribed_wall"] - window.wall0,
            "subscribe_stall_ms": max(subscribe_lags, default=0.0),
            "change_cpu_s": marks["changed_cpu"] - cpu0,
            "change_stall_ms": max(change_lags, default=0.0),
        }
    )


def main() -> None:
    args = workload_client_arguments().parse_args()
    hard_deadline(args.max_seconds)
    asyncio.run(client(args))


if __name__ == "__main__":
    main()
