"""Batched authorization on a reconnection: requests made, and time to all subscribed.

A workload of ``benchmarks.run`` (``--only auth_batching``), or on its own::

    python -m benchmarks.workloads.auth_batching [--channels 100] [--latency 0.02] [--repeat 3]

One client with ``--channels`` private channels, authorized by a real endpoint that
signs with the official ``pusher`` SDK (``devtools/auth_server.py``) and answers each
request after ``--latency`` seconds (a backend's round trip). soketi is restarted;
from the moment the client is connected again until every channel is subscribed
again, the requests to the endpoint are counted and the time is taken, once with one
request per channel (the baseline) and once with ``auth_batching=True``. The ratio
batched/baseline is printed. Everything listens on 127.0.0.1 and stops by itself.
It runs in the benchmark's own process: it counts requests and times a
resubscription, and takes no CPU figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import PusherChannelsClient

from ..harness import Bench, Row, Workload, log

LIMIT = 60.0
"""Seconds one measurement may take before it is abandoned."""


async def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} took more than {LIMIT:g} s")
        await asyncio.sleep(0.001)


async def measure(
    soketi: SoketiServer, channels: int, latency: float, batched: bool
) -> dict[str, Any]:
    """Restart soketi under a subscribed client; what the resubscription costs."""
    auth = AuthServer(soketi.server_sdk(), delay=latency)
    auth.start()
    extra: dict[str, Any] = {"auth_batching": True} if batched else {}
    endpoint = auth.batch_url if batched else auth.url
    connected_at: list[float] = []
    client = PusherChannelsClient(**soketi.client_options(), auth_endpoint=endpoint, **extra)
    client.connection.bind("connected", lambda: connected_at.append(time.monotonic()))
    try:
        subscribed = [await client.subscribe(f"private-bench-{i}") for i in range(channels)]
        await client.connect(timeout=LIMIT)
        await _wait(lambda: all(c.subscribed for c in subscribed), "the first subscriptions")
        soketi.kill()
        await _wait(lambda: not subscribed[0].subscribed, "the drop")
        # Counted from here: nothing is authorized while the server is down, and the
        # client may reconnect before start() returns.
        before = len(auth.requests)
        await asyncio.to_thread(soketi.start)
        await _wait(lambda: len(connected_at) == 2, "the reconnection")
        await _wait(lambda: all(c.subscribed for c in subscribed), "the resubscriptions")
        took = time.monotonic() - connected_at[1]
        return {"requests": len(auth.requests) - before, "seconds": took}
    finally:
        await client.disconnect()
        auth.stop()


async def compare(
    soketi: SoketiServer, channels: int, latency: float, repeat: int
) -> dict[str, dict[str, float]]:
    """Both ways, ``repeat`` times each, alternating; the medians."""
    results: dict[str, list[dict[str, Any]]] = {"one per channel": [], "batched": []}
    for _ in range(repeat):
        for label, batched in (("one per channel", False), ("batched", True)):
            results[label].append(await measure(soketi, channels, latency, batched))
    return {
        label: {
            "requests": statistics.median(r["requests"] for r in runs),
            "seconds": statistics.median(r["seconds"] for r in runs),
        }
        for label, runs in results.items()
    }


async def run(channels: int, latency: float, repeat: int) -> dict[str, dict[str, float]]:
    """:func:`compare` on a soketi of its own."""
    with tempfile.TemporaryDirectory() as directory:
        soketi = SoketiServer(log_path=Path(directory) / "soketi.log")
        soketi.start()
        try:
            return await compare(soketi, channels, latency, repeat)
        finally:
            soketi.stop()


LATENCY_S = 0.02


def run_workload(bench: Bench) -> dict[str, Any]:
    channels = bench.sized(100, 5)
    repeat = bench.repeats(3)
    log(f"==> auth batching: {channels} private channels resubscribed, {repeat} run(s)")
    medians = asyncio.run(compare(bench.soketi(), channels, LATENCY_S, repeat))
    return {
        "parameters": {"channels": channels, "endpoint_latency_s": LATENCY_S, "repeat": repeat},
        "ways": medians,
    }


def rows(section: dict[str, Any]) -> Iterator[Row]:
    p = section["parameters"]
    base = section["ways"]["one per channel"]
    for label, figures in section["ways"].items():
        yield (
            f"auth, {p['channels']} private channels after a reconnection",
            label,
            f"{figures['requests']:.0f} requests",
            f"{figures['seconds']:.3f} s resubscr.",
            f"time x{figures['seconds'] / base['seconds']:.2f} of one per channel",
        )


WORKLOAD = Workload(
    name="auth_batching",
    order=80,
    summary="batched channel authorization after a reconnection (requests and time)",
    run=run_workload,
    rows=rows,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.02, help="endpoint seconds/request")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    medians = asyncio.run(run(args.channels, args.latency, args.repeat))
    base, batched = medians["one per channel"], medians["batched"]
    print(
        f"{args.channels} private channels, endpoint latency {args.latency * 1000:g} ms, "
        f"median of {args.repeat}, from reconnected to all resubscribed:"
    )
    for label, figures in medians.items():
        print(f"  {label:>16}: {figures['requests']:5.0f} requests  {figures['seconds']:7.3f} s")
    print(
        f"  batched / one per channel: requests x{batched['requests'] / base['requests']:.3f}, "
        f"time x{batched['seconds'] / base['seconds']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
