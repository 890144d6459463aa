"""Many channels on one connection: 10,000 and 100,000, against the blaster.

One pusher-channels client registers C public channels before ``connect()`` (in
chunks of 1,000, yielding to the event loop in between, as a well-behaved
application would), then connects: on the connection the library sends C
``pusher:subscribe`` messages, and the blaster answers each. The figures: the time
from the first ``subscribe()`` to every ``subscription_succeeded``, per channel
(split into registering and connecting-to-all-subscribed), the client's CPU per
channel, and the event loop's longest stall (a task that sleeps 1 ms in a loop
and records how late it wakes), from the first ``subscribe()`` to the last answer.

The blaster, not soketi: soketi on this 2-core machine does not hold 100,000
subscriptions of one connection in the time a benchmark run allows, and the
comparison between 10,000 and 100,000 needs the same server for both.

The client runs as ``python -m benchmarks.workloads.channels client ...``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

from .._common import (
    LagMonitor,
    Window,
    blaster_key,
    emit,
    hard_deadline,
    rss_kib,
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

MODULE = "benchmarks.workloads.channels"
CHUNK = 1_000
RATIO = 1.5
STALL_MS = 50.0


def command(port: int, channels: int) -> list[str]:
    limit = 60.0 + channels * 0.001
    return module_client(MODULE, port, blaster_key(0), size=channels, max_seconds=limit)


def run(bench: Bench) -> dict[str, Any]:
    sizes = bench.sized((10_000, 100_000), (100, 1_000))
    repeat = bench.repeats(3)
    client_cpu, server_cpu = bench.cpus
    log(f"==> channels on one connection: {', '.join(f'{c:,}' for c in sizes)}, {repeat} round(s)")
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    with Blaster(1, server_cpu) as blaster:
        for rep in range(repeat):
            for size in sizes:
                result = Client(f"channels-{size}", command(blaster.port, size), client_cpu).result(
                    90.0 + size * 0.002
                )
                runs[size].append(result)
                log(
                    f"  channels {rep + 1}/{repeat} C={size:<7} "
                    f"{result.get('total_s', float('nan')) * 1e6 / size:7.1f} µs/channel, "
                    f"longest stall {result.get('max_lag_ms', float('nan')):7.1f} ms  "
                    f"{'ok' if result.get('ok') else 'FAILED: ' + str(result.get('error'))}"
                )
    out = []
    for size in sizes:
        good = [r for r in runs[size] if r.get("ok")]
        out.append(
            {
                "channels": size,
                "ok": len(good) == len(runs[size]),
                "error": next((r.get("error") for r in runs[size] if not r.get("ok")), None),
                "per_channel_us": median(r["total_s"] * 1e6 / size for r in good),
                "register_us": median(r["register_s"] * 1e6 / size for r in good),
                "connect_to_subscribed_us": median(r["subscribe_s"] * 1e6 / size for r in good),
                "cpu_per_channel_us": median(r["cpu_s"] * 1e6 / size for r in good),
                "max_stall_ms": max((r["max_lag_ms"] for r in good), default=None),
                "rss_per_channel_b": median(r["rss_kib"] * 1024 / size for r in good),
                "runs": runs[size],
            }
        )
    return {
        "parameters": {"channels": list(sizes), "repeat": repeat, "server": "blaster"},
        "sizes": out,
    }


def rows(section: dict[str, Any]) -> Iterator[Row]:
    for row in section["sizes"]:
        yield (
            f"channels C={row['channels']:,} on one connection (blaster)",
            "pusher-channels",
            fmt(row["per_channel_us"], ".1f", " µs/channel"),
            fmt(row["max_stall_ms"], ".1f", " ms stall"),
            check(
                row["ok"],
                f"all subscribed; {fmt(row['register_us'], '.1f')} + "
                f"{fmt(row['connect_to_subscribed_us'], '.1f')} µs (register + connect), "
                f"{fmt(row['cpu_per_channel_us'], '.1f')} CPU µs, "
                f"{fmt(row['rss_per_channel_b'], ',.0f')} B RSS",
                row["error"],
            ),
        )


def targets(section: dict[str, Any]) -> list[Target]:
    sizes = sorted(section["sizes"], key=lambda row: row["channels"])
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    out: list[Target] = []
    if small["per_channel_us"] and large["per_channel_us"]:
        ratio = large["per_channel_us"] / small["per_channel_us"]
        out.append(
            Target(
                f"{large['channels']:,} channels on one connection (blaster)",
                f"all subscribed; per-channel time ≤ {RATIO:g}x that at {small['channels']:,}",
                f"{ratio:.2f}x ({large['per_channel_us']:.1f} vs {small['per_channel_us']:.1f} µs)",
                ratio <= RATIO and large["ok"],
                ratio,
                RATIO,
                profile=str(large["channels"]),
            )
        )
    if large["max_stall_ms"] is not None:
        out.append(
            Target(
                f"{large['channels']:,} channels: longest event-loop stall",
                f"≤ {STALL_MS:g} ms",
                f"{large['max_stall_ms']:.1f} ms (at {small['channels']:,}: "
                f"{fmt(small['max_stall_ms'], '.1f', ' ms')})",
                large["max_stall_ms"] <= STALL_MS,
                large["max_stall_ms"],
                STALL_MS,
                profile=str(large["channels"]),
            )
        )
    return out


def failures(section: dict[str, Any]) -> list[str]:
    return [
        f"channels C={row['channels']}: {row['error']}" for row in section["sizes"] if not row["ok"]
    ]


def profile(bench: Bench, section: dict[str, Any], what: str) -> Profile:
    size = int(what)
    with Blaster(1, bench.cpus[1]) as blaster:
        text = profile_client(command(blaster.port, size), f"channels-{size}", size, "channel", 600)
    return Profile(f"channels: {size:,} on one connection (blaster)", text)


WORKLOAD = Workload(
    name="channels",
    order=40,
    summary="10,000 and 100,000 channels on one connection (blaster)",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
    profile=profile,
)


# --------------------------------------------------------------------- the client


async def client(args: Any) -> None:
    from pusher_channels import PusherChannelsClient

    count = args.size
    subscribed = 0
    everyone = asyncio.Event()

    def on_subscription_succeeded(name: str, data: Any) -> None:
        nonlocal subscribed
        subscribed += 1
        if subscribed == count:
            everyone.set()

    pusher = PusherChannelsClient(
        api_key=args.key,
        host=args.host,
        ws_port=args.port,
        use_tls=False,
        on_subscription_succeeded=on_subscription_succeeded,
    )
    lag, window = LagMonitor(), Window(args.profile)
    gc.collect()
    rss0 = rss_kib()
    lag.start()
    await asyncio.sleep(0.01)  # the monitor's first wake-up
    window.start()
    for first in range(0, count, CHUNK):
        for i in range(first, min(first + CHUNK, count)):
            await pusher.subscribe(f"channel-{i}")
        await asyncio.sleep(0)
    registered = time.perf_counter()
    error = None
    try:
        await pusher.connect(timeout=args.max_seconds / 2)
        await asyncio.wait_for(everyone.wait(), args.max_seconds / 2)
    except (TimeoutError, OSError) as exc:
        error = f"{subscribed} of {count} subscribed: {exc!r}"
    window.stop()
    lags = lag.stop()
    gc.collect()
    rss1 = rss_kib()
    await pusher.disconnect()
    emit(
        {
            "type": "result",
            "ok": error is None,
            "error": error,
            "channels": count,
            "subscribed": subscribed,
            "register_s": registered - window.wall0,
            "subscribe_s": window.wall1 - registered,
            "total_s": window.wall1 - window.wall0,
            "cpu_s": window.cpu1 - window.cpu0,
            "max_lag_ms": max(lags, default=0.0),
            "lags_over_50ms": sum(1 for lag in lags if lag > STALL_MS),
            "rss_kib": rss1 - rss0,
        }
    )


def main() -> None:
    args = workload_client_arguments().parse_args()
    hard_deadline(args.max_seconds)
    asyncio.run(client(args))


if __name__ == "__main__":
    main()
