"""The shared measuring code of ``benchmarks.run``: what every workload uses.

A workload (a module of :mod:`benchmarks.workloads`) defines one :class:`Workload`:
how to run it (given a :class:`Bench`, the run's context), the table rows of its
figures, the targets it judges on them (:class:`Target`), the checks that fail the
run, and how to profile a client behind a missed target. This module has the rest:

- the processes: the blaster (:class:`Blaster`), client subprocesses that speak JSON
  lines (:class:`Client`), CPU pinning, stopping children by their PID;
- statistics (:func:`percentile`, :func:`median`, :func:`busiest_window`) and the
  formatting of figures;
- profiles: reading a client's cProfile statistics into short tables.

The set-up the run needs (Node modules, the peers' virtual environment, versions, the
machine's description) is in :mod:`benchmarks.environment`. Client-side helpers
(timing windows, sequence checks, the loop-lag monitor) are in
:mod:`benchmarks._common`, which must stay standard-library only: the peer clients
import it from their own virtual environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import pstats
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.soketi import SoketiServer

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
DEVTOOLS = ROOT / "devtools"
NODE_CLIENT = BENCH / "pusher_js_client.js"
PYTHON = sys.executable

Row = tuple[str, str, str, str, str]
"""A table row: benchmark, client, two figures, check."""


class BenchmarkError(RuntimeError):
    """Something the benchmark needs is missing or broke."""


def log(message: str) -> None:
    """Progress, on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the run's context


@dataclass
class Bench:
    """What a workload is given: the run's size and overrides, and shared servers."""

    small: bool
    events: int | None = None
    """``--events``: events per throughput (and loop-lag) run."""
    repeat: int | None = None
    """``--repeat``: runs per client (medians are reported)."""
    connections: tuple[int, ...] | None = None
    """``--connections``: the sizes of the scale workload."""
    _soketi: SoketiServer | None = None

    def sized(self, full: Any, small: Any) -> Any:
        """``small`` in a ``--small`` run, else ``full``."""
        return small if self.small else full

    def repeats(self, full: int) -> int:
        return self.repeat or (1 if self.small else full)

    @property
    def cpus(self) -> tuple[int | None, int | None]:
        """(client CPU, server CPU): the first and the last, on 2+ CPUs."""
        cpus = sorted(os.sched_getaffinity(0))
        return (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)

    def soketi(self) -> SoketiServer:
        """The run's soketi, started on first use (a workload may kill and restart
        it, and must leave it running)."""
        if self._soketi is None:
            RESULTS.mkdir(parents=True, exist_ok=True)
            self._soketi = SoketiServer(log_path=RESULTS / "soketi.log")
            self._soketi.start()
        elif self._soketi.process is None:
            self._soketi.start()
        return self._soketi

    def close(self) -> None:
        if self._soketi is not None:
            self._soketi.stop()
            self._soketi = None


# ------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    """One performance target, judged on the figures of the run that measured it."""

    name: str
    """What is measured: ``CPU per event, on_event``."""
    rule: str
    """The target, with the baseline it is measured against: ``≤ 1.4x the ceiling``."""
    figure: str
    """This run's figure: ``1.62x (1.83 vs 1.13 µs)``."""
    met: bool
    value: float | None = None
    """The judged number (a ratio, ms, s, KiB), for the chart: met when ``value <= limit``
    (when both are given)."""
    limit: float | None = None
    issue: str = "15"
    """The issue the target comes from (earlier targets stay judged)."""
    profile: str | None = None
    """What the workload profiles to explain a miss (``--profile``)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "rule": self.rule,
            "figure": self.figure,
            "met": self.met,
            "value": self.value,
            "limit": self.limit,
            "issue": self.issue,
        }


def ratio_target(
    name: str,
    value: float,
    baseline: float,
    limit: float,
    *,
    baseline_name: str,
    unit: str = "µs",
    profile: str | None = None,
    issue: str = "15",
    extra_ok: bool = True,
) -> Target:
    """``value / baseline <= limit``, printed as the ratio and both figures."""
    ratio = value / baseline if baseline else float("inf")
    return Target(
        name,
        f"≤ {limit:g}x {baseline_name}",
        f"{ratio:.2f}x ({value:.2f} vs {baseline:.2f} {unit})",
        ratio <= limit and extra_ok,
        ratio,
        limit,
        issue,
        profile,
    )


@dataclass(frozen=True)
class Profile:
    """A profile behind a missed target: a title and its text (Markdown)."""

    title: str
    text: str


@dataclass(frozen=True)
class Workload:
    """One workload of ``benchmarks.run``: define one per module of
    :mod:`benchmarks.workloads` as ``WORKLOAD``."""

    name: str
    """Its name in ``--only`` and its key in the results."""
    order: int
    """Where it runs and prints among the others (ascending)."""
    summary: str
    run: Callable[[Bench], dict[str, Any]]
    """Measure; return the section of the results (JSON-serializable), with its
    ``parameters``."""
    rows: Callable[[dict[str, Any]], Iterable[Row]]
    """The table rows of a section."""
    targets: Callable[[dict[str, Any]], list[Target]] = lambda section: []
    """The targets, judged on the section's own figures."""
    failures: Callable[[dict[str, Any]], list[str]] = lambda section: []
    """Checks that fail the run (a missed, duplicated or reordered event...)."""
    profile: Callable[[Bench, dict[str, Any], str], Profile] | None = None
    """Profile what :attr:`Target.profile` names."""


# ------------------------------------------------------------------------ processes


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
    """The blaster server process (``benchmarks/blaster.py``); see its docstring."""

    def __init__(
        self, max_events: int, cpu: int | None = None, prebuild: Sequence[str] = ()
    ) -> None:
        command = [PYTHON, "-m", "benchmarks.blaster", "--max-events", str(max_events)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if prebuild:
            command += ["--prebuild", *prebuild]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            self.port = int(lines.get(timeout=120))
        except (queue.Empty, ValueError):
            self.stop()
            raise BenchmarkError("the blaster did not start") from None

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Blaster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


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


def _options(port: int, key: str, options: dict[str, Any]) -> list[str]:
    out = ["--port", str(port), "--key", key]
    for name, value in options.items():
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    return out


def python_client(client: str, mode: str, port: int, key: str, **options: Any) -> list[str]:
    """A client of ``benchmarks.clients`` (pusher-channels and raw picows)."""
    return [PYTHON, "-m", "benchmarks.clients", client, mode, *_options(port, key, options)]


def module_client(module: str, port: int, key: str, **options: Any) -> list[str]:
    """A workload's own client: ``python -m MODULE client --port P --key K ...``."""
    return [PYTHON, "-m", module, "client", *_options(port, key, options)]


def peer_client(client: str, mode: str, port: int, key: str, **options: Any) -> list[str]:
    """A client of ``benchmarks.peer_clients`` (pysher, asyncpusher), in their venv."""
    return [
        str(PEERS_PYTHON),
        "-m",
        "benchmarks.peer_clients",
        client,
        mode,
        *_options(port, key, options),
    ]


def node_client(mode: str, port: int, key: str, **options: Any) -> list[str]:
    """The pusher-js client (Node)."""
    return ["node", str(NODE_CLIENT), mode, *_options(port, key, options)]


# ----------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (``nan`` without values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values given (``None`` ones left out), or ``None``."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def busiest_window(times: Sequence[float], width: float) -> tuple[int, float]:
    """The most ``times`` within any window of ``width`` seconds, and where it starts."""
    ordered = sorted(times)
    best, start, low = 0, float("nan"), 0
    for high, value in enumerate(ordered):
        while value - ordered[low] >= width:
            low += 1
        if high - low + 1 > best:
            best, start = high - low + 1, ordered[low]
    return best, start


def fmt(value: float | None, pattern: str, unit: str = "") -> str:
    """``value`` formatted, or ``-`` when it was not measured."""
    return "-" if value is None else f"{value:{pattern}}{unit}"


def check(ok: bool, good: str, error: str | None) -> str:
    """The check column of a row."""
    return good if ok else f"FAILED: {error}"


def run_rounds(
    names: Sequence[str],
    repeat: int,
    run_one: Callable[[str, int], dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """``run_one(name, round)`` for every name, ``repeat`` rounds, round-robin (so that
    a change in the machine's load falls on every client alike)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for rep in range(repeat):
        for name in names:
            runs[name].append(run_one(name, rep))
    return runs


# -------------------------------------------------------------------------- profiles


def _short(path: str) -> str:
    for marker in ("src/pusher_channels/", "site-packages/", "python3.11/", "benchmarks/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _function_name(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name  # a built-in, e.g. <method 'decrypt' ...>
    return f"{_short(path)}:{line}({name})"


def profile_tables(
    stats_path: Path, per: int, unit: str, *, top: int = 10, ours: str = "pusher_channels"
) -> str:
    """Two Markdown tables of a client's cProfile statistics: the functions with the
    most own time, and ``ours`` (the library's) with the most cumulative time, in µs
    per ``unit`` (``per`` of them in the window) and calls per unit.

    cProfile adds a cost to every call it counts, so its µs are inflated against an
    unprofiled run; the proportions and the calls per unit are what to read.
    """
    stats = pstats.Stats(str(stats_path))
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values())
    rows = [(key, calls, own, cum) for key, (_, calls, own, cum, _) in table.items()]

    def render(title: str, chosen: list[tuple[tuple[str, int, str], int, float, float]]) -> str:
        lines = [
            f"| {title} | own µs/{unit} | cum. µs/{unit} | calls/{unit} |",
            "|---|--:|--:|--:|",
        ]
        for key, calls, own, cum in chosen:
            lines.append(
                f"| `{_function_name(key)}` | {own * 1e6 / per:.3f} | {cum * 1e6 / per:.3f}"
                f" | {calls / per:.2f} |"
            )
        return "\n".join(lines)

    by_own = sorted(rows, key=lambda row: row[2], reverse=True)[:top]
    library = [row for row in rows if ours in row[0][0]]
    by_cum = sorted(library, key=lambda row: row[3], reverse=True)[:top]
    collector = ""
    sidecar = Path(f"{stats_path}.gc.json")
    if sidecar.exists():
        gc_figures = json.loads(sidecar.read_text())
        collections = "/".join(map(str, gc_figures["collections"]))
        collector = (
            f" The cyclic garbage collector ran {collections} collections (generations"
            f" 0/1/2) for {gc_figures['seconds'] * 1e3:.1f} ms = "
            f"{gc_figures['seconds'] * 1e6 / per:.2f} µs/{unit}, counted in the own time of"
            " whichever function allocated when it triggered."
        )
    return (
        f"Profiled: {total * 1e6 / per:.2f} µs/{unit} in all (cProfile's own cost included)."
        + collector
        + "\n\n"
        + render("function (most own time)", by_own)
        + "\n\n"
        + render(f"{ours} function (most cumulative time)", by_cum)
    )


def profile_client(command: list[str], name: str, per: int, unit: str, timeout: float) -> str:
    """Run a client with ``--profile`` and return its tables (or why there are none)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"profile-{name}.pstats"
    path.unlink(missing_ok=True)
    client = Client(name, [*command, "--profile", str(path)])
    result = client.result(timeout)
    if not path.exists():
        return f"no profile: {result.get('error') or 'the client wrote none'}"
    return profile_tables(path, per, unit)


def table_lines(rows: Iterator[Row] | list[Row]) -> list[str]:
    """The rows as aligned text lines, with a header."""
    header: Row = ("benchmark", "client", "result", "", "check")
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    lines = []
    for i, row in enumerate(everything):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [row[2].rjust(widths[2]), row[3].rjust(widths[3]), row[4]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    return lines
