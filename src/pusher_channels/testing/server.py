"""PusherTestServer: a real Pusher protocol 7 server and HTTP API, in your test's process.

The server core (:mod:`.core`, :mod:`.http_api`) holds the state and the rules;
this module is its shell: one listening socket on 127.0.0.1, one
:class:`~.peer.Peer` per TCP connection, one timer, and the controls a test needs
(faults, inspection, waiting). It runs on the test's event loop
(``async with``) or on a thread of its own (``with``). Every public method may be
called from any thread: calls from another thread run on the server's loop and
wait for it (at most :data:`CALL_TIMEOUT` seconds).

It is a test tool, not a production server: one app, everything in memory, no
TLS, no webhooks, and it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Final, TypeVar

import orjson

from ..protocol.channels import ChannelKind
from ..protocol.crypto import encrypt_data
from ..protocol.signatures import shared_secret
from .core import ServerCore
from .frames import Opcode
from .http_api import HttpApi, HttpRequest, HttpResponse
from .inspection import ChannelInfo, ConnectionInfo
from .outputs import CloseConnection, Output, PingConnection, SendFrame
from .peer import Peer
from .rules import (
    SERVER_TO_USER_PREFIX,
    RuleError,
    channel_name_problem,
    data_to_string,
    kind_of,
    socket_id_problem,
)
from .settings import AppSettings, Limits

__all__ = ["CALL_TIMEOUT", "HOST", "PusherTestServer"]

HOST: Final = "127.0.0.1"
CALL_TIMEOUT: Final = 10.0
"""Seconds a call from another thread waits for the server's loop."""
SHUTDOWN_GRACE: Final = 2.0
"""Seconds the server waits for its connections to close when it stops."""
_T = TypeVar("_T")


class PusherTestServer:
    """A Pusher protocol 7 server with the HTTP API, on 127.0.0.1, for tests.

    Real sockets, real frames, real signature checks: point a
    :class:`~pusher_channels.PusherChannelsClient` (or pusher-js, or any client) at
    it with :meth:`client_kwargs`, and the official ``pusher`` server SDK with
    :meth:`sdk_kwargs`::

        async with PusherTestServer() as server:
            async with PusherChannelsClient(**server.client_kwargs()) as client:
                await client.subscribe("orders")
                await server.wait_until(lambda: server.subscribers("orders"))
                pusher.Pusher(**server.sdk_kwargs()).trigger("orders", "created", {"id": 1})

    ``with PusherTestServer() as server:`` runs it on a thread of its own instead,
    for threaded tests (and for asyncio tests that prefer it).

    Args:
        app_id: the app id of the HTTP API (digits, as the server SDKs require).
        key: the app key clients connect with.
        secret: the app secret every signature is checked with.
        port: the TCP port; 0 (the default) takes a free one, kept across
            :meth:`restart`.
        encryption_master_key_base64: 32 bytes in base64, for encrypted channels
            (a fixed test key by default; :meth:`sdk_kwargs` passes it on).
        activity_timeout: seconds announced to clients; the server also pings a
            silent client after this long.
        pong_timeout: seconds the server waits for a pong before closing (4201).
        client_events: whether ``client-`` events are allowed.
        subscription_count: whether to send ``pusher:subscription_count`` events.
        watchlist_events: whether signed-in users get watchlist events.
        authorized_connections_timeout: close (4009) connections that neither sign
            in nor join a private channel within this many seconds.
        limits: the limits to enforce (:class:`~pusher_channels.testing.Limits`).
        seed: makes socket ids reproducible.
    """

    def __init__(
        self,
        app_id: str = "123456",
        key: str = "test-key",
        secret: str = "test-secret",
        *,
        port: int = 0,
        encryption_master_key_base64: str | None = None,
        activity_timeout: float = 120.0,
        pong_timeout: float = 30.0,
        client_events: bool = True,
        subscription_count: bool = False,
        watchlist_events: bool = True,
        authorized_connections_timeout: float | None = None,
        limits: Limits | None = None,
        seed: int | None = None,
    ) -> None:
        optional: dict[str, Any] = {}
        if encryption_master_key_base64 is not None:
            optional["encryption_master_key_base64"] = encryption_master_key_base64
        if limits is not None:
            optional["limits"] = limits
        self.settings = AppSettings(
            app_id=app_id,
            key=key,
            secret=secret,
            activity_timeout=activity_timeout,
            pong_timeout=pong_timeout,
            client_events=client_events,
            subscription_count=subscription_count,
            watchlist_events=watchlist_events,
            authorized_connections_timeout=authorized_connections_timeout,
            **optional,
        )
        """The app's settings (read-only)."""
        self._port = port
        self._rng = random.Random(seed)
        self._core = ServerCore(self.settings, self._rng)
        self._api = HttpApi(self._core)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._listener: asyncio.Server | None = None
        self._listening: asyncio.Task[asyncio.Server] | None = None
        self._peers: set[Peer] = set()
        self._by_socket: dict[str, Peer] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PusherTestServer {HOST}:{self._port} key={self.settings.key!r} {state}>"

    # ------------------------------------------------------------ where it is

    @property
    def host(self) -> str:
        """``127.0.0.1``: the only address it listens on."""
        return HOST

    @property
    def port(self) -> int:
        """The TCP port of both the WebSocket endpoint and the HTTP API."""
        return self._port

    @property
    def app_id(self) -> str:
        """The app id."""
        return self.settings.app_id

    @property
    def key(self) -> str:
        """The app key."""
        return self.settings.key

    @property
    def secret(self) -> str:
        """The app secret."""
        return self.settings.secret

    @property
    def url(self) -> str:
        """The WebSocket URL a client connects to."""
        return f"ws://{HOST}:{self._port}/app/{self.settings.key}?protocol=7"

    @property
    def running(self) -> bool:
        """Whether it is listening (between start and stop)."""
        return self._listening is not None or self._listener is not None

    @property
    def paused(self) -> bool:
        """Whether it is frozen by :meth:`pause`."""
        return self._paused

    def client_kwargs(self, *, sign_locally: bool = False) -> dict[str, Any]:
        """The keywords that point a :class:`~pusher_channels.PusherChannelsClient` here.

        Args:
            sign_locally: also pass the app ``secret`` and the encryption master
                key, so the client signs private, presence (with
                ``presence_channel_data=``) and encrypted channels itself, without
                an authorization endpoint.
        """
        kwargs: dict[str, Any] = {
            "api_key": self.settings.key,
            "host": HOST,
            "ws_port": self._port,
            "use_tls": False,
        }
        if sign_locally:
            kwargs["secret"] = self.settings.secret
            kwargs["encryption_master_key_base64"] = self.settings.encryption_master_key_base64
        return kwargs

    def sdk_kwargs(self) -> dict[str, Any]:
        """The keywords of the official server SDK: ``pusher.Pusher(**server.sdk_kwargs())``.

        Raises:
            ValueError: the app id is not made of digits, which the SDK refuses.
        """
        if not self.settings.app_id_is_numeric:
            raise ValueError(
                f"the pusher server SDK only accepts app ids made of digits, not "
                f"{self.settings.app_id!r}: give PusherTestServer(app_id='123456')"
            )
        return {
            "app_id": self.settings.app_id,
            "key": self.settings.key,
            "secret": self.settings.secret,
            "host": HOST,
            "port": self._port,
            "ssl": False,
            "encryption_master_key_base64": self.settings.encryption_master_key_base64,
        }

    # -------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> PusherTestServer:
        if self._loop is not None:
            raise RuntimeError("this PusherTestServer is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            await self._start()
        except BaseException:
            self._loop = self._loop_thread = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._shutdown()
        finally:
            self._loop = self._loop_thread = None

    def __enter__(self) -> PusherTestServer:
        if self._loop is not None:
            raise RuntimeError("this PusherTestServer is already running")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run_thread, args=(started,), name="PusherTestServer", daemon=True
        )
        self._thread = thread
        thread.start()
        try:
            started.result(timeout=CALL_TIMEOUT)
        except BaseException:
            self._end_thread()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end_thread()

    def _run_thread(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:
            started.set_exception(exc)
            self._loop = self._loop_thread = None
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._shutdown())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self._loop = self._loop_thread = None
                loop.close()

    def _end_thread(self) -> None:
        thread, loop = self._thread, self._loop
        self._thread = None
        if loop is not None and thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop may have closed already
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=CALL_TIMEOUT)

    async def _start(self) -> None:
        self._begin_listening()
        assert self._listening is not None
        await self._listening

    async def _shutdown(self) -> None:
        peers = list(self._peers)
        self._stop(graceful=True)
        pending = [peer.closed for peer in peers if not peer.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
        for peer in list(self._peers):
            peer.abort()
        if self._peers:
            await asyncio.sleep(0)

    def start(self) -> None:
        """Listen again (on the same port) after :meth:`stop`, with a fresh state.

        From the server's own loop, listening begins at once and serving on the
        loop's next turn (connections wait in the backlog meanwhile).
        """

        def begin() -> asyncio.Task[asyncio.Server] | None:
            if self.running:
                return None
            self._begin_listening()
            return self._listening

        task = self._call(begin)
        if task is not None and not self._on_loop_thread():
            asyncio.run_coroutine_threadsafe(_await(task), self._running_loop()).result(
                timeout=CALL_TIMEOUT
            )

    def stop(self, *, graceful: bool = True) -> None:
        """Stop listening and end every connection; the state (channels, cache) is lost.

        Args:
            graceful: close each WebSocket with 4200 ("reconnect immediately"),
                as a server shutting down does; ``False`` drops the sockets
                without a close frame, as a crashed server would.
        """
        self._call(lambda: self._stop(graceful))

    def restart(self, *, graceful: bool = True) -> None:
        """:meth:`stop`, then :meth:`start` on the same port."""
        self.stop(graceful=graceful)
        self.start()

    def _begin_listening(self) -> None:
        loop = self._running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._core = ServerCore(self.settings, self._rng)
        self._api = HttpApi(self._core)
        self._paused = False
        task = loop.create_task(loop.create_server(self._new_peer, sock=sock))
        self._listening = task

        def served(done: asyncio.Task[asyncio.Server]) -> None:
            failed = done.cancelled() or done.exception() is not None
            if self._listening is not done:  # stopped (or restarted) meanwhile
                if failed:
                    sock.close()
                else:
                    done.result().close()
                return
            self._listening = None
            if failed:
                sock.close()
            else:
                self._listener = done.result()

        task.add_done_callback(served)

    def _stop(self, graceful: bool) -> None:
        if self._listening is not None:
            self._listening.cancel()  # its done callback closes what it opened
            self._listening = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._paused = False
        for peer in list(self._peers):
            peer.resume()
            if graceful:
                peer.close(4200, "Server is shutting down, reconnect shortly")
            else:
                peer.abort()
        self._by_socket.clear()
        self._core = ServerCore(self.settings, self._rng)
        self._api = HttpApi(self._core)

    # ----------------------------------------------------------- peers (shell)

    def _new_peer(self) -> Peer:
        return Peer(self, self.settings.limits.max_message_bytes, self._paused)

    def _peer_opened(self, peer: Peer) -> None:
        """A TCP connection was accepted."""
        self._peers.add(peer)

    def _peer_closed(self, peer: Peer) -> None:
        """A TCP connection is gone."""
        self._peers.discard(peer)

    def _http_request(self, request: HttpRequest) -> HttpResponse:
        """Answer an HTTP API request."""
        response, outputs = self._api.handle(request, time.time(), self._now())
        self._perform(outputs)
        return response

    def _websocket_opened(self, peer: Peer, app_key: str | None, query: dict[str, str]) -> None:
        """Accept or refuse a new WebSocket."""
        if app_key is None:
            peer.close(4005, "Path not found")
            return
        refusal = self._core.refusal(app_key, query)
        if refusal is not None:
            peer.close(*refusal)
            return
        socket_id, outputs = self._core.open_connection(query, self._now())
        peer.socket_id = socket_id
        self._by_socket[socket_id] = peer
        self._perform(outputs)

    def _websocket_text(self, peer: Peer, text: str) -> None:
        """A text message from a client."""
        if peer.socket_id is not None:
            self._perform(self._core.receive(peer.socket_id, text, self._now()))

    def _websocket_heard(self, peer: Peer) -> None:
        """A ping, pong or binary frame: the client is alive."""
        if peer.socket_id is not None:
            self._core.heard(peer.socket_id, self._now())
            self._arm_timer()

    def _websocket_closed(self, peer: Peer, code: int | None) -> None:
        """A WebSocket ended."""
        socket_id = peer.socket_id
        if socket_id is None:
            return
        if self._by_socket.get(socket_id) is peer:
            del self._by_socket[socket_id]
            self._perform(self._core.connection_closed(socket_id, code))

    def _perform(self, outputs: Iterable[Output]) -> None:
        for output in outputs:
            peer = self._by_socket.get(output.socket_id)
            if peer is None:
                continue
            if isinstance(output, SendFrame):
                peer.send_text(output.payload)
            elif isinstance(output, PingConnection):
                peer.send_ping()
            elif isinstance(output, CloseConnection):
                del self._by_socket[output.socket_id]
                peer.close(output.code, output.reason)
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._paused or self._loop is None:
            return
        deadline = self._core.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._perform(self._core.handle_timer(self._now()))

    def _now(self) -> float:
        return self._running_loop().time()

    # -------------------------------------------------------- what tests send

    def trigger(
        self,
        channels: str | Iterable[str],
        event: str,
        data: Any,
        *,
        socket_id: str | None = None,
    ) -> None:
        """Publish an event as the HTTP API would (and as the server SDK does).

        ``data`` that is not a string is sent as JSON. On a ``private-encrypted-``
        channel the data is encrypted with the master key, as the SDK does.

        Raises:
            ValueError: an invalid channel or event name, data too large, several
                channels with an encrypted one, or an invalid ``socket_id``.
        """
        names = [channels] if isinstance(channels, str) else list(channels)
        limits = self.settings.limits
        if not names or len(names) > limits.max_trigger_channels:
            raise ValueError(f"give 1 to {limits.max_trigger_channels} channels")
        for name in names:
            problem = channel_name_problem(name, limits)
            if problem is not None:
                raise ValueError(problem)
        if not event or len(event) > limits.max_event_name_length:
            raise ValueError(
                f"the event name must have 1 to {limits.max_event_name_length} characters"
            )
        try:
            text = data_to_string(data)
        except RuleError as exc:
            raise ValueError(exc.message) from None
        if len(text.encode("utf-8")) > limits.max_event_data_bytes:
            raise ValueError(f"the data is larger than {limits.max_event_data_bytes} bytes")
        if socket_id is not None and socket_id_problem(socket_id) is not None:
            raise ValueError(f"invalid socket_id {socket_id!r}")
        if any(kind_of(name) is ChannelKind.PRIVATE_ENCRYPTED for name in names):
            if len(names) > 1:
                raise ValueError("an encrypted channel must be triggered on alone")
            key = shared_secret(names[0], self.settings.master_key)
            text = encrypt_data(text, key)
        self._call(
            lambda: self._perform(
                self._core.publish(names, event, text, self._now(), exclude=socket_id)
            )
        )

    def send_to_user(self, user_id: str, event: str, data: Any) -> None:
        """Send an event to every connection signed in as ``user_id`` (server-to-user)."""
        self.trigger(f"{SERVER_TO_USER_PREFIX}{user_id}", event, data)

    def terminate_user_connections(self, user_id: str) -> None:
        """Close (4009) every connection signed in as ``user_id``, as the HTTP API does."""
        self._call(lambda: self._perform(self._core.terminate_user(user_id)))

    # ----------------------------------------------------------------- faults

    def drop_connections(self, socket_id: str | None = None) -> None:
        """Drop every WebSocket (or one) at the TCP level, without a close frame."""

        def drop() -> None:
            for peer in self._websockets(socket_id):
                peer.abort()

        self._call(drop)

    def close_connections(
        self, code: int = 4200, reason: str = "", socket_id: str | None = None
    ) -> None:
        """Close every WebSocket (or one) with a close frame carrying ``code``."""

        def close() -> None:
            outputs: list[Output] = []
            for peer in self._websockets(socket_id):
                assert peer.socket_id is not None
                outputs += self._core.close(peer.socket_id, code, reason)
            self._perform(outputs)

        self._call(close)

    def pause(self) -> None:
        """Freeze the server: it reads nothing and sends nothing, answers no ping.

        Sockets stay open, as with a stopped (``SIGSTOP``) process; new
        connections are accepted by the kernel but not served. What the server
        would have sent meanwhile is held and sent on :meth:`resume`.
        """

        def pause() -> None:
            self._paused = True
            for peer in self._peers:
                peer.pause()
            self._arm_timer()

        self._call(pause)

    def resume(self) -> None:
        """Unfreeze the server after :meth:`pause`."""

        def resume() -> None:
            self._paused = False
            for peer in list(self._peers):
                peer.resume()
            self._arm_timer()

        self._call(resume)

    def send_raw(
        self,
        frame: str | bytes | dict[str, Any],
        socket_id: str | None = None,
        *,
        binary: bool = False,
    ) -> None:
        """Send a frame as it is, unchecked, to every WebSocket (or one).

        Args:
            frame: the payload: a dict is encoded as JSON; text and bytes are sent
                unchanged (they need not be JSON, or even UTF-8).
            socket_id: the one connection to send to; all of them by default.
            binary: send a binary frame instead of a text frame.
        """
        if isinstance(frame, dict):
            payload = orjson.dumps(frame)
        elif isinstance(frame, str):
            payload = frame.encode("utf-8")
        else:
            payload = bytes(frame)
        opcode = Opcode.BINARY if binary else Opcode.TEXT

        def send() -> None:
            for peer in self._websockets(socket_id):
                assert peer.socket_id is not None
                self._core.log_sent(peer.socket_id, frame)
                peer.send_frame(opcode, payload)

        self._call(send)

    def _websockets(self, socket_id: str | None) -> list[Peer]:
        if socket_id is None:
            return list(self._by_socket.values())
        peer = self._by_socket.get(socket_id)
        if peer is None:
            raise KeyError(f"no open connection {socket_id!r}")
        return [peer]

    # ------------------------------------------------------------- inspection

    @property
    def connections(self) -> list[ConnectionInfo]:
        """The open connections, oldest first (snapshots)."""
        return self._call(self._core.connections)

    @property
    def all_connections(self) -> list[ConnectionInfo]:
        """The open connections and the last 1000 closed since the last (re)start."""
        return self._call(lambda: self._core.connections(include_closed=True))

    def connection(self, socket_id: str) -> ConnectionInfo:
        """One connection, open or recently closed.

        Raises:
            KeyError: no such connection.
        """
        for info in self.all_connections:
            if info.socket_id == socket_id:
                return info
        raise KeyError(f"no connection {socket_id!r}")

    @property
    def channels(self) -> dict[str, ChannelInfo]:
        """The occupied channels (snapshots)."""
        return self._call(self._core.channels)

    def channel(self, name: str) -> ChannelInfo | None:
        """One occupied channel, or None."""
        return self._call(lambda: self._core.channel(name))

    def subscribers(self, channel: str) -> list[str]:
        """The socket ids subscribed to ``channel`` (empty when unoccupied)."""
        info = self.channel(channel)
        return list(info.subscribers) if info is not None else []

    def members(self, channel: str) -> dict[str, Any]:
        """A presence channel's members: user id to ``user_info``."""
        info = self.channel(channel)
        return dict(info.members) if info is not None else {}

    # ------------------------------------------------------------------ waits

    async def wait_until(
        self, condition: Callable[[], object], *, timeout: float = 10.0, message: str = ""
    ) -> None:
        """Wait (asynchronously, on any loop) until ``condition()`` is true.

        Raises:
            TimeoutError: it was still false after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(message or f"condition still false after {timeout} s")
            await asyncio.sleep(0.01)

    def wait_until_blocking(
        self, condition: Callable[[], object], *, timeout: float = 10.0, message: str = ""
    ) -> None:
        """Wait (blocking this thread) until ``condition()`` is true.

        Raises:
            TimeoutError: it was still false after ``timeout`` seconds.
            RuntimeError: called on the server's own loop, where it would block it
                (use ``await server.wait_until(...)`` there).
        """
        if self._on_loop_thread():
            raise RuntimeError(
                "wait_until_blocking() would block the server's loop: use wait_until()"
            )
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(message or f"condition still false after {timeout} s")
            time.sleep(0.01)

    # ---------------------------------------------------------------- threads

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(
                "the PusherTestServer is not running: use 'async with PusherTestServer()' "
                "or 'with PusherTestServer()'"
            )
        return self._loop

    def _on_loop_thread(self) -> bool:
        return self._loop_thread == threading.get_ident()

    def _call(self, function: Callable[[], _T]) -> _T:
        """Run ``function`` on the server's loop and return its result."""
        loop = self._running_loop()
        if self._on_loop_thread():
            return function()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(function())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=CALL_TIMEOUT)


async def _await(awaitable: Awaitable[Any]) -> None:
    await awaitable
