"""Where the CPU goes per event: the callback and iterator clients, profiled.

::

    .venv/bin/python -m benchmarks.profile_hot_path              # N=200000
    .venv/bin/python -m benchmarks.profile_hot_path --events 50000 --top 30

Four parts, all against the blaster (``benchmarks/blaster.py``, its own process,
127.0.0.1, stopped by its PID) with the client in this process:

1. **Unprofiled**: CPU µs per event of the ``on_event`` client (the callback decodes
   ``event.json()`` and checks the sequence), of the ``channel.events()`` iterator
   doing the same, and of raw picows + orjson for scale.
2. **The garbage collector**: collections per generation and their CPU time during
   one run of each client, from ``gc.callbacks``.
3. **cProfile**: each client profiled from just before the subscription to the
   N-th event: the top functions by own time and by cumulative time (callback
   client), and every ``pusher_channels`` function with calls and own µs per event.
   cProfile adds a fixed cost to every Python call, so its µs are inflated (compare
   its total with part 1); the proportions and the call counts are what to read.
4. **Stages, timed alone** (``timeit``, no profiler, best of 5): the pieces of the
   hot path on a real frame, so that each can be weighed in true µs:
   ``orjson.loads`` of the frame, ``Connection.receive``, ``Runtime.text_received``
   with an empty callback (receive + route + dispatch), the dispatcher call,
   ``PusherEvent.json()``, and the same with a decoding callback; then the
   decryption of a private-encrypted event (the blaster's) and its parts, with
   libsodium called directly through cffi for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import hashlib
import importlib
import io
import os
import pstats
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import orjson
import picows
from nacl import bindings as sodium
from nacl.secret import SecretBox

from pusher_channels import PusherChannelsClient, PusherEvent, _transport
from pusher_channels._dispatch import Dispatcher
from pusher_channels.protocol.connection import Connection, ConnectionSettings
from pusher_channels.protocol.crypto import decrypt_data

from ._common import (
    BENCH_MASTER_KEY_BASE64,
    ENCRYPTED_CHANNEL,
    EVENT_NAME,
    THROUGHPUT_CHANNEL,
    SeqCheck,
    blaster_key,
)
from .blaster import encrypted_event_maker, make_encrypted_event, make_event

PYTHON = sys.executable


def start_blaster(events: int, cpu: int | None) -> tuple[subprocess.Popen[str], int]:
    command = [PYTHON, "-m", "benchmarks.blaster", "--max-events", str(events)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        process.wait(5)
        raise RuntimeError("the blaster did not start")
    return process, int(line)


def stop_blaster(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def callback_run(port: int, n: int, profiler: cProfile.Profile | None) -> float:
    """One run of the ``on_event`` client; returns CPU seconds from subscribe to N-th event."""
    check = SeqCheck()
    done = asyncio.Event()
    cpu = [0.0, 0.0]

    def on_event(event: PusherEvent) -> None:
        if event.event_name == EVENT_NAME and check.feed(event.json()["seq"]) == n:
            if profiler is not None:
                profiler.disable()
            cpu[1] = time.process_time()
            done.set()

    pusher = PusherChannelsClient(
        api_key=blaster_key(n), host="127.0.0.1", ws_port=port, use_tls=False, on_event=on_event
    )
    await pusher.connect(timeout=30)
    cpu[0] = time.process_time()
    if profiler is not None:
        profiler.enable()
    await pusher.subscribe(THROUGHPUT_CHANNEL)
    await asyncio.wait_for(done.wait(), 60 + n * 1e-4)
    await pusher.disconnect()
    if check.error is not None:
        raise RuntimeError(check.error)
    return cpu[1] - cpu[0]


async def iterator_run(port: int, n: int, profiler: cProfile.Profile | None) -> float:
    """The same through ``channel.events()`` (default buffer); CPU seconds as above."""
    check = SeqCheck()
    pusher = PusherChannelsClient(
        api_key=blaster_key(n), host="127.0.0.1", ws_port=port, use_tls=False
    )
    await pusher.connect(timeout=30)
    cpu0 = time.process_time()
    if profiler is not None:
        profiler.enable()
    channel = await pusher.subscribe(THROUGHPUT_CHANNEL)
    cpu1 = cpu0
    async with channel.events() as events:
        async for event in events:
            if event.event_name == EVENT_NAME and check.feed(event.json()["seq"]) == n:
                if profiler is not None:
                    profiler.disable()
                cpu1 = time.process_time()
                break
    await pusher.disconnect()
    if check.error is not None or cpu1 == cpu0:
        raise RuntimeError(check.error or "the iterator ended early")
    return cpu1 - cpu0


class GcMeter:
    """Collections and CPU time spent in the cyclic garbage collector, per generation."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __enter__(self) -> GcMeter:
        gc.collect()
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            generation = info["generation"]
            self.collections[generation] += 1
            self.seconds[generation] += time.process_time() - self._started


async def raw_run(port: int, n: int) -> float:
    """The ceiling: picows, two ``orjson.loads`` per event, the sequence check."""
    check = SeqCheck()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    cpu = [0.0, 0.0]

    class Listener(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type != picows.WSMsgType.TEXT:
                return
            message = orjson.loads(frame.get_payload_as_memoryview())
            if message["event"] == EVENT_NAME:
                if check.feed(orjson.loads(message["data"])["seq"]) == n:
                    cpu[1] = time.process_time()
                    done.set_result(None)
            elif message["event"] == "pusher:connection_established":
                cpu[0] = time.process_time()
                subscribe = {"event": "pusher:subscribe", "data": {"channel": THROUGHPUT_CHANNEL}}
                transport.send(picows.WSMsgType.TEXT, orjson.dumps(subscribe))

    url = f"ws://127.0.0.1:{port}/app/{blaster_key(n)}"
    transport, _ = await picows.ws_connect(Listener, url)
    await asyncio.wait_for(done, 60 + n * 1e-4)
    transport.disconnect(graceful=False)
    return cpu[1] - cpu[0]


# ------------------------------------------------------------------------- stages


def best_us(function: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


class _IgnoreFailures:
    """A dispatcher's error reporter that reports nothing."""

    def callback_failed(self, callback: Callable[..., Any], error: Exception) -> None:
        pass


class _NullTransport:
    """A socket that goes nowhere: frames are fed to its sink by hand."""

    def send(self, payload: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def connected_client(
    callback: Callable[[PusherEvent], None],
) -> tuple[PusherChannelsClient, Any]:
    """A client connected (channel subscribed) over a socket fed by hand, no network.

    Returns the client and its socket's sink: ``sink.text_received(frame)`` is what
    the WebSocket calls for each message.
    """
    sinks: list[Any] = []
    opened = asyncio.Event()

    async def connect(sink: Any, url: str, **_: Any) -> _NullTransport:
        transport = _NullTransport()
        sinks.append(sink)
        sink.opened(transport)
        opened.set()
        return transport

    original = _transport.connect_websocket
    _transport.connect_websocket = connect
    try:
        client = PusherChannelsClient(
            api_key="k", host="127.0.0.1", use_tls=False, on_event=callback
        )
        await client.subscribe(THROUGHPUT_CHANNEL)
        connecting = asyncio.ensure_future(client.connect())
        await opened.wait()
    finally:
        _transport.connect_websocket = original
    sink = sinks[0]
    established = orjson.dumps({"socket_id": "1.2", "activity_timeout": 120}).decode()
    sink.text_received(
        orjson.dumps({"event": "pusher:connection_established", "data": established})
    )
    await connecting
    succeeded = {
        "event": "pusher_internal:subscription_succeeded",
        "channel": THROUGHPUT_CHANNEL,
        "data": "{}",
    }
    sink.text_received(orjson.dumps(succeeded))
    return client, sink


def connected_core() -> Connection:
    """The protocol core alone, driven to CONNECTED with the channel subscribed."""
    core = Connection(ConnectionSettings(url="ws://127.0.0.1/app/k"))
    core.connect(0.0)
    core.socket_opened(0.0)
    established = orjson.dumps({"socket_id": "1.2", "activity_timeout": 120}).decode()
    core.receive(orjson.dumps({"event": "pusher:connection_established", "data": established}), 0)
    core.subscribe(THROUGHPUT_CHANNEL)
    succeeded = {
        "event": "pusher_internal:subscription_succeeded",
        "channel": THROUGHPUT_CHANNEL,
        "data": "{}",
    }
    core.receive(orjson.dumps(succeeded), 0.0)
    core.take_outputs()
    return core


async def stage_timings() -> list[tuple[str, float]]:
    """µs per call of each hot-path stage, timed alone."""
    frame = make_event(123_456)
    view = memoryview(frame)
    kept: list[Any] = []

    def empty(event: PusherEvent) -> None:
        kept.append(event)
        if len(kept) > 1000:
            kept.clear()

    def decoding(event: PusherEvent) -> None:
        kept.append(event.json()["seq"])
        if len(kept) > 1000:
            kept.clear()

    core = connected_core()
    assert core.receive(view, 0.0) is not None
    dispatcher = Dispatcher(_IgnoreFailures())
    loop_time = asyncio.get_running_loop().time
    client, sink = await connected_client(empty)
    event = PusherEvent(THROUGHPUT_CHANNEL, EVENT_NAME, orjson.loads(frame)["data"])
    out = [
        ("orjson.loads(frame) alone", best_us(lambda: orjson.loads(view))),
        ("Connection.receive(frame)", best_us(lambda: core.receive(view, 0.0))),
        ("PusherEvent(...) construction", best_us(lambda: PusherEvent("a", "b", "c"))),
        ("Dispatcher.call(empty callback)", best_us(lambda: dispatcher.call(empty, event))),
        ("loop.time()", best_us(loop_time)),
        (
            "socket sink text_received(frame), empty callback",
            best_us(lambda: sink.text_received(view)),
        ),
        ("PusherEvent.json() (orjson of data)", best_us(event.json)),
    ]
    await client.disconnect()
    client, sink = await connected_client(decoding)
    out.append(
        (
            "socket sink text_received(frame), callback decodes event.json()",
            best_us(lambda: sink.text_received(view)),
        )
    )
    await client.disconnect()
    return out + decryption_timings()


def decryption_timings() -> list[tuple[str, float]]:
    """µs per call of decrypting one private-encrypted event, and of its parts."""
    sodium_module: Any = importlib.import_module("nacl._sodium")  # compiled, no stubs
    ffi, lib = sodium_module.ffi, sodium_module.lib

    master = base64.b64decode(BENCH_MASTER_KEY_BASE64)
    key = hashlib.sha256(ENCRYPTED_CHANNEL.encode() + master).digest()
    box = encrypted_event_maker(ENCRYPTED_CHANNEL)
    data = orjson.loads(make_encrypted_event(7, ENCRYPTED_CHANNEL, box))["data"]
    payload = orjson.loads(data)
    nonce = base64.b64decode(payload["nonce"])
    ciphertext = base64.b64decode(payload["ciphertext"])
    size = len(ciphertext)

    def libsodium_directly() -> bytes:
        out = ffi.new("unsigned char[]", size)
        if lib.crypto_secretbox_open_easy(out, ciphertext, size, nonce, key) != 0:
            raise ValueError("does not decrypt")
        plaintext: bytes = ffi.buffer(out, size - SecretBox.MACBYTES)[:]
        return plaintext

    assert libsodium_directly() == box.decrypt(ciphertext, nonce)
    return [
        (
            "decrypt_data(data, key): a private-encrypted event",
            best_us(lambda: decrypt_data(data, key)),
        ),
        ("  orjson.loads of its {nonce, ciphertext} text", best_us(lambda: orjson.loads(data))),
        (
            "  base64.b64decode(validate=True), nonce + ciphertext",
            best_us(lambda: base64.b64decode(payload["nonce"], validate=True))
            + best_us(lambda: base64.b64decode(payload["ciphertext"], validate=True)),
        ),
        ("  SecretBox(key) construction", best_us(lambda: SecretBox(key))),
        ("  SecretBox.decrypt(ciphertext, nonce)", best_us(lambda: box.decrypt(ciphertext, nonce))),
        (
            "  nacl.bindings.crypto_secretbox_open_easy",
            best_us(lambda: sodium.crypto_secretbox_open_easy(ciphertext, nonce, key)),
        ),
        ("  for comparison: libsodium called directly through cffi", best_us(libsodium_directly)),
    ]


# --------------------------------------------------------------------------- main


def print_profile(
    profiler: cProfile.Profile,
    n: int,
    top: int,
    orders: tuple[str, ...] = ("tottime", "cumulative"),
) -> None:
    for order in orders:
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(order).print_stats(top)
        text = stream.getvalue()
        body = text[text.find("   ncalls") :] if "   ncalls" in text else text
        print(f"\n--- top {top} by {order} ---\n{body.rstrip()}")
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (path, line, function), (_, calls, tottime, cumtime, _) in raw.items():
        if "pusher_channels" in path:
            short = path[path.rfind("pusher_channels") :]
            rows.append((tottime, cumtime, calls, f"{short}:{line}({function})"))
    rows.sort(reverse=True)
    print(f"\n--- pusher_channels functions, per event (N={n:,}), under cProfile ---")
    print(f"{'own µs/ev':>10}{'cum µs/ev':>11}{'calls/ev':>10}  function")
    for tottime, cumtime, calls, name in rows[:25]:
        print(f"{tottime / n * 1e6:10.3f}{cumtime / n * 1e6:11.3f}{calls / n:10.2f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    n = args.events
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    blaster, port = start_blaster(n, server_cpu)
    try:
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        asyncio.run(callback_run(port, min(n, 20_000), None))  # warm-up
        plain = min(asyncio.run(callback_run(port, n, None)) for _ in range(3))
        iterated = min(asyncio.run(iterator_run(port, n, None)) for _ in range(3))
        raw = min(asyncio.run(raw_run(port, n)) for _ in range(3))
        meters = {"on_event": GcMeter(), "events()": GcMeter()}
        with meters["on_event"]:
            asyncio.run(callback_run(port, n, None))
        with meters["events()"]:
            asyncio.run(iterator_run(port, n, None))
        profiler = cProfile.Profile()
        profiled = asyncio.run(callback_run(port, n, profiler))
        iterator_profiler = cProfile.Profile()
        iterator_profiled = asyncio.run(iterator_run(port, n, iterator_profiler))
    finally:
        stop_blaster(blaster)
    print(f"Unprofiled, best of 3, N={n:,}: on_event client {plain / n * 1e6:.2f} CPU µs/event")
    print(
        f"  events() iterator (default buffer): {iterated / n * 1e6:.2f} CPU µs/event"
        f" = {iterated / plain:.2f}x the callback path"
    )
    print(f"  raw picows + 2x orjson.loads (ceiling): {raw / n * 1e6:.2f} CPU µs/event")
    print(f"  => pusher-channels adds {(plain - raw) / n * 1e6:.2f} µs/event over the ceiling")
    print("\n--- cyclic garbage collector during one run (gc.callbacks) ---")
    for name, meter in meters.items():
        per_event = sum(meter.seconds) / n * 1e6
        print(
            f"  {name:<9} collections gen0/1/2 "
            f"{'/'.join(map(str, meter.collections)):<11} "
            f"{'/'.join(f'{s * 1e3:.1f}' for s in meter.seconds)} ms = {per_event:.2f} µs/event"
        )
    print(
        "  (events buffered between two reads of the socket are live objects: each one"
        " counts towards the next collection, and the collections walk them)"
    )
    print(f"\nUnder cProfile: {profiled / n * 1e6:.2f} CPU µs/event (profiler overhead included)")
    print_profile(profiler, n, args.top)
    print(f"\nevents() under cProfile: {iterator_profiled / n * 1e6:.2f} CPU µs/event")
    print_profile(iterator_profiler, n, args.top, orders=())
    print("\n--- hot-path stages timed alone (timeit, best of 5, no profiler) ---")
    for name, us in asyncio.run(stage_timings()):
        print(f"{us:8.3f} µs  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
