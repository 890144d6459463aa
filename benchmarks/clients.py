"""Benchmark clients of the project's own venv: pusher-channels, and raw picows.

Each run is one subprocess started by ``benchmarks.run``::

    .venv/bin/python -m benchmarks.clients CLIENT MODE --port P --key K [options]

Clients:

* ``pc-callbacks``: :class:`pusher_channels.PusherChannelsClient` with ``on_event``;
* ``pc-bind``: the same handler bound by name, ``channel.bind("ev", handler)``, and
  ``pc-glob`` bound by a glob, ``channel.bind("e*", handler)`` (no ``on_event``);
* ``pc-iterator``: the same, consuming ``channel.events(max_buffer=N)`` with
  ``async for``; ``pc-iterator-default`` with the default ``max_buffer`` (10 000),
  which drops events when the socket delivers a burst (they are reported);
* ``pc-sync``: :class:`pusher_channels.sync.PusherChannelsClient`, ``on_event`` run
  on its callback thread (the CPU of every thread of the process is counted);
* ``pc-private``: ``on_event`` on ``private-bench`` (authorized by signing locally,
  ``secret=``), and ``pc-encrypted`` on ``private-encrypted-bench`` (also
  ``encryption_master_key_base64=``): the same events, decrypted before the callback;
* ``picows-raw``: the ceiling: picows, one ``orjson.loads`` of the frame and one of
  its ``data``, the sequence check, and nothing else.

Modes (all print JSON lines, the last one ``{"type": "result", ...}``):

* ``throughput``: connect, then time (wall and process CPU) from just before the
  subscription to the callback that handled the N-th event; every event's ``data``
  is decoded and its ``seq`` checked (exactly once, in order). ``--profile PATH``
  runs that window under cProfile;
* ``lag`` (``pc-callbacks``, ``picows-raw``): the same, with a task that sleeps 1 ms
  in a loop and records how late it wakes (:class:`~._common.LagMonitor`);
* ``latency``: subscribe, print ``{"type": "ready"}``, then record ``now - t`` for
  each event (``t`` is the send time in its data) until N events arrived;
* ``reconnect``: print ``{"type": "subscribed", "t": ...}`` at every (re)subscription
  and ``{"type": "event", "t": ..., "seq": ...}`` for every event, until stdin closes;
* ``scale`` (``pc-callbacks``, ``picows-raw``): open ``--connections`` connections
  in this process at once, each subscribed to its own channel; report the time until
  all are subscribed and the growth of RSS per connection. The raw picows
  connections use the WebSocket settings the library uses (asyncio's transports, a
  2 KiB read buffer), send ``pusher:subscribe`` once the connection is established
  and wait for the answer: the floor for the same work.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import picows

from pusher_channels import ConnectionState, PusherChannelsClient, PusherEvent
from pusher_channels.sync import PusherChannelsClient as SyncPusherChannelsClient

from ._common import (
    BENCH_MASTER_KEY_BASE64,
    BENCH_SECRET,
    ENCRYPTED_CHANNEL,
    EVENT_NAME,
    PRIVATE_CHANNEL,
    LagMonitor,
    LatencyLog,
    SeqCheck,
    Window,
    client_arguments,
    emit,
    hard_deadline,
    raise_fd_limit,
    rss_kib,
)

if TYPE_CHECKING:
    from pusher_channels._streams import EventIterator

CLIENTS = [
    "pc-callbacks",
    "pc-bind",
    "pc-glob",
    "pc-iterator",
    "pc-iterator-default",
    "pc-sync",
    "pc-private",
    "pc-encrypted",
    "picows-raw",
]
MODES = ["throughput", "lag", "latency", "reconnect", "scale"]
ITERATORS = ("iterator", "iterator-default")
CHANNELS = {"private": PRIVATE_CHANNEL, "encrypted": ENCRYPTED_CHANNEL}
"""The channel each throughput variant subscribes to (else ``--channel``)."""


def client_options(host: str, port: int, key: str, **callbacks: Any) -> dict[str, Any]:
    return {"api_key": key, "host": host, "ws_port": port, "use_tls": False, **callbacks}


async def stdin_closed() -> None:
    """Wait until the parent closes our stdin."""
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096) and not closed.done():
            closed.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await closed
    finally:
        loop.remove_reader(fd)


# ------------------------------------------------------------------ pusher-channels


async def pc_throughput(args: Any, variant: str, lag: LagMonitor | None = None) -> None:
    """``variant``: ``callbacks``, ``bind``, ``glob``, ``iterator`` (``max_buffer`` > N),
    ``iterator-default``, ``private`` or ``encrypted``."""
    n = args.events
    check, window = SeqCheck(), Window(args.profile)
    done = asyncio.Event()
    iterator: EventIterator | None = None

    def on_event(event: PusherEvent) -> None:
        if event.event_name == EVENT_NAME and check.feed(event.json()["seq"]) == n:
            window.stop()
            done.set()

    def on_state(current: ConnectionState, previous: ConnectionState) -> None:
        # The blaster closes after N events; the client would reconnect and get N
        # more. A lost connection ends the run (short of N events if some were lost).
        if current is ConnectionState.RECONNECTING:
            done.set()
            if iterator is not None:
                closing.add(loop.create_task(iterator.aclose()))

    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()
    options: dict[str, Any] = {"on_connection_state_change": on_state}
    if variant in ("callbacks", "private", "encrypted"):
        options["on_event"] = on_event
    if variant in CHANNELS:
        options.update(secret=BENCH_SECRET, encryption_master_key_base64=BENCH_MASTER_KEY_BASE64)
    pusher = PusherChannelsClient(**client_options(args.host, args.port, args.key, **options))
    await pusher.connect(timeout=30)
    if lag is not None:
        lag.start()
    window.start()
    channel = await pusher.subscribe(CHANNELS.get(variant, args.channel))
    if variant == "bind":
        channel.bind(EVENT_NAME, on_event)
    elif variant == "glob":
        channel.bind(EVENT_NAME[0] + "*", on_event)
    if variant not in ITERATORS:
        await done.wait()
    else:
        iterator = (
            channel.events() if variant == "iterator-default" else channel.events(max_buffer=n)
        )
        async for event in iterator:
            if event.event_name == EVENT_NAME and check.feed(event.json()["seq"]) == n:
                window.stop()
                break
    if not window.stopped:
        window.stop()
    lags = lag.stop() if lag is not None else None
    await pusher.disconnect()
    dropped = iterator.dropped if iterator is not None else 0
    result = {"type": "result", **check.summary(n), **window.result(), "dropped": dropped}
    if lags is not None:
        result["lags_ms"] = lags
    emit(result)


def pc_sync_throughput(args: Any) -> None:
    n = args.events
    check, window = SeqCheck(), Window(args.profile)
    done = threading.Event()

    def on_event(event: PusherEvent) -> None:
        if event.event_name == EVENT_NAME and check.feed(event.json()["seq"]) == n:
            window.stop()
            done.set()

    def on_state(current: ConnectionState, previous: ConnectionState) -> None:
        if current is ConnectionState.RECONNECTING:
            done.set()

    pusher = SyncPusherChannelsClient(
        **client_options(
            args.host, args.port, args.key, on_event=on_event, on_connection_state_change=on_state
        )
    )
    pusher.connect(timeout=30)
    window.start()
    pusher.subscribe(args.channel)
    done.wait(args.max_seconds)
    if not window.stopped:
        window.stop()
    pusher.disconnect()
    emit({"type": "result", **check.summary(n), **window.result()})


async def pc_latency(args: Any) -> None:
    log = LatencyLog()
    done = asyncio.Event()

    def on_event(event: PusherEvent) -> None:
        if event.event_name == EVENT_NAME and log.feed(event.json()) == args.events:
            done.set()

    pusher = PusherChannelsClient(
        **client_options(
            args.host,
            args.port,
            args.key,
            on_event=on_event,
            on_subscription_succeeded=lambda name, data: emit({"type": "ready"}),
        )
    )
    await pusher.subscribe(args.channel)
    await pusher.connect(timeout=30)
    await done.wait()
    await pusher.disconnect()
    emit(log.result(args.events))


async def pc_reconnect(args: Any) -> None:
    def on_event(event: PusherEvent) -> None:
        if event.event_name == EVENT_NAME:
            emit({"type": "event", "t": time.time(), "seq": event.json()["seq"]})

    pusher = PusherChannelsClient(
        **client_options(
            args.host,
            args.port,
            args.key,
            on_event=on_event,
            on_subscription_succeeded=lambda name, data: emit(
                {"type": "subscribed", "t": time.time()}
            ),
            on_connection_state_change=lambda current, previous: emit(
                {"type": "state", "t": time.time(), "state": str(current)}
            ),
        )
    )
    await pusher.subscribe(args.channel)
    await pusher.connect(timeout=30)
    await stdin_closed()
    await pusher.disconnect()
    emit({"type": "result", "ok": True})


def emit_scale_result(
    count: int,
    tally: SubscriptionTally,
    failures: list[BaseException],
    window: Window,
    *,
    seconds: tuple[float, float, float],
    rss: tuple[float, float],
) -> None:
    """The result line of a scale client: ``seconds`` to connected, to subscribed and
    of CPU; ``rss`` before and after, in KiB."""
    connected_s, subscribed_s, cpu_s = seconds
    rss0, rss1 = rss
    error = f"{len(failures)} connections failed: {failures[0]!r}" if failures else None
    emit(
        {
            "type": "result",
            "ok": error is None and tally.count == count,
            "error": error,
            "connections": count,
            "subscribed": tally.count,
            "connected_s": connected_s,
            "subscribed_s": subscribed_s,
            "cpu_per_connection_us": cpu_s * 1e6 / count,
            "gc_s": window.gc_s,
            "gc_collections": window.gc_collections,
            "rss_before_kib": rss0,
            "rss_after_kib": rss1,
            "rss_per_connection_kib": (rss1 - rss0) / count,
        }
    )


class SubscriptionTally:
    """Counts subscriptions; ``everyone`` is set when ``expected`` have succeeded."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.everyone = asyncio.Event()

    def on_subscription_succeeded(self, name: str, data: Any) -> None:
        self.count += 1
        if self.count == self.expected:
            self.everyone.set()


async def clients_with_a_channel_each(
    host: str, port: int, key: str, count: int, prefix: str
) -> tuple[list[PusherChannelsClient], SubscriptionTally]:
    """``count`` clients, not connected yet, each with channel ``prefix-i`` registered."""
    tally = SubscriptionTally(count)
    clients = []
    for i in range(count):
        client = PusherChannelsClient(
            **client_options(
                host, port, key, on_subscription_succeeded=tally.on_subscription_succeeded
            )
        )
        await client.subscribe(f"{prefix}-{i}")
        clients.append(client)
    return clients, tally


async def pc_scale(args: Any) -> None:
    count = args.connections
    raise_fd_limit(count + 1024)
    gc.collect()
    rss0 = rss_kib()
    window = Window(args.profile)
    window.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    clients, tally = await clients_with_a_channel_each(
        args.host, args.port, args.key, count, "scale"
    )
    results = await asyncio.gather(
        *(client.connect(timeout=args.max_seconds / 2) for client in clients),
        return_exceptions=True,
    )
    t_connected = time.perf_counter()
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        await asyncio.wait_for(tally.everyone.wait(), args.max_seconds / 2)
    t_subscribed, cpu1 = time.perf_counter(), time.process_time()
    window.stop()
    await asyncio.sleep(0.5)  # idle: late handshake buffers and timers settled
    gc.collect()
    rss1 = rss_kib()
    await asyncio.gather(*(client.disconnect() for client in clients), return_exceptions=True)
    emit_scale_result(
        count,
        tally,
        failures,
        window,
        seconds=(t_connected - t0, t_subscribed - t0, cpu1 - cpu0),
        rss=(rss0, rss1),
    )


# ----------------------------------------------------------------------- raw picows

_SUBSCRIBE = "pusher:subscribe"
_ESTABLISHED = "pusher:connection_established"
_SUCCEEDED = "pusher_internal:subscription_succeeded"


class RawListener(picows.WSListener):
    """The ceiling: parse the frame and its data, check the sequence, nothing more."""

    def __init__(self, on_data: Callable[[dict[str, Any]], None], on_system: Callable[[str], None]):
        super().__init__()
        self.on_data = on_data
        self.on_system = on_system
        self.transport: picows.WSTransport | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            message = orjson.loads(frame.get_payload_as_memoryview())
            event = message["event"]
            if event == EVENT_NAME:
                self.on_data(orjson.loads(message["data"]))
            else:
                self.on_system(event)
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def subscribe(self, channel: str) -> None:
        assert self.transport is not None
        message = {"event": _SUBSCRIBE, "data": {"channel": channel}}
        self.transport.send(picows.WSMsgType.TEXT, orjson.dumps(message))


async def raw_run(args: Any, mode: str) -> None:
    """``throughput``, ``lag`` (throughput with the lag monitor) or ``latency``."""
    loop = asyncio.get_running_loop()
    established = loop.create_future()
    done = asyncio.Event()
    check, window, log = SeqCheck(), Window(args.profile), LatencyLog()
    lag = LagMonitor() if mode == "lag" else None
    n = args.events

    def on_throughput(data: dict[str, Any]) -> None:
        if check.feed(data["seq"]) == n:
            window.stop()
            done.set()

    def on_latency(data: dict[str, Any]) -> None:
        if log.feed(data) == n:
            done.set()

    def on_system(event: str) -> None:
        if event == _ESTABLISHED and not established.done():
            established.set_result(None)
        elif event == _SUCCEEDED and mode == "latency":
            emit({"type": "ready"})

    url = f"ws://{args.host}:{args.port}/app/{args.key}?protocol=7&client=raw&version=0"
    transport, listener = await picows.ws_connect(
        lambda: RawListener(on_latency if mode == "latency" else on_throughput, on_system),
        url,
    )
    assert isinstance(listener, RawListener)
    await established
    if lag is not None:
        lag.start()
    window.start()
    listener.subscribe(args.channel)
    await done.wait()
    lags = lag.stop() if lag is not None else None
    transport.disconnect(graceful=False)
    if mode == "latency":
        emit(log.result(n))
        return
    result = {"type": "result", **check.summary(n), **window.result()}
    if lags is not None:
        result["lags_ms"] = lags
    emit(result)


class RawSubscriber(picows.WSListener):
    """One raw connection of the scale floor: subscribe once established, count the
    answer, nothing else."""

    def __init__(self, channel: str, tally: SubscriptionTally) -> None:
        super().__init__()
        self.channel = channel
        self.tally = tally

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type != picows.WSMsgType.TEXT:
            return
        event = orjson.loads(frame.get_payload_as_memoryview()).get("event")
        if event == _ESTABLISHED:
            message = {"event": _SUBSCRIBE, "data": {"channel": self.channel}}
            transport.send(picows.WSMsgType.TEXT, orjson.dumps(message))
        elif event == _SUCCEEDED:
            self.tally.on_subscription_succeeded(self.channel, None)


async def raw_scale(args: Any) -> None:
    """``--connections`` raw picows connections at once, each subscribing to a channel."""
    count = args.connections
    raise_fd_limit(count + 1024)
    tally = SubscriptionTally(count)
    url = f"ws://{args.host}:{args.port}/app/{args.key}?protocol=7&client=raw&version=0"
    gc.collect()
    rss0 = rss_kib()
    window = Window(args.profile)
    window.start()
    cpu0, t0 = time.process_time(), time.perf_counter()

    def factory(index: int) -> Callable[[], picows.WSListener]:
        return lambda: RawSubscriber(f"raw-{index}", tally)

    results = await asyncio.gather(
        *(
            picows.ws_connect(
                factory(i),
                url,
                read_buffer_init_size=2048,
                use_aiofastnet=False,
                websocket_handshake_timeout=args.max_seconds / 2,
            )
            for i in range(count)
        ),
        return_exceptions=True,
    )
    t_connected = time.perf_counter()
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        await asyncio.wait_for(tally.everyone.wait(), args.max_seconds / 2)
    t_subscribed, cpu1 = time.perf_counter(), time.process_time()
    window.stop()
    await asyncio.sleep(0.5)
    gc.collect()
    rss1 = rss_kib()
    for result in results:
        if not isinstance(result, BaseException):
            result[0].disconnect(graceful=False)
    emit_scale_result(
        count,
        tally,
        failures,
        window,
        seconds=(t_connected - t0, t_subscribed - t0, cpu1 - cpu0),
        rss=(rss0, rss1),
    )


# ----------------------------------------------------------------------------- main


def main() -> None:
    args = client_arguments(CLIENTS, MODES).parse_args()
    hard_deadline(args.max_seconds)
    client, mode = args.client, args.mode
    if client == "picows-raw" and mode in ("throughput", "lag", "latency"):
        asyncio.run(raw_run(args, mode))
    elif client == "picows-raw" and mode == "scale":
        asyncio.run(raw_scale(args))
    elif client == "pc-sync" and mode == "throughput":
        pc_sync_throughput(args)
    elif client.startswith("pc-") and mode == "throughput":
        asyncio.run(pc_throughput(args, client.removeprefix("pc-")))
    elif client == "pc-callbacks" and mode == "lag":
        asyncio.run(pc_throughput(args, "callbacks", LagMonitor()))
    elif client == "pc-callbacks" and mode == "latency":
        asyncio.run(pc_latency(args))
    elif client == "pc-callbacks" and mode == "reconnect":
        asyncio.run(pc_reconnect(args))
    elif client == "pc-callbacks" and mode == "scale":
        asyncio.run(pc_scale(args))
    else:
        emit({"type": "result", "ok": False, "error": f"{client} has no {mode} mode"})
        sys.exit(2)


if __name__ == "__main__":
    main()
