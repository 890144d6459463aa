"""The documentation: every Python example runs against a real soketi, and the site builds.

Every fenced ``python`` block of ``README.md`` and of every page under ``docs/`` is
run, unless it is explicitly marked as not meant to run. Blocks are never skipped silently: a block
fenced as ``py``/``python3`` counts as Python too, and ``pycon`` transcripts are
refused (write a plain block instead).

How a page runs
    The runnable blocks of one page run in order, in one fresh Python process and one
    namespace, like cells of a notebook: a later block may use what an earlier one
    defined. A block with a top-level ``await`` runs on an event loop that the page
    keeps (as in ``python -m asyncio``); any other block runs as a script, so
    ``asyncio.run(main())`` works. Tracebacks point at the Markdown file's lines.

Where the examples connect
    Examples are written for real deployments (``cluster="eu"``,
    ``auth_endpoint="https://example.com/pusher/auth"``...). In the page's process the
    client's option parser is wrapped (once validated as written) so that they reach
    the local servers of this test instead:

    - ``cluster=`` or ``host=`` (with the ports, ``use_tls``, ``path``,
      ``ssl_context``, ``proxy`` and the transport lists) becomes the local soketi;
    - ``api_key="APP_KEY"`` becomes soketi's key (any other key is left alone, so a
      wrong key is really refused); ``secret=`` and
      ``encryption_master_key_base64=`` become soketi's;
    - ``auth_endpoint=`` and ``user_auth_endpoint=`` become the local endpoints,
      which sign with the official ``pusher`` server SDK (``devtools/auth_server.py``);
      with ``auth_batching=True``, the endpoint that answers batches.

    The environment also has ``REVERB_APP_KEY``, ``REVERB_HOST``, ``REVERB_PORT`` and
    ``REVERB_SCHEME`` pointing at the local soketi, for the Laravel Reverb examples.
    A block marked ``connect="as-written"`` is left alone: its clients connect where
    it says (to the ``PusherTestServer`` it starts itself). At the end of a page no
    client may be left connected.

Markers
    An HTML comment on the last non-blank line before a block (invisible on the site)
    tunes how it runs: ``<!-- docs-test: key=value key="a value" -->``. Keys:

    ``skip="reason"``
        The block is not run (pysher code, a file path of the reader's...). It is
        still compiled, and the reason is required.
    ``publish="channel[,channel]"``
        While the block runs (and while its output is awaited), the server SDK
        triggers ``my-event`` with ``{"message": "hello"}`` on each channel every
        0.2 s; ``event=`` and ``data=`` (JSON) change the event.
    ``send-to-user="user-id"``
        Likewise, with the server SDK's ``send_to_user``.
    ``output="text"``
        The block's output (stdout) must contain ``text``; it is waited for up to the
        timeout, also after the block returned (callbacks may print it later).
    ``until="text"``
        For examples of services that run until interrupted: as ``output``, and once
        the text has appeared the block is stopped as Ctrl-C would stop it (a
        ``KeyboardInterrupt``, which ``asyncio.run`` turns into cancelling the main
        task; a block with a top-level ``await`` has its task cancelled).
    ``timeout=seconds``
        The limit for the block (default 10): a block still running then fails.
    ``connect="as-written"``
        The block's clients are not pointed at the local servers (see above).

    A marker anywhere else (not right before a Python block), an unknown key or a
    malformed value fails ``test_every_python_block_runs_or_is_marked``.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import MASTER_KEY_BASE64, SoketiServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PYTHON_LANGUAGES = frozenset({"python", "py", "python3", "py3"})
REFUSED_LANGUAGES = frozenset({"pycon", "python-repl"})
MARKER_KEYS = frozenset(
    {"skip", "publish", "event", "data", "send-to-user", "output", "until", "timeout", "connect"}
)
DEFAULT_TIMEOUT = 10.0
PUBLISH_INTERVAL = 0.2
DOCS_USERS = {"guest": {"user_id": "guest", "user_info": {"name": "Guest"}}}


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    """One fenced Python block of a page."""

    page: str
    """The page, relative to the repository (``docs/index.md``, ``README.md``)."""
    line: int
    """The line of the opening fence (1-based)."""
    code: str
    marker: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def skipped(self) -> bool:
        return "skip" in self.marker

    @property
    def timeout(self) -> float:
        return float(self.marker.get("timeout", DEFAULT_TIMEOUT))


@dataclass
class Page:
    """The Python blocks of one page, and what is wrong with its markers."""

    name: str
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _parse_marker(text: str) -> dict[str, str]:
    """``key=value key="a value"`` into a dict; raises ``ValueError`` when malformed."""
    marker: dict[str, str] = {}
    for token in shlex.split(text):
        key, equals, value = token.partition("=")
        if not equals or key not in MARKER_KEYS:
            raise ValueError(f"unknown marker entry {token!r} (keys: {sorted(MARKER_KEYS)})")
        if key in marker:
            raise ValueError(f"marker key {key!r} given twice")
        marker[key] = value
    if "skip" in marker:
        if not marker["skip"].strip():
            raise ValueError('skip needs a reason: skip="why this block is not run"')
        if len(marker) > 1:
            raise ValueError("a skipped block takes no other marker key")
    if "output" in marker and "until" in marker:
        raise ValueError("give output= or until=, not both")
    if "timeout" in marker:
        float(marker["timeout"])
    if "data" in marker:
        json.loads(marker["data"])
    if marker.get("connect", "as-written") != "as-written":
        raise ValueError('connect takes one value: connect="as-written"')
    return marker


_MARKER_START = "<!-- docs-test:"


@dataclass
class _Fence:
    """A fenced code block: where it starts, its language and its dedented lines."""

    line: int
    language: str
    body: list[str]
    end: int
    """The index of the line after the closing fence."""


def _read_fence(lines: list[str], index: int) -> _Fence:
    """Read the fenced block that opens at ``lines[index]``."""
    line = lines[index]
    stripped = line.strip()
    char = stripped[0]
    opening = stripped[: len(stripped) - len(stripped.lstrip(char))]
    info = stripped[len(opening) :].strip()
    language = info.split()[0].strip("{}.").lower() if info else ""
    indent = len(line) - len(line.lstrip())
    body: list[str] = []
    end = index + 1
    while end < len(lines):
        text = lines[end]
        closing = text.strip()
        if closing.startswith(opening) and not closing.strip(char):
            break
        body.append(text[indent:] if not text[:indent].strip() else text.lstrip())
        end += 1
    return _Fence(index + 1, language, body, end + 1)


def _add_block(page: Page, fence: _Fence, marker_text: str | None) -> None:
    """Record a fenced block of the page, or what is wrong with it."""
    where = f"{page.name}:{fence.line}"
    if fence.language in REFUSED_LANGUAGES:
        page.problems.append(f"{where}: a {fence.language} transcript cannot run; use python")
        return
    if fence.language not in PYTHON_LANGUAGES:
        if marker_text is not None:
            page.problems.append(f"{where}: a marker before a {fence.language or 'plain'} block")
        return
    block = Block(page.name, fence.line, "\n".join(fence.body))
    if marker_text is not None:
        content = marker_text[len(_MARKER_START) :].rstrip()
        if not content.endswith("-->"):
            page.problems.append(f"{where}: the marker must fit on one line")
        else:
            try:
                block.marker = _parse_marker(content[:-3])
            except ValueError as exc:
                page.problems.append(f"{where}: {exc}")
    page.blocks.append(block)


def parse_page(path: Path, root: Path = ROOT) -> Page:
    """Find the fenced Python blocks of a Markdown page and the markers before them."""
    page = Page(path.relative_to(root).as_posix())
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    last_text: tuple[int, str] | None = None  # the last non-blank line outside code
    unused_markers: list[int] = []
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith(("```", "~~~")):
            fence = _read_fence(lines, index)
            marker_text = None
            if last_text is not None and last_text[1].startswith(_MARKER_START):
                marker_text = last_text[1]
                unused_markers.remove(last_text[0])
            _add_block(page, fence, marker_text)
            last_text = None
            index = fence.end
            continue
        if stripped:
            last_text = (index + 1, stripped)
            if stripped.startswith(_MARKER_START):
                unused_markers.append(index + 1)
        index += 1
    for number in unused_markers:
        page.problems.append(f"{page.name}:{number}: a marker that is not before a block")
    return page


def all_pages() -> list[Page]:
    """The README and every Markdown page under ``docs/``, parsed."""
    return [parse_page(path) for path in [README, *sorted(DOCS.rglob("*.md"))]]


PAGES = all_pages()
RUNNABLE = [page for page in PAGES if any(not b.skipped for b in page.blocks)]


# ----------------------------------------------------------------------- the tests


def test_every_python_block_runs_or_is_marked() -> None:
    problems = [problem for page in PAGES for problem in page.problems]
    assert problems == [], "\n".join(problems)
    blocks = [block for page in PAGES for block in page.blocks]
    assert len(blocks) >= 40, "the docs lost most of their examples"
    for block in blocks:
        try:
            compile(
                "\n" * block.line + block.code,
                block.where,
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST,
            )
        except SyntaxError as exc:
            pytest.fail(f"{block.where}: not valid Python 3.11: {exc}")
    skipped = [block for block in blocks if block.skipped]
    assert len(skipped) < len(blocks) / 2, "most examples must run"
    readme = [block for block in blocks if block.page == "README.md"]
    assert len(readme) >= 5, "the README's examples are run too"
    assert not any(block.skipped for block in readme), "every README example runs"


@pytest.fixture(scope="module")
def docs_soketi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoketiServer]:
    """A soketi for the docs: client events and user authentication (sign-in) on."""
    server = SoketiServer(
        log_path=tmp_path_factory.mktemp("docs-soketi") / "soketi.log",
        extra_env={
            "SOKETI_DEFAULT_APP_USER_AUTHENTICATION": "true",
            "SOKETI_USER_AUTHENTICATION_TIMEOUT": "600000",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def docs_auth(docs_soketi: SoketiServer) -> Iterator[AuthServer]:
    """The local authorization and user-authentication endpoints for the docs."""
    server = AuthServer(docs_soketi.server_sdk(), users=dict(DOCS_USERS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("page", RUNNABLE, ids=[page.name for page in RUNNABLE])
def test_page_examples_run(page: Page, docs_soketi: SoketiServer, docs_auth: AuthServer) -> None:
    servers = {
        "key": docs_soketi.key,
        "secret": docs_soketi.secret,
        "app_id": docs_soketi.app_id,
        "port": docs_soketi.port,
        "master_key": MASTER_KEY_BASE64,
        "auth_url": docs_auth.url,
        "batch_auth_url": docs_auth.batch_url,
        "user_auth_url": docs_auth.user_auth_url,
    }
    job = {
        "servers": servers,
        "blocks": [asdict(block) for block in page.blocks if not block.skipped],
    }
    env = dict(os.environ)
    env.update(
        REVERB_APP_KEY=docs_soketi.key,
        REVERB_HOST="127.0.0.1",
        REVERB_PORT=str(docs_soketi.port),
        REVERB_SCHEME="http",
        PYTHONUNBUFFERED="1",
    )
    limit = sum(block.timeout for block in page.blocks if not block.skipped) + 20
    result = subprocess.run(
        [sys.executable, "-m", "tests.test_docs"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=limit,
        check=False,
    )
    assert result.returncode == 0, (
        f"examples of {page.name} failed\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: no broken link, no page left out, API pages render."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "site" / "reference" / "client" / "index.html").read_text()
    assert "PusherChannelsClient" in reference
    assert "subscribe" in reference


def test_markers_are_checked(tmp_path: Path) -> None:
    """The parser refuses what would let a block be skipped silently or run wrongly."""
    probe = tmp_path / "probe.md"
    probe.write_text(
        "<!-- docs-test: skip -->\n```python\nx = 1\n```\n\n"
        "```pycon\n>>> 1\n```\n\n"
        "<!-- docs-test: colour=blue -->\n\n```python\nx = 2\n```\n\n"
        "<!-- docs-test: output=x -->\n\n```sh\necho\n```\n\n"
        "<!-- docs-test: output=x -->\n\ntext\n\n```python\nx = 3\n```\n\n"
        "<!-- docs-test: connect=elsewhere -->\n```python\nx = 4\n```\n\n"
        '<!-- docs-test: output="printed" timeout=3 -->\n\n'
        '    ```py title="indented"\n    print("printed")\n    ```\n',
        encoding="utf-8",
    )
    page = parse_page(probe, root=tmp_path)
    assert len(page.problems) == 6, page.problems
    assert any("connect takes one value" in problem for problem in page.problems)
    assert [block.line for block in page.blocks] == [2, 12, 26, 31, 37]
    assert [block.skipped for block in page.blocks] == [False] * 5
    assert page.blocks[4].marker == {"output": "printed", "timeout": "3"}
    assert page.blocks[4].code == 'print("printed")'


# ------------------------------------------------------------- the page's process


class _Tee:
    """``sys.stdout`` for the page: written through, and kept to be searched."""

    def __init__(self, real: TextIO) -> None:
        self._real = real
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
            self._real.write(text)
        return len(text)

    def flush(self) -> None:
        self._real.flush()

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _redirect(values: dict[str, Any], servers: dict[str, Any]) -> dict[str, Any]:
    """The options of an example, pointed at the local servers (unless it says not to)."""
    values = dict(values)
    if servers.get("as_written"):
        return values
    if values.get("cluster") or values.get("host"):
        for name in (
            "cluster",
            "host",
            "ws_port",
            "wss_port",
            "use_tls",
            "path",
            "ssl_context",
            "proxy",
            "enabled_transports",
            "disabled_transports",
        ):
            values.pop(name, None)
        values.update(host="127.0.0.1", ws_port=servers["port"], use_tls=False)
    if values.get("api_key") == "APP_KEY":
        values["api_key"] = servers["key"]
    if values.get("secret") is not None:
        values["secret"] = servers["secret"]
    if values.get("encryption_master_key_base64") is not None:
        values["encryption_master_key_base64"] = servers["master_key"]
    if values.get("auth_endpoint") is not None:
        batched = values.get("auth_batching")
        values["auth_endpoint"] = servers["batch_auth_url" if batched else "auth_url"]
    if values.get("user_auth_endpoint") is not None:
        values["user_auth_endpoint"] = servers["user_auth_url"]
    return values


class _Publisher:
    """Triggers events with the server SDK while a block runs."""

    def __init__(self, block: Block, servers: dict[str, Any]) -> None:
        import pusher

        self._sdk = pusher.Pusher(
            app_id=servers["app_id"],
            key=servers["key"],
            secret=servers["secret"],
            host="127.0.0.1",
            port=servers["port"],
            ssl=False,
            encryption_master_key_base64=servers["master_key"],
        )
        marker = block.marker
        self._channels = [c for c in marker.get("publish", "").split(",") if c]
        self._users = [u for u in marker.get("send-to-user", "").split(",") if u]
        self._event = marker.get("event", "my-event")
        self._data = json.loads(marker.get("data", '{"message": "hello"}'))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docs publisher", daemon=True)
        self.errors: list[str] = []

    @property
    def needed(self) -> bool:
        return bool(self._channels or self._users)

    def start(self) -> None:
        if self.needed:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            try:
                for channel in self._channels:
                    self._sdk.trigger(channel, self._event, self._data)
                for user in self._users:
                    self._sdk.send_to_user(user, self._event, self._data)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            if self._stop.wait(PUBLISH_INTERVAL):
                return


class _Stopper:
    """Stops a running block from the watcher thread, as Ctrl-C would."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self.task: asyncio.Task[Any] | None = None
        self.running = False
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        with self._lock:
            if not self.running or self.reason is not None:
                return
            self.reason = reason
            task = self.task
            if task is not None:
                self._loop.call_soon_threadsafe(task.cancel)
            else:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def finished(self) -> None:
        with self._lock:
            self.running = False


def _execute(
    block: Block, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop, stopper: _Stopper
) -> str | None:
    """Run the block's code: on the page's loop if it awaits, else as a script."""
    source = "\n" * block.line + block.code  # so that tracebacks give the page's lines
    code = compile(source, str(ROOT / block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    stopper.running = True
    try:
        try:
            if code.co_flags & inspect.CO_COROUTINE:
                stopper.task = loop.create_task(eval(code, namespace))
                loop.run_until_complete(stopper.task)
            else:
                exec(code, namespace)
        finally:
            stopper.finished()
    except (KeyboardInterrupt, asyncio.CancelledError):
        if stopper.reason is None:
            return f"{block.where}: interrupted\n{traceback.format_exc()}"
    except BaseException:
        return f"{block.where}: raised\n{traceback.format_exc()}"
    if stopper.reason == "timeout":
        return f"{block.where}: still running after {block.timeout:g} s"
    return None


def _run_block(
    block: Block,
    namespace: dict[str, Any],
    loop: asyncio.AbstractEventLoop,
    tee: _Tee,
    servers: dict[str, Any],
) -> str | None:
    """Run one block with its marker's publisher and checks; return what went wrong."""
    wanted = block.marker.get("until", block.marker.get("output"))
    stops = "until" in block.marker
    deadline = time.monotonic() + block.timeout
    start = len(tee.text())
    stopper = _Stopper(loop)
    publisher = _Publisher(block, servers)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            if stops and wanted is not None and wanted in tee.text()[start:]:
                stopper.stop("output")
            elif time.monotonic() > deadline:
                stopper.stop("timeout")

    print(f"----- {block.where}", file=sys.stderr, flush=True)
    servers["as_written"] = block.marker.get("connect") == "as-written"
    watcher = threading.Thread(target=watch, name="docs watcher", daemon=True)
    publisher.start()
    watcher.start()
    failure = _execute(block, namespace, loop, stopper)
    # Callbacks may print what is awaited after the block returned: let the loop run.
    while failure is None and wanted is not None and wanted not in tee.text()[start:]:
        if time.monotonic() > deadline:
            failure = f"{block.where}: no {wanted!r} in the output within {block.timeout:g} s"
        else:
            loop.run_until_complete(asyncio.sleep(0.02))
    done.set()
    watcher.join()
    publisher.stop()
    if failure is None and publisher.errors:
        failure = f"{block.where}: the server SDK failed: {publisher.errors[0]}"
    return failure


def _run_page(job: dict[str, Any]) -> int:
    """Run a page's blocks in order in this process; the exit status says if all passed."""
    # Blocks that run until interrupted are stopped with SIGINT, as Ctrl-C would. A
    # process started in the background by a shell without job control inherits
    # SIGINT ignored, and asyncio.run() then leaves it so: restore Python's default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import pusher_channels.client as client_module
    from pusher_channels import ConnectionState, PusherChannelsClient

    servers = job["servers"]
    original_parse = getattr(client_module, "parse_options")  # noqa: B009
    clients: list[PusherChannelsClient] = []

    def parse_options(values: Any) -> Any:
        original_parse(values)  # the example's options must be valid as written
        return original_parse(_redirect(dict(values), servers))

    original_install = PusherChannelsClient._install

    def install(self: PusherChannelsClient, options: Any) -> None:
        clients.append(self)
        original_install(self, options)

    setattr(client_module, "parse_options", parse_options)  # noqa: B010
    setattr(PusherChannelsClient, "_install", install)  # noqa: B010

    tee = _Tee(sys.stdout)
    sys.stdout = tee
    loop = asyncio.new_event_loop()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    failures: list[str] = []
    for raw in job["blocks"]:
        block = Block(**raw)
        try:
            failure = _run_block(block, namespace, loop, tee, servers)
        except KeyboardInterrupt:  # a stop signal that arrived as the block ended
            failure = None
        if failure is not None:
            failures.append(failure)
            break
    leftovers = [c for c in clients if c.connection_state is not ConnectionState.DISCONNECTED]
    if not failures and leftovers:
        failures.append(
            f"{len(leftovers)} client(s) still connected at the end of the page: "
            "its examples must disconnect what they connect"
        )
    with contextlib.suppress(Exception):
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    sys.stdout = tee._real
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_run_page(json.load(sys.stdin)))
