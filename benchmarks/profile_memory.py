"""Where the memory of an idle connection goes: C clients on soketi, in this process.

::

    .venv/bin/python -m benchmarks.profile_memory                 # C=5000
    .venv/bin/python -m benchmarks.profile_memory --connections 1000 --top 15

Two runs against one soketi (``devtools/soketi.py``, 127.0.0.1, stopped by its PID),
each opening C pusher-channels clients, one channel each, and waiting until all are
subscribed and idle:

1. **Unprofiled**, each in a fresh process: the growth of the process's RSS divided
   by C (what the scale benchmark reports), and the same for C raw picows
   connections that only complete the WebSocket handshake: the floor set by the
   WebSocket library and asyncio.
2. **tracemalloc**: the Python-allocated memory still held per connection, by
   file (``pusher_channels`` modules against picows and asyncio) and by line, and
   the GC-tracked objects per connection by type. Memory that C code allocates
   through Python's allocator while called from a Python line is counted at that
   line (picows's buffers appear under ``asyncio``'s lines that call into it).
   tracemalloc's own bookkeeping inflates RSS in this run, so only run 1 gives RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import subprocess
import sys
import tracemalloc
from pathlib import Path

import picows
from devtools.soketi import SoketiServer

from pusher_channels import PusherChannelsClient

from ._common import raise_fd_limit, rss_kib
from .clients import clients_with_a_channel_each

ROOT = Path(__file__).resolve().parent.parent


async def open_clients(port: int, key: str, count: int) -> list[PusherChannelsClient]:
    """``count`` clients, each subscribed to its own channel; returns once all are."""
    clients, tally = await clients_with_a_channel_each("127.0.0.1", port, key, count, "memory")
    await asyncio.gather(*(client.connect(timeout=60) for client in clients))
    await asyncio.wait_for(tally.everyone.wait(), 60)
    await asyncio.sleep(0.5)  # idle: late handshake buffers and timers settled
    return clients


async def pusher_channels_rss(port: int, key: str, count: int) -> float:
    gc.collect()
    before = rss_kib()
    clients = await open_clients(port, key, count)
    gc.collect()
    per_connection = (rss_kib() - before) / count
    await asyncio.gather(*(client.disconnect() for client in clients))
    return per_connection


async def raw_picows_rss(port: int, key: str, count: int) -> float:
    """The floor: picows connections (asyncio transports, 2 KiB read buffer), no client."""
    gc.collect()
    before = rss_kib()
    url = f"ws://127.0.0.1:{port}/app/{key}?protocol=7"
    connections = await asyncio.gather(
        *(
            picows.ws_connect(
                picows.WSListener, url, read_buffer_init_size=2048, use_aiofastnet=False
            )
            for _ in range(count)
        )
    )
    await asyncio.sleep(0.5)
    gc.collect()
    per_connection = (rss_kib() - before) / count
    for transport, _ in connections:
        transport.disconnect(graceful=False)
    await asyncio.sleep(0.2)
    return per_connection


async def traced(port: int, key: str, count: int, top: int) -> None:
    gc.collect()
    types_before = collections.Counter(type(o).__name__ for o in gc.get_objects())
    tracemalloc.start()
    clients = await open_clients(port, key, count)
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    types = collections.Counter(type(o).__name__ for o in gc.get_objects()) - types_before
    by_file = snapshot.statistics("filename")
    total = sum(stat.size for stat in by_file)
    ours = sum(stat.size for stat in by_file if "pusher_channels" in stat.traceback[0].filename)
    print(f"\nPython-allocated memory held per connection (tracemalloc): {total / count:,.0f} B")
    print(f"  of which allocated in pusher_channels modules: {ours / count:,.0f} B")
    print(f"\n--- by file, per connection (top {top}) ---")
    for stat in by_file[:top]:
        print(f"{stat.size / count:8,.0f} B {stat.count / count:6.1f} blocks  {_short(stat)}")
    print(f"\n--- by line, per connection (top {top}) ---")
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        print(
            f"{stat.size / count:8,.0f} B {stat.count / count:6.1f} blocks  "
            f"{_short(stat)}:{frame.lineno}"
        )
    tracked = sum(types.values())
    print(f"\n--- GC-tracked objects per connection: {tracked / count:.1f} ---")
    print(
        "  "
        + ", ".join(f"{name} {n / count:.1f}" for name, n in types.most_common(top) if n >= count)
    )
    await asyncio.gather(*(client.disconnect() for client in clients))


def _short(stat: tracemalloc.Statistic) -> str:
    path = stat.traceback[0].filename
    for marker in ("site-packages/", "python3.11/", "src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def run_part(part: str, port: int, key: str, count: int, top: int) -> None:
    """One measurement, in a fresh process (memory freed by another run would be reused)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.profile_memory",
            "--part",
            part,
            "--port",
            str(port),
            "--key",
            key,
            "--connections",
            str(count),
            "--top",
            str(top),
        ],
        cwd=ROOT,
        check=True,
        timeout=300,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=5_000)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--part", choices=["client", "raw", "traced"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    count = args.connections
    raise_fd_limit(count * 2 + 4096)
    if args.part == "client":
        kib = asyncio.run(pusher_channels_rss(args.port, args.key, count))
        print(f"  pusher-channels client, 1 channel: {kib:6.1f} KiB ({kib * 1.024:.1f} KB)")
    elif args.part == "raw":
        kib = asyncio.run(raw_picows_rss(args.port, args.key, count))
        print(f"  raw picows connection (the floor): {kib:6.1f} KiB ({kib * 1.024:.1f} KB)")
    elif args.part == "traced":
        asyncio.run(traced(args.port, args.key, count, args.top))
    else:
        soketi = SoketiServer()
        soketi.start()
        try:
            print(f"RSS per idle connection, C={count:,}, each in a fresh process:", flush=True)
            for part in ("client", "raw", "traced"):
                run_part(part, soketi.port, soketi.key, count, args.top)
        finally:
            soketi.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
