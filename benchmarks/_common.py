"""What every benchmark client shares: standard library only.

The peer clients (pysher, asyncpusher) import this module from their own virtual
environment (``benchmarks/.venv-peers``), which has neither orjson nor picows, so
nothing here may import more than the standard library.

Every client is a subprocess that speaks JSON lines on stdout (see :func:`emit`) and
ends by itself: each has a hard time limit (``--max-seconds``). A client given
``--profile PATH`` runs its measured window (:class:`Window`) under cProfile and writes
the statistics there (``benchmarks.run --profile`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import resource
import sys
import time
from typing import Any, Final

EVENT_NAME: Final = "ev"
THROUGHPUT_CHANNEL: Final = "bench"
KEY_PREFIX: Final = "bench-"
"""The blaster reads N, the number of events to send, from the app key: ``bench-N``."""
PAYLOAD_FILLER: Final = 70
"""``{"seq":n,"payload":"xxx..."}`` with this many x is about 100 bytes."""
PRIVATE_CHANNEL: Final = "private-bench"
ENCRYPTED_CHANNEL: Final = "private-encrypted-bench"
BENCH_SECRET: Final = "bench-secret"
"""The app secret the clients sign with locally; the blaster checks no signature."""
BENCH_MASTER_KEY_BASE64: Final = "YmVuY2gtbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nISE="
"""The encryption master key (32 bytes) the blaster encrypts with, as Pusher does:
each channel's key is ``sha256(channel_name + master_key)``."""


def blaster_key(events: int) -> str:
    """The app key that asks the blaster for ``events`` events after subscribing."""
    return f"{KEY_PREFIX}{events}"


def emit(message: dict[str, Any]) -> None:
    """Write one JSON line on stdout for the parent (``benchmarks.run``)."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit of open files towards ``wanted`` (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def rss_kib() -> int:
    """The resident set size of this process, in KiB (from ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Window:
    """Wall and CPU time of the whole process (every thread) between two points.

    ``time.process_time()`` is ``CLOCK_PROCESS_CPUTIME_ID``: user + system time of
    all the threads of the process, the same figure as ``utime + stime`` in
    ``/proc/<pid>/stat``, at a finer resolution.

    It also counts the cyclic garbage collector's collections (per generation) and
    their CPU time within the window (``gc.callbacks``).

    With ``profile`` (a path), the window also runs under cProfile (the calling
    thread only) and the statistics are written there when it stops (the
    collector's figures beside them, in ``PATH.gc.json``); the times are then
    inflated by the profiler.
    """

    __slots__ = (
        "_gc_started",
        "_profile_path",
        "_profiler",
        "cpu0",
        "cpu1",
        "gc_collections",
        "gc_s",
        "wall0",
        "wall1",
    )

    def __init__(self, profile: str | None = None) -> None:
        self.wall0 = self.wall1 = 0.0
        self.cpu0 = self.cpu1 = 0.0
        self.gc_collections = [0, 0, 0]
        self.gc_s = 0.0
        self._gc_started = 0.0
        self._profile_path = profile
        self._profiler: cProfile.Profile | None = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.process_time()
        else:
            self.gc_collections[info["generation"]] += 1
            self.gc_s += time.process_time() - self._gc_started

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        if self._profile_path:
            self._profiler = cProfile.Profile()
            self._profiler.enable()
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()

    def stop(self) -> None:
        self.wall1 = time.perf_counter()
        self.cpu1 = time.process_time()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        profiler, self._profiler = self._profiler, None
        if profiler is not None and self._profile_path:
            profiler.disable()
            profiler.dump_stats(self._profile_path)
            with open(self._profile_path + ".gc.json", "w", encoding="utf-8") as sidecar:
                json.dump({"collections": self.gc_collections, "seconds": self.gc_s}, sidecar)

    @property
    def stopped(self) -> bool:
        return self.wall1 != 0.0

    def result(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall1 - self.wall0,
            "cpu_s": self.cpu1 - self.cpu0,
            "gc_s": self.gc_s,
            "gc_collections": self.gc_collections,
        }


class SeqCheck:
    """Checks that events arrive exactly once and in order: seq 0, 1, 2, ..."""

    __slots__ = ("error", "expected", "received")

    def __init__(self) -> None:
        self.expected = 0
        self.received = 0
        self.error: str | None = None

    def feed(self, seq: object) -> int:
        """Count one event; return how many arrived so far."""
        if seq != self.expected and self.error is None:
            self.error = f"event {self.received}: expected seq {self.expected}, got {seq!r}"
        self.received += 1
        self.expected = (seq if isinstance(seq, int) else self.expected) + 1
        return self.received

    def summary(self, wanted: int) -> dict[str, Any]:
        error = self.error
        if error is None and self.received != wanted:
            error = f"received {self.received} events, expected {wanted}"
        return {"received": self.received, "ok": error is None, "error": error}


class LatencyLog:
    """Collects ``now - t`` for events carrying their send time ``t`` (seconds)."""

    __slots__ = ("check", "latencies_ms")

    def __init__(self) -> None:
        self.check = SeqCheck()
        self.latencies_ms: list[float] = []

    def feed(self, data: dict[str, Any]) -> int:
        self.latencies_ms.append((time.time() - data["t"]) * 1000.0)
        return self.check.feed(data["seq"])

    def result(self, wanted: int) -> dict[str, Any]:
        return {"type": "result", **self.check.summary(wanted), "latencies_ms": self.latencies_ms}


class LagMonitor:
    """Event-loop lag: a task that sleeps ``interval`` seconds in a loop and records
    how late it wakes (ms), as Node's ``monitorEventLoopDelay`` does.

    Callbacks that run for long without returning to the loop (a burst of frames
    handled in one go) show as one late wake-up as long as the stall. Wake-ups later
    than ``stall_ms`` are also kept in :attr:`stalls` with their wall-clock time.
    """

    __slots__ = ("_task", "interval", "lags_ms", "stall_ms", "stalls")

    def __init__(self, interval: float = 0.001, stall_ms: float = 10.0) -> None:
        self.interval = interval
        self.stall_ms = stall_ms
        self.lags_ms: list[float] = []
        self.stalls: list[tuple[float, float]] = []
        """``(time.time() at the late wake-up, ms late)``."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval, lags = self.interval, self.lags_ms
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            lag = (loop.time() - due) * 1000.0
            lags.append(lag)
            if lag > self.stall_ms:
                self.stalls.append((time.time(), round(lag, 3)))

    def stop(self) -> list[float]:
        """Stop measuring; the lags recorded (ms, one per wake-up)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        return [round(lag, 3) for lag in self.lags_ms]


def client_arguments(clients: list[str], modes: list[str]) -> argparse.ArgumentParser:
    """The command line every Python client takes: ``CLIENT MODE --port P --key K ...``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=clients)
    parser.add_argument("mode", choices=modes)
    _add_options(parser)
    return parser


def workload_client_arguments() -> argparse.ArgumentParser:
    """The command line of a workload's own client: ``client --port P --key K ...``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["client"])
    _add_options(parser)
    return parser


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="app key (the blaster reads N from it)")
    parser.add_argument("--channel", default=THROUGHPUT_CHANNEL)
    parser.add_argument("--events", type=int, default=0, help="events expected")
    parser.add_argument("--connections", type=int, default=1, help="connections to open")
    parser.add_argument("--size", type=int, default=0, help="channels, members: the workload's")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="hard time limit")
    parser.add_argument("--profile", default=None, help="write cProfile statistics here")


def hard_deadline(seconds: float) -> None:
    """Make sure the process ends, whatever happens: SIGALRM after ``seconds``."""
    import signal

    def expire(signum: int, frame: object) -> None:
        emit({"type": "result", "ok": False, "error": f"time limit of {seconds:g} s reached"})
        os._exit(3)

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
