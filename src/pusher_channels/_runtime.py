"""The asyncio runtime: the one choke point between the protocol core and the world.

Everything that happens (a frame, a closed socket, the timer, a user call, an
authorization answer) is fed to the core here, then :meth:`Runtime._perform` carries
out the core's outputs in order (socket I/O, authorization tasks, callbacks) and
re-arms the single timer. The core never sees asyncio, and nothing else touches
the core.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._dispatch import Dispatcher
from ._streams import EventStream
from ._transport import WebSocket, open_websocket
from .channel import PusherChannel
from .exceptions import (
    AuthorizationError,
    CallbackError,
    PusherConnectionError,
    PusherError,
    SigninError,
    SlowConsumerError,
)
from .options import ClientOptions
from .protocol.actions import (
    AuthenticateUser,
    AuthorizeChannel,
    CloseSocket,
    ConnectionState,
    DecryptionFailed,
    ErrorReported,
    MemberAdded,
    MemberRemoved,
    OpenSocket,
    Output,
    SendMessage,
    SignedIn,
    SigninFailed,
    StateChanged,
    SubscriptionCountChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
    WatchlistEvent,
)
from .protocol.connection import Connection
from .protocol.messages import PusherEvent
from .protocol.user import SERVER_TO_USER_PREFIX

__all__ = ["Authorizer", "Runtime"]

logger = logging.getLogger("pusher_channels")
frame_logger = logging.getLogger("pusher_channels.frames")

Authorizer = Callable[[str, str], Awaitable[dict[str, Any]]]
"""``(channel_name, socket_id) -> {"auth", "channel_data"?, "shared_secret"?: bytes}``."""
UserAuthenticator = Callable[[str], Awaitable[dict[str, str]]]
"""``(socket_id) -> {"auth", "user_data"}``."""


def _unbound_clock() -> float:
    raise PusherError("this client is not attached to an event loop yet")


class Runtime:
    """Drives one :class:`~pusher_channels.protocol.connection.Connection` on asyncio."""

    __slots__ = (
        "_auth_tasks",
        "_authorizer",
        "_channels",
        "_clock",
        "_dispatcher",
        "_full_streams",
        "_log_frames",
        "_loop",
        "_on_decryption_failure",
        "_on_error",
        "_on_event",
        "_on_member_added",
        "_on_member_removed",
        "_on_signin_succeeded",
        "_on_state_change",
        "_on_subscription_count",
        "_on_subscription_error",
        "_on_subscription_succeeded",
        "_on_user_event",
        "_on_watchlist_event",
        "_open_task",
        "_signin_waiters",
        "_socket",
        "_state_waiters",
        "_stream_routes",
        "_streams",
        "_timer",
        "_timer_at",
        "_user_authenticator",
        "core",
        "options",
    )

    def __init__(
        self,
        options: ClientOptions,
        channels: Mapping[str, PusherChannel],
        authorizer: Authorizer | None = None,
        user_authenticator: UserAuthenticator | None = None,
    ) -> None:
        self.options = options
        self.core = Connection(options.connection_settings())
        self._channels = channels
        self._authorizer = authorizer
        self._user_authenticator = user_authenticator
        self._signin_waiters: list[asyncio.Future[dict[str, Any]]] = []
        callbacks = options.callbacks
        self._on_event = callbacks.get("on_event")
        self._on_error = callbacks.get("on_error")
        self._on_state_change = callbacks.get("on_connection_state_change")
        self._on_subscription_succeeded = callbacks.get("on_subscription_succeeded")
        self._on_subscription_error = callbacks.get("on_subscription_error")
        self._on_member_added = callbacks.get("on_member_added")
        self._on_member_removed = callbacks.get("on_member_removed")
        self._on_subscription_count = callbacks.get("on_subscription_count")
        self._on_decryption_failure = callbacks.get("on_decryption_failure")
        self._on_signin_succeeded = callbacks.get("on_signin_succeeded")
        self._on_user_event = callbacks.get("on_user_event")
        self._on_watchlist_event = callbacks.get("on_watchlist_event")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] = _unbound_clock  # the loop's time() once bound
        self._dispatcher: Dispatcher | None = None
        self._socket: WebSocket | None = None
        self._open_task: asyncio.Task[None] | None = None
        self._auth_tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._state_waiters: list[tuple[ConnectionState, asyncio.Future[None]]] = []
        self._log_frames = False
        self._streams: dict[str | None, set[EventStream]] = {}
        # Per channel, the streams its events go to (the client's, then the channel's),
        # built on first use and cleared whenever a stream opens or closes.
        self._stream_routes: dict[str, tuple[EventStream, ...]] = {}
        self._full_streams: set[EventStream] = set()

    # ------------------------------------------------------------- user requests

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        return self.core.state

    def bind_loop(self) -> None:
        """Attach to the running loop (again, if the client sat idle between loops)."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None and self.core.state is not ConnectionState.DISCONNECTED:
            raise PusherError("this client is in use on another event loop")
        self._loop = loop
        self._clock = loop.time
        self._dispatcher = Dispatcher(self._callback_failed)
        self._timer = None
        self._timer_at = None

    async def connect(self) -> None:
        """Connect, and return once connected; raise if refused or disconnected."""
        self.bind_loop()
        self.core.connect(self._now())
        self._perform()
        if self.core.state is ConnectionState.CONNECTED:
            return
        await self._wait_for_state(ConnectionState.CONNECTED)

    def stop_connecting(self) -> None:
        """Give up a connection under way (a cancelled ``connect()``), at once."""
        if self._loop is not None and self.core.state in (
            ConnectionState.CONNECTING,
            ConnectionState.RECONNECTING,
        ):
            self.core.disconnect(self._now())
            self._perform()

    async def disconnect(self) -> None:
        """Close the connection and wait until it is closed and callbacks have run."""
        self.bind_loop()
        self.core.disconnect(self._now())
        self._perform()
        if self.core.state is not ConnectionState.DISCONNECTED:
            await self._wait_for_state(ConnectionState.DISCONNECTED)
        for task in list(self._auth_tasks):
            task.cancel()
        for authenticator in (self._authorizer, self._user_authenticator):
            close = getattr(authenticator, "aclose", None)
            if close is not None:
                await close()  # its HTTP pool belongs to this event loop
        assert self._dispatcher is not None
        await self._dispatcher.wait_idle()

    def subscribe(self, channel_name: str) -> Any:
        """Register a channel with the core (see ``Connection.subscribe``)."""
        record = self.core.subscribe(channel_name)
        if self._loop is not None:
            self._perform()
        return record

    def unsubscribe(self, channel_name: str) -> None:
        """Drop a channel from the core; its event streams end."""
        self.core.unsubscribe(channel_name)
        self._finish_streams(channel_name, None)
        if self._loop is not None:
            self._perform()

    def send(self, payload: bytes) -> bool:
        """Send a prepared message now; ``False`` when not connected."""
        sent = self.core.send(payload)
        self._perform()
        return sent

    async def _wait_for_state(self, wanted: ConnectionState) -> None:
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        entry = (wanted, future)
        self._state_waiters.append(entry)
        try:
            await future
        finally:
            if entry in self._state_waiters:
                self._state_waiters.remove(entry)

    # ----------------------------------------------------- the socket's reports

    def socket_opened(self, socket: WebSocket) -> None:
        """The WebSocket handshake finished."""
        if socket is self._socket:
            self._log_frames = frame_logger.isEnabledFor(logging.DEBUG)
            self.core.socket_opened(self._now())
            self._perform()

    def text_received(self, socket: WebSocket, payload: bytes | memoryview) -> None:
        """A text message arrived: the hot path."""
        if socket is not self._socket:
            return
        if self._log_frames:
            frame_logger.debug("received %s", bytes(payload)[:2000])
        core = self.core
        event = core.receive(payload, self._clock())
        if event is not None:
            self._deliver(event)
        if core.outputs:
            self._perform()

    def binary_received(self, socket: WebSocket, size: int) -> None:
        """A binary message arrived: not part of the Pusher protocol."""
        if socket is self._socket:
            self.core.outputs.append(
                ErrorReported(PusherError(f"ignored a binary message of {size} bytes"))
            )
            self._perform()

    def socket_closed(self, socket: WebSocket, code: int | None, reason: str) -> None:
        """The socket is gone."""
        if socket is not self._socket:
            return
        self._socket = None
        logger.info("socket closed (code %s%s)", code, f": {reason}" if reason else "")
        self.core.socket_closed(code, reason, self._now())
        self._perform()

    # ------------------------------------------------------------ the choke point

    def _now(self) -> float:
        return self._clock()

    def _perform(self) -> None:
        outputs = self.core.outputs
        while outputs:
            batch = outputs.copy()
            outputs.clear()
            for output in batch:
                self._carry_out(output)
        self._rearm_timer()

    def _carry_out(self, output: Output) -> None:
        if type(output) is PusherEvent:
            self._deliver(output)
        elif type(output) is SendMessage:
            if self._log_frames:
                frame_logger.debug("sent %s", output.payload[:2000])
            if self._socket is not None:
                self._socket.send(output.payload)
        elif type(output) is StateChanged:
            self._state_changed(output)
        elif type(output) is OpenSocket:
            self._open_socket(output.url)
        elif type(output) is CloseSocket:
            self._close_socket(output)
        elif type(output) is AuthorizeChannel:
            self._authorize(output)
        elif type(output) is AuthenticateUser:
            self._authenticate_user(output.socket_id)
        else:
            self._notify(output)

    # ---------------------------------------------------------------- streams

    def open_stream(self, channel_name: str | None, capacity: int) -> EventStream:
        """A new stream of one channel's events (``None``: every channel's)."""
        stream = EventStream(
            channel_name,
            capacity,
            self._stream_overflowed,
            self._stream_full,
            self._stream_drained,
        )
        record = self.core.channels.get(channel_name) if channel_name is not None else None
        if channel_name is not None and (record is None or channel_name not in self._channels):
            stream.finish()
        elif record is not None and record.failure is not None:
            stream.finish(record.failure)
        else:
            self._streams.setdefault(channel_name, set()).add(stream)
            self._stream_routes.clear()
        return stream

    def close_stream(self, stream: EventStream) -> None:
        """Stop feeding a stream (its iterator is gone)."""
        streams = self._streams.get(stream.key)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.key]
            self._stream_routes.clear()
        stream.finish()

    def _finish_streams(self, channel_name: str | None, error: PusherError | None) -> None:
        self._stream_routes.clear()
        for stream in self._streams.pop(channel_name, ()):
            stream.finish(error)

    def _stream_full(self, stream: EventStream) -> None:
        """Backpressure: stop reading the socket while a consumer catches up."""
        self._full_streams.add(stream)
        if self._socket is not None:
            self._socket.pause_reading()

    def _stream_drained(self, stream: EventStream) -> None:
        self._full_streams.discard(stream)
        if not self._full_streams and self._socket is not None:
            self._socket.resume_reading()

    def _stream_overflowed(self, error: SlowConsumerError) -> None:
        logger.warning("%s", error.message)
        self._call(self._on_error, error.message, None, error)

    # ---------------------------------------------------------------- delivery

    def _deliver(self, event: PusherEvent) -> None:
        dispatcher = self._dispatcher
        assert dispatcher is not None
        channel = self._channels.get(event.channel_name)
        if self._streams and channel is not None:
            route = self._stream_routes.get(event.channel_name)
            if route is None:
                route = self._route_streams(event.channel_name)
            for stream in route:
                stream.put(event)
        if channel is None and event.channel_name.startswith(SERVER_TO_USER_PREFIX):
            if self._on_user_event is not None:
                dispatcher.call(self._on_user_event, event)
            return
        if self._on_event is not None:
            dispatcher.call(self._on_event, event)
        if channel is not None and channel.callbacks.on_event is not None:
            dispatcher.call(channel.callbacks.on_event, event)

    def _route_streams(self, channel_name: str) -> tuple[EventStream, ...]:
        streams = self._streams
        route = (*streams.get(None, ()), *streams.get(channel_name, ()))
        self._stream_routes[channel_name] = route
        return route

    def _call(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is not None:
            assert self._dispatcher is not None
            self._dispatcher.call(callback, *args)

    def _state_changed(self, change: StateChanged) -> None:
        logger.info("connection state %s -> %s", change.previous, change.current)
        for wanted, future in list(self._state_waiters):
            if future.done():
                continue
            if change.current is wanted:
                future.set_result(None)
            elif change.current is ConnectionState.DISCONNECTED:
                future.set_exception(
                    self.core.fatal_error
                    or PusherConnectionError(
                        "disconnect() was called before the connection was made"
                    )
                )
        if change.current is ConnectionState.DISCONNECTED:
            for key in list(self._streams):
                self._finish_streams(key, self.core.fatal_error)
        self._call(self._on_state_change, change.current, change.previous)

    def _notify(self, output: Output) -> None:
        if isinstance(output, ErrorReported):
            error = output.error
            logger.warning("error: %s (code %s)", error.message, error.code)
            self._call(self._on_error, error.message, error.code, error)
            return
        args: tuple[Any, ...]
        if isinstance(output, SignedIn | SigninFailed | WatchlistEvent):
            self._user_notification(output)
            return
        if isinstance(output, DecryptionFailed):
            logger.warning(
                "event %r on %r skipped: %s", output.event_name, output.channel_name, output.reason
            )
            self._call(self._on_decryption_failure, output.event_name, output.reason)
            return
        if isinstance(output, SubscriptionSucceeded):
            name, args = output.channel_name, (output.data,)
            global_callback = self._on_subscription_succeeded
            attribute = "on_subscription_succeeded"
        elif isinstance(output, SubscriptionFailed):
            error = output.error
            name, args = error.channel_name, (error.message, error)
            if output.retry_in is None:
                logger.warning("subscription to %r failed: %s", name, error.message)
                self._finish_streams(name, error)
            else:
                logger.warning(
                    "subscription to %r failed: %s (retrying in %.1f s)",
                    name,
                    error.message,
                    output.retry_in,
                )
            self._call(self._on_subscription_error, error.message, error)
            self._call_channel(name, "on_subscription_error", args)
            return
        elif isinstance(output, MemberAdded):
            name, args = output.channel_name, (output.member,)
            global_callback = self._on_member_added
            attribute = "on_member_added"
        elif isinstance(output, MemberRemoved):
            name, args = output.channel_name, (output.member,)
            global_callback = self._on_member_removed
            attribute = "on_member_removed"
        elif isinstance(output, SubscriptionCountChanged):
            name, args = output.channel_name, (output.count,)
            global_callback = self._on_subscription_count
            attribute = "on_subscription_count"
        else:  # pragma: no cover - every output type is handled above
            raise AssertionError(f"unhandled output {output!r}")
        self._call(global_callback, name, *args)
        self._call_channel(name, attribute, args)

    def _call_channel(self, name: str, attribute: str, args: tuple[Any, ...]) -> None:
        channel = self._channels.get(name)
        if channel is not None:
            self._call(getattr(channel.callbacks, attribute), *args)

    def _callback_failed(self, callback: Callable[..., Any], error: CallbackError) -> None:
        if callback is not self._on_error:
            self._call(self._on_error, error.message, None, error)

    # ------------------------------------------------------------------ sockets

    def _open_socket(self, url: str) -> None:
        assert self._loop is not None
        self._socket = None
        self._open_task = self._loop.create_task(self._open(url), name="pusher_channels open")

    async def _open(self, url: str) -> None:
        task = asyncio.current_task()

        def make_socket() -> WebSocket:
            socket = WebSocket(self)
            self._socket = socket
            return socket

        try:
            await open_websocket(
                make_socket,
                url,
                ssl_context=self.options.ssl_context,
                proxy=self.options.proxy_url,
                handshake_timeout=self.core.settings.handshake_timeout,
            )
        except asyncio.CancelledError:
            return
        except Exception as exc:
            if self._open_task is task:
                self._open_task = None
                self._socket = None
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                logger.info("connection attempt failed: %s", reason)
                fatal = isinstance(exc, ssl.SSLCertVerificationError)
                self.core.socket_open_failed(reason, self._now(), fatal=fatal)
                self._perform()
            return
        if self._open_task is task:
            self._open_task = None

    def _close_socket(self, close: CloseSocket) -> None:
        task, socket = self._open_task, self._socket
        if task is not None:
            self._open_task = None
            task.cancel()
        if close.abort or task is not None:
            self._socket = None
            if socket is not None:
                socket.abort()
            if not close.abort:
                self.core.socket_closed(None, "closed while opening", self._now())
        elif socket is not None:
            socket.close(close.code, close.reason)

    # ------------------------------------------------------------ authorization

    def _authorize(self, request: AuthorizeChannel) -> None:
        if self._authorizer is None:
            self.core.channel_authorization_failed(
                request.channel_name,
                request.socket_id,
                AuthorizationError(
                    f"channel {request.channel_name!r} needs authorization: "
                    "give auth_endpoint=, on_authorizer= or secret=",
                    request.channel_name,
                ),
            )
            return
        assert self._loop is not None
        task = self._loop.create_task(self._run_authorizer(self._authorizer, request))
        self._auth_tasks.add(task)
        task.add_done_callback(self._auth_tasks.discard)

    async def _run_authorizer(self, authorizer: Authorizer, request: AuthorizeChannel) -> None:
        name, socket_id = request.channel_name, request.socket_id
        try:
            async with asyncio.timeout(self.options.auth_timeout):
                auth = await authorizer(name, socket_id)
        except AuthorizationError as exc:
            self.core.channel_authorization_failed(name, socket_id, exc, self._now())
        except TimeoutError:
            self.core.channel_authorization_failed(
                name,
                socket_id,
                AuthorizationError(
                    f"authorization of {name!r} timed out after {self.options.auth_timeout:g} s",
                    name,
                    retryable=True,
                ),
                self._now(),
            )
        except Exception as exc:
            error = AuthorizationError(
                f"authorization of {name!r} failed: {type(exc).__name__}: {exc}",
                name,
                # A network failure inside the callback may pass; a refusal will not.
                retryable=isinstance(exc, ConnectionError | TimeoutError),
            )
            error.__cause__ = exc
            self.core.channel_authorization_failed(name, socket_id, error, self._now())
        else:
            self.core.channel_authorized(name, socket_id, auth)
        self._perform()

    # ----------------------------------------------------------------- sign-in

    async def signin(self) -> dict[str, Any] | None:
        """Ask for sign-in; when connected, wait for the outcome and return user data."""
        self.bind_loop()
        if self.core.state is not ConnectionState.CONNECTED:
            self.core.signin()
            return None
        if self.core.user.user_data is not None:
            return self.core.user.user_data
        assert self._loop is not None
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._signin_waiters.append(future)
        try:
            self.core.signin()
            self._perform()
            timeout = 2 * self.options.auth_timeout  # the authenticator, then the server
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise SigninError(f"no answer to the sign-in within {timeout:g} s") from None
        finally:
            if future in self._signin_waiters:
                self._signin_waiters.remove(future)

    def _authenticate_user(self, socket_id: str) -> None:
        if self._user_authenticator is None:
            self.core.user_authentication_failed(
                socket_id,
                SigninError(
                    "signin() needs user_auth_endpoint=, on_user_authenticator= or secret="
                ),
            )
            return
        assert self._loop is not None
        task = self._loop.create_task(
            self._run_user_authenticator(self._user_authenticator, socket_id)
        )
        self._auth_tasks.add(task)
        task.add_done_callback(self._auth_tasks.discard)

    async def _run_user_authenticator(
        self, authenticator: UserAuthenticator, socket_id: str
    ) -> None:
        try:
            async with asyncio.timeout(self.options.auth_timeout):
                answer = await authenticator(socket_id)
        except SigninError as exc:
            self.core.user_authentication_failed(socket_id, exc)
        except TimeoutError:
            self.core.user_authentication_failed(
                socket_id,
                SigninError(f"user authentication timed out after {self.options.auth_timeout:g} s"),
            )
        except Exception as exc:
            error = SigninError(f"user authentication failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            self.core.user_authentication_failed(socket_id, error)
        else:
            self.core.user_authenticated(socket_id, answer["auth"], answer["user_data"])
        self._perform()

    def _user_notification(self, output: SignedIn | SigninFailed | WatchlistEvent) -> None:
        if isinstance(output, WatchlistEvent):
            self._call(self._on_watchlist_event, output.name, output.user_ids)
            return
        waiters, self._signin_waiters = self._signin_waiters, []
        if isinstance(output, SignedIn):
            logger.info("signed in as user %r", output.user_data.get("id"))
            for future in waiters:
                if not future.done():
                    future.set_result(output.user_data)
            self._call(self._on_signin_succeeded, output.user_data)
            return
        error = output.error
        logger.warning("sign-in failed: %s", error.message)
        for future in waiters:
            if not future.done():
                future.set_exception(error)
        self._call(self._on_error, error.message, error.code, error)

    # ------------------------------------------------------------------- timer

    def _rearm_timer(self) -> None:
        deadline = self.core.next_deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_at = None
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= deadline:
            return  # fires early at worst; the core then asks for the later deadline
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._timer_fired)

    def _timer_fired(self) -> None:
        now = max(self._now(), self._timer_at or 0.0)
        self._timer = None
        self._timer_at = None
        self.core.handle_timer(now)
        self._perform()
