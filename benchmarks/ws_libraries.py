"""Benchmark: which asyncio WebSocket client receives small text frames fastest.

What it measures
----------------
A local "blaster" server (picows, run in a *separate process* so that its CPU
time is not charged to the client) sends N pre-built text frames shaped like
Pusher Channels events as fast as the socket allows, then closes with 1000::

    {"event":"my-event","channel":"bench","data":"{\\"seq\\":123,\\"payload\\":\\"xxxx...\\"}"}

The ``data`` field is a JSON *string* (~100 bytes) holding a ``seq`` counter,
exactly like Pusher's double-encoded event payloads.

Each client library then connects, and for every frame parses the outer JSON
with orjson, parses the inner ``data`` string with orjson and checks that
``seq`` is exactly the next expected number; the run fails loudly if any event
is missing, duplicated or out of order, or if the count is not exactly N.

Clients (run round-robin, one connection at a time, R times each):

* ``websockets`` -- ``websockets.asyncio.client.connect`` + ``async for msg in ws``
* ``aiohttp``    -- ``ClientSession.ws_connect`` + ``async for msg in ws``
* ``picows``     -- ``picows.ws_connect`` + ``WSListener.on_ws_frame`` callback;
  picows 2.x depends on ``aiofastnet`` and uses its transport by default
* ``picows-asyncio`` -- the same with ``use_aiofastnet=False`` (stock asyncio
  selector transport), to show how much of picows' lead is the transport

For each client it reports the median over R runs of

* events/s (wall clock, connect -> close), and
* CPU microseconds per event (``time.process_time()`` delta of the client
  process / N), which is the figure that matters on a busy machine.

Separately it times the JSON parse cost per frame (outer + inner ``data``)
with ``timeit``: stdlib ``json.loads`` vs ``orjson.loads`` (and
``msgspec.json.decode`` if msgspec is installed).

Results are printed as a table and written to
``benchmarks/results/ws_libraries.json``.

How to run
----------
From the project root::

    .venv/bin/python benchmarks/ws_libraries.py              # N=200000, R=3
    .venv/bin/python benchmarks/ws_libraries.py --small      # N=20000, R=1 (smoke run)
    .venv/bin/python benchmarks/ws_libraries.py --events 50000 --repeat 5

On a machine with 2+ CPUs the client is pinned to one CPU and the server to
another (``--no-pin`` disables this).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import signal
import statistics
import sys
import time
import timeit
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import picows
import websockets.asyncio.client

DEFAULT_EVENTS = 200_000
DEFAULT_REPEAT = 3
SMALL_EVENTS = 20_000
SMALL_REPEAT = 1
WARMUP_EVENTS = 2_000
MIN_CPUS_TO_PIN = 2
NORMAL_CLOSURE = 1000
PAYLOAD_FILLER = 70  # -> inner "data" string of ~100 bytes
FRAMES_PER_WRITE = 256  # ~40 KB per transport.write() on the server
SERVER_START_TIMEOUT_S = 30.0
SERVER_CLOSE_GRACE_S = 5.0
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ws_libraries.json"


class BenchmarkError(RuntimeError):
    """A client did not receive exactly the N expected events, in order."""


# --------------------------------------------------------------------------
# Event payloads
# --------------------------------------------------------------------------


def make_event(seq: int) -> bytes:
    """One Pusher-shaped event; ``data`` is a JSON-encoded *string*."""
    inner = orjson.dumps({"seq": seq, "payload": "x" * PAYLOAD_FILLER}).decode()
    return orjson.dumps({"event": "my-event", "channel": "bench", "data": inner})


def ws_server_text_frame(payload: bytes) -> bytes:
    """Raw RFC 6455 server->client TEXT frame (FIN set, unmasked)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


# --------------------------------------------------------------------------
# Blaster server (runs in a child process)
# --------------------------------------------------------------------------


class _BlasterListener(picows.WSListener):
    """Sends the first ``n`` pre-built frames, then CLOSE(1000)."""

    def __init__(self, blob: bytes, offsets: list[int], n: int) -> None:
        self._blob = memoryview(blob)
        self._offsets = offsets
        self._n = n
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._task = asyncio.get_running_loop().create_task(self._blast(transport))

    async def _blast(self, transport: picows.WSTransport) -> None:
        raw = transport.underlying_transport
        for start in range(0, self._n, FRAMES_PER_WRITE):
            if raw.is_closing():  # client went away (e.g. a failed check)
                return
            if not self._writable.is_set():
                await self._writable.wait()
            end = min(start + FRAMES_PER_WRITE, self._n)
            # Pre-built wire bytes go straight to the asyncio transport; picows'
            # own send_close() below queues behind them, so ordering is kept.
            raw.write(self._blob[self._offsets[start] : self._offsets[end]])
        transport.send_close(picows.WSCloseCode.OK)
        # The client should answer CLOSE (handled in on_ws_frame); don't hang if not.
        asyncio.get_running_loop().call_later(SERVER_CLOSE_GRACE_S, transport.disconnect)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()


async def _serve(max_events: int, conn: multiprocessing.connection.Connection) -> None:
    frames = [ws_server_text_frame(make_event(i)) for i in range(max_events)]
    offsets = [0]
    for frame in frames:
        offsets.append(offsets[-1] + len(frame))
    blob = b"".join(frames)
    del frames

    def factory(request: picows.WSUpgradeRequest) -> picows.WSListener | None:
        query = urllib.parse.urlsplit(request.path.decode()).query
        n = int(urllib.parse.parse_qs(query).get("n", ["0"])[0])
        if not 0 < n <= max_events:
            return None  # -> 404
        return _BlasterListener(blob, offsets, n)

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    conn.send(port)
    conn.close()
    async with server:
        await server.serve_forever()  # ends when the parent kills this process


def server_main(
    max_events: int, conn: multiprocessing.connection.Connection, cpu: int | None
) -> None:
    """Entry point of the server process."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    asyncio.run(_serve(max_events, conn))


class BlasterProcess:
    """Starts the server process; ``stop()`` kills it by PID (idempotent)."""

    def __init__(self, max_events: int, cpu: int | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=server_main, args=(max_events, child_conn, cpu), daemon=True
        )
        self._proc.start()
        child_conn.close()
        self.pid: int | None = self._proc.pid
        try:
            if not parent_conn.poll(SERVER_START_TIMEOUT_S):
                raise BenchmarkError("blaster server did not report its port in time")
            self.port: int = parent_conn.recv()
        except BaseException:
            self.stop()
            raise
        finally:
            parent_conn.close()

    def url(self, n: int) -> str:
        return f"ws://127.0.0.1:{self.port}/?n={n}"

    def stop(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        self._proc.join(5.0)
        if self._proc.is_alive():
            os.kill(pid, signal.SIGKILL)
            self._proc.join(5.0)


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------


class SeqChecker:
    """Per-event work shared by all clients: 2x orjson.loads + order check."""

    __slots__ = ("expected",)

    def __init__(self) -> None:
        self.expected = 0

    def feed(self, raw: str | bytes | memoryview) -> None:
        outer = orjson.loads(raw)
        seq = orjson.loads(outer["data"])["seq"]
        if seq != self.expected:
            raise BenchmarkError(f"expected seq {self.expected}, got {seq}")
        self.expected += 1

    def finish(self, n: int, client: str) -> None:
        if self.expected != n:
            raise BenchmarkError(f"{client}: received {self.expected} events, expected {n}")


async def client_websockets(url: str, n: int, time_limit: float) -> None:
    checker = SeqChecker()
    feed = checker.feed
    async with asyncio.timeout(time_limit):
        async with websockets.asyncio.client.connect(url) as ws:
            # Iteration ends on a normal close (1000/1001); raises otherwise.
            async for msg in ws:
                feed(msg)
    checker.finish(n, "websockets")


async def client_aiohttp(url: str, n: int, time_limit: float) -> None:
    checker = SeqChecker()
    feed = checker.feed
    async with asyncio.timeout(time_limit):
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            # Iteration stops at CLOSE/CLOSING/CLOSED; autoclose replies to CLOSE.
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise BenchmarkError(f"aiohttp: unexpected message {msg.type!r}")
                feed(msg.data)
            if ws.close_code != NORMAL_CLOSURE:
                raise BenchmarkError(f"aiohttp: close code {ws.close_code}")
    checker.finish(n, "aiohttp")


class _PicowsClientListener(picows.WSListener):
    def __init__(self) -> None:
        self.checker = SeqChecker()
        self.close_code: int | None = None
        self.failed = False

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if self.failed:
            # picows keeps delivering the rest of the current read buffer after
            # a callback raised; ignore it instead of logging N tracebacks.
            return
        try:
            msg_type = frame.msg_type
            if msg_type == picows.WSMsgType.TEXT and frame.fin:
                # memoryview into picows' read buffer: valid only inside this
                # callback, which is fine because orjson copies what it keeps.
                self.checker.feed(frame.get_payload_as_memoryview())
            elif msg_type == picows.WSMsgType.CLOSE:
                # picows does NOT answer CLOSE by itself: echo it, then drop TCP.
                self.close_code = frame.get_close_code().value
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            else:
                # The blaster never fragments; PINGs are auto-ponged by picows
                # and never reach on_ws_frame. Anything else is a bug.
                raise BenchmarkError(f"picows: unexpected frame {frame}")
        except BaseException:
            # picows answers with CLOSE(1011), disconnects, and re-raises the
            # exception from transport.wait_disconnected().
            self.failed = True
            raise


async def _client_picows(url: str, n: int, time_limit: float, *, aiofastnet: bool) -> None:
    async with asyncio.timeout(time_limit):
        transport, listener = await picows.ws_connect(
            _PicowsClientListener, url, use_aiofastnet=aiofastnet
        )
        try:
            await transport.wait_disconnected()  # re-raises on_ws_frame errors
        finally:
            transport.disconnect(graceful=False)  # no-op if already closed
    assert isinstance(listener, _PicowsClientListener)
    if listener.close_code != NORMAL_CLOSURE:
        raise BenchmarkError(f"picows: close code {listener.close_code}")
    listener.checker.finish(n, "picows")


async def client_picows(url: str, n: int, time_limit: float) -> None:
    """picows as installed: uses the aiofastnet transport (a picows dependency)."""
    await _client_picows(url, n, time_limit, aiofastnet=True)


async def client_picows_asyncio(url: str, n: int, time_limit: float) -> None:
    """picows on the stock asyncio selector transport (use_aiofastnet=False)."""
    await _client_picows(url, n, time_limit, aiofastnet=False)


ClientFn = Callable[[str, int, float], Awaitable[None]]
# name -> (distribution whose version is reported, client coroutine)
CLIENTS: dict[str, tuple[str, ClientFn]] = {
    "websockets": ("websockets", client_websockets),
    "aiohttp": ("aiohttp", client_aiohttp),
    "picows": ("picows", client_picows),
    "picows-asyncio": ("picows", client_picows_asyncio),
}


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


@dataclass
class Sample:
    wall_s: float
    cpu_s: float


@dataclass
class ClientResult:
    name: str
    version: str
    samples: list[Sample] = field(default_factory=list)
    events_per_s: float = 0.0
    cpu_us_per_event: float = 0.0
    wall_us_per_event: float = 0.0
    cpu_ratio: float = 0.0  # cpu_us_per_event / best cpu_us_per_event
    speed_ratio: float = 0.0  # best events_per_s / events_per_s


def connection_timeout(n: int) -> float:
    return 30.0 + n * 200e-6  # generous: 200 µs/event on top of 30 s


async def _timed(client: ClientFn, url: str, n: int) -> Sample:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await client(url, n, connection_timeout(n))
    wall1, cpu1 = time.perf_counter(), time.process_time()
    return Sample(wall_s=wall1 - wall0, cpu_s=cpu1 - cpu0)


def measure_once(client: ClientFn, url: str, n: int) -> Sample:
    gc.collect()
    return asyncio.run(_timed(client, url, n))


def run_clients(server: BlasterProcess, n: int, repeat: int) -> list[ClientResult]:
    results = {
        name: ClientResult(name, importlib.metadata.version(dist))
        for name, (dist, _) in CLIENTS.items()
    }
    warmup = min(n, WARMUP_EVENTS)
    for _, client in CLIENTS.values():
        measure_once(client, server.url(warmup), warmup)
    # Round-robin so slow drift (thermal, other load) hits every client equally.
    for rep in range(repeat):
        for name, (_, client) in CLIENTS.items():
            sample = measure_once(client, server.url(n), n)
            results[name].samples.append(sample)
            print(
                f"  run {rep + 1}/{repeat} {name:<15} {n / sample.wall_s:>10,.0f} ev/s "
                f"{sample.cpu_s * 1e6 / n:6.2f} CPU µs/ev",
                file=sys.stderr,
                flush=True,
            )
    out = list(results.values())
    for r in out:
        wall = statistics.median(s.wall_s for s in r.samples)
        cpu = statistics.median(s.cpu_s for s in r.samples)
        r.events_per_s = n / wall
        r.wall_us_per_event = wall * 1e6 / n
        r.cpu_us_per_event = cpu * 1e6 / n
    best_cpu = min(r.cpu_us_per_event for r in out)
    best_speed = max(r.events_per_s for r in out)
    for r in out:
        r.cpu_ratio = r.cpu_us_per_event / best_cpu
        r.speed_ratio = best_speed / r.events_per_s
    out.sort(key=lambda r: r.cpu_us_per_event)
    return out


def bench_json_parsers() -> dict[str, float]:
    """µs per frame (outer + inner ``data``) for each JSON parser, best of 5."""
    frame_bytes = make_event(123_456)
    frame_str = frame_bytes.decode()

    def stdlib_json() -> None:
        json.loads(json.loads(frame_str)["data"])

    def orjson_str() -> None:
        orjson.loads(orjson.loads(frame_str)["data"])

    def orjson_bytes() -> None:
        orjson.loads(orjson.loads(frame_bytes)["data"])

    parsers: dict[str, Callable[[], None]] = {
        "json.loads (stdlib, str)": stdlib_json,
        "orjson.loads (str)": orjson_str,
        "orjson.loads (bytes)": orjson_bytes,
    }
    try:
        import msgspec.json
    except ImportError:
        pass
    else:
        decode = msgspec.json.decode

        def msgspec_bytes() -> None:
            decode(decode(frame_bytes)["data"])

        parsers["msgspec.json.decode (bytes)"] = msgspec_bytes

    out: dict[str, float] = {}
    for name, fn in parsers.items():
        timer = timeit.Timer(fn)
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=5, number=number))
        out[name] = best / number * 1e6
    return out


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def print_report(
    n: int, repeat: int, clients: list[ClientResult], parsers: dict[str, float]
) -> None:
    print(f"\nReceive {n:,} Pusher-shaped text frames; median of {repeat} run(s)")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, asyncio default loop\n")
    header = (
        f"{'library':<16}{'version':>9}{'CPU µs/event':>15}{'CPU ratio':>11}"
        f"{'events/s':>12}{'wall µs/event':>15}{'slower by':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in clients:
        print(
            f"{r.name:<16}{r.version:>9}{r.cpu_us_per_event:>15.2f}{r.cpu_ratio:>10.2f}x"
            f"{r.events_per_s:>12,.0f}{r.wall_us_per_event:>15.2f}{r.speed_ratio:>10.2f}x"
        )
    print("\nJSON parse cost per frame (outer + inner data), best of 5:")
    base = parsers["json.loads (stdlib, str)"]
    for name, us in parsers.items():
        print(f"  {name:<30}{us:>7.2f} µs   {base / us:5.2f}x vs stdlib")


def write_json(
    n: int, repeat: int, pinned: bool, clients: list[ClientResult], parsers: dict[str, float]
) -> Path:
    versions = {
        pkg: importlib.metadata.version(pkg)
        for pkg in ("websockets", "aiohttp", "picows", "orjson")
    }
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions["msgspec"] = importlib.metadata.version("msgspec")
    doc: dict[str, Any] = {
        "benchmark": "ws_libraries",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "events": n,
        "repeat": repeat,
        "sample_frame": make_event(0).decode(),
        "sample_frame_bytes": len(make_event(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_pinned": pinned,
        "versions": versions,
        "clients": [asdict(r) for r in clients],
        "json_parse_us_per_frame": parsers,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return RESULTS_PATH


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument(
        "--events", type=int, default=None, help=f"events per run (default {DEFAULT_EVENTS})"
    )
    p.add_argument(
        "--repeat", type=int, default=None, help=f"runs per client (default {DEFAULT_REPEAT})"
    )
    p.add_argument(
        "--small", action="store_true", help=f"quick smoke run: N={SMALL_EVENTS}, R={SMALL_REPEAT}"
    )
    p.add_argument(
        "--no-pin", action="store_true", help="do not pin client/server to separate CPUs"
    )
    args = p.parse_args(argv)
    if args.events is None:
        args.events = SMALL_EVENTS if args.small else DEFAULT_EVENTS
    if args.repeat is None:
        args.repeat = SMALL_REPEAT if args.small else DEFAULT_REPEAT
    if args.events < 1 or args.repeat < 1:
        p.error("--events and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n, repeat = args.events, args.repeat

    pin = (
        not args.no_pin
        and hasattr(os, "sched_setaffinity")
        and len(os.sched_getaffinity(0)) >= MIN_CPUS_TO_PIN
    )
    client_cpu: int | None = None
    server_cpu: int | None = None
    if pin:
        cpus = sorted(os.sched_getaffinity(0))
        client_cpu, server_cpu = cpus[0], cpus[-1]

    server = BlasterProcess(max(n, WARMUP_EVENTS), server_cpu)
    try:
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        clients = run_clients(server, n, repeat)
    finally:
        server.stop()
    parsers = bench_json_parsers()

    print_report(n, repeat, clients, parsers)
    path = write_json(n, repeat, pin, clients, parsers)
    print(f"\nResults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
