"""``PusherChannelsClient``: the asyncio client, with the Flutter client's API."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Self, Unpack

from ._bindings import Bindings, BindsEvents, ConnectionEvents
from ._delivery import ChannelCallbacks
from ._runtime import Runtime
from ._streams import DEFAULT_CAPACITY, EventIterator
from .auth import build_authorizer, build_user_authenticator
from .callbacks import (
    ChannelCallbackKeywords,
    ChannelMemberCallback,
    ChannelSubscriptionCountCallback,
    ChannelSubscriptionSucceededCallback,
    EventCallback,
    ResubscribedCallback,
    SubscriptionErrorCallback,
)
from .channel import PusherChannel
from .exceptions import ClientEventError, PusherConfigError, PusherTimeoutError
from .health import Health, not_configured
from .options import ClientKeywords, ClientOptions, parse_options
from .protocol.actions import ConnectionState
from .protocol.channels import ChannelKind, ChannelStatus, validate_channel_name
from .protocol.messages import CLIENT_EVENT_PREFIX, PusherEvent, encode_message

__all__ = ["PusherChannelsClient"]

logger = logging.getLogger("pusher_channels")

MAX_EVENT_NAME_LENGTH = 200

_registries_made = threading.Lock()
"""Held while a client makes its handler registries (rare: once per client)."""


class PusherChannelsClient(BindsEvents):
    """An asyncio client for one Pusher Channels connection.

    Configure it with the keywords of :meth:`init` (or give them to the
    constructor), subscribe to channels (before or after connecting), then
    :meth:`connect`. The connection is kept up by itself: dropped sockets are
    reopened with backoff and every channel is subscribed again, until
    :meth:`disconnect`. ``async with PusherChannelsClient(...) as pusher:``
    connects on entry and disconnects on exit.

    Handlers bound on the client (:meth:`bind`, :meth:`bind_global`) see the events
    of every channel, before the channel's own; :attr:`connection` takes listeners
    for the connection's events. Both stay across reconnections and ``init()``.

    The client belongs to the event loop it is first used on; use
    :class:`pusher_channels.sync.PusherChannelsClient` from threads.
    """

    _default_instance: ClassVar[PusherChannelsClient | None] = None

    def __init__(self, **options: Unpack[ClientKeywords]) -> None:
        """Make an independent client; keywords as for :meth:`init`, if any."""
        self._options: ClientOptions | None = None
        self._runtime: Runtime | None = None
        self._channels: dict[str, PusherChannel] = {}
        # The handlers bound on the client, its connection's listeners and the
        # ``connection`` object are made on first use: most clients never bind.
        self._bindings: Bindings | None = None
        self._listeners: Bindings | None = None
        self._connection: ConnectionEvents | None = None
        if options:
            self._configure(options)

    @classmethod
    def get_instance(cls) -> Self:
        """Return the process-wide default client (the Flutter client's singleton)."""
        if cls._default_instance is None:
            cls._default_instance = cls()
        instance = cls._default_instance
        assert isinstance(instance, cls)
        return instance

    async def init(self, **options: Unpack[ClientKeywords]) -> None:
        """(Re)configure the client with options and callbacks.

        The keywords, typed by :class:`~pusher_channels.ClientKeywords`, are the
        options (``api_key`` and ``cluster`` or ``host`` are required; every option
        is described under :class:`~pusher_channels.options.ClientOptions`) and the
        callbacks, plain functions or coroutines, such as ``on_event`` and
        ``on_error`` (each one's arguments are in :mod:`pusher_channels.callbacks`).

        Calling ``init`` again disconnects first and starts afresh: channels
        subscribed under the previous configuration are forgotten.

        Raises:
            PusherConfigError: an unknown keyword or an invalid value.
        """
        parsed = parse_options(options)
        previous = self._runtime
        self._install(parsed)  # calls from now on, even during the await, go to it
        if previous is not None:
            # Ends the previous configuration's iterators and waits, closes its
            # HTTP pools, and disconnects it if needed.
            await previous.close()

    def _configure(self, options: Mapping[str, Any]) -> None:
        self._install(parse_options(options))

    def _install(self, options: ClientOptions) -> None:
        if options.log_to_console:
            _enable_console_logging()
        self._options = options
        self._channels.clear()
        authorizer = build_authorizer(options)
        user_authenticator = build_user_authenticator(options)
        # Under the lock a first bind() takes: from another thread (the blocking
        # facade), it gives its registries to this runtime or to the one before.
        with _registries_made:
            self._runtime = Runtime(
                options,
                authorizer,
                user_authenticator,
                bindings=self._bindings,
                listeners=self._listeners,
            )

    def _handler_registry(self) -> Bindings:
        bindings = self._bindings
        if bindings is None:
            bindings = self._make_registries()[0]
        return bindings

    def _listener_registry(self) -> Bindings:
        listeners = self._listeners
        if listeners is None:
            listeners = self._make_registries()[1]
        return listeners

    def _make_registries(self) -> tuple[Bindings, Bindings]:
        """Make the client's handler and listener registries (both at once, on the
        first ``bind`` of either: one moment at which the runtime takes them)."""
        with _registries_made:  # the blocking facade binds from any thread
            if self._bindings is None or self._listeners is None:
                self._bindings = Bindings()
                self._listeners = Bindings()
                if self._runtime is not None:
                    self._runtime.use_handlers(self._bindings, self._listeners)
            return self._bindings, self._listeners

    @property
    def _live(self) -> Runtime:
        if self._runtime is None:
            raise PusherConfigError("call init(api_key=..., cluster=...) first")
        return self._runtime

    # ---------------------------------------------------------------- connection

    async def connect(self, timeout: float | None = None) -> None:
        """Open the connection and return once it is ``CONNECTED``.

        A server that cannot be reached is retried with backoff (see
        ``max_reconnection_attempts``); ``timeout`` bounds the wait, in seconds.

        Raises:
            PusherConnectionError: the server refused the connection (close codes
                4000-4099, e.g. 4001 for an unknown app key; ``code`` carries it),
                the reconnection attempts ran out, or ``disconnect()`` was called.
            PusherTimeoutError: ``timeout`` expired; the client then stops trying.

        Cancelling ``connect()`` also stops the attempts (as ``disconnect()`` would),
        unless the connection was already established.
        """
        runtime = self._live
        try:
            async with asyncio.timeout(timeout):
                await runtime.connect()
        except asyncio.CancelledError:
            runtime.stop_connecting()
            raise
        except TimeoutError as exc:
            if isinstance(exc, PusherTimeoutError):
                raise
            await runtime.disconnect()
            raise PusherTimeoutError(f"not connected within {timeout:g} s") from None

    async def disconnect(self) -> None:
        """Close the connection; nothing reconnects until :meth:`connect` is called.

        Channels stay registered: a later ``connect()`` subscribes them again.
        """
        if self._runtime is not None:
            await self._runtime.disconnect()

    @property
    def connection_state(self) -> ConnectionState:
        """The current :class:`~pusher_channels.ConnectionState`."""
        if self._runtime is None:
            return ConnectionState.DISCONNECTED
        return self._runtime.state

    async def get_socket_id(self) -> str | None:
        """The socket id of the live connection, or ``None`` while not connected."""
        return self._current_socket_id()

    def _current_socket_id(self) -> str | None:
        return self._runtime.socket_id if self._runtime is not None else None

    def health(self) -> Health:
        """A snapshot of the client's health, for a ``/health`` endpoint.

        The connection state and since when, the seconds since the last frame, the
        reconnections so far, and every wanted channel (subscribed, pending,
        retrying with its last error and next retry, or refused with its error);
        ``healthy`` sums them up and ``problems`` says why not. ``as_dict()`` gives
        JSON-serialisable data; nothing in it is a secret. See
        :class:`~pusher_channels.Health`. Cheap (no I/O), and never raises: a
        client that ``init()`` has not configured is reported as not healthy.
        """
        if self._runtime is None:
            return not_configured(time.time())
        return self._runtime.health()

    @property
    def connection(self) -> ConnectionEvents:
        """The connection's events, as pusher-js's ``pusher.connection``:
        ``client.connection.bind("state_change", listener)``; see
        :class:`~pusher_channels.ConnectionEvents`."""
        connection = self._connection
        if connection is None:
            connection = self._connection = ConnectionEvents(self)
        return connection

    # ------------------------------------------------------------------ channels

    async def subscribe(
        self,
        channel_name: str,
        *,
        on_subscription_succeeded: ChannelSubscriptionSucceededCallback | None = None,
        on_subscription_error: SubscriptionErrorCallback | None = None,
        on_member_added: ChannelMemberCallback | None = None,
        on_member_removed: ChannelMemberCallback | None = None,
        on_event: EventCallback | None = None,
        on_subscription_count: ChannelSubscriptionCountCallback | None = None,
        on_resubscribed: ResubscribedCallback | None = None,
    ) -> PusherChannel:
        """Subscribe to a channel, now if connected, else as soon as connected.

        The channel is subscribed again after every reconnection until
        :meth:`unsubscribe`. Subscribing to a channel already subscribed returns
        the same :class:`PusherChannel`, taking any callbacks given; if its last
        attempt failed, it is tried again.

        Per-channel callbacks drop the channel name of the global ones:
        ``on_subscription_succeeded(data)``, ``on_subscription_error(message,
        error)``, ``on_member_added(member)``, ``on_member_removed(member)``,
        ``on_event(event)``, ``on_subscription_count(count)``. One more is the
        channel's own: ``on_resubscribed(gap)``, called after each resubscription
        (following a reconnection) with the :class:`~pusher_channels.SubscriptionGap`
        during which events may have been missed.

        Returns at once, before the server answers: ``await
        channel.wait_subscribed()`` waits for the subscription.

        Raises:
            PusherConfigError: the channel name is invalid, or ``init()`` was not
                called.
        """
        runtime = self._live
        validate_channel_name(channel_name)
        callbacks: ChannelCallbackKeywords = {
            "on_subscription_succeeded": on_subscription_succeeded,
            "on_subscription_error": on_subscription_error,
            "on_member_added": on_member_added,
            "on_member_removed": on_member_removed,
            "on_event": on_event,
            "on_subscription_count": on_subscription_count,
            "on_resubscribed": on_resubscribed,
        }
        for name, value in callbacks.items():
            if value is not None and not callable(value):
                raise PusherConfigError(f"{name} must be callable, got {value!r}")
        channel = self._channels.get(channel_name)
        if channel is None:
            # The channel object is what the runtime keeps for the channel.
            channel = PusherChannel(self, **callbacks)
            runtime.subscribe(channel_name, channel)
            self._channels[channel_name] = channel
        else:
            runtime.subscribe(channel_name, ChannelCallbacks(**callbacks))
        return channel

    async def unsubscribe(self, channel_name: str) -> None:
        """Stop receiving a channel at once; it is not subscribed again."""
        if self._runtime is None:
            return
        self._channels.pop(channel_name, None)
        self._runtime.unsubscribe(channel_name)

    async def _wait_subscribed(self, channel_name: str, timeout: float | None) -> None:
        """Wait for a channel's subscription; see :meth:`PusherChannel.wait_subscribed`."""
        await self._live.wait_subscribed(channel_name, timeout)

    def get_channel(self, channel_name: str) -> PusherChannel | None:
        """The channel object for ``channel_name``, if subscribed (or pending)."""
        return self._channels.get(channel_name)

    @property
    def channels(self) -> Mapping[str, PusherChannel]:
        """Every channel subscribed or pending, by name (a read-only view)."""
        return types.MappingProxyType(self._channels)

    def events(self, *, max_buffer: int = DEFAULT_CAPACITY) -> EventIterator:
        """Iterate over every channel's events: ``async for event in pusher.events()``.

        Sees the same events as ``on_event``, in the same order; server-to-user
        events are not included. Iteration survives reconnections and ends when
        :meth:`disconnect` is called; it raises the :class:`PusherConnectionError`
        if the server refuses the connection.

        When ``max_buffer`` events wait for the consumer, the socket is not read
        until it has taken half of them (backpressure, for every channel and
        callback of the connection). Past ten times ``max_buffer``, new events are
        dropped (counted in ``.dropped``) and ``on_error`` gets a
        :class:`SlowConsumerError`, so memory stays bounded.
        """
        return self._open_events(None, max_buffer)

    def _open_events(self, channel_name: str | None, max_buffer: int) -> EventIterator:
        """An iterator of one channel's events (``None``: every channel's); see
        :meth:`events` and :meth:`PusherChannel.events`."""
        runtime = self._live
        return EventIterator(runtime.open_stream(channel_name, max_buffer), runtime.close_stream)

    # ----------------------------------------------------------------- sign-in

    async def signin(self) -> dict[str, Any] | None:
        """Sign the user in (user authentication), and again after every reconnection.

        The user authenticator (``user_auth_endpoint``, ``on_user_authenticator`` or
        ``secret`` with ``user_data``) is asked for ``{auth, user_data}`` for the
        socket, and the server confirms with ``pusher:signin_success``. Then events
        sent to the user (the server SDK's ``send_to_user``) reach ``on_user_event``
        and watchlist changes reach ``on_watchlist_event(name, user_ids)``.

        When connected, waits for the outcome and returns the confirmed user data;
        otherwise returns ``None`` and signs in as soon as connected.

        Raises:
            SigninError: the authenticator failed or the server refused. A server
                refusal is not retried on later connections (no reconnect loop).
        """
        return await self._live.signin()

    @property
    def user(self) -> dict[str, Any] | None:
        """The signed-in user's data (``id``, ``user_info``, ...), or ``None``."""
        if self._runtime is None:
            return None
        return self._runtime.user_data

    # ------------------------------------------------------------- client events

    async def trigger(self, event: PusherEvent) -> None:
        """Send a client event (``client-*``) on a private or presence channel.

        ``event.data`` is sent as the text it holds: the JSON text of the dict or
        list the event was made with, or the string given. Receivers get that text
        (pusher-js decodes it from JSON). The server does not echo the event back to
        this connection.

        Raises:
            ClientEventError: the name does not start with ``client-``, the channel
                is public or encrypted, not subscribed (yet), the data is over 10 KB
                (``max_client_event_bytes``), or there is no connection. Nothing is
                dropped silently.
        """
        name, channel_name = event.event_name, event.channel_name
        if not isinstance(name, str) or not name.startswith(CLIENT_EVENT_PREFIX):
            raise ClientEventError(f"client event names must start with 'client-': {name!r}")
        if len(name) > MAX_EVENT_NAME_LENGTH:
            raise ClientEventError(f"event name is longer than {MAX_EVENT_NAME_LENGTH} characters")
        channel = self._channels.get(channel_name)
        if channel is None:
            raise ClientEventError(f"not subscribed to {channel_name!r}")
        if channel.kind is ChannelKind.PUBLIC:
            raise ClientEventError(
                f"client events need a private or presence channel, not {channel_name!r}"
            )
        if channel.kind is ChannelKind.PRIVATE_ENCRYPTED:
            raise ClientEventError("client events are not supported on encrypted channels")
        if channel._record.status is not ChannelStatus.SUBSCRIBED:
            raise ClientEventError(f"channel {channel_name!r} is not subscribed yet")
        runtime = self._live
        if event.data is not None:
            _check_size(event.data, runtime.options.max_client_event_bytes)
        payload = encode_message(name, event.data, channel_name)
        if not runtime.send(payload):
            raise ClientEventError("not connected")

    # -------------------------------------------------------------- async with

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        return f"<PusherChannelsClient {self.connection_state} channels={len(self._channels)}>"


def _check_size(data: str, limit: int) -> None:
    """Refuse client event data over ``limit`` UTF-8 bytes, counted as servers do."""
    size = len(data.encode("utf-8"))
    if size > limit:
        most = f"{limit:,} bytes"
        if limit % 1024 == 0:
            most = f"{limit // 1024} KB ({most})"
        raise ClientEventError(
            f"client event data is {size:,} bytes, over the {most} the server "
            "accepts (max_client_event_bytes): send less, such as a link to the content"
        )


_console_handler: logging.Handler | None = None


def _enable_console_logging() -> None:
    """Log everything of ``pusher_channels`` to stderr (``log_to_console=True``)."""
    global _console_handler
    if _console_handler is not None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    package_logger = logging.getLogger("pusher_channels")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    _console_handler = handler
