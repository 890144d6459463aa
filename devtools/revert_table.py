"""The revert table: each fix undone on its own, and the tests that catch it.

Each row of ``devtools/reverts.json`` names a fix, the smallest textual edits
(*mutations*) that bring its bug back in today's code, and the tests (or simulation
seeds) that should catch it. For each row this command copies the checkout to a
temporary directory (the checkout itself is never touched), applies the row's
mutations there, runs the row's tests on that copy with a time limit, notes which
tests failed, deletes the copy, and finally prints a Markdown table::

    .venv/bin/python -m devtools.revert_table                  # every row
    .venv/bin/python -m devtools.revert_table --row "Scenario 1"   # rows naming it
    .venv/bin/python -m devtools.revert_table --check          # the mutations apply?
    .venv/bin/python -m devtools.revert_table -v               # and what caught each
    .venv/bin/python -m devtools.revert_table --update-docs    # the table in the docs

A row is *caught* when at least one of its tests fails with the mutations applied.
The exit status is 0 only when every row run is caught; a row that is not caught,
whose mutation no longer applies (its ``old`` text is not in the file exactly
once), whose tests cannot run, or whose tests run past the time limit makes it 1.

Before the rows, the tests of the rows are run once on an unmodified copy (the
*baseline*): a test that fails without any mutation cannot tell anything, so its
rows are reported as errors. ``--no-baseline`` skips that run.

Adding a row is an edit of the data file only: a JSON list of objects with

- ``row``: its name, e.g. ``"Scenario 3: backpressure lost on reconnection"``;
- ``summary`` (optional): what the mutations bring back, in a few words (by default
  the mutations' own text);
- ``mutations``: a list of ``{"file", "old", "new"}``, applied in order; ``old``
  must occur exactly once in the file when its turn comes;
- ``tests``: pytest node ids (``tests/...py::test_name``) or test files;
- ``pytest_args`` (optional): more pytest arguments, e.g. the simulation's
  ``["--sim-seeds", "300"]``;
- ``timeout`` (optional): seconds for the row's test run (default
  :data:`DEFAULT_TIMEOUT`).

A row with a single mutation may also be written flat, as a fix's revert mutation
is noted: ``{"row", "file", "old", "new", "test"}``.

``tests/test_revert_table.py`` checks on every default test run that each mutation
still applies to the current tree, so the table cannot rot silently.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

__all__ = [
    "DEFAULT_TIMEOUT",
    "ROOT",
    "ROWS_FILE",
    "Mutation",
    "MutationError",
    "Outcome",
    "Row",
    "apply_mutations",
    "load_rows",
    "main",
    "missing_tests",
    "mutation_problems",
    "render_table",
    "run_table",
]

ROOT = Path(__file__).resolve().parent.parent
"""The checkout this module belongs to."""
ROWS_FILE = Path(__file__).resolve().parent / "reverts.json"
"""The rows: one per fix."""
DOCS_FILE = ROOT / "docs" / "reliability.md"
"""Where ``--update-docs`` writes the table, between :data:`TABLE_START` and
:data:`TABLE_END`."""
TABLE_START = "<!-- revert-table: start (written by python -m devtools.revert_table) -->"
TABLE_END = "<!-- revert-table: end -->"

MAX_CASES_SHOWN = 3
"""Parametrized cases of one failing test named in the table; more are counted."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a row's test run may take before it is stopped (and the row reported)."""

CAUGHT = "caught"
UNCAUGHT = "NOT CAUGHT"
STALE = "STALE MUTATION"
TIMED_OUT = "TIMED OUT"
ERROR = "ERROR"


class MutationError(Exception):
    """A mutation does not apply to the tree: its ``old`` text is missing or repeated."""


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (present exactly once) with ``new`` in ``file``."""

    file: str
    old: str
    new: str

    def describe(self) -> str:
        """The edit in one line, for a table."""
        where, old = Path(self.file).name, _one_line(self.old)
        if not self.new.strip():
            return f"`{where}`: `{old}` removed"
        return f"`{where}`: `{old}` → `{_one_line(self.new)}`"


@dataclass(frozen=True)
class Row:
    """One fix, reverted by its mutations, and the tests that should catch it."""

    name: str
    mutations: tuple[Mutation, ...]
    tests: tuple[str, ...]
    summary: str = ""
    pytest_args: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        """What the row's mutations bring back, and in which files."""
        if not self.summary:
            return "; ".join(mutation.describe() for mutation in self.mutations)
        files = dict.fromkeys(Path(mutation.file).name for mutation in self.mutations)
        return f"{self.summary} ({', '.join(f'`{name}`' for name in files)})"


@dataclass
class Outcome:
    """What happened to one row."""

    row: Row
    result: str
    caught_by: list[str] = field(default_factory=list)
    """The failing tests (with the simulation's failing seeds, if any)."""
    detail: str = ""
    """Why the row is not caught, or the failures' first lines."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the row is caught."""
        return self.result == CAUGHT


# ------------------------------------------------------------------- the rows


def load_rows(path: Path = ROWS_FILE) -> list[Row]:
    """The rows of the data file, checked for shape."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a JSON list of rows is expected")
    rows = [_row(entry, path) for entry in data]
    names = [row.name for row in rows]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: rows named more than once: {repeated}")
    return rows


def _row(entry: object, path: Path) -> Row:
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: each row is an object, not {entry!r}")
    entry = _with_one_mutation(entry)
    known = {"row", "summary", "mutations", "tests", "pytest_args", "timeout"}
    unknown = set(entry) - known
    name = entry.get("row")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: a row without a name: {entry!r}")
    if unknown:
        raise ValueError(f"{path}: row {name!r} has unknown keys {sorted(unknown)}")
    mutations = entry.get("mutations")
    if not isinstance(mutations, list) or not mutations:
        raise ValueError(f"{path}: row {name!r} has no mutations")
    for mutation in mutations:
        if not isinstance(mutation, dict) or set(mutation) != {"file", "old", "new"}:
            raise ValueError(f"{path}: row {name!r}: a mutation is {{file, old, new}}")
        if not all(isinstance(value, str) for value in mutation.values()):
            raise ValueError(f"{path}: row {name!r}: a mutation's fields are strings")
    tests = entry.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise ValueError(f"{path}: row {name!r} names no tests")
    pytest_args = entry.get("pytest_args", [])
    if not isinstance(pytest_args, list) or not all(isinstance(a, str) for a in pytest_args):
        raise ValueError(f"{path}: row {name!r}: pytest_args is a list of strings")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"{path}: row {name!r}: timeout is a positive number of seconds")
    summary = entry.get("summary", "")
    if not isinstance(summary, str):
        raise ValueError(f"{path}: row {name!r}: summary is a string")
    return Row(
        name=name,
        mutations=tuple(Mutation(**mutation) for mutation in mutations),
        tests=tuple(tests),
        summary=summary,
        pytest_args=tuple(pytest_args),
        timeout=float(timeout),
    )


def _with_one_mutation(entry: dict[str, Any]) -> dict[str, Any]:
    """A row written as one revert mutation is, ``{"row", "file", "old", "new",
    "test"}``, in the general form (``mutations`` and ``tests`` lists)."""
    if "mutations" in entry or not {"file", "old", "new"} <= set(entry):
        return entry
    general = {key: value for key, value in entry.items() if key not in ("file", "old", "new")}
    general["mutations"] = [{key: entry[key] for key in ("file", "old", "new")}]
    if "test" in general and "tests" not in general:
        general["tests"] = [general.pop("test")]
    return general


def select(rows: Sequence[Row], patterns: Sequence[str]) -> list[Row]:
    """The rows whose name contains one of ``patterns`` (every row if none)."""
    if not patterns:
        return list(rows)
    return [row for row in rows if any(p.lower() in row.name.lower() for p in patterns)]


# -------------------------------------------------------------- the mutations


def mutation_problems(root: Path, row: Row) -> list[str]:
    """Why ``row``'s mutations would not apply to the tree at ``root`` (none: they do).

    Each ``old`` must occur exactly once in its file when its turn comes, applying
    it must change the file, and a Python file must still parse afterwards (a
    mutation that merely breaks the syntax would be caught by anything).
    """
    problems: list[str] = []
    texts: dict[str, str] = {}
    for number, mutation in enumerate(row.mutations, 1):
        path = root / mutation.file
        if mutation.file not in texts:
            if not path.is_file():
                problems.append(f"mutation {number}: no file {mutation.file}")
                continue
            texts[mutation.file] = path.read_text(encoding="utf-8")
        text = texts[mutation.file]
        count = text.count(mutation.old)
        if count != 1:
            where = "is not in" if count == 0 else f"occurs {count} times in"
            problems.append(f"mutation {number}: its old text {where} {mutation.file}")
            continue
        changed = text.replace(mutation.old, mutation.new)
        if changed == text:
            problems.append(f"mutation {number}: old and new are the same")
            continue
        texts[mutation.file] = changed
    for name, text in texts.items():
        if name.endswith(".py"):
            try:
                ast.parse(text, filename=name)
            except SyntaxError as exc:
                problems.append(f"{name} does not parse once mutated: {exc}")
    return problems


def missing_tests(root: Path, row: Row) -> list[str]:
    """The row's tests that do not exist in the tree at ``root``."""
    problems = []
    for node in row.tests:
        file, _, rest = node.partition("::")
        path = root / file
        if not path.is_file():
            problems.append(f"no test file {file}")
            continue
        if not rest:
            continue
        name = rest.split("::")[-1].split("[")[0]
        if not re.search(rf"\bdef {re.escape(name)}\(", path.read_text(encoding="utf-8")):
            problems.append(f"no test {name} in {file}")
    return problems


def apply_mutations(root: Path, row: Row) -> None:
    """Apply ``row``'s mutations to the tree at ``root``; raise :class:`MutationError`
    (leaving the tree as it was) if one does not apply."""
    problems = mutation_problems(root, row)
    if problems:
        raise MutationError("; ".join(problems))
    for mutation in row.mutations:
        path = root / mutation.file
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


# ---------------------------------------------------------------- the copies


def copy_checkout(source: Path, destination: Path) -> None:
    """Copy the checkout's files (tracked, and new ones not ignored) to ``destination``.

    ``devtools/node_modules`` (soketi, pusher-js) is linked, not copied.
    """
    listing = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        origin = source / name
        if not origin.is_file() or origin.is_symlink():
            continue  # deleted in the work tree, or a link (node_modules is linked below)
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
    modules = source / "devtools" / "node_modules"
    if modules.exists():
        (destination / "devtools").mkdir(exist_ok=True)
        (destination / "devtools" / "node_modules").symlink_to(modules.resolve())


# ----------------------------------------------------------------- the runs


@dataclass
class PytestRun:
    """One pytest run on a copy."""

    returncode: int | None
    """pytest's exit status; ``None`` when it ran past its time limit."""
    failures: dict[str, str]
    """Failed or erroring test ids, each with its failure message."""
    output: str
    seconds: float


def run_tests(
    root: Path,
    tests: Iterable[str],
    pytest_args: Iterable[str],
    timeout: float,
    python: str = sys.executable,
) -> PytestRun:
    """Run ``tests`` with pytest in the copy at ``root``, its ``src`` first on the path."""
    report = root / ".revert-table-report.xml"
    command = [
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={report}",
        *pytest_args,
        *tests,
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=root,
        env=_environment(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped whole on a timeout
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _stop_group(process)
        output, _ = process.communicate()
        returncode = None
    seconds = time.monotonic() - started
    failures = _failures(report) if report.exists() else {}
    return PytestRun(returncode, failures, output.decode(errors="replace"), seconds)


def _environment(root: Path) -> dict[str, str]:
    """The tests' environment in the copy at ``root``: its ``src`` first on the path
    (before the virtual environment's own install of the package), and no bytecode
    written (the copy is thrown away)."""
    return {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"}


def _imported_from(root: Path, python: str) -> Path:
    """Where the tests run in the copy at ``root`` take ``pusher_channels`` from."""
    found = subprocess.run(
        [python, "-c", "import pusher_channels; print(pusher_channels.__file__)"],
        cwd=root,
        env=_environment(root),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(found.stdout.strip()).parent.parent


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the test run and whatever it started (soketi, scripts), by its group id."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _failures(report: Path) -> dict[str, str]:
    """The failed and erroring tests of a JUnit report, as node ids."""
    failures: dict[str, str] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        file = case.get("file", "")
        name = case.get("name", "")
        module = file.removesuffix(".py").replace("/", ".")
        classname = case.get("classname", "")
        inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        node = "::".join(part for part in (file, inner, name) if part)
        # The short message first (its first line is what the table shows), then
        # the whole report (where the simulation lists its failing seeds).
        failures[node] = f"{problem.get('message') or ''}\n{problem.text or ''}"
    return failures


_SEEDS_FAILED = re.compile(r"^(\d+) of (\d+) seeds failed", re.MULTILINE)
_SEED_INVARIANT = re.compile(r"^  (\w+): (\d+) seeds? \(e\.g\. ([\d, ]+)\)", re.MULTILINE)


def _caught_by(node: str, message: str) -> str:
    """A failing test as the table shows it, with the simulation's seed counts."""
    shown = node.removeprefix("tests/")
    failed = _SEEDS_FAILED.search(message)
    if failed is None:
        return f"`{shown}`"
    invariants = ", ".join(
        f"{name} e.g. seed {seeds.split(',')[0]}"
        for name, _, seeds in _SEED_INVARIANT.findall(message)
    )
    return f"`{shown}` ({failed[1]} of {failed[2]} seeds: {invariants})"


def _collapse(shown: list[str]) -> list[str]:
    """Parametrized cases of one test in one entry: ``test[a]`` and ``test[b]``
    become ``test[a, b]``, or ``test (12 cases)`` when there are more than
    :data:`MAX_CASES_SHOWN` (entries with seed counts are kept as they are)."""
    cases: dict[str, list[str]] = {}
    for entry in shown:
        found = re.fullmatch(r"`([^`\[]+)\[([^`]*)\]`", entry)
        if found is None:
            cases.setdefault(entry, [])
        else:
            cases.setdefault(found[1], []).append(found[2])
    merged = []
    for key, ids in cases.items():
        if not ids:
            merged.append(key)
        elif len(ids) <= MAX_CASES_SHOWN:
            merged.append(f"`{key}[{', '.join(ids)}]`")
        else:
            merged.append(f"`{key}` ({len(ids)} cases)")
    return merged


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def run_row(source: Path, row: Row, python: str = sys.executable) -> Outcome:
    """Revert ``row``'s fix in a temporary copy of ``source``, run its tests, and say
    whether they caught it. The copy is deleted afterwards."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="revert-table-") as temporary:
        copy = Path(temporary).resolve() / "checkout"
        copy_checkout(source, copy)
        missing = missing_tests(copy, row)
        if missing:
            return Outcome(row, ERROR, detail="; ".join(missing))
        imported = _imported_from(copy, python)
        if imported != copy / "src":
            return Outcome(row, ERROR, detail=f"the copy's tests would import {imported}")
        try:
            apply_mutations(copy, row)
        except MutationError as exc:
            return Outcome(row, STALE, detail=str(exc), seconds=time.monotonic() - started)
        run = run_tests(copy, row.tests, row.pytest_args, row.timeout, python)
    seconds = time.monotonic() - started
    if run.returncode is None:
        detail = f"the tests ran past {row.timeout:g} s and were stopped"
        return Outcome(row, TIMED_OUT, detail=detail, seconds=seconds)
    if run.returncode == 0:
        return Outcome(row, UNCAUGHT, detail="every test passed", seconds=seconds)
    if run.returncode != 1 or not run.failures:
        tail = "\n".join(run.output.splitlines()[-15:])
        detail = f"pytest exited with status {run.returncode}:\n{tail}"
        return Outcome(row, ERROR, detail=detail, seconds=seconds)
    caught_by = _collapse([_caught_by(node, message) for node, message in run.failures.items()])
    detail = "\n".join(f"{node}: {_first_line(m)}" for node, m in run.failures.items())
    return Outcome(row, CAUGHT, caught_by, detail, seconds)


def run_baseline(source: Path, rows: Sequence[Row], python: str = sys.executable) -> dict[str, str]:
    """Run the rows' tests once on an unmodified copy (one run per set of extra pytest
    arguments); the tests that fail there, with their messages."""
    groups: dict[tuple[str, ...], list[str]] = {}
    timeouts: dict[tuple[str, ...], float] = {}
    for row in rows:
        tests = groups.setdefault(row.pytest_args, [])
        tests.extend(test for test in row.tests if test not in tests)
        timeouts[row.pytest_args] = timeouts.get(row.pytest_args, 0.0) + row.timeout
    failing: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="revert-table-") as temporary:
        copy = Path(temporary).resolve() / "checkout"
        copy_checkout(source, copy)
        imported = _imported_from(copy, python)
        if imported != copy / "src":
            every_test = [test for tests in groups.values() for test in tests]
            return dict.fromkeys(every_test, f"the copy's tests would import {imported}")
        for pytest_args, tests in groups.items():
            run = run_tests(copy, tests, pytest_args, timeouts[pytest_args], python)
            if run.returncode is None:
                failing.update(dict.fromkeys(tests, "the baseline run timed out"))
            elif run.returncode != 0 and not run.failures:
                tail = "\n".join(run.output.splitlines()[-15:])
                failing.update(dict.fromkeys(tests, f"pytest exited {run.returncode}: {tail}"))
            failing.update(run.failures)
    return failing


def _baseline_failures(row: Row, failing: dict[str, str]) -> list[str]:
    """The failing baseline tests that belong to ``row`` (a node id given without
    parameters stands for all its parametrized cases)."""
    found = []
    for node, message in failing.items():
        if any(node == test or node.startswith(test + "[") for test in row.tests):
            found.append(f"{node}: {_first_line(message)}")
    return found


def run_table(
    rows: Sequence[Row],
    source: Path = ROOT,
    *,
    baseline: bool = True,
    python: str = sys.executable,
    progress: bool = True,
    verbose: bool = False,
) -> list[Outcome]:
    """Run every row, one after the other; the outcomes in the rows' order.

    With ``progress``, each row's result is told on stderr as it comes (and why,
    when it is not caught); with ``verbose`` too, the failures that caught it.
    """
    failing: dict[str, str] = {}
    if baseline and rows:
        if progress:
            print("baseline: the rows' tests on the unmodified tree ...", file=sys.stderr)
        failing = run_baseline(source, rows, python)
    outcomes = []
    for number, row in enumerate(rows, 1):
        if progress:
            print(f"[{number}/{len(rows)}] {row.name} ...", end=" ", file=sys.stderr, flush=True)
        broken = _baseline_failures(row, failing)
        if broken:
            outcome = Outcome(row, ERROR, detail="fails without the revert: " + "; ".join(broken))
        else:
            outcome = run_row(source, row, python)
        outcomes.append(outcome)
        if progress:
            print(f"{outcome.result} ({outcome.seconds:.0f} s)", file=sys.stderr)
            if not outcome.ok or verbose:
                for line in outcome.detail.splitlines():
                    print(f"    {line}", file=sys.stderr)
    return outcomes


# ----------------------------------------------------------------- the table


def render_table(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as a Markdown table, and one line of totals."""
    lines = ["| Row | Reverted | Caught by | Result |", "|---|---|---|---|"]
    for outcome in outcomes:
        caught = "<br>".join(outcome.caught_by) if outcome.caught_by else "—"
        if not outcome.ok:
            caught = _one_line(outcome.detail) or caught
        result = f"{outcome.result} ({outcome.seconds:.0f} s)"
        cells = [outcome.row.name, outcome.row.describe(), caught, result]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    total = sum(outcome.seconds for outcome in outcomes)
    caught_count = sum(outcome.ok for outcome in outcomes)
    lines.append("")
    lines.append(
        f"{caught_count} of {len(outcomes)} rows caught; the rows' test runs took "
        f"{total:.0f} s in all."
    )
    return "\n".join(lines)


def update_docs(table: str, docs: Path = DOCS_FILE) -> None:
    """Put ``table`` between the markers in the reliability page."""
    text = docs.read_text(encoding="utf-8")
    start = text.find(TABLE_START)
    end = text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{docs} has no {TABLE_START!r} ... {TABLE_END!r} markers")
    before = text[: start + len(TABLE_START)]
    docs.write_text(f"{before}\n\n{table}\n\n{text[end:]}", encoding="utf-8")


def _one_line(text: str, limit: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ------------------------------------------------------------------ the command


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.revert_table",
        description="Revert each fix on its own in a temporary copy and show which tests catch it.",
    )
    parser.add_argument(
        "--row",
        action="append",
        default=[],
        metavar="TEXT",
        help="only the rows whose name contains TEXT (case-insensitive; repeatable)",
    )
    parser.add_argument("--rows-file", type=Path, default=ROWS_FILE, help="the data file")
    parser.add_argument(
        "--check", action="store_true", help="only check that every mutation still applies"
    )
    parser.add_argument("--list", action="store_true", help="list the rows and stop")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the failures that caught each row"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the run of the rows' tests on the unmodified tree",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per row, instead of each row's own"
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"write the table into {DOCS_FILE.relative_to(ROOT)} (only when every row "
        "of the data file ran)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the table; 0 when every row is caught."""
    arguments = _parse(argv)
    every_row = load_rows(arguments.rows_file)
    rows = select(every_row, arguments.row)
    if not rows:
        print(f"no row matches {arguments.row}", file=sys.stderr)
        return 1
    if arguments.timeout is not None:
        rows = [
            Row(row.name, row.mutations, row.tests, row.summary, row.pytest_args, arguments.timeout)
            for row in rows
        ]
    if arguments.list:
        for row in rows:
            print(f"{row.name}: {row.describe()}")
        return 0
    if arguments.check:
        problems = [
            f"{row.name}: {problem}"
            for row in rows
            for problem in mutation_problems(ROOT, row) + missing_tests(ROOT, row)
        ]
        print("\n".join(problems) or f"all {len(rows)} rows apply")
        return 1 if problems else 0
    started = time.monotonic()
    outcomes = run_table(rows, baseline=not arguments.no_baseline, verbose=arguments.verbose)
    table = render_table(outcomes)
    print(table)
    print(f"(the whole run took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    if arguments.update_docs:
        if len(rows) != len(every_row):
            print("--update-docs needs every row: not written", file=sys.stderr)
            return 1
        update_docs(table)
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
