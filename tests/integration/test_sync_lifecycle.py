"""The blocking facade's shutdown, against a real soketi: every wait ends.

``disconnect()`` returns promptly from any thread (the caller's, the callback
thread, an authorizer's thread), a blocking call still waiting when the client
stops ends instead of hanging, and no thread of the client is left behind.

Every scenario that used to hang runs in a thread joined with a bound, so that a
regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from devtools.soketi import SoketiServer

from pusher_channels import ConnectionState, PusherConnectionError, PusherError, PusherEvent
from pusher_channels.sync import PusherChannelsClient
from pusher_channels.testing import PusherTestServer
from tests.support.collection import only_explicit_collections, record_stream_closes

pytestmark = pytest.mark.timeout(60)

# Against a local soketi the polite close takes milliseconds: a disconnect() that
# returns within this bound did not wait for anybody's thread.
PROMPTLY = 2.0
# How long a scenario that used to hang may run before the test calls it a hang.
HANG = 10.0


def client_thread_names() -> set[str]:
    """The names of the threads every blocking client runs: its loop and its callbacks."""
    return {
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("pusher-channels-")
        and thread.name.endswith((" loop", " callbacks"))
    }


def wait_for(condition: Callable[[], bool], timeout: float = HANG, what: str = "") -> None:
    """Poll ``condition`` from this thread, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def no_client_thread_is_left(before: set[str], timeout: float = PROMPTLY) -> None:
    wait_for(lambda: client_thread_names() <= before, timeout, "the client's threads to end")


class Bounded:
    """A call run in a daemon thread of its own, so that a hang cannot hang the test."""

    def __init__(self, function: Callable[[], Any], name: str) -> None:
        self.function = function
        self.result: Any = None
        self.error: BaseException | None = None
        self.elapsed: float | None = None
        self.ended = 0.0
        self._thread = threading.Thread(target=self._run, name=f"test {name}", daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        try:
            self.result = self.function()
        except BaseException as exc:
            self.error = exc
        self.ended = time.monotonic()
        self.elapsed = self.ended - start

    def start(self) -> Bounded:
        self._thread.start()
        return self

    def join(self, timeout: float = HANG) -> float:
        """Wait for the call; fail the test if it is still blocked after ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"{self._thread.name} still blocked after {timeout:g} s (a hang)")
        assert self.elapsed is not None
        return self.elapsed


def bounded(function: Callable[[], Any], name: str, timeout: float = HANG) -> float:
    """Run ``function`` with a bound; return how long it took, raise what it raised."""
    call = Bounded(function, name).start()
    elapsed = call.join(timeout)
    if call.error is not None:
        raise call.error
    return elapsed


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """What any thread let escape while the test ran (a worker answering too late...)."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: what the test's slow callbacks wait for."""
    event = threading.Event()
    yield event
    event.set()


# ------------------------------------------------------------ Bug A: shutdown


def test_disconnect_from_inside_on_authorizer_returns(soketi: SoketiServer) -> None:
    """The authorizer's thread is not one that the shutdown waits for."""
    before = client_thread_names()
    returned = threading.Event()
    client: PusherChannelsClient

    def on_authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        client.disconnect()
        returned.set()
        raise PermissionError("disconnected instead")

    client = PusherChannelsClient(**soketi.client_options(), on_authorizer=on_authorizer)
    client.connect(timeout=10)
    client.subscribe("private-sync-authorizer-disconnects")
    assert returned.wait(HANG), "disconnect() called inside on_authorizer never returned"
    assert client.connection_state is ConnectionState.DISCONNECTED
    no_client_thread_is_left(before)


def test_slow_authorizer_does_not_hold_disconnect(
    soketi: SoketiServer, release: threading.Event, thread_errors: list[BaseException | None]
) -> None:
    """Its answer, once it comes, is discarded; nothing waits for its thread."""
    before = client_thread_names()
    asked = threading.Event()
    answered = threading.Event()

    def on_authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        asked.set()
        release.wait(HANG * 3)
        answered.set()
        return {"auth": "too:late"}

    client = PusherChannelsClient(
        **soketi.client_options(), on_authorizer=on_authorizer, auth_timeout=1
    )
    client.connect(timeout=10)
    client.subscribe("private-sync-slow-authorizer")
    assert asked.wait(HANG)
    elapsed = bounded(client.disconnect, "disconnect()")
    assert elapsed < PROMPTLY, f"disconnect() waited {elapsed:.1f} s for the authorizer"
    assert client.connection_state is ConnectionState.DISCONNECTED
    no_client_thread_is_left(before)
    release.set()
    assert answered.wait(PROMPTLY)
    time.sleep(0.2)  # the late answer reaches the stopped client, which ignores it
    assert thread_errors == []


def test_signin_in_a_callback_ends_when_another_thread_disconnects(
    soketi: SoketiServer, release: threading.Event
) -> None:
    """A callback blocked in signin() is woken, so the shutdown can join its thread."""
    before = client_thread_names()
    authenticating = threading.Event()
    outcome: list[Any] = []
    client: PusherChannelsClient

    def on_user_authenticator(socket_id: str, options: Any) -> dict[str, Any]:
        authenticating.set()
        release.wait(HANG * 3)
        raise PermissionError("too late")

    def on_subscription_succeeded(channel_name: str, data: Any) -> None:
        try:
            outcome.append(client.signin())
        except PusherError as exc:
            outcome.append(exc)

    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_timeout=30,
        on_user_authenticator=on_user_authenticator,
        on_subscription_succeeded=on_subscription_succeeded,
    )
    client.connect(timeout=10)
    client.subscribe("sync-signin-in-callback")
    assert authenticating.wait(HANG)
    elapsed = bounded(client.disconnect, "disconnect()")
    assert elapsed < PROMPTLY, f"disconnect() took {elapsed:.1f} s"
    assert len(outcome) == 1
    assert outcome[0] is None or isinstance(outcome[0], PusherError), outcome
    no_client_thread_is_left(before)


def test_disconnect_in_a_callback_ends_a_signin_waiting_in_the_main_thread(
    soketi: SoketiServer, release: threading.Event
) -> None:
    """From the callback thread too: the waiting call ends, disconnect() returns."""
    before = client_thread_names()
    authenticating = threading.Event()
    disconnected_in: list[float] = []
    client: PusherChannelsClient

    def on_user_authenticator(socket_id: str, options: Any) -> dict[str, Any]:
        authenticating.set()
        release.wait(HANG * 3)
        raise PermissionError("too late")

    def on_event(event: PusherEvent) -> None:
        start = time.monotonic()
        client.disconnect()
        disconnected_in.append(time.monotonic() - start)

    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_timeout=30,
        on_event=on_event,
        on_user_authenticator=on_user_authenticator,
    )
    channel = client.subscribe("sync-disconnect-in-callback")
    client.connect(timeout=10)
    wait_for(lambda: channel.subscribed, what="the subscription")
    signin = Bounded(client.signin, "signin()").start()
    assert authenticating.wait(HANG)
    soketi.server_sdk().trigger("sync-disconnect-in-callback", "stop", {})
    signin.join()
    assert signin.result is None or isinstance(signin.error, PusherError), (
        signin.result,
        signin.error,
    )
    wait_for(lambda: bool(disconnected_in), what="disconnect() in the callback to return")
    assert disconnected_in[0] < PROMPTLY
    assert client.connection_state is ConnectionState.DISCONNECTED
    no_client_thread_is_left(before)


def hold_the_loop_stop_open(client: PusherChannelsClient, seconds: float) -> threading.Event:
    """Put a task on the client's loop that takes ``seconds`` to end once cancelled,
    so that stopping the loop lasts that long; the event is set when the stop begins.

    (Nothing public leaves such a task: this is how a test holds the stop open.)
    """
    stopping = threading.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                await asyncio.sleep(until - time.monotonic())
            except asyncio.CancelledError:
                continue  # cancelled again: still ending

    async def start() -> None:
        asyncio.get_running_loop().create_task(slow_to_end())

    client._loop_thread.run(start())
    return stopping


def test_disconnect_in_a_callback_while_another_thread_stops_the_client(
    soketi: SoketiServer,
) -> None:
    """Found by the simulation: a callback's disconnect() racing the main thread's.

    While one thread stops the client, another's disconnect() returns at once, and
    its blocking calls are refused at once with PusherConnectionError, instead of
    being run on the loop being stopped (or on a new loop) or waiting on it.
    """
    before = client_thread_names()
    in_callback = threading.Event()
    stop_under_way = threading.Event()
    seen: list[Any] = []
    client: PusherChannelsClient

    def on_event(event: PusherEvent) -> None:
        in_callback.set()
        stop_under_way.wait(HANG)
        started = time.monotonic()
        client.disconnect()
        seen.append(time.monotonic() - started)
        try:
            client.subscribe("sync-race-too-late")
        except PusherConnectionError as exc:
            seen.append(exc)
        else:
            seen.append("subscribed while the client was being stopped")

    client = PusherChannelsClient(**soketi.client_options(), on_event=on_event)
    channel = client.subscribe("sync-race")
    client.connect(timeout=10)
    wait_for(lambda: channel.subscribed, what="the subscription")
    soketi.server_sdk().trigger("sync-race", "stop", {})
    assert in_callback.wait(HANG)
    loop_stopping = hold_the_loop_stop_open(client, 0.4)
    main = Bounded(client.disconnect, "disconnect() in the main thread").start()
    assert loop_stopping.wait(HANG), "the main thread's disconnect() never stopped the loop"
    stop_under_way.set()
    elapsed = main.join()
    assert main.error is None, main.error
    assert elapsed < PROMPTLY, f"the main thread's disconnect() took {elapsed:.1f} s"
    wait_for(lambda: len(seen) == 2, what="the callback's calls to return")
    callback_disconnect, late_call = seen
    assert callback_disconnect < 0.2, f"the callback's disconnect() took {callback_disconnect} s"
    assert isinstance(late_call, PusherConnectionError), late_call
    assert client.connection_state is ConnectionState.DISCONNECTED
    no_client_thread_is_left(before)


# ------------------------------------------------- Bug B: the callback queue

# The grace period that disconnect() gives the callbacks still queued (documented).
CALLBACK_GRACE = 3.0


def queue_slow_callbacks(
    soketi: SoketiServer, client: PusherChannelsClient, channel_name: str, count: int
) -> None:
    """Subscribe, then have ``count`` events queued behind the first (slow) callback."""
    channel = client.subscribe(channel_name)
    wait_for(lambda: channel.subscribed, what="the subscription")
    sdk = soketi.server_sdk()
    for n in range(count):
        sdk.trigger(channel_name, "slow", {"n": n})


def test_exit_with_keyboard_interrupt_drops_the_queue(
    soketi: SoketiServer, release: threading.Event
) -> None:
    """``with`` left by Ctrl-C: no queued callback runs, no join of the slow one."""
    before = client_thread_names()
    ran: list[int] = []
    started = threading.Event()

    def slow(event: PusherEvent) -> None:
        ran.append(event.json()["n"])
        started.set()
        release.wait(HANG * 3)

    def interrupted_session() -> None:
        with PusherChannelsClient(**soketi.client_options(), on_event=slow) as client:
            with client.events(timeout=HANG) as arrivals:
                queue_slow_callbacks(soketi, client, "sync-interrupted", 5)
                for _ in range(5):
                    next(arrivals)  # so all five are queued for the callback thread
            assert started.wait(HANG)
            interrupted_at.append(time.monotonic())
            raise KeyboardInterrupt

    interrupted_at: list[float] = []
    session = Bounded(interrupted_session, "an interrupted session").start()
    session.join()
    assert isinstance(session.error, KeyboardInterrupt), session.error
    exit_took = session.ended - interrupted_at[0]
    assert exit_took < 1.0, f"__exit__ took {exit_took:.1f} s after the KeyboardInterrupt"
    release.set()
    no_client_thread_is_left(before)
    assert ran == [0], "the callbacks queued behind the slow one were dropped"


def test_disconnect_runs_queued_callbacks_for_a_bounded_grace(
    soketi: SoketiServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain disconnect() runs the queue, but drops what is left after the grace."""
    before = client_thread_names()
    ran: list[int] = []

    def slow(event: PusherEvent) -> None:
        ran.append(event.json()["n"])
        time.sleep(0.5)

    client = PusherChannelsClient(**soketi.client_options(), on_event=slow)
    client.connect(timeout=10)
    queue_slow_callbacks(soketi, client, "sync-grace", 20)
    wait_for(lambda: len(ran) >= 1, what="the first callback")
    elapsed = bounded(client.disconnect, "disconnect()", timeout=20)
    assert CALLBACK_GRACE - 1 < elapsed < CALLBACK_GRACE + PROMPTLY, elapsed
    ran_by_then = len(ran)
    assert 2 <= ran_by_then < 20, "queued callbacks ran during the grace, not all of them"
    no_client_thread_is_left(before)
    assert len(ran) <= ran_by_then + 1, "only the callback running then may finish"
    assert any("dropped" in record.getMessage() for record in caplog.records), caplog.text


CTRL_C_PROGRAM = """
import json, sys, time
from pusher_channels.sync import PusherChannelsClient

def on_event(event):
    print("callback", event.json()["n"], flush=True)
    time.sleep(3)

with PusherChannelsClient(**json.loads(sys.argv[1]), on_event=on_event) as pusher:
    channel = pusher.subscribe("sync-ctrl-c")
    while not channel.subscribed:
        time.sleep(0.01)
    print("subscribed", flush=True)
    while True:
        time.sleep(0.1)
"""


def lines_of(stream: IO[str]) -> queue.SimpleQueue[str]:
    """The lines of ``stream``, read by a daemon thread as they come."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in stream:
            lines.put(line.strip())

    threading.Thread(target=read, name="test stdout reader", daemon=True).start()
    return lines


def wait_for_line(lines: queue.SimpleQueue[str], wanted: str) -> None:
    deadline = time.monotonic() + HANG
    while (line := lines.get(timeout=max(0.0, deadline - time.monotonic()))) != wanted:
        print("child:", line)


def test_ctrl_c_ends_a_program_within_a_second(soketi: SoketiServer, tmp_path: Path) -> None:
    """SIGINT while a slow callback runs and more are queued: out at once, one traceback.

    The program is interrupted as a user would, twice if still running after a
    second; it must be gone by then, with the one ``KeyboardInterrupt`` traceback
    of an interrupted Python program and its exit status (killed by SIGINT).
    """
    program = tmp_path / "ctrl_c.py"
    program.write_text(CTRL_C_PROGRAM)
    child = subprocess.Popen(
        [sys.executable, str(program), json.dumps(soketi.client_options())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = lines_of(child.stdout)  # type: ignore[arg-type]
        wait_for_line(lines, "subscribed")
        sdk = soketi.server_sdk()
        for n in range(3):
            sdk.trigger("sync-ctrl-c", "slow", {"n": n})
        wait_for_line(lines, "callback 0")
        time.sleep(0.2)  # the other two are queued by now
        os.kill(child.pid, signal.SIGINT)
        interrupted = time.monotonic()
        try:
            child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGINT)  # the user presses Ctrl-C again
        try:
            child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {time.monotonic() - interrupted:.1f} s after Ctrl-C")
        stderr = child.stderr.read()  # type: ignore[union-attr]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGINT, (child.returncode, stderr)
    assert stderr.count("Traceback (most recent call last)") == 1, stderr
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
    assert lines.empty(), "no queued callback ran after Ctrl-C"


# ------------------------------------------------ a client nobody disconnected


def threads_of_clients() -> set[str]:
    """Every thread a blocking client starts: loop, callbacks, executor, workers."""
    return {t.name for t in threading.enumerate() if t.name.startswith("pusher-channels-")}


def connected_client(server: PusherTestServer, n: int) -> PusherChannelsClient:
    """A connected blocking client with what used to tie it to its own threads.

    A callback, a bound handler, a connection listener, a channel with a callback
    of its own and iterators opened and dropped.
    """
    client = PusherChannelsClient(**server.client_kwargs(), on_event=lambda event: None)
    client.bind_global(lambda *args: None)
    client.connection.bind("state_change", lambda *args: None)
    channel = client.subscribe(f"forgotten-{n}", on_event=lambda event: None)
    client.connect(timeout=10)
    channel.wait_subscribed(timeout=10)
    channel.events()
    client.events(timeout=60)
    return client


def test_a_dropped_client_is_closed_when_collected(pusher_server: PusherTestServer) -> None:
    """Item 10: five clients dropped without ``disconnect()`` leave no thread nor
    connection once collected, and each says so with a ``ResourceWarning``, as an
    unclosed asyncio transport does."""
    before = threads_of_clients()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        clients = [connected_client(pusher_server, n) for n in range(5)]
        assert len(pusher_server.connections) == 5
        with connected_client(pusher_server, 5):
            pass  # disconnected, then dropped: nothing to warn about
        del clients
        gc.collect()
        wait_for(
            lambda: not pusher_server.connections and threads_of_clients() <= before,
            HANG,
            "the dropped clients' connections and threads to end",
        )
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(unclosed) == 5, [str(w.message) for w in caught]
    assert all("unclosed" in str(w.message) for w in unclosed), unclosed


def iterator_in_a_cycle(client: PusherChannelsClient) -> None:
    """Open a blocking iterator and leave it in a reference cycle, unreachable."""
    cycle: list[Any] = [client.events(timeout=HANG)]
    cycle.append(cycle)


def test_a_blocking_iterator_collected_in_a_cycle_is_closed_on_the_loop_thread(
    pusher_server: PusherTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 14 (a): collected by the user's thread, which is not the loop's, the
    iterator and the asyncio iterator inside it have their stream closed on the
    loop thread only."""
    closed_on = record_stream_closes(monkeypatch)
    with PusherChannelsClient(**pusher_server.client_kwargs()) as client:
        with only_explicit_collections():
            iterator_in_a_cycle(client)
            gc.collect()
        wait_for(lambda: bool(closed_on), what="the stream to be closed")
        time.sleep(0.1)  # a second close, if any, has come too
        loop_thread = client._loop_thread._thread
        assert loop_thread is not None
    assert closed_on, "the stream was never closed"
    assert set(closed_on) == {loop_thread.name}, closed_on


def test_a_blocking_iterator_collected_while_its_thread_holds_the_clients_lock(
    pusher_server: PusherTestServer,
) -> None:
    """Item 14 (a): the collector may run at any allocation, and a blocking call
    allocates while it holds the client's lock (starting the loop, submitting a
    call): an iterator finalized then must not wait for that lock."""
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    client.connect(timeout=10)

    def collect_holding_the_lock() -> None:
        with only_explicit_collections():
            iterator_in_a_cycle(client)
            with client._loop_thread._lock:
                gc.collect()

    bounded(collect_holding_the_lock, "a collection holding the lock", timeout=5)
    client.disconnect()


CTRL_C_IN_CONNECT_PROGRAM = """
import json, sys, threading, time
from pusher_channels.sync import PusherChannelsClient

def loop_threads():
    return [t.name for t in threading.enumerate() if t.name.endswith(" loop")]

client = PusherChannelsClient(api_key="key", host="127.0.0.1", ws_port=int(sys.argv[1]),
                              use_tls=False)
for attempt in range(int(sys.argv[2])):
    print("connecting", flush=True)
    try:
        client.connect()
    except KeyboardInterrupt:  # as a REPL or a notebook would, the program goes on
        interrupted = time.monotonic()
        while loop_threads() and time.monotonic() - interrupted < 3:
            time.sleep(0.01)
        print(json.dumps({
            "state": client.connection_state.value,
            "loop threads": loop_threads(),
            "seconds": round(time.monotonic() - interrupted, 2),
        }), flush=True)
"""


class UnansweredHandshakes:
    """A TCP server that reads each WebSocket upgrade request and never answers it.

    What no real server can be made to do on purpose; it tells the test when a
    client is waiting for its handshake.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.requests: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._serve, name="test silent server", daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the listener was closed
            while True:
                connection, _ = self._listener.accept()
                self._connections.append(connection)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                self.requests.put(request)

    def close(self) -> None:
        self._listener.close()
        for connection in self._connections:
            connection.close()


# Each run interrupts connect() this many times, on the same client.
INTERRUPTED_CONNECTS = 3


def test_ctrl_c_during_connect_ends_the_loop_thread(tmp_path: Path) -> None:
    """Item 11: SIGINT while ``connect()`` waits for a handshake that never comes.

    The program catches the ``KeyboardInterrupt`` and goes on (a REPL, a notebook):
    the client must be disconnected and its loop thread gone, promptly, every time.
    """
    program = tmp_path / "ctrl_c_in_connect.py"
    program.write_text(CTRL_C_IN_CONNECT_PROGRAM)
    reports = []
    server = UnansweredHandshakes()
    child = subprocess.Popen(
        [sys.executable, str(program), str(server.port), str(INTERRUPTED_CONNECTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = lines_of(child.stdout)  # type: ignore[arg-type]
        for _ in range(INTERRUPTED_CONNECTS):
            wait_for_line(lines, "connecting")
            assert server.requests.get(timeout=HANG).startswith(b"GET ")
            signalled = time.monotonic()
            os.kill(child.pid, signal.SIGINT)  # connect() waits for the handshake
            report = json.loads(lines.get(timeout=HANG))
            report["since the signal"] = round(time.monotonic() - signalled, 2)
            reports.append(report)
        child.wait(HANG)
    finally:
        server.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, child.stderr.read()  # type: ignore[union-attr]
    assert [report["loop threads"] for report in reports] == [[]] * INTERRUPTED_CONNECTS, reports
    assert all(report["state"] == "DISCONNECTED" for report in reports), reports
    assert max(report["since the signal"] for report in reports) < PROMPTLY, reports
