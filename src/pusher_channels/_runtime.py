"""The asyncio runtime: the one place that feeds the protocol core and acts on it.

Everything that happens (a frame, a closed socket, the timer, a user call, an
authorization answer) is fed to the core here; :meth:`Runtime._perform` then takes
the core's outputs and hands each to the part that owns it:

- sockets (open, send, close, abort) to :class:`~._sockets.SocketLifecycle`, which
  gives every connection attempt an identity so a superseded one can never come
  back as the live socket;
- events and notifications to :class:`~._delivery.Delivery` (iterators, callbacks
  and flow control);
- authorization and sign-in requests to :class:`~._authorization.Authorizations`.

The runtime also owns the single timer and the public waits (``connect()``,
``signin()``, ``wait_subscribed()``), and makes sure each of them ends when the
client disconnects.
Nothing else touches the core.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import _bindings
from ._authorization import Authorizations, Authorizer, UserAuthenticator
from ._bindings import NO_BINDINGS, Bindings
from ._delivery import ChannelCallbacks, Delivery
from ._flow import FlowControl
from ._loop_end import LoopEndWatch
from ._proxies import BYPASSED
from ._redaction import redact_frame
from ._sockets import SocketLifecycle
from ._streams import EventStream
from ._waits import Waits
from .exceptions import (
    AuthorizationError,
    PusherConnectionError,
    PusherError,
    SigninError,
    SubscriptionError,
)
from .health import Health, assess
from .options import ClientOptions
from .protocol.actions import (
    AuthenticateUser,
    AuthorizeChannel,
    CloseSocket,
    ConnectionState,
    ErrorReported,
    OpenSocket,
    Output,
    SendMessage,
    SignedIn,
    SigninFailed,
    StateChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from .protocol.channels import ChannelRecord, ChannelStatus
from .protocol.connection import Connection
from .protocol.messages import PusherEvent

__all__ = ["Authorizer", "Runtime", "UserAuthenticator"]

logger = logging.getLogger("pusher_channels")
frame_logger = logging.getLogger("pusher_channels.frames")

FRAME_LOG_BYTES = 2000
"""How much of each frame the DEBUG frame log shows (its signatures and user data
hidden, see :func:`~._redaction.redact_frame`)."""

_DISCONNECTED = ConnectionState.DISCONNECTED
_CONNECTED = ConnectionState.CONNECTED


def _unbound_clock() -> float:
    raise PusherError("this client is not attached to an event loop yet")


class _LoopParts:
    """What the runtime makes for the event loop it runs on."""

    __slots__ = (
        "_authorizations",
        "_loop_end",
        "_runtime",
        "delivery",
        "flow",
        "generation",
        "sockets",
    )

    def __init__(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        options = runtime.options
        self.sockets = SocketLifecycle(
            loop,
            runtime,
            ssl_context=options.ssl_context,
            proxy=runtime.socket_route.url,
            handshake_timeout=runtime.handshake_timeout,
            max_redirects=options.max_handshake_redirects,
            receive_buffer=options.receive_buffer_bytes or None,
        )
        self.flow = FlowControl(loop, self.sockets)
        self.delivery = Delivery(
            loop,
            runtime.callbacks,
            runtime.channel_callbacks,
            self.flow,
            bindings=runtime.bindings,
            listeners=runtime.listeners,
        )
        self._runtime = runtime
        self._authorizations: Authorizations | None = None
        self._loop_end = LoopEndWatch(functools.partial(runtime.loop_ending, loop))
        self.generation = 0
        """Which connection the parts serve: one more at each ``connect()`` that starts
        a connection. A ``disconnect()`` ends what its own generation left running,
        never what a later one started."""

    def start_generation(self) -> None:
        """``connect()`` starts a connection: what begins from now on is the new
        generation's, and a disconnection still ending the previous one stops short of it."""
        self.generation += 1
        self.delivery.dispatcher.connection_started()

    async def end_generation(self, generation: int, grace: float | None) -> None:
        """End what connection ``generation`` left running: its authorizations, the
        HTTP pools, superseded sockets, and its callbacks after ``grace`` seconds.

        A ``connect()`` may start the next generation at any of the awaits below; from
        then on nothing here touches what runs (each step starts only while
        ``generation`` is the current one, and takes what exists at that moment).
        """

        def superseded() -> bool:
            return self.generation != generation

        if superseded():
            return
        await self.authorizations.aclose(superseded)
        await self.sockets.settle()
        if superseded():
            return
        await self.delivery.dispatcher.shutdown(grace)
        if not superseded():
            self.flow.release_all()

    @property
    def authorizations(self) -> Authorizations:
        """The authorization requests, made on first use (a client of public channels
        needs none until it disconnects)."""
        authorizations = self._authorizations
        if authorizations is None:
            runtime = self._runtime
            assert runtime._loop is not None
            authorizations = self._authorizations = Authorizations(
                runtime._loop,
                runtime,
                runtime.authorizer,
                runtime.user_authenticator,
                runtime.options.auth_timeout,
            )
        return authorizations


class Runtime:
    """Drives one :class:`~pusher_channels.protocol.connection.Connection` on asyncio."""

    __slots__ = (
        "_clock",
        "_closed",
        "_connection_changed_at",
        "_connection_changed_at_wall",
        "_core",
        "_delivery",
        "_disconnects",
        "_log_frames",
        "_loop",
        "_lost_connection",
        "_parts",
        "_reconnections",
        "_state_since",
        "_timer",
        "_timer_at",
        "_waiting_since",
        "_waits",
        "authorizer",
        "bindings",
        "callbacks",
        "channel_callbacks",
        "handshake_timeout",
        "listeners",
        "options",
        "socket_route",
        "user_authenticator",
    )

    def __init__(
        self,
        options: ClientOptions,
        authorizer: Authorizer | None = None,
        user_authenticator: UserAuthenticator | None = None,
        *,
        bindings: Bindings | None = None,
        listeners: Bindings | None = None,
    ) -> None:
        self.options = options
        settings = options.connection_settings()
        self._core = Connection(settings)
        self.handshake_timeout = settings.handshake_timeout
        self.socket_route = options.proxy_route(settings.url)
        """The proxy of every socket, decided now from ``proxy``, ``trust_env`` and
        the environment, as the auth endpoints' are."""
        if self.socket_route.url is not None or self.socket_route.source == BYPASSED:
            logger.info("the WebSocket goes %s", self.socket_route.describe())
        self.authorizer = authorizer
        self.user_authenticator = user_authenticator
        self.callbacks: Mapping[str, Callable[..., Any]] = options.callbacks
        self.channel_callbacks: dict[str, ChannelCallbacks] = {}
        self.bindings = bindings if bindings is not None else NO_BINDINGS
        """The client's handlers, for every channel's events (the shared empty
        registry until the client makes its own: see :meth:`use_handlers`)."""
        self.listeners = listeners if listeners is not None else NO_BINDINGS
        """The connection's listeners (``client.connection.bind``)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] = _unbound_clock
        self._parts: _LoopParts | None = None
        self._delivery: Delivery | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._waits = Waits()
        self._log_frames = False
        self._closed = False
        self._disconnects = 0
        """How many times ``disconnect()`` was called: a ``connect()`` waiting for an
        earlier disconnection to finish gives up if another one is asked for."""
        # What the health view needs and the core does not keep (see health()).
        self._state_since = time.time()
        """When the connection entered its current state (epoch seconds)."""
        self._connection_changed_at: float | None = None
        """When the connection last became, or stopped being, CONNECTED (the loop's
        clock); ``None`` before the first connection."""
        self._connection_changed_at_wall = self._state_since
        """The same moment in epoch seconds (the client's creation before any)."""
        self._reconnections = 0
        """Connections established again after one was lost."""
        self._lost_connection = False
        """Whether the connection was lost since it was last established."""
        self._waiting_since: dict[str, float] | None = None
        """Per channel subscribed (or tried again) while connected and not subscribed
        since, when (the loop's clock); ``None`` when there is none."""

    def use_handlers(self, bindings: Bindings, listeners: Bindings) -> None:
        """The client made its handler and listener registries (on its first bind)."""
        self.bindings = bindings
        self.listeners = listeners
        if self._parts is not None:
            self._parts.delivery.use_handlers(bindings, listeners)

    # ------------------------------------------------------------- what it knows

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        return self._core.state

    @property
    def socket_id(self) -> str | None:
        """The socket id of the live connection."""
        return self._core.socket_id

    @property
    def repeated_errors(self) -> int:
        """How many connection errors were logged without ``on_error``, because one of
        the same kind had been reported already in the same outage (for health views)."""
        return self._core.repeated_errors

    @property
    def user_data(self) -> dict[str, Any] | None:
        """The signed-in user's data."""
        return self._core.user.user_data

    # ------------------------------------------------------------ the event loop

    def bind_loop(self) -> _LoopParts:
        """Attach to the running loop: again if the previous one has ended."""
        loop = asyncio.get_running_loop()
        parts = self._parts
        if loop is self._loop and parts is not None:
            return parts
        previous = self._loop
        if previous is not None and not previous.is_closed():
            raise PusherError("this client is in use on another event loop")
        if previous is not None:
            self._forget_loop()
        self._loop = loop
        # The loop's clock; a standard loop's is time.monotonic, called directly on
        # the hot path (one Python call less per frame).
        base_time = asyncio.BaseEventLoop.time
        self._clock = time.monotonic if type(loop).time is base_time else loop.time
        self._timer = None
        self._timer_at = None
        parts = self._parts = _LoopParts(self, loop)
        self._delivery = parts.delivery
        self._perform()
        return parts

    def loop_ending(self, loop: asyncio.AbstractEventLoop) -> None:
        """``loop`` is being shut down (see :mod:`._loop_end`): drop the socket while
        the loop still runs (a closed loop could no longer close it), and start
        afresh on the next loop. Its tasks are cancelled by then.
        """
        parts = self._parts
        if loop is not self._loop or parts is None:
            return  # a loop this runtime has left already
        parts.sockets.abort()
        self._forget_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        self._loop = None
        self._parts = None
        self._delivery = None

    def _forget_loop(self) -> None:
        """The loop ended: whatever ran on it is gone with it."""
        if self._core.state is not _DISCONNECTED:
            logger.info("the event loop this client ran on has ended; starting afresh")
        if self._core.state is _CONNECTED and self._parts is not None:
            # A closed loop still tells the time.
            self._parts.delivery.channels_lost(self._core.last_frame_at)
        previous = self._core.state
        self._core.forget_connection()
        self._core.take_outputs()  # nobody is left to tell on the old loop
        if previous is not _DISCONNECTED:
            self._note_state(_DISCONNECTED, previous, None)
        self._waits.forget()
        for authenticator in (self.authorizer, self.user_authenticator):
            forget = getattr(authenticator, "forget_pool", None)
            if forget is not None:
                forget()

    # ------------------------------------------------------------- user requests

    async def connect(self) -> None:
        """Connect, and return once connected; raise if refused or disconnected.

        Called while a disconnection is under way, it first lets that finish.
        """
        parts = self.bind_loop()
        assert self._loop is not None
        disconnects = self._disconnects
        while self._core.state is ConnectionState.DISCONNECTING:
            await self._waits.until_disconnected(self._loop)
        if self._closed:
            raise PusherConnectionError("init() replaced this client's configuration")
        if self._disconnects != disconnects:
            raise self._why_disconnected()
        if self._core.state is _DISCONNECTED:
            parts.start_generation()
        self._core.connect(self._clock())
        self._perform()
        if self._core.state is not _CONNECTED:
            await self._waits.until_connected(self._loop)

    def stop_connecting(self) -> None:
        """Give up a connection under way (a cancelled ``connect()``), at once."""
        if self._parts is not None and self._core.state in (
            ConnectionState.CONNECTING,
            ConnectionState.RECONNECTING,
        ):
            self._core.disconnect(self._clock())
            self._perform()

    async def disconnect(self, grace: float | None = None) -> None:
        """Close the connection; return once nothing of it is left.

        Every public wait ends, every iterator ends, authorizations are cancelled,
        and callbacks still running after ``grace`` seconds (default
        :data:`~._dispatch.SHUTDOWN_GRACE`) are cancelled. A ``connect()`` made
        meanwhile ends that cleanup where it stands: what runs then belongs to the new
        connection (see :meth:`_LoopParts.end_generation`).
        """
        parts = self.bind_loop()
        with parts.delivery.dispatcher.disconnecting():
            await self._disconnect(parts, grace)

    async def _disconnect(self, parts: _LoopParts, grace: float | None) -> None:
        self._disconnects += 1
        generation = parts.generation
        self._core.disconnect(self._clock())
        self._perform()
        if self._core.state is not _DISCONNECTED:
            assert self._loop is not None
            await self._waits.until_disconnected(self._loop)
        if self._core.state is not _DISCONNECTED or parts.generation != generation:
            return  # connect() was called meanwhile: what runs now belongs to it
        self._end_waits()  # also when the client was disconnected already
        await parts.end_generation(generation, grace)

    async def close(self) -> None:
        """Disconnect for good (the client is being configured afresh)."""
        self._closed = True
        loop = self._loop
        if loop is None:
            return
        if loop.is_closed():
            self._forget_loop()
            return
        if loop is not asyncio.get_running_loop():
            raise PusherError("this client is in use on another event loop")
        await self.disconnect()

    def subscribe(self, channel_name: str, callbacks: ChannelCallbacks) -> ChannelRecord:
        """Register a channel and its callbacks; subscribe now if connected.

        A channel registered already takes the callbacks that ``callbacks`` sets;
        otherwise ``callbacks`` is kept (and given the core's record).
        """
        existing = self.channel_callbacks.get(channel_name)
        known = self._core.channels.get(channel_name)
        tried_again = known is None or known.status is ChannelStatus.FAILED
        record = self._core.subscribe(channel_name)
        if tried_again and self._core.state is _CONNECTED:
            self._note_waiting(channel_name)
        if existing is None:
            callbacks._record = record
            self.channel_callbacks[channel_name] = callbacks
        elif existing is not callbacks:
            existing._update(callbacks)
        if self._parts is not None:
            self._parts.delivery.forget_plans()
            self._perform()
        return record

    def unsubscribe(self, channel_name: str) -> None:
        """Forget a channel: its callbacks stop and its event streams end."""
        self.channel_callbacks.pop(channel_name, None)
        self._core.unsubscribe(channel_name)
        self._waits.unsubscribed(channel_name)
        if self._waiting_since:
            self._waiting_since.pop(channel_name, None)
        if self._parts is not None:
            self._parts.delivery.forget_plans()
            self._parts.delivery.finish_streams(channel_name)
            self._perform()
        else:
            self._core.take_outputs()  # nothing to send without a connection

    async def wait_subscribed(self, channel_name: str, timeout: float | None = None) -> None:
        """Return once the channel is subscribed; raise why it is not, or will not be.

        Failures the client retries by itself are waited through.

        Raises:
            SubscriptionError: the channel is not registered, its last attempt
                failed for good (that failure), or it was unsubscribed meanwhile.
            PusherConnectionError: the client is not connected nor connecting, or
                was disconnected meanwhile.
            PusherTimeoutError: ``timeout`` expired; its ``__cause__`` is the last
                failure retried meanwhile, if any.
        """
        self.bind_loop()
        record = self._core.channels.get(channel_name)
        if record is None or channel_name not in self.channel_callbacks:
            raise SubscriptionError(f"not subscribed to {channel_name!r}", channel_name)
        if record.status is ChannelStatus.SUBSCRIBED:
            return
        if record.refused and record.failure is not None:
            raise record.failure
        if self._core.state is _DISCONNECTED:
            raise self._core.fatal_error or PusherConnectionError(
                "not connected: call connect() to subscribe"
            )
        assert self._loop is not None
        await self._waits.until_subscribed(channel_name, self._loop, timeout, record.failure)

    def send(self, payload: bytes) -> bool:
        """Send a prepared message now; ``False`` when not connected."""
        sent = self._core.send(payload)
        self._perform()
        return sent

    def open_stream(self, channel_name: str | None, capacity: int) -> EventStream:
        """A new stream of one channel's events (``None``: every channel's).

        A stream of a channel that is not subscribed ends at once; one of a channel
        whose subscription failed raises that failure.
        """
        delivery = self.bind_loop().delivery
        if channel_name is None:
            return delivery.open_stream(None, capacity)
        stream = delivery.open_stream(channel_name, capacity)
        record = self._core.channels.get(channel_name)
        if record is None or channel_name not in self.channel_callbacks:
            delivery.close_stream(stream)
        elif record.refused and record.failure is not None:
            delivery.close_stream(stream, record.failure)
        return stream

    def close_stream(self, stream: EventStream) -> None:
        """Stop feeding a stream (its iterator is gone)."""
        if self._parts is not None:
            self._parts.delivery.close_stream(stream)
        else:
            stream.finish()

    async def signin(self) -> dict[str, Any] | None:
        """Ask for sign-in; when connected, wait for the outcome and return user data."""
        self.bind_loop()
        core = self._core
        if core.state is not _CONNECTED:
            core.signin()
            return None
        if core.user.user_data is not None:
            return core.user.user_data
        assert self._loop is not None
        timeout = 2 * self.options.auth_timeout  # the authenticator, then the server
        with self._waits.signin_answer(self._loop) as answer:
            core.signin()
            self._perform()
            try:
                async with asyncio.timeout(timeout):
                    return await answer
            except TimeoutError:
                raise SigninError(f"no answer to the sign-in within {timeout:g} s") from None

    # ----------------------------------------------------- the socket's reports

    def socket_opened(self) -> None:
        """The current attempt's WebSocket handshake finished."""
        self._log_frames = frame_logger.isEnabledFor(logging.DEBUG)
        self._core.socket_opened(self._clock())
        self._perform()

    def text_received(self, payload: bytes | memoryview) -> None:
        """A text message arrived on the current socket: the hot path.

        The socket calls this directly (see :class:`~._sockets.Attempt`), and an
        event is given here to what its channel's delivery was decided to be (see
        :attr:`~._delivery.Delivery.plans`), as :meth:`~._dispatch.Dispatcher.call`
        would when no lane is open.
        """
        if self._log_frames:
            frame_logger.debug("received %s", redact_frame(bytes(payload[:FRAME_LOG_BYTES])))
        core = self._core
        event = core.receive(payload, self._clock())
        if event is not None:
            delivery: Delivery = self._delivery  # type: ignore[assignment]
            target = delivery.plans.get(event.channel_name)
            if target is None or delivery.lanes or delivery.generation is not _bindings.generation:
                delivery.deliver(event)  # decides first, or queues behind a lane
            else:
                try:
                    result = target(event)
                except (Exception, asyncio.CancelledError) as exc:
                    delivery.dispatcher.failed(target, exc)
                else:
                    if result is not None and inspect.isawaitable(result):
                        delivery.dispatcher.open_lane(target, result)
        if core.outputs:
            self._perform()

    def binary_received(self, size: int) -> None:
        """A binary message arrived: not part of the Pusher protocol."""
        assert self._parts is not None
        self._parts.delivery.notify(
            ErrorReported(PusherError(f"ignored a binary message of {size} bytes"))
        )

    def socket_closed(self, code: int | None, reason: str) -> None:
        """The current socket is gone."""
        logger.info("socket closed (code %s%s)", code, f": {reason}" if reason else "")
        self._core.socket_closed(code, reason, self._clock())
        self._perform()

    def socket_open_failed(self, reason: str, certificate: bool, fatal: bool = False) -> None:
        """The current attempt could not open its socket."""
        self._core.socket_open_failed(reason, self._clock(), certificate=certificate, fatal=fatal)
        self._perform()

    # ------------------------------------------------- the authorizers' answers

    def channel_authorized(self, request: AuthorizeChannel, auth: dict[str, Any]) -> None:
        """Feed an authorization to the core."""
        self._core.channel_authorized(
            request.channel_name, request.socket_id, auth, request.incarnation
        )
        self._perform()

    def channel_authorization_failed(
        self, request: AuthorizeChannel, error: AuthorizationError
    ) -> None:
        """Feed an authorization failure to the core (retried if retryable)."""
        self._core.channel_authorization_failed(
            request.channel_name, request.socket_id, error, self._clock(), request.incarnation
        )
        self._perform()

    def user_authenticated(self, socket_id: str, answer: dict[str, str]) -> None:
        """Feed a user authentication to the core."""
        self._core.user_authenticated(socket_id, answer["auth"], answer["user_data"])
        self._perform()

    def user_authentication_failed(self, socket_id: str, error: SigninError) -> None:
        """Feed a user authentication failure to the core."""
        self._core.user_authentication_failed(socket_id, error)
        self._perform()

    # ------------------------------------------------------------ the choke point

    def _perform(self) -> None:
        parts = self._parts
        if parts is None:
            return
        core = self._core
        while core.has_outputs:
            for output in core.take_outputs():
                self._carry_out(parts, output)
        self._rearm_timer()

    def _carry_out(self, parts: _LoopParts, output: Output) -> None:
        kind = type(output)
        if kind is PusherEvent:
            parts.delivery.deliver(output)  # type: ignore[arg-type]
        elif kind is SendMessage:
            payload = output.payload  # type: ignore[union-attr]
            if self._log_frames:
                frame_logger.debug("sent %s", redact_frame(payload[:FRAME_LOG_BYTES]))
            parts.sockets.send(payload)
        elif kind is StateChanged:
            self._state_changed(parts, output)  # type: ignore[arg-type]
        elif kind is OpenSocket:
            parts.sockets.open(output.url)  # type: ignore[union-attr]
        elif kind is CloseSocket:
            self._close_socket(parts, output)  # type: ignore[arg-type]
        elif kind is AuthorizeChannel:
            parts.authorizations.authorize(output)  # type: ignore[arg-type]
        elif kind is AuthenticateUser:
            parts.authorizations.authenticate_user(output)  # type: ignore[arg-type]
        elif kind is SignedIn or kind is SigninFailed:
            self._waits.signin_answered(output)  # type: ignore[arg-type]
            parts.delivery.notify(output)
        elif kind is SubscriptionSucceeded:
            parts.delivery.notify(output)
            name: str = output.channel_name  # type: ignore[union-attr]
            self._waits.subscription_answered(name, None)
            if self._waiting_since:
                self._waiting_since.pop(name, None)
        elif kind is SubscriptionFailed:
            parts.delivery.notify(output)
            error: SubscriptionError = output.error  # type: ignore[union-attr,assignment]
            if output.retry_in is None:  # type: ignore[union-attr]
                self._waits.subscription_answered(error.channel_name, error)
            else:
                self._waits.subscription_retrying(error.channel_name, error)
        else:
            parts.delivery.notify(output)

    def _close_socket(self, parts: _LoopParts, close: CloseSocket) -> None:
        if close.abort:
            parts.sockets.abort()
        elif not parts.sockets.close(close.code, close.reason):
            self._core.socket_closed(None, "closed while opening", self._clock())

    def _state_changed(self, parts: _LoopParts, change: StateChanged) -> None:
        current = change.current
        self._note_state(current, change.previous, self._clock())
        if change.previous is _CONNECTED:
            parts.delivery.channels_lost(self._core.last_frame_at)
        if current is _CONNECTED:
            parts.sockets.connection_established()
        if current is _CONNECTED:
            self._waits.connected()
        if current is _DISCONNECTED:
            self._end_waits()
        parts.delivery.notify(change)

    def _why_disconnected(self) -> PusherConnectionError:
        return self._core.fatal_error or PusherConnectionError(
            "disconnect() was called before the connection was made"
        )

    def _end_waits(self) -> None:
        """End every public wait and every iterator: the client is disconnected."""
        if self._parts is not None:
            self._parts.delivery.finish_all_streams(self._core.fatal_error)
        self._waits.disconnected(self._why_disconnected())

    # ------------------------------------------------------------------ health

    def health(self) -> Health:
        """A snapshot of the connection and of every wanted channel (see
        :class:`~pusher_channels.Health`); on the loop's thread."""
        core = self._core
        settings = core.settings
        return assess(
            state=core.state,
            state_since=self._state_since,
            connection_changed_at=self._connection_changed_at,
            connection_changed_at_wall=self._connection_changed_at_wall,
            now=self._clock() if self._loop is not None else None,
            wall_now=time.time(),
            last_frame_at=core.last_frame_at,
            reconnections=self._reconnections,
            repeated_errors=core.repeated_errors,
            records=list(core.channels.records.values()),
            waiting_since=dict(self._waiting_since or {}),
            frame_limit=core.activity_timeout + settings.pong_timeout,
            max_gap=settings.backoff.maximum,
        )

    def _note_state(
        self, current: ConnectionState, previous: ConnectionState, now: float | None
    ) -> None:
        """Keep what the health view tells of the connection's states."""
        self._state_since = time.time()
        if current is _CONNECTED or previous is _CONNECTED:
            self._connection_changed_at = now
            self._connection_changed_at_wall = self._state_since
            self._waiting_since = None  # the connection's own time covers them all
        if current is _CONNECTED:
            if self._lost_connection:
                self._reconnections += 1
            self._lost_connection = False
        elif previous is _CONNECTED and current is not ConnectionState.DISCONNECTING:
            self._lost_connection = True
        elif current is _DISCONNECTED:
            self._lost_connection = False

    def _note_waiting(self, channel_name: str) -> None:
        """A channel is subscribed, or tried again, while connected: it is waited
        for since now."""
        waiting = self._waiting_since
        if waiting is None:
            waiting = self._waiting_since = {}
        waiting[channel_name] = self._clock()

    # ------------------------------------------------------------------- timer

    def _rearm_timer(self) -> None:
        deadline = self._core.next_deadline()
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
        now = max(self._clock(), self._timer_at or 0.0)
        self._timer = None
        self._timer_at = None
        self._core.handle_timer(now)
        self._perform()
