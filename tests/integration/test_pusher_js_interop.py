"""Interop with the official pusher-js on Node, in one presence channel with this library.

pusher-js runs in ``devtools/pusher_js_peer.js`` as a subprocess that reports what it
sees as JSON lines and takes commands on stdin. If Node or pusher-js is missing the
test fails, it never skips: ``npm ci`` in ``devtools/`` installs pusher-js. The same
exchange runs through soketi and through ``PusherTestServer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pusher
import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import PusherChannel, PusherChannelsClient
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import Recorder, wait_until

DEVTOOLS = Path(__file__).resolve().parents[2] / "devtools"
PEER_SCRIPT = DEVTOOLS / "pusher_js_peer.js"
PUSHER_JS_PACKAGE = DEVTOOLS / "node_modules" / "pusher-js" / "package.json"

Message = dict[str, Any]


def node_and_pusher_js() -> tuple[str, str]:
    """Node's path and pusher-js's version; fails the test (never skips) if either is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the pusher-js interop test needs it (Node 20)")
    if not PUSHER_JS_PACKAGE.exists():
        pytest.fail(
            f"pusher-js is not installed ({PUSHER_JS_PACKAGE} is missing): run 'npm ci' in "
            f"{DEVTOOLS}"
        )
    version = str(json.loads(PUSHER_JS_PACKAGE.read_text(encoding="utf-8"))["version"])
    return node, version


class JsPeer:
    """The pusher-js peer process: its JSON lines as they arrive, and commands to send."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.messages: list[Message] = []
        self.stderr: list[str] = []
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode("utf-8").strip()
            if line:
                try:
                    self.messages.append(json.loads(line))
                except json.JSONDecodeError:
                    self.messages.append({"type": "not-json", "line": line})

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.stderr.append(raw.decode("utf-8", "replace").rstrip())

    def of_type(self, kind: str) -> list[Message]:
        """The messages of one ``type``, in order."""
        return [m for m in self.messages if m.get("type") == kind]

    def describe(self) -> str:
        """Everything the peer said, for assertion messages."""
        return f"pusher-js said {self.messages}; stderr {self.stderr}"

    async def wait_for(
        self, condition: Callable[[], bool], what: str, timeout: float = 10.0
    ) -> None:
        """Wait until ``condition()`` holds, failing with the peer's output after ``timeout``."""
        try:
            await wait_until(condition, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {self.describe()}") from None

    async def send(self, command: Message) -> None:
        """Write one command line to the peer's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode("utf-8"))
        await asyncio.wait_for(self.process.stdin.drain(), timeout=5)

    async def trigger(self, event: str, data: Any) -> None:
        """Have pusher-js ``channel.trigger(event, data)`` and wait until it did."""
        done = len([m for m in self.of_type("triggered") if m["event"] == event])
        await self.send({"cmd": "trigger", "event": event, "data": data})
        await self.wait_for(
            lambda: len([m for m in self.of_type("triggered") if m["event"] == event]) > done,
            what=f"pusher-js to trigger {event}",
        )

    async def close(self) -> None:
        """Kill the process by its PID if it still runs, and stop reading it."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Endpoint:
    """The server both clients meet on, and the authorization endpoint signing for it."""

    key: str
    port: int
    client_options: dict[str, Any]
    auth_server: AuthServer


@pytest.fixture(params=["soketi", "test-server"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """soketi (the session's), or a PusherTestServer of the test's own."""
    if request.param == "soketi":
        soketi: SoketiServer = request.getfixturevalue("soketi")
        auth: AuthServer = request.getfixturevalue("auth_server")
        yield Endpoint(soketi.key, soketi.port, dict(soketi.client_options()), auth)
        return
    with PusherTestServer() as server:
        auth = AuthServer(pusher.Pusher(**server.sdk_kwargs()))
        auth.start()
        try:
            yield Endpoint(server.key, server.port, server.client_kwargs(), auth)
        finally:
            auth.stop()


@contextlib.asynccontextmanager
async def js_peer(
    endpoint: Endpoint, user: str, channel: str, events: list[str]
) -> AsyncIterator[JsPeer]:
    """Start the pusher-js peer for ``user`` in ``channel``; kill it by PID on the way out."""
    node, _ = node_and_pusher_js()
    process = await asyncio.create_subprocess_exec(
        node,
        str(PEER_SCRIPT),
        "--key",
        endpoint.key,
        "--host",
        "127.0.0.1",
        "--port",
        str(endpoint.port),
        "--auth-endpoint",
        endpoint.auth_server.url,
        "--user",
        user,
        "--channel",
        channel,
        "--events",
        ",".join(events),
        "--max-seconds",
        "60",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=DEVTOOLS,
    )
    peer = JsPeer(process)
    try:
        yield peer
    finally:
        await peer.close()


FROM_PYTHON = {"text": "héllo ✓ from python", "n": [1, 2.5, {"deep": True}], "none": None}
FROM_JS = {"text": "grüße from node ✓", "list": [1, "two", {"three": 3}], "flag": False}
USERS = {
    "py-1": {"user_id": "py-1", "user_info": {"name": "Python One"}},
    "py-2": {"user_id": "py-2", "user_info": {"name": "Python Two", "tags": ["b"]}},
    "js-1": {"user_id": "js-1", "user_info": {"name": "JS"}},
}


@dataclass
class PythonPeer:
    """One client of this library in the channel: what it recorded and its channel."""

    log: Recorder
    channel: PusherChannel

    @property
    def member_ids(self) -> set[str]:
        """The user ids in the channel's ``members``."""
        return set(self.channel.members)


async def python_joins(client: PusherChannelsClient, log: Recorder, name: str) -> PythonPeer:
    """Subscribe ``client`` to ``name`` and wait until it has."""
    channel = await client.subscribe(name)
    await wait_until(lambda: channel.subscribed, what=f"{name} subscribed")
    return PythonPeer(log, channel)


async def check_js_joins(js: JsPeer, one: PythonPeer, auth_server: AuthServer) -> None:
    """pusher-js joins after py-1: it sees py-1 and itself; py-1 sees it arrive."""
    name = one.channel.channel_name
    await js.wait_for(lambda: bool(js.of_type("subscribed")), what="pusher-js subscribed")
    [subscribed] = js.of_type("subscribed")
    assert subscribed["me"] == "js-1"
    assert set(subscribed["members"]) == {"py-1", "js-1"}
    assert subscribed["info"]["py-1"] == {"name": "Python One"}
    await wait_until(lambda: len(one.log.members_added) == 1, what="js-1 joins for py-1")
    assert one.log.members_added[0][0] == name
    assert one.log.members_added[0][1].user_id == "js-1"
    assert one.log.members_added[0][1].user_info == {"name": "JS"}
    assert one.member_ids == {"py-1", "js-1"}
    [js_auth] = [r for r in auth_server.requests_for(name) if r.form["user"] == "js-1"]
    assert js_auth.headers["content-type"] == "application/x-www-form-urlencoded"


async def check_py2_joins(js: JsPeer, one: PythonPeer, two: PythonPeer) -> None:
    """py-2 joins last: everyone sees everyone."""
    assert two.channel.me is not None
    assert two.channel.me.user_id == "py-2"
    assert two.member_ids == {"py-1", "py-2", "js-1"}
    assert two.channel.members["js-1"].user_info == {"name": "JS"}
    await js.wait_for(lambda: bool(js.of_type("member_added")), what="pusher-js sees py-2 join")
    assert js.of_type("member_added") == [
        {"type": "member_added", "user_id": "py-2", "user_info": USERS["py-2"]["user_info"]}
    ]
    await wait_until(lambda: len(one.log.members_added) == 2, what="py-2 joins for py-1")
    assert one.log.members_added[1][1].user_id == "py-2"
    assert one.member_ids == {"py-1", "py-2", "js-1"}


async def check_python_to_js(js: JsPeer, one: PythonPeer, two: PythonPeer) -> None:
    """Python client events reach pusher-js, whose metadata.user_id names the sender."""
    await one.channel.trigger(event_name="client-from-python", data=FROM_PYTHON)
    await two.channel.trigger(event_name="client-from-python", data={"from": "py-2"})
    await one.channel.trigger(event_name="client-plain", data="just a string")

    def js_events(event: str) -> list[Message]:
        return [m for m in js.of_type("event") if m["event"] == event]

    await js.wait_for(
        lambda: len(js_events("client-from-python")) == 2 and len(js_events("client-plain")) == 1,
        what="pusher-js receives the Python client events",
    )
    by_sender = {m["user_id"]: m for m in js_events("client-from-python")}
    assert set(by_sender) == {"py-1", "py-2"}
    assert by_sender["py-1"]["data"] == FROM_PYTHON
    assert by_sender["py-1"]["bound"] is True
    assert by_sender["py-2"]["data"] == {"from": "py-2"}
    [plain] = js_events("client-plain")
    assert plain["user_id"] == "py-1"
    assert plain["data"] == "just a string"


async def check_js_to_python(js: JsPeer, one: PythonPeer, two: PythonPeer) -> None:
    """pusher-js client events reach both Python clients with ``user_id == "js-1"``."""
    await js.trigger("client-from-js", FROM_JS)
    await js.trigger("client-plain", "plain text from node")
    await wait_until(
        lambda: all(
            len(peer.log.events_named("client-from-js")) == 1
            and any(e.user_id == "js-1" for e in peer.log.events_named("client-plain"))
            for peer in (one, two)
        ),
        what="both Python clients receive the pusher-js client events",
    )
    for peer in (one, two):
        [event] = peer.log.events_named("client-from-js")
        assert event.channel_name == one.channel.channel_name
        assert event.user_id == "js-1"
        assert event.json() == FROM_JS
        # pusher-js sends the object itself; data is its JSON text, as the seed says.
        assert isinstance(event.data, str)
        assert json.loads(event.data) == FROM_JS
        [plain] = [e for e in peer.log.events_named("client-plain") if e.user_id == "js-1"]
        assert plain.data == "plain text from node"
    # The Python clients hear each other too; nobody hears itself.
    assert [e.user_id for e in two.log.events_named("client-from-python")] == ["py-1"]
    assert two.log.events_named("client-from-python")[0].json() == FROM_PYTHON
    assert [e.user_id for e in one.log.events_named("client-from-python")] == ["py-2"]
    assert [e.user_id for e in two.log.events_named("client-plain")] == ["py-1", "js-1"]


async def check_py2_leaves(js: JsPeer, one: PythonPeer, two: PythonPeer) -> None:
    """py-2 unsubscribes: pusher-js and py-1 see it go."""
    await two.channel.unsubscribe()
    await js.wait_for(lambda: bool(js.of_type("member_removed")), what="pusher-js sees py-2 go")
    assert js.of_type("member_removed") == [
        {"type": "member_removed", "user_id": "py-2", "user_info": USERS["py-2"]["user_info"]}
    ]
    await wait_until(lambda: len(one.log.members_removed) == 1, what="py-2 leaves for py-1")
    assert one.log.members_removed[0][0] == one.channel.channel_name
    assert one.log.members_removed[0][1].user_id == "py-2"
    assert one.member_ids == {"py-1", "js-1"}


async def check_js_leaves(js: JsPeer, one: PythonPeer) -> None:
    """pusher-js disconnects and exits 0: py-1 sees it go."""
    await js.send({"cmd": "quit"})
    await wait_until(lambda: len(one.log.members_removed) == 2, what="js-1 leaves for py-1")
    assert one.log.members_removed[1][1].user_id == "js-1"
    assert one.log.members_removed[1][1].user_info == {"name": "JS"}
    assert one.member_ids == {"py-1"}
    exit_code = await asyncio.wait_for(js.process.wait(), timeout=10)
    assert exit_code == 0, js.describe()
    assert js.of_type("error") == [], js.describe()
    assert js.of_type("not-json") == [], js.describe()
    assert [m["user_id"] for m in js.of_type("member_added")] == ["py-2"]
    assert js.of_type("bye") == [{"type": "bye", "reason": "quit"}]


async def test_presence_interop_with_pusher_js(endpoint: Endpoint) -> None:
    _, pusher_js_version = node_and_pusher_js()
    name = f"presence-interop-{int(time.time() * 1000) % 10_000_000}"
    auth_server = endpoint.auth_server
    auth_server.users = USERS

    def client_for(user: str, recorder: Recorder) -> PusherChannelsClient:
        return PusherChannelsClient(
            **endpoint.client_options,
            auth_endpoint=auth_server.url,
            auth_params={"params": {"user": user}},
            **recorder.callbacks(),
        )

    started = time.monotonic()
    one_log, two_log = Recorder(), Recorder()
    async with client_for("py-1", one_log) as client_one:
        one = await python_joins(client_one, one_log, name)
        assert one.channel.me is not None
        assert one.channel.me.user_id == "py-1"
        assert one.member_ids == {"py-1"}
        bound = ["client-from-python", "client-plain"]
        async with js_peer(endpoint, "js-1", name, bound) as js:
            await check_js_joins(js, one, auth_server)
            async with client_for("py-2", two_log) as client_two:
                two = await python_joins(client_two, two_log, name)
                await check_py2_joins(js, one, two)
                await check_python_to_js(js, one, two)
                await check_js_to_python(js, one, two)
                await check_py2_leaves(js, one, two)
            await check_js_leaves(js, one)

    assert one_log.errors == two_log.errors == []
    assert one_log.subscription_errors == two_log.subscription_errors == []
    assert two_log.members_removed == []  # py-2 left before anyone else did
    print(
        f"pusher-js {pusher_js_version} interop in a presence channel: "
        f"{time.monotonic() - started:.2f} s"
    )
