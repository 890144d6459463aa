"""Benchmark clients for the other Python libraries: pysher and asyncpusher.

They run in their own virtual environment, ``benchmarks/.venv-peers``, which
``benchmarks.run`` creates (both pin old dependencies), one subprocess per run::

    benchmarks/.venv-peers/bin/python -m benchmarks.peer_clients CLIENT MODE --port P ...

* ``pysher`` (PyPI ``Pysher``): websocket-client in a thread; ``channel.bind("ev",
  callback)`` gets ``data`` as the JSON string, which the callback decodes with
  ``json.loads``. pysher's logger is set to WARNING (its default, INFO, builds a log
  record for every message).
* ``asyncpusher``: aiohttp; the library decodes ``data`` itself and awaits the bound
  coroutine with the decoded object.

Modes and output lines are those of :mod:`benchmarks.clients` (``throughput`` and
``latency``). Each library's channel object is registered and bound *before* the
``pusher:subscribe`` message leaves, as the libraries' own ``subscribe`` do it the
other way round (an event arriving in between would be dropped). Everything here is
standard library besides the two libraries, which are imported by name at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import threading
from typing import Any

from ._common import (
    EVENT_NAME,
    LatencyLog,
    SeqCheck,
    Window,
    client_arguments,
    emit,
    hard_deadline,
)

CLIENTS = ["pysher", "asyncpusher"]
MODES = ["throughput", "latency"]
_SUCCEEDED = "pusher_internal:subscription_succeeded"


def run_pysher(args: Any) -> None:
    pysher: Any = importlib.import_module("pysher")
    channel_class: Any = importlib.import_module("pysher.channel").Channel
    n, mode = args.events, args.mode
    check, window, log = SeqCheck(), Window(), LatencyLog()
    connected, done = threading.Event(), threading.Event()

    def on_event(data: str) -> None:
        decoded = json.loads(data)
        if mode == "throughput":
            if check.feed(decoded["seq"]) == n:
                window.stop()
                done.set()
        elif log.feed(decoded) == n:
            done.set()

    pusher = pysher.Pusher(
        args.key,
        custom_host=args.host,
        port=args.port,
        secure=False,
        log_level=logging.WARNING,
        reconnect_interval=60,
    )
    pusher.connection.bind("pusher:connection_established", lambda data: connected.set())
    pusher.connect()
    if not connected.wait(30):
        emit({"type": "result", "ok": False, "error": "pysher did not connect"})
        return
    channel = channel_class(args.channel, pusher.connection)
    channel.bind(EVENT_NAME, on_event)
    if mode == "latency":
        channel.bind(_SUCCEEDED, lambda data: emit({"type": "ready"}))
    pusher.channels[args.channel] = channel
    window.start()
    pusher.connection.send_event("pusher:subscribe", {"channel": args.channel})
    done.wait(args.max_seconds)
    if window.wall1 == 0.0:
        window.stop()
    pusher.disconnect(timeout=5)
    if mode == "throughput":
        emit({"type": "result", **check.summary(n), **window.result()})
    else:
        emit(log.result(n))


async def run_asyncpusher(args: Any) -> None:
    pusher_module: Any = importlib.import_module("asyncpusher.pusher")
    channel_module: Any = importlib.import_module("asyncpusher.channel")
    n, mode = args.events, args.mode
    check, window, log = SeqCheck(), Window(), LatencyLog()
    done = asyncio.Event()
    logger = logging.getLogger("asyncpusher.benchmark")
    logger.setLevel(logging.WARNING)

    pusher = pusher_module.Pusher(
        args.key, custom_host=args.host, custom_port=args.port, secure=False, log=logger
    )

    async def on_event(data: dict[str, Any]) -> None:
        if mode == "throughput":
            if check.feed(data["seq"]) == n:
                window.stop()
                pusher.connection._stop = True  # no reconnection once the blaster closes
                done.set()
        elif log.feed(data) == n:
            pusher.connection._stop = True
            done.set()

    async def on_succeeded(data: Any) -> None:
        emit({"type": "ready"})

    await asyncio.wait_for(pusher.connect(), 30)
    channel = channel_module.Channel(args.channel, pusher.connection, logger)
    channel.bind(EVENT_NAME, on_event)
    if mode == "latency":
        channel.bind(_SUCCEEDED, on_succeeded)
    pusher.channels[args.channel] = channel
    window.start()
    await pusher._subscribe(channel)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), args.max_seconds)
    if window.wall1 == 0.0:
        window.stop()
    await pusher.disconnect()
    if mode == "throughput":
        emit({"type": "result", **check.summary(n), **window.result()})
    else:
        emit(log.result(n))


def main() -> None:
    args = client_arguments(CLIENTS, MODES).parse_args()
    hard_deadline(args.max_seconds + 10)
    if args.client == "pysher":
        run_pysher(args)
    else:
        asyncio.run(run_asyncpusher(args))


if __name__ == "__main__":
    main()
