"""The connection state machine: the whole Pusher protocol, with no I/O and no clock.

Feed it what happened (``connect``, ``socket_opened``, ``receive``, ``socket_closed``,
``handle_timer``, ...), each with ``now`` in seconds from any monotonic clock. It
hands back what to do through :meth:`Connection.take_outputs` (see :mod:`.actions`),
the way h11 hands back events, and tells when
it next needs ``handle_timer`` through :meth:`Connection.next_deadline`.

States (the Flutter client's names)::

    DISCONNECTED --connect--> CONNECTING --connection_established--> CONNECTED
         ^                        |  ^                                   |
         |                 failed |  | backoff delay                     | lost
         |                        v  |                                   |
         +--(refused / gave up)-- RECONNECTING <-------------------------+
    any --disconnect--> DISCONNECTING --socket closed--> DISCONNECTED

Heartbeat: after ``activity_timeout`` seconds without any message the core sends
``pusher:ping``; if nothing arrives within ``pong_timeout`` the socket is dropped
and a new one opened. The effective activity timeout is the smaller of the option
and the server's ``activity_timeout`` (protocol 7).

A server restart is one incident: its waits and its error reports are the
:class:`~.outages.Outage`'s (a 42xx close reconnected at once, then backoff if it
repeats; each kind of error reported once per outage).

Subscribe answers: a server that leaves every subscribe due unanswered for as long
as it may leave a ping (activity timeout plus pong timeout) has lost one, and the
protocol cannot ask again on that connection; the socket is dropped and a new one
opened at once, which subscribes every channel afresh.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..exceptions import (
    AuthorizationError,
    PusherConnectionError,
    PusherError,
    PusherProtocolError,
    SigninError,
)
from .actions import (
    AuthenticateUser,
    CloseSocket,
    ConnectionState,
    ErrorReported,
    OpenSocket,
    Output,
    SendMessage,
    SignedIn,
    SigninFailed,
    StateChanged,
    WatchlistEvent,
)
from .backoff import Backoff
from .channels import ChannelKind, ChannelRecord
from .close import CloseAction, close_action, describe_close
from .messages import (
    INTERNAL_PREFIX,
    PUBLIC_PREFIX,
    PusherEvent,
    _WireEvent,
    decode_data,
    decode_frame,
    encode_message,
    json_text,
    received_event,
)
from .outages import Outage
from .subscriptions import Subscriptions, refuses_a_subscription
from .user import SigninStatus, UserSession, parse_signin_success, parse_watchlist_events

__all__ = ["LATE_TIMER", "MIN_ACTIVITY_TIMEOUT", "Connection", "ConnectionSettings"]

MIN_ACTIVITY_TIMEOUT: Final = 1.0
"""The shortest activity timeout, in seconds: of the option, and of the server's value."""
LATE_TIMER: Final = 0.05
"""Seconds past its deadline at which a reconnection timer counts as late: its wait is
drawn again (once), so that reconnections held up together do not fire together."""

_SYSTEM_PREFIXES: Final = (PUBLIC_PREFIX, INTERNAL_PREFIX)
# Enum members as module constants for the hot path: reading ``Enum.MEMBER`` goes
# through a descriptor (about 45 ns on Python 3.11), a module global does not.
_CONNECTED: Final = ConnectionState.CONNECTED
_PRIVATE_ENCRYPTED: Final = ChannelKind.PRIVATE_ENCRYPTED
_PING: Final = encode_message("pusher:ping", {})
_PONG: Final = encode_message("pusher:pong", {})
_new_object: Final = object.__new__


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What the state machine needs to know, all times in seconds.

    Attributes:
        url: the WebSocket URL to open.
        activity_timeout: silence after which the client pings (the option; the
            server's value lowers it).
        pong_timeout: how long to wait for an answer to a ping.
        backoff: the reconnection delay policy.
        max_reconnection_attempts: consecutive failed attempts before giving up;
            ``None`` retries forever.
        handshake_timeout: how long a new socket may take to open and receive
            ``pusher:connection_established``.
        close_timeout: how long a polite close may take before the socket is dropped.
    """

    url: str
    activity_timeout: float = 120.0
    pong_timeout: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    max_reconnection_attempts: int | None = None
    handshake_timeout: float = 10.0
    close_timeout: float = 2.0


class Connection:
    """The sans-I/O Pusher protocol core for one client.

    Attributes:
        state: the current :class:`ConnectionState`.
        socket_id: the server-assigned socket id while connected, else ``None``.
        channels: the channel registry.
        fatal_error: why the connection last stopped by itself (a refusal or giving
            up), or ``None``.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        random_value: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._random_value = random_value
        self._outputs: list[Output] = []
        self._spread_again = False
        """Whether the current reconnection wait was already drawn again after a late
        timer (see :data:`LATE_TIMER`)."""
        self.outputs = self._outputs
        """The outputs not taken yet, to test for emptiness without a call (the
        runtime's hot path); read them with :meth:`take_outputs`. The same list for
        the connection's life."""
        self.state = ConnectionState.DISCONNECTED
        self.socket_id: str | None = None
        self.subscriptions = Subscriptions(self._outputs, settings.backoff, random_value)
        self.user = UserSession()
        self.channels = self.subscriptions.registry
        self._records = self.channels.records
        self.fatal_error: PusherConnectionError | None = None
        self.activity_timeout = settings.activity_timeout
        self._socket_exists = False
        self._attempts = 0
        self._deadline: float | None = None
        self._last_activity = 0.0
        self._ping_sent_at: float | None = None
        self._connect_after_close = False
        self._announced_close: tuple[int, str] | None = None
        """A close code and message the server sent as ``pusher:error`` before closing."""
        self._outage = Outage(settings.backoff)

    @property
    def last_frame_at(self) -> float:
        """When the latest frame arrived (the ``now`` given to :meth:`receive`); a
        new socket counts from when it opened until its first frame. On leaving
        ``CONNECTED`` it is the last frame of the connection just lost or closed:
        everything sent after it may have been missed, the silence before the loss
        was noticed included."""
        return self._last_activity

    @property
    def repeated_errors(self) -> int:
        """How many errors of the connection were counted instead of reported: one of
        the same kind had been reported already in the same outage."""
        return self._outage.repeated_errors

    # -------------------------------------------------------------------- outputs

    @property
    def has_outputs(self) -> bool:
        """Whether the inputs so far left outputs that were not taken yet."""
        return bool(self._outputs)

    def take_outputs(self) -> list[Output]:
        """The outputs left by the inputs since the last call, in order.

        The caller owns the returned list; the core starts a new one.
        """
        outputs = self._outputs
        if not outputs:
            return []
        taken = outputs.copy()
        outputs.clear()
        return taken

    # ----------------------------------------------------------------- user inputs

    def connect(self, now: float) -> None:
        """Start connecting, unless a connection exists or is under way."""
        if self.state is ConnectionState.DISCONNECTING:
            self._connect_after_close = True
        elif self.state is ConnectionState.DISCONNECTED:
            self.fatal_error = None
            self._attempts = 0
            self._outage.start_afresh()
            self._open_socket(now)

    def disconnect(self, now: float) -> None:
        """Close the connection; nothing reconnects until :meth:`connect`."""
        self._connect_after_close = False
        if self.state in (ConnectionState.DISCONNECTED, ConnectionState.DISCONNECTING):
            return
        self._set_state(ConnectionState.DISCONNECTING)
        self.subscriptions.connection_closing()
        if self._socket_exists:
            self._outputs.append(CloseSocket(1000, "client disconnect"))
            self._deadline = now + self.settings.close_timeout
        else:
            self._finish_disconnect()

    def forget_connection(self) -> None:
        """The socket vanished with the event loop that ran it: start from DISCONNECTED.

        Nothing is closed (there is nothing left to close); channels stay registered
        and are subscribed again on the next :meth:`connect`.
        """
        self._connect_after_close = False
        self._socket_exists = False
        if self.state is not ConnectionState.DISCONNECTED:
            self._finish_disconnect()

    def subscribe(self, channel_name: str) -> ChannelRecord:
        """Register a channel; subscribe it now if connected, else on connection.

        A channel that is already registered is left as it is, unless its last
        attempt failed: then it is tried again.
        """
        return self.subscriptions.subscribe(channel_name, self.state is ConnectionState.CONNECTED)

    def unsubscribe(self, channel_name: str) -> None:
        """Forget a channel: its events stop at once and it is not resubscribed."""
        self.subscriptions.unsubscribe(channel_name, self.state is ConnectionState.CONNECTED)

    def send(self, payload: bytes) -> bool:
        """Send a prepared message if connected; return whether it was sent."""
        if self.state is not ConnectionState.CONNECTED:
            return False
        self._outputs.append(SendMessage(payload))
        return True

    # --------------------------------------------------------------- socket inputs

    def socket_opened(self, now: float) -> None:
        """The WebSocket handshake finished; wait for ``connection_established``."""
        self._last_activity = now

    def socket_closed(self, code: int | None, reason: str, now: float) -> None:
        """The socket is gone: closed with ``code``, or failed (``None``) to open."""
        if not self._socket_exists:
            return
        self._socket_exists = False
        if self.state is ConnectionState.DISCONNECTING:
            self._finish_disconnect()
            if self._connect_after_close:
                self._connect_after_close = False
                self.connect(now)
        elif self.state in (ConnectionState.CONNECTING, ConnectionState.CONNECTED):
            self._connection_lost(code, reason, close_action(code), now)

    def socket_open_failed(
        self, reason: str, now: float, *, certificate: bool = False, fatal: bool = False
    ) -> None:
        """The socket could not be opened (refused, DNS, TLS, HTTP error, timeout).

        A ``fatal`` failure, which no retry can mend (a port seen to speak WebSocket
        without TLS when TLS was asked for), stops the connection. Every other
        failure is retried with backoff, up to ``max_reconnection_attempts``.
        The first of a series is reported, so that an outage is heard of once, not
        per attempt. A ``certificate`` that did not verify is reported every time
        and retried slowly (no quick attempts): someone has to act (renew it, fix
        the clock, trust the CA), and once they have, a long-running service comes
        back by itself.
        """
        if not self._socket_exists or self.state is not ConnectionState.CONNECTING:
            self.socket_closed(None, reason, now)
            return
        self._socket_exists = False
        if fatal:
            self._stop(PusherConnectionError(f"cannot connect: {reason}"))
            return
        if certificate:
            if self._attempts_left():
                self._report(PusherConnectionError(f"cannot connect: {reason}"))
            self._connection_lost(None, reason, CloseAction.BACKOFF_SLOWLY, now)
            return
        if self._attempts == 0:
            self._report(PusherConnectionError(f"cannot connect: {reason}"))
        self._connection_lost(None, reason, CloseAction.BACKOFF, now)

    def _attempts_left(self) -> bool:
        """Whether the attempt that just failed is not the last one allowed."""
        limit = self.settings.max_reconnection_attempts
        return limit is None or self._attempts < limit

    def receive(self, text: str | bytes | bytearray | memoryview, now: float) -> PusherEvent | None:
        """Take one text frame from the server.

        A plain channel event is returned, for delivery to callbacks (the hot path
        leaves no outputs). Everything else leaves outputs for :meth:`take_outputs`.
        """
        self._last_activity = now
        self._ping_sent_at = None
        # The hot path, an event on a channel: one parse, subscripts (a frame that is
        # not an object with both fields raises, and takes the general path), checks
        # by type(), the event built inline.
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._receive_frame(text, None, now)
        try:
            event = frame["event"]
            channel = frame["channel"]
        except (KeyError, TypeError):  # not an object (TypeError), or a field missing
            return self._receive_frame(text, frame, now)
        if type(event) is not str or type(channel) is not str or event.startswith(_SYSTEM_PREFIXES):
            return self._receive_frame(text, frame, now)
        if self.state is not _CONNECTED:
            return None
        record = self._records.get(channel)
        if record is None:
            if channel == self.user.channel_name:
                return received_event(channel, event, frame.get("data"), None)
            return None
        user_id = frame.get("user_id")
        if user_id is not None and type(user_id) is not str:
            user_id = str(user_id)
        if record.kind is _PRIVATE_ENCRYPTED:
            return self.subscriptions.encrypted_event(record, event, frame.get("data"), user_id)
        data = frame.get("data")
        if data is not None and type(data) is not str:
            data = json_text(data)
        # received_event(), inline. The record's own name: the frame's copy is freed
        # with the frame, so a buffered event holds one string less.
        wire = _new_object(_WireEvent)
        wire.channel_name = record.name
        wire.event_name = event
        wire.data = data
        wire.user_id = user_id
        wire.__class__ = PusherEvent  # type: ignore[assignment]
        return wire  # type: ignore[return-value]

    def _receive_frame(
        self, text: str | bytes | bytearray | memoryview, frame: Any, now: float
    ) -> PusherEvent | None:
        """Any frame but an event on a channel (which :meth:`receive` takes): system
        events, events without a channel, malformed frames. ``frame`` is the parsed
        JSON (``None`` if it did not parse)."""
        event = frame.get("event") if type(frame) is dict else None
        if type(event) is not str:
            try:
                decode_frame(text)  # says precisely what is wrong
            except PusherProtocolError as exc:
                self._report(exc)
            return None
        assert frame is not None
        channel = frame.get("channel")
        if channel is not None and type(channel) is not str:
            self._report(PusherProtocolError(f"'channel' is not a string in {event!r}"))
            return None
        # A channel event with a string name took the hot path: what is left is the
        # protocol's own (``pusher:``, ``pusher_internal:``) and events without a channel.
        return self._receive_system(frame, event, channel, now)

    # ------------------------------------------------------------------ the timer

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` for never."""
        if self.state is ConnectionState.CONNECTED:
            if self.subscriptions.starting:
                return self._last_activity  # past: at once, on the loop's next turn
            if self._ping_sent_at is not None:
                heartbeat = self._ping_sent_at + self.settings.pong_timeout
            else:
                heartbeat = self._last_activity + self.activity_timeout
            retry = self.subscriptions.next_retry()
            deadline = heartbeat if retry is None else min(heartbeat, retry)
            answers = self.subscriptions.answer_deadline(self._answer_timeout)
            return deadline if answers is None else min(deadline, answers)
        return self._deadline

    @property
    def _answer_timeout(self) -> float:
        """How long the server may leave every subscribe due unanswered: as long as
        it may leave a ping unanswered after a silence (activity timeout, then pong
        timeout), after which a connection is taken as broken."""
        return self.activity_timeout + self.settings.pong_timeout

    def handle_timer(self, now: float) -> None:
        """Act on whatever deadline has passed by ``now`` (early calls do nothing)."""
        state = self.state
        if state is ConnectionState.CONNECTED:
            subscriptions = self.subscriptions
            if subscriptions.unanswered:
                since = subscriptions.unanswered_since
                if since is None:
                    subscriptions.unanswered_since = now
                elif now >= since + self._answer_timeout:
                    self._drop_socket(
                        f"no answer to {subscriptions.unanswered} subscription(s) within "
                        f"{self._answer_timeout:g} s: the server lost them",
                        CloseAction.RECONNECT_NOW,
                        now,
                    )
                    return
            self.subscriptions.start_more()
            self.subscriptions.retry_due(now)
            if self._ping_sent_at is not None:
                if now >= self._ping_sent_at + self.settings.pong_timeout:
                    self._drop_socket(
                        f"no pong within {self.settings.pong_timeout:g} s of a ping",
                        CloseAction.RECONNECT_NOW,
                        now,
                    )
            elif now >= self._last_activity + self.activity_timeout:
                self._ping_sent_at = now
                self._outputs.append(SendMessage(_PING))
            return
        if self._deadline is None or now < self._deadline:
            return
        if (
            state is ConnectionState.RECONNECTING
            and now - self._deadline > LATE_TIMER
            and not self._spread_again
        ):
            # The timer fired late: the event loop was held (by the application, or
            # by many clients of one process dropped at once). Every reconnection
            # due meanwhile fires in the same instant; a new random wait spreads
            # them again instead of storming the server together. Once per wait.
            self._spread_again = True
            self._deadline = now + self.settings.backoff.quick_delay * self._random_value()
            return
        self._deadline = None
        if state is ConnectionState.CONNECTING:
            self._drop_socket(
                f"no connection within {self.settings.handshake_timeout:g} s",
                CloseAction.BACKOFF,
                now,
            )
        elif state is ConnectionState.RECONNECTING:
            self._open_socket(now)
        elif state is ConnectionState.DISCONNECTING:
            self._outputs.append(CloseSocket(abort=True))
            self._socket_exists = False
            self._finish_disconnect()
            if self._connect_after_close:
                self._connect_after_close = False
                self.connect(now)

    # ------------------------------------------------------------- authorization

    def signin(self) -> None:
        """Sign the user in, now if connected, and again on every new connection."""
        self.user.wanted = True
        if self.state is ConnectionState.CONNECTED and self.user.status in (
            SigninStatus.IDLE,
            SigninStatus.FAILED,
        ):
            self._start_signin()

    def user_authenticated(self, socket_id: str, auth: str, user_data: str) -> None:
        """The user authenticator answered for ``socket_id``: send ``pusher:signin``.

        ``user_data`` is the exact JSON string that was signed.
        """
        if (
            self.state is not ConnectionState.CONNECTED
            or socket_id != self.socket_id
            or self.user.status is not SigninStatus.AUTHENTICATING
        ):
            return
        self.user.status = SigninStatus.SENT
        message = encode_message("pusher:signin", {"auth": auth, "user_data": user_data})
        self._outputs.append(SendMessage(message))

    def user_authentication_failed(self, socket_id: str, error: SigninError) -> None:
        """The user authenticator failed; the next connection tries again."""
        if (
            self.state is not ConnectionState.CONNECTED
            or socket_id != self.socket_id
            or self.user.status is not SigninStatus.AUTHENTICATING
        ):
            return
        self.user.status = SigninStatus.FAILED
        self._outputs.append(SigninFailed(error))

    def _start_signin(self) -> None:
        assert self.socket_id is not None
        self.user.status = SigninStatus.AUTHENTICATING
        self._outputs.append(AuthenticateUser(self.socket_id))

    def _signed_in(self, data: Any) -> None:
        if self.user.status is not SigninStatus.SENT:
            self._report(PusherProtocolError("pusher:signin_success without a sign-in"))
            return
        try:
            user_data = parse_signin_success(data)
        except PusherProtocolError as exc:
            self.user.status = SigninStatus.FAILED
            self._outputs.append(SigninFailed(SigninError(exc.message)))
            return
        self.user.status = SigninStatus.SIGNED_IN
        self.user.user_data = user_data
        self._outputs.append(SignedIn(user_data))
        channel = self.user.channel_name
        self._outputs.append(SendMessage(encode_message("pusher:subscribe", {"channel": channel})))

    def channel_authorized(
        self,
        channel_name: str,
        socket_id: str,
        auth: dict[str, Any],
        incarnation: int | None = None,
    ) -> None:
        """The authorizer answered for ``channel_name`` on ``socket_id``.

        ``auth`` holds ``auth`` and, as the channel needs, ``channel_data`` (presence)
        and ``shared_secret`` (encrypted, base64 decoded to bytes by the caller).
        ``incarnation`` is the request's (:class:`AuthorizeChannel`). An answer for
        another socket id, another incarnation, or a channel no longer waiting, is
        discarded: an authorization is only ever used for the request it answers.
        """
        self.subscriptions.authorized(channel_name, socket_id, auth, incarnation)

    def channel_authorization_failed(
        self,
        channel_name: str,
        socket_id: str,
        error: AuthorizationError,
        now: float | None = None,
        incarnation: int | None = None,
    ) -> None:
        """The authorizer failed for ``channel_name``: the channel is not subscribed.

        With ``now``, a ``retryable`` failure is tried again by itself, with backoff.
        A failure for another socket id or incarnation is discarded.
        """
        if self.state is not ConnectionState.CONNECTED:
            return
        self.subscriptions.authorization_failed(channel_name, socket_id, error, now, incarnation)

    # ------------------------------------------------------------------ internals

    def _set_state(self, new: ConnectionState) -> None:
        previous = self.state
        if new is not previous:
            self.state = new
            self._outputs.append(StateChanged(new, previous))

    def _report(self, error: PusherError) -> None:
        self._outputs.append(ErrorReported(error))

    def _report_once_per_outage(self, error: PusherError) -> None:
        """Report an error of the connection (a close code, announced or not), unless
        one of its kind was reported already in this outage (:class:`Outage`)."""
        self._outputs.append(self._outage.report(error, connected=self.state is _CONNECTED))

    def _open_socket(self, now: float) -> None:
        self._spread_again = False
        self._socket_exists = True
        self._announced_close = None
        self._deadline = now + self.settings.handshake_timeout
        self._ping_sent_at = None
        self._set_state(ConnectionState.CONNECTING)
        self._outputs.append(OpenSocket(self.settings.url))

    def _drop_socket(self, reason: str, action: CloseAction, now: float) -> None:
        self._outputs.append(CloseSocket(abort=True))
        self._socket_exists = False
        if self._attempts == 0:  # the first failure of a series is reported
            self._report(PusherConnectionError(reason))
        self._connection_lost(None, reason, action, now)

    def _finish_disconnect(self) -> None:
        self._deadline = None
        self.socket_id = None
        self.subscriptions.connection_gone()
        self.user.reset()
        self._set_state(ConnectionState.DISCONNECTED)

    def _connection_lost(
        self, code: int | None, reason: str, action: CloseAction, now: float
    ) -> None:
        self.socket_id = None
        self._ping_sent_at = None
        self.subscriptions.connection_gone()
        self.user.reset()
        announced = self._announced_close
        self._announced_close = None
        already_reported = announced is not None and announced[0] == code
        if already_reported and announced is not None and not reason:
            reason = announced[1]
        description = describe_close(code, reason)
        if action is CloseAction.STOP:
            self._stop(PusherConnectionError(description, code), report=not already_reported)
            return
        if code not in (None, 1000, 1001) and not already_reported:
            self._report_once_per_outage(PusherConnectionError(description, code))
        self._attempts += 1
        limit = self.settings.max_reconnection_attempts
        if limit is not None and self._attempts > limit:
            self._stop(
                PusherConnectionError(
                    f"gave up after {limit} reconnection attempts; last: {description}", code
                )
            )
            return
        delay = self._outage.delay(self._attempts, action, now, self._random_value())
        self._deadline = now + delay
        self._set_state(ConnectionState.RECONNECTING)

    def _stop(self, error: PusherConnectionError, report: bool = True) -> None:
        self.fatal_error = error
        if report:
            self._report(error)
        self._finish_disconnect()

    def _receive_system(
        self, frame: dict[str, Any], event: str, channel: str | None, now: float
    ) -> PusherEvent | None:
        event_out = self._handle_system(frame, event, channel, now)
        self.subscriptions.note_unanswered(now)
        return event_out

    def _handle_system(
        self, frame: dict[str, Any], event: str, channel: str | None, now: float
    ) -> PusherEvent | None:
        if self.state is ConnectionState.CONNECTING:
            if event == "pusher:connection_established":
                self._established(frame.get("data"))
            elif event == "pusher:error":
                self._server_error(frame.get("data"))
            return None
        if self.state is not ConnectionState.CONNECTED:
            return None
        if event == "pusher:ping":
            self._outputs.append(SendMessage(_PONG))
        elif event == "pusher:pong":
            pass
        elif event == "pusher:error":
            self._server_error(frame.get("data"))
        elif event == "pusher:connection_established":
            self._report(PusherProtocolError("second pusher:connection_established ignored"))
        elif channel is not None:
            return self.subscriptions.system_event(frame, event, channel)
        elif event == "pusher:signin_success":
            self._signed_in(frame.get("data"))
        elif event == "pusher_internal:watchlist_events":
            try:
                events = parse_watchlist_events(frame.get("data"))
            except PusherProtocolError as exc:
                self._report(exc)
            else:
                self._outputs.extend(WatchlistEvent(name, ids) for name, ids in events)
        return None

    def _established(self, raw: Any) -> None:
        data = decode_data(raw)
        socket_id = data.get("socket_id") if isinstance(data, dict) else None
        if not isinstance(socket_id, str) or not socket_id:
            self._report(PusherProtocolError("pusher:connection_established without a socket_id"))
            return
        server_timeout = data.get("activity_timeout")
        timeout = self.settings.activity_timeout
        if (
            isinstance(server_timeout, int | float)
            and not isinstance(server_timeout, bool)
            and server_timeout > 0
        ):
            # The server's value lowers the option, but not below the floor: a
            # server announcing 0.001 would otherwise make the client ping in a loop.
            timeout = min(timeout, max(float(server_timeout), MIN_ACTIVITY_TIMEOUT))
        self.activity_timeout = timeout
        self.socket_id = socket_id
        self._deadline = None
        self._attempts = 0
        self._outage.ended()
        self.fatal_error = None
        self._set_state(ConnectionState.CONNECTED)
        self.subscriptions.connection_established(socket_id)
        if self.user.wanted:
            self._start_signin()

    def _server_error(self, raw: Any) -> None:
        data = decode_data(raw)
        message = "pusher:error without a message"
        code: int | None = None
        if isinstance(data, dict):
            if isinstance(data.get("message"), str):
                message = data["message"]
            raw_code = data.get("code")
            if isinstance(raw_code, int) and not isinstance(raw_code, bool):
                code = raw_code
        elif isinstance(data, str) and data:
            message = data
        if code is not None and 4000 <= code <= 4299:
            # Close codes: the server closes the socket with this code next.
            self._announced_close = (code, message)
        if self.subscriptions.refused_by_error(message, code):
            return
        if self.user.status is SigninStatus.SENT and not refuses_a_subscription(message):
            # The answer to pusher:signin. Not signing in again on the next
            # connection keeps a server that refuses (Reverb: 4200) from looping.
            self.user.status = SigninStatus.FAILED
            self.user.wanted = False
            self._outputs.append(
                SigninFailed(SigninError(f"the server refused the sign-in: {message}", code))
            )
            return
        if code == 4009:
            # Laravel Reverb refuses a subscribe this way, naming no channel: an
            # answer all the same, not a lost subscribe.
            self.subscriptions.answer_came()
        if code is not None and 4000 <= code <= 4299:
            self._report_once_per_outage(PusherError(message, code))
        else:
            self._report(PusherError(message, code))
