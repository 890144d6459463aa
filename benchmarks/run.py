"""Benchmarks of pusher-channels against the other Pusher clients: one command.

How to run
----------
From the project root, after the project's set-up (``./dev test`` or ``./dev demo``
once, which creates ``.venv`` and ``devtools/node_modules``)::

    .venv/bin/python -m benchmarks.run            # the full run (about 3 minutes)
    .venv/bin/python -m benchmarks.run --small    # a smoke run (about 20 s)

The command installs what else it needs by itself: ``benchmarks/.venv-peers`` (a
separate virtual environment with pysher, asyncpusher and matplotlib, at pinned
versions, created on first use) and, if missing, ``npm ci`` in ``devtools/``.
It prints one table, writes every sample and the machine description to
``benchmarks/results/benchmark-<time>.json`` (and ``benchmarks/results/latest.json``)
and draws ``benchmarks/results/performance.png`` (``--chart PATH`` writes it there
too, e.g. ``--chart docs/images/performance.png``). It exits with 1 if a client
missed, duplicated or reordered an event (the default-buffer ``events()`` row is
informative and never fails the run), 0 otherwise.

What it measures
----------------
Every client runs in a subprocess of its own, one after another, round-robin: 5
throughput runs, 5 latency runs and 3 scale and reconnect runs (``--repeat`` sets the
throughput, scale and reconnect counts); the table gives medians.

1. **Throughput.** A local *blaster* (``benchmarks/blaster.py``, picows, its own
   process) speaks just enough protocol: ``pusher:connection_established``, an
   answer to ``pusher:subscribe``, then N pre-built event frames
   ``{"event":"ev","channel":"bench","data":"{\\"seq\\":n,...}"}`` (``data`` about
   100 bytes) as fast as the socket accepts them, then a close. For each client:
   events/s and CPU µs per event (user + system time of the whole client process,
   every thread, from just before subscribing to the callback of the N-th event),
   with every event's ``data`` decoded by the callback and its ``seq`` checked
   (all N, exactly once, in order). On 2+ CPUs the blaster is pinned to the last
   CPU and the client to the first. Clients: raw picows (the ceiling: parse the
   frame and its data, nothing else), pusher-channels with ``on_event``, with
   ``channel.events()`` (``max_buffer=N``, and the default 10 000), the blocking
   facade ``pusher_channels.sync`` (callback on its callback thread), pusher-js on
   Node, asyncpusher and pysher.
2. **Latency through soketi.** A real soketi (``devtools/soketi.py``); events are
   triggered through its HTTP API with the official server SDK at a fixed rate
   (200/s for 5 s), each carrying its send time; every client is subscribed at
   once and records ``receive time - send time``. Five runs, the clients subscribed
   in a rotated order each time (soketi serves subscribers one after another); p50
   and p99 per client over the samples of all runs.
3. **Scale.** C connections in one process (100, 1 000, 5 000, 10 000), each
   pusher-channels client subscribed to its own channel on soketi: the time until
   all are subscribed, and the growth of RSS divided by C. A size that soketi
   cannot hold is run against the blaster instead, and the table says so.
4. **Reconnect.** soketi is killed (SIGKILL) and started again on the same port
   1 s later; pusher-channels and pusher-js, subscribed beforehand, report when
   they are subscribed again and when they receive the first event triggered after
   the restart (one every 10 ms). Times are counted from the kill.

``--small`` runs everything tiny (N=2000, R=1, C=50, 100 events/s for 1 s, and the
reconnect test without pusher-js, which takes 16 s to come back) for CI smoke tests:
about 20 s in all, most of it starting subprocesses and soketi.

Every server listens on 127.0.0.1 and is stopped by its PID; every client has a hard
time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.soketi import SoketiServer

from ._common import blaster_key, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PEER_REQUIREMENTS = [
    "Pysher==1.0.8",
    "websocket-client==1.9.2",
    "asyncpusher==0.2.5",
    "aiohttp==3.14.5",
    "matplotlib==3.11.2",
]
DEVTOOLS = ROOT / "devtools"
NODE_CLIENT = BENCH / "pusher_js_client.js"
PYTHON = sys.executable


@dataclass(frozen=True)
class Settings:
    events: int
    repeat: int
    throughput_repeat: int
    """Throughput runs are short and their ratios are targets: more runs per median."""
    connections: tuple[int, ...]
    latency_rate: float
    latency_seconds: float
    latency_runs: int
    """Each run subscribes the clients in a rotated order, so that with as many runs as
    clients each one is first in soketi's fan-out once."""
    reconnect_outage_s: float = 1.0
    reconnect_trigger_every_s: float = 0.010
    reconnect_pusher_js: bool = True

    @property
    def latency_events(self) -> int:
        return round(self.latency_rate * self.latency_seconds)


FULL = Settings(
    events=200_000,
    repeat=3,
    throughput_repeat=5,
    connections=(100, 1_000, 5_000, 10_000),
    latency_rate=200,
    latency_seconds=5,
    latency_runs=5,
)
SMALL = Settings(
    events=2_000,
    repeat=1,
    throughput_repeat=1,
    connections=(50,),
    latency_rate=100,
    latency_seconds=1,
    latency_runs=1,
    reconnect_pusher_js=False,  # pusher-js takes 16 s to come back: too long for a smoke run
)


class BenchmarkError(RuntimeError):
    """Something the benchmark needs is missing or broke."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- set-up


def ensure_node_modules() -> None:
    if shutil.which("node") is None:
        raise BenchmarkError("Node.js is needed (soketi, pusher-js)")
    wanted = [DEVTOOLS / "node_modules" / "pusher-js", DEVTOOLS / "node_modules" / "@soketi"]
    if all(path.exists() for path in wanted):
        return
    log("==> npm ci in devtools/ (soketi, pusher-js)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEVTOOLS, check=True
    )


def ensure_peers_venv() -> None:
    """Create ``benchmarks/.venv-peers`` with the pinned peer libraries, once."""
    stamp = PEERS_VENV / ".installed"
    wanted = "\n".join(PEER_REQUIREMENTS)
    if PEERS_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"==> creating {PEERS_VENV.relative_to(ROOT)} ({', '.join(PEER_REQUIREMENTS)})")
    if not PEERS_PYTHON.exists():
        base = getattr(sys, "_base_executable", PYTHON)
        subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True)
    install = subprocess.run(
        [
            str(PEERS_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PEER_REQUIREMENTS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        raise BenchmarkError(f"pip install into {PEERS_VENV} failed:\n{install.stderr}")
    stamp.write_text(wanted)


def peer_versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d: m.version(d) for d in "
        "('Pysher', 'websocket-client', 'asyncpusher', 'aiohttp', 'matplotlib')}))"
    )
    out = subprocess.run(
        [str(PEERS_PYTHON), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    versions: dict[str, str] = json.loads(out)
    return versions


def npm_version(package: str) -> str:
    manifest = DEVTOOLS / "node_modules" / package / "package.json"
    version: str = json.loads(manifest.read_text())["version"]
    return version


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": node,
    }


# ---------------------------------------------------------------------- processes


_PIN = (
    "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """``command``, started on ``cpu`` only (a tiny trampoline pins itself, then execs)."""
    if cpu is None:
        return list(command)
    return [PYTHON, "-c", _PIN, str(cpu), *command]


def stop_process(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a child we started, by its PID: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(grace)


class Blaster:
    """The blaster server process (``benchmarks/blaster.py``)."""

    def __init__(self, max_events: int, cpu: int | None) -> None:
        command = [PYTHON, "-m", "benchmarks.blaster", "--max-events", str(max_events)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            self.port = int(lines.get(timeout=60))
        except (queue.Empty, ValueError):
            self.stop()
            raise BenchmarkError("the blaster did not start") from None

    def stop(self) -> None:
        stop_process(self.process)


class Client:
    """A client subprocess whose JSON lines are read as they come."""

    def __init__(
        self, name: str, command: Sequence[str], cpu: int | None = None, stdin: bool = False
    ) -> None:
        self.name = name
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            pinned(command, cpu),
            cwd=ROOT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if len(self.stderr) < 200:
                self.stderr.append(line.rstrip())

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next line (``None`` at the end of output or after ``timeout``)."""
        try:
            line = self.lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, kind: str, timeout: float) -> dict[str, Any] | None:
        """Read lines until one of type ``kind`` (``None`` on timeout or end)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(deadline - time.monotonic())
            if line is None:
                return None
            if line.get("type") == kind:
                return line

    def drain(self) -> list[dict[str, Any]]:
        """Lines already written, without waiting."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return out
            if line is None:
                self.lines.put(None)
                return out
            self.seen.append(line)
            out.append(line)

    def close_stdin(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def result(self, timeout: float) -> dict[str, Any]:
        line = self.wait_for("result", timeout)
        self.stop()
        if line is None:
            tail = " | ".join(self.stderr[-5:])
            return {"ok": False, "error": f"no result (exit {self.process.returncode}): {tail}"}
        return line

    def stop(self) -> None:
        self.close_stdin()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            stop_process(self.process)


def python_client(client: str, mode: str, port: int, key: str, **options: Any) -> list[str]:
    return [PYTHON, "-m", "benchmarks.clients", client, mode, *_options(port, key, options)]


def peer_client(client: str, mode: str, port: int, key: str, **options: Any) -> list[str]:
    return [
        str(PEERS_PYTHON),
        "-m",
        "benchmarks.peer_clients",
        client,
        mode,
        *_options(port, key, options),
    ]


def node_client(mode: str, port: int, key: str, **options: Any) -> list[str]:
    return ["node", str(NODE_CLIENT), mode, *_options(port, key, options)]


def _options(port: int, key: str, options: dict[str, Any]) -> list[str]:
    out = ["--port", str(port), "--key", key]
    for name, value in options.items():
        out += [f"--{name.replace('_', '-')}", str(value)]
    return out


# -------------------------------------------------------------------- throughput


@dataclass
class ThroughputClient:
    name: str
    label: str
    command: Callable[[int, str, int, float], list[str]]
    informative: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)


def throughput_clients() -> list[ThroughputClient]:
    def py(client: str) -> Callable[[int, str, int, float], list[str]]:
        return lambda port, key, n, limit: python_client(
            client, "throughput", port, key, events=n, max_seconds=limit
        )

    def peer(client: str) -> Callable[[int, str, int, float], list[str]]:
        return lambda port, key, n, limit: peer_client(
            client, "throughput", port, key, events=n, max_seconds=limit
        )

    def node(port: int, key: str, n: int, limit: float) -> list[str]:
        return node_client("throughput", port, key, events=n, max_seconds=limit)

    return [
        ThroughputClient("picows-raw", "raw picows + orjson (ceiling)", py("picows-raw")),
        ThroughputClient("pc-callbacks", "pusher-channels on_event", py("pc-callbacks")),
        ThroughputClient("pc-iterator", "pusher-channels events(max_buffer=N)", py("pc-iterator")),
        ThroughputClient(
            "pc-iterator-default",
            "pusher-channels events() default buffer",
            py("pc-iterator-default"),
            informative=True,
        ),
        ThroughputClient("pc-sync", "pusher-channels sync facade", py("pc-sync")),
        ThroughputClient("pusher-js", "pusher-js (Node)", node),
        ThroughputClient("asyncpusher", "asyncpusher", peer("asyncpusher")),
        ThroughputClient("pysher", "pysher", peer("pysher")),
    ]


def run_throughput(settings: Settings) -> list[dict[str, Any]]:
    n = settings.events
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    clients = throughput_clients()
    blaster = Blaster(n, server_cpu)
    key = blaster_key(n)
    limit = 60.0 + n * 100e-6  # 100 µs per event on top of a minute
    try:
        for rep in range(settings.throughput_repeat):
            for client in clients:
                command = client.command(blaster.port, key, n, limit)
                process = Client(client.name, command, client_cpu)
                run = process.result(limit + 15)
                client.runs.append(run)
                cpu = run.get("cpu_s", 0.0) * 1e6 / n
                status = "ok" if run.get("ok") else f"FAILED: {run.get('error')}"
                log(
                    f"  throughput {rep + 1}/{settings.throughput_repeat} {client.label:<42}"
                    f"{cpu:7.2f} CPU µs/event  {status}"
                )
    finally:
        blaster.stop()
    out = []
    for client in clients:
        # events/s counts the events delivered (all N unless some were dropped); CPU is
        # per event sent, as the client parsed every one of the N frames.
        good = [r for r in client.runs if r.get("wall_s") and r.get("received")]
        rates = [r["received"] / r["wall_s"] for r in good]
        cpus = [r["cpu_s"] * 1e6 / n for r in good]
        failed = [r for r in client.runs if not r.get("ok")]
        out.append(
            {
                "client": client.name,
                "label": client.label,
                "informative": client.informative,
                "events": n,
                "cpu_pinned": client_cpu is not None,
                "ok": not failed,
                "error": failed[0].get("error") if failed else None,
                "received": min((r.get("received", 0) for r in client.runs), default=0),
                "dropped": max((r.get("dropped", 0) for r in client.runs), default=0),
                "events_per_s": statistics.median(rates) if rates else None,
                "cpu_us_per_event": statistics.median(cpus) if cpus else None,
                "runs": client.runs,
            }
        )
    return out


# ----------------------------------------------------------------------- latency


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


LATENCY_CLIENTS: list[tuple[str, str]] = [
    ("picows-raw", "raw picows + orjson"),
    ("pc-callbacks", "pusher-channels on_event"),
    ("pusher-js", "pusher-js (Node)"),
    ("asyncpusher", "asyncpusher"),
    ("pysher", "pysher"),
]


def latency_command(name: str, port: int, key: str, events: int, limit: float) -> list[str]:
    options = {"channel": "latency", "events": events, "max_seconds": limit}
    if name == "pusher-js":
        return node_client("latency", port, key, **options)
    if name in ("asyncpusher", "pysher"):
        return peer_client(name, "latency", port, key, **options)
    return python_client(name, "latency", port, key, **options)


def run_latency(settings: Settings, soketi: SoketiServer) -> list[dict[str, Any]]:
    sdk = soketi.server_sdk()
    m = settings.latency_events
    limit = settings.latency_seconds + 60
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in LATENCY_CLIENTS}
    samples: dict[str, list[float]] = {name: [] for name, _ in LATENCY_CLIENTS}
    rates: list[float] = []
    names = [name for name, _ in LATENCY_CLIENTS]
    for rep in range(settings.latency_runs):
        # soketi sends each event to the subscribers one after another: rotate who
        # subscribes (and so is served) first.
        order = names[rep % len(names) :] + names[: rep % len(names)]
        clients: list[Client] = []
        try:
            for name in order:
                client = Client(name, latency_command(name, soketi.port, soketi.key, m, limit))
                clients.append(client)
                if client.wait_for("ready", 30) is None:
                    raise BenchmarkError(f"latency: {client.name} did not subscribe")
            time.sleep(0.2)
            start = time.perf_counter()
            for i in range(m):
                delay = start + i / settings.latency_rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sdk.trigger("latency", "ev", {"seq": i, "t": time.time()})
            rates.append(m / (time.perf_counter() - start))
            for client in clients:
                run = client.result(30)
                latencies = run.pop("latencies_ms", [])
                samples[client.name].extend(latencies)
                run["position"] = order.index(client.name) + 1
                run["p50_ms"] = percentile(latencies, 0.50)
                run["p99_ms"] = percentile(latencies, 0.99)
                run["max_ms"] = max(latencies, default=float("nan"))
                runs[client.name].append(run)
                log(
                    f"  latency {rep + 1}/{settings.latency_runs} {client.name:<14}"
                    f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  "
                    f"{'ok' if run.get('ok') else 'FAILED: ' + str(run.get('error'))}"
                )
        finally:
            for client in clients:
                client.stop()
    out = []
    for name, label in LATENCY_CLIENTS:
        client_runs = runs[name]
        failed = [r for r in client_runs if not r.get("ok")]
        out.append(
            {
                "client": name,
                "label": label,
                "events": m,
                "rate_per_s": settings.latency_rate,
                "achieved_rate_per_s": statistics.median(rates) if rates else None,
                "ok": not failed,
                "error": failed[0].get("error") if failed else None,
                # Percentiles of every run's samples pooled: the p99 of 1,000 events
                # is their 10th worst, too few to compare clients run by run.
                "samples": len(samples[name]),
                "p50_ms": percentile(samples[name], 0.50),
                "p99_ms": percentile(samples[name], 0.99),
                "max_ms": max(samples[name], default=float("nan")),
                "runs": client_runs,
            }
        )
    return out


# ------------------------------------------------------------------------- scale


def run_scale_once(count: int, port: int, key: str) -> dict[str, Any]:
    limit = 120.0 + count * 0.01
    client = Client(
        "scale",
        python_client("pc-callbacks", "scale", port, key, connections=count, max_seconds=limit),
    )
    return client.result(limit + 30)


def run_scale(settings: Settings, soketi: SoketiServer) -> list[dict[str, Any]]:
    out = []
    blaster: Blaster | None = None
    try:
        for count in settings.connections:
            runs: list[dict[str, Any]] = []
            server = "soketi"
            for rep in range(settings.repeat):
                if server == "soketi":
                    run = run_scale_once(count, soketi.port, soketi.key)
                    if not run.get("ok"):
                        log(f"  scale C={count} on soketi FAILED ({run.get('error')}): blaster")
                        server = "blaster"
                        runs = [{**run, "server": "soketi"}]
                if server == "blaster":
                    if blaster is None:
                        blaster = Blaster(1, None)
                    run = run_scale_once(count, blaster.port, blaster_key(0))
                run["server"] = server
                runs.append(run)
                log(
                    f"  scale {rep + 1}/{settings.repeat} C={count:<6} {server:<8}"
                    f"all subscribed in {run.get('subscribed_s', float('nan')):6.2f} s  "
                    f"{run.get('rss_per_connection_kib', float('nan')):6.1f} KiB/connection  "
                    f"{'ok' if run.get('ok') else 'FAILED: ' + str(run.get('error'))}"
                )
            good = [r for r in runs if r.get("ok") and r["server"] == server]
            out.append(
                {
                    "connections": count,
                    "server": server,
                    "soketi_failed": any(r["server"] == "soketi" and not r.get("ok") for r in runs),
                    "ok": bool(good),
                    "error": None if good else runs[-1].get("error"),
                    "subscribed_s": statistics.median(r["subscribed_s"] for r in good)
                    if good
                    else None,
                    "connected_s": statistics.median(r["connected_s"] for r in good)
                    if good
                    else None,
                    "rss_per_connection_kib": statistics.median(
                        r["rss_per_connection_kib"] for r in good
                    )
                    if good
                    else None,
                    "cpu_per_connection_us": statistics.median(
                        r["cpu_per_connection_us"] for r in good
                    )
                    if good
                    else None,
                    "runs": runs,
                }
            )
    finally:
        if blaster is not None:
            blaster.stop()
    return out


# --------------------------------------------------------------------- reconnect

RECONNECT_CLIENTS = [("pc-callbacks", "pusher-channels"), ("pusher-js", "pusher-js (Node)")]


def reconnect_command(name: str, port: int, key: str) -> list[str]:
    options = {"channel": "reconnect", "max_seconds": 120}
    if name == "pusher-js":
        return node_client("reconnect", port, key, **options)
    return python_client(name, "reconnect", port, key, **options)


def run_reconnect(settings: Settings, soketi: SoketiServer) -> list[dict[str, Any]]:
    chosen = [c for c in RECONNECT_CLIENTS if settings.reconnect_pusher_js or c[0] != "pusher-js"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in chosen}
    for rep in range(settings.repeat):
        clients = [
            Client(name, reconnect_command(name, soketi.port, soketi.key), stdin=True)
            for name, _ in chosen
        ]
        try:
            for client in clients:
                if client.wait_for("subscribed", 30) is None:
                    raise BenchmarkError(f"reconnect: {client.name} did not subscribe")
            time.sleep(0.5)
            t_kill = time.time()
            soketi.kill()
            time.sleep(settings.reconnect_outage_s)
            t_restart = time.time()
            soketi.start()
            t_up = time.time()
            sdk = soketi.server_sdk()
            status: dict[str, dict[str, float]] = {c.name: {} for c in clients}
            deadline = time.monotonic() + 60
            seq = 0
            while time.monotonic() < deadline:
                if all("event" in s for s in status.values()):
                    break
                with contextlib.suppress(Exception):
                    sdk.trigger("reconnect", "ev", {"seq": seq, "t": time.time()})
                    seq += 1
                time.sleep(settings.reconnect_trigger_every_s)
                for client in clients:
                    for line in client.drain():
                        mark = status[client.name]
                        if line.get("type") == "subscribed" and line["t"] > t_kill:
                            mark.setdefault("subscribed", line["t"])
                        elif line.get("type") == "event" and "subscribed" in mark:
                            mark.setdefault("event", line["t"])
            for client in clients:
                mark = status[client.name]
                run: dict[str, Any] = {
                    "ok": "event" in mark,
                    "error": None if "event" in mark else "no event after the restart",
                    "soketi_down_s": t_restart - t_kill,
                    "soketi_up_after_kill_s": t_up - t_kill,
                }
                if "subscribed" in mark:
                    run["resubscribed_s"] = mark["subscribed"] - t_kill
                    run["resubscribed_after_up_s"] = mark["subscribed"] - t_up
                if "event" in mark:
                    run["event_s"] = mark["event"] - t_kill
                run["states"] = [
                    (round(line["t"] - t_kill, 3), line["state"])
                    for line in client.seen
                    if line.get("type") == "state" and line["t"] > t_kill
                ]
                runs[client.name].append(run)
                log(
                    f"  reconnect {rep + 1}/{settings.repeat} {client.name:<14}"
                    f"soketi up {run['soketi_up_after_kill_s']:5.2f} s, subscribed "
                    f"{run.get('resubscribed_s', float('nan')):5.2f} s, event "
                    f"{run.get('event_s', float('nan')):5.2f} s after the kill"
                )
        finally:
            for client in clients:
                client.stop()
    out = []
    for name, label in chosen:
        client_runs = runs[name]
        good = [r for r in client_runs if r.get("ok")]

        def median(field_name: str, runs: list[dict[str, Any]] = good) -> float | None:
            return statistics.median(r[field_name] for r in runs) if runs else None

        out.append(
            {
                "client": name,
                "label": label,
                "ok": len(good) == len(client_runs),
                "error": None if len(good) == len(client_runs) else "no event after a restart",
                "soketi_up_after_kill_s": median("soketi_up_after_kill_s"),
                "resubscribed_s": median("resubscribed_s"),
                "resubscribed_after_up_s": median("resubscribed_after_up_s"),
                "event_s": median("event_s"),
                "runs": client_runs,
            }
        )
    return out


# ----------------------------------------------------------------------- report


def _fmt(value: float | None, pattern: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{pattern}}{unit}"


def table_rows(results: dict[str, Any]) -> Iterator[tuple[str, str, str, str, str]]:
    params = results["parameters"]
    for row in results["throughput"]:
        if row["ok"]:
            check = f"{row['events']:,} in order"
        elif row["dropped"]:
            check = f"dropped up to {row['dropped']:,} (buffer full)"
        else:
            check = f"FAILED: {row['error']}"
        yield (
            f"throughput N={params['events']:,}",
            row["label"],
            _fmt(row["events_per_s"], ",.0f", " ev/s"),
            _fmt(row["cpu_us_per_event"], ".2f", " CPU µs/ev"),
            check,
        )
    for row in results["latency"]:
        yield (
            f"latency soketi {params['latency_rate']:g}/s x {params['latency_seconds']:g} s"
            f" x {params.get('latency_runs', params['repeat'])}",
            row["label"],
            _fmt(row["p50_ms"], ".2f", " ms p50"),
            _fmt(row["p99_ms"], ".2f", " ms p99"),
            (f"{row['events']:,} in order, each run" if row["ok"] else f"FAILED: {row['error']}"),
        )
    for row in results["scale"]:
        where = row["server"] + (" (soketi failed)" if row["soketi_failed"] else "")
        yield (
            f"scale C={row['connections']:,} on {where}",
            "pusher-channels, 1 channel each",
            _fmt(row["subscribed_s"], ".2f", " s all subscr."),
            _fmt(row["rss_per_connection_kib"], ".1f", " KiB RSS/conn"),
            (
                f"all subscribed, {row['cpu_per_connection_us']:.0f} CPU µs/conn"
                if row["ok"]
                else f"FAILED: {row['error']}"
            ),
        )
    for row in results["reconnect"]:
        yield (
            f"reconnect, soketi down {params['reconnect_outage_s']:g} s",
            row["label"],
            _fmt(row["resubscribed_s"], ".2f", " s resubscr."),
            _fmt(row["event_s"], ".2f", " s 1st event"),
            (
                f"soketi up at {_fmt(row['soketi_up_after_kill_s'], '.2f', ' s')}"
                if row["ok"]
                else f"FAILED: {row['error']}"
            ),
        )


def print_table(results: dict[str, Any]) -> None:
    header = ("benchmark", "client", "result", "", "check")
    rows = [header, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    m = results["machine"]
    params = results["parameters"]
    print(
        f"\npusher-channels benchmarks ({results['mode']} run; medians of "
        f"{params.get('throughput_repeat', params['repeat'])} throughput runs and of "
        f"{params['repeat']} scale and reconnect runs) on {m['nproc']} x {m['cpu_model']}, "
        f"Python {m['python']}, Node {m['node']}\n"
    )
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [row[2].rjust(widths[2]), row[3].rjust(widths[3]), row[4]]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("\ntimes from the soketi kill; CPU = user + system time of the client process")


TARGET_RSS_BYTES = 25_000  # "at most 25 KB RSS per idle connection at 5,000 connections"


def _by_client(rows: list[dict[str, Any]], field: str) -> dict[str, float]:
    return {r["client"]: r[field] for r in rows if r.get(field) is not None}


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The performance targets, judged on this run's figures: (target, figure, met).

    Only targets whose figures this run measured are listed.
    """
    rows: list[tuple[str, str, bool]] = []
    cpu = _by_client(results.get("throughput", []), "cpu_us_per_event")
    base = cpu.get("pc-callbacks")
    if base:
        peers = {name: cpu[name] for name in ("pusher-js", "asyncpusher", "pysher") if name in cpu}
        if peers:
            figure = ", ".join(f"{name} {value / base:.2f}x" for name, value in peers.items())
            rows.append(
                (
                    "callback path: fewer CPU µs/event than pusher-js and every Python peer",
                    f"{base:.2f} µs; peers use {figure} as much",
                    all(value > base for value in peers.values()),
                )
            )
        iterators = {n: cpu[n] / base for n in ("pc-iterator", "pc-iterator-default") if n in cpu}
        if iterators:
            rows.append(
                (
                    "async-iterator path within 1.3x of the callback path",
                    ", ".join(f"{name} {ratio:.2f}x" for name, ratio in iterators.items()),
                    max(iterators.values()) <= 1.3,
                )
            )
        if "pc-sync" in cpu:
            ratio = cpu["pc-sync"] / base
            rows.append(
                ("blocking facade within 2x of the callback path", f"{ratio:.2f}x", ratio <= 2)
            )
    scale = {r["connections"]: r for r in results.get("scale", [])}
    if 5_000 in scale and scale[5_000]["rss_per_connection_kib"] is not None:
        kib = scale[5_000]["rss_per_connection_kib"]
        rows.append(
            (
                "at most 25 KB RSS per idle connection at 5,000 connections",
                f"{kib:.1f} KiB = {kib * 1.024:.1f} KB",
                kib * 1024 <= TARGET_RSS_BYTES and scale[5_000]["ok"],
            )
        )
    if 10_000 in scale:
        rows.append(
            (
                "10,000 connections held in one process",
                f"all subscribed in {_fmt(scale[10_000]['subscribed_s'], '.2f', ' s')}"
                f" on {scale[10_000]['server']}",
                bool(scale[10_000]["ok"]),
            )
        )
    p99 = _by_client(results.get("latency", []), "p99_ms")
    if "pc-callbacks" in p99 and "picows-raw" in p99:
        gap = p99["pc-callbacks"] - p99["picows-raw"]
        rows.append(
            (
                "latency p99 within 0.5 ms of the raw client",
                f"{p99['pc-callbacks']:.2f} ms vs {p99['picows-raw']:.2f} ms ({gap:+.2f} ms)",
                gap <= 0.5,
            )
        )
    for row in results.get("reconnect", []):
        if row["client"] != "pc-callbacks":
            continue
        after_restart = [
            r["resubscribed_s"] - r["soketi_down_s"] for r in row["runs"] if "resubscribed_s" in r
        ]
        if after_restart:
            value = statistics.median(after_restart)
            rows.append(
                (
                    "median time back to subscribed after the restart at most 1 s",
                    f"{value:.2f} s after soketi was started again",
                    value <= 1.0 and row["ok"],
                )
            )
    return rows


def print_targets(rows: list[tuple[str, str, bool]], small: bool) -> None:
    if not rows:
        return
    width = max(len(target) for target, _, _ in rows)
    note = ": a --small run is too small to judge them, see a full run" if small else ""
    print(f"\ntargets (judged on this run{note})")
    for target, figure, met in rows:
        print(f"  {'met   ' if met else 'MISSED'}  {target.ljust(width)}  {figure}")


def failed_checks(results: dict[str, Any]) -> list[str]:
    failures = [
        f"throughput {r['label']}: {r['error']}"
        for r in results["throughput"]
        if not r["ok"] and not r["informative"]
    ]
    failures += [f"latency {r['label']}: {r['error']}" for r in results["latency"] if not r["ok"]]
    failures += [
        f"scale C={r['connections']}: {r['error']}" for r in results["scale"] if not r["ok"]
    ]
    failures += [
        f"reconnect {r['label']}: {r['error']}" for r in results["reconnect"] if not r["ok"]
    ]
    return failures


def draw_chart(results_path: Path, targets: list[Path]) -> None:
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(PEERS_PYTHON), "-m", "benchmarks.chart", str(results_path), str(target)],
            cwd=ROOT,
            check=True,
        )
        log(f"chart written to {target}")


def write_results(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"benchmark-{stamp}.json"
    text = json.dumps(results, indent=1) + "\n"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


# -------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Throughput, latency, scale and reconnect benchmarks of pusher-channels.",
    )
    parser.add_argument("--small", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--events", type=int, help="throughput events per run")
    parser.add_argument("--repeat", type=int, help="runs per client (medians are reported)")
    parser.add_argument(
        "--connections", type=int, nargs="+", help="scale test sizes (e.g. 100 1000 10000)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["throughput", "latency", "scale", "reconnect"],
        help="run only these parts",
    )
    parser.add_argument("--chart", type=Path, action="append", default=[], help="also draw here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base = SMALL if args.small else FULL
    settings = dataclasses.replace(
        base,
        events=args.events or base.events,
        repeat=args.repeat or base.repeat,
        throughput_repeat=args.repeat or base.throughput_repeat,
        connections=tuple(args.connections or base.connections),
    )
    if settings.events < 1 or settings.repeat < 1:
        raise SystemExit("--events and --repeat must be at least 1")
    parts = set(args.only or ["throughput", "latency", "scale", "reconnect"])
    raise_fd_limit(max(settings.connections, default=0) * 2 + 4096)  # soketi inherits it
    ensure_node_modules()
    ensure_peers_venv()
    results: dict[str, Any] = {
        "benchmark": "pusher-channels",
        "mode": "small" if args.small else "full",
        "command": " ".join([".venv/bin/python -m benchmarks.run", *(argv or sys.argv[1:])]),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "parameters": {
            "events": settings.events,
            "repeat": settings.repeat,
            "throughput_repeat": settings.throughput_repeat,
            "connections": list(settings.connections),
            "latency_rate": settings.latency_rate,
            "latency_seconds": settings.latency_seconds,
            "latency_runs": settings.latency_runs,
            "reconnect_outage_s": settings.reconnect_outage_s,
        },
        "machine": machine(),
        "versions": {
            "pusher-channels": importlib.metadata.version("pusher-channels"),
            "picows": importlib.metadata.version("picows"),
            "orjson": importlib.metadata.version("orjson"),
            "pusher-js": npm_version("pusher-js"),
            "soketi": npm_version("@soketi/soketi"),
            **peer_versions(),
        },
        "throughput": [],
        "latency": [],
        "scale": [],
        "reconnect": [],
    }
    started = time.monotonic()
    if "throughput" in parts:
        log(
            f"==> throughput: {settings.events:,} events per run,"
            f" {settings.throughput_repeat} run(s)"
        )
        results["throughput"] = run_throughput(settings)
    soketi = SoketiServer(log_path=RESULTS / "soketi.log")
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        if parts & {"latency", "scale", "reconnect"}:
            soketi.start()
        if "latency" in parts:
            log(f"==> latency through soketi: {settings.latency_rate:g} events/s")
            results["latency"] = run_latency(settings, soketi)
        if "scale" in parts:
            log(f"==> scale: {', '.join(map(str, settings.connections))} connections")
            results["scale"] = run_scale(settings, soketi)
        if "reconnect" in parts:
            log("==> reconnect: soketi killed and restarted")
            results["reconnect"] = run_reconnect(settings, soketi)
    finally:
        soketi.stop()
    results["duration_s"] = time.monotonic() - started
    targets = target_rows(results)
    results["targets"] = [{"target": t, "figure": f, "met": m} for t, f, m in targets]
    path = write_results(results)
    print_table(results)
    print_targets(targets, small=args.small)
    print(f"\nresults: {path.relative_to(ROOT)}")
    draw_chart(path, [RESULTS / "performance.png", *args.chart])
    failures = failed_checks(results)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
