"""The blocking facade: the same client for threaded code.

::

    from pusher_channels.sync import PusherChannelsClient

    with PusherChannelsClient(api_key="KEY", cluster="eu", on_event=print) as pusher:
        channel = pusher.subscribe("my-channel")
        for event in channel.events(timeout=60):
            print(event.json())

Same methods, options and callbacks as :class:`pusher_channels.PusherChannelsClient`,
blocking instead of awaitable. Each call runs on one event loop that the client owns
in a thread of its own; callbacks run on one callback thread, in arrival order, and
may call the client (subscribe, trigger, unsubscribe, disconnect) without deadlock.
``disconnect()`` stops both threads; the next call starts them again.

``disconnect()`` returns promptly from any thread, even from a callback or from
``on_authorizer``: it waits at most 3 s for the connection to close politely, 1 s
for the loop to stop and 3 s for the callbacks still queued (the rest is dropped,
with a warning logged), and never for a thread that runs an authorizer. A blocking
call still waiting when the client stops raises
:class:`~pusher_channels.PusherConnectionError`. Leaving ``with`` on
``KeyboardInterrupt`` drops the queued callbacks and takes about a second at most.

A client dropped without ``disconnect()`` is closed when it is garbage-collected,
with a :class:`ResourceWarning`, as an unclosed asyncio transport is. Nothing its
threads hold refers to it, unless a callback of its own does.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar, Unpack

from .. import client as async_client
from .._bindings import Bindings, BindsEvents, ConnectionEvents
from .._delivery import CHANNEL_CALLBACK_NAMES
from .._gaps import SubscriptionGap
from .._streams import DEFAULT_CAPACITY, EventIterator
from ..callbacks import ChannelCallbackKeywords
from ..channel import PusherChannel as AsyncChannel
from ..exceptions import CallbackError, PusherConfigError
from ..health import Health
from ..options import CALLBACK_NAMES, ClientKeywords
from ..protocol.actions import ConnectionState
from ..protocol.channels import ChannelKind
from ..protocol.messages import PusherEvent, PusherMember
from ._threads import (
    ON_DISCONNECT,
    ON_INTERRUPT,
    CallbackThread,
    LoopStoppedError,
    LoopThread,
    ShutdownBounds,
    in_daemon_thread,
)

__all__ = ["PusherChannel", "PusherChannelsClient", "SyncEventIterator"]

logger = logging.getLogger("pusher_channels")

T = TypeVar("T")
_RETURNING_CALLBACKS = frozenset({"on_authorizer", "on_user_authenticator", "on_auth_failure"})
_numbers = itertools.count(1)


class PusherChannelsClient(BindsEvents):
    """A blocking Pusher Channels client, for threaded code.

    Keywords are those of :meth:`pusher_channels.PusherChannelsClient.init`.
    Callbacks and bound handlers (``bind``, ``bind_global``, ``connection.bind``,
    from any thread) are plain functions, called on the client's callback thread
    (an ``async def`` one is refused with :class:`~pusher_channels.PusherConfigError`);
    ``on_authorizer`` and ``on_user_authenticator`` run each call in a daemon
    thread of its own and return their answer; nothing waits for that thread at
    ``disconnect()``, and an answer that comes too late is discarded.
    """

    _default_instance: ClassVar[PusherChannelsClient | None] = None

    def __init__(self, **options: Unpack[ClientKeywords]) -> None:
        """Make an independent client; keywords as for :meth:`init`, if any."""
        self._name = f"pusher-channels-{next(_numbers)}"
        self._loop_thread = LoopThread(self._name)
        self._callback_failures = _CallbackFailures()
        self._callback_thread = CallbackThread(self._name, self._callback_failures)
        self._client = async_client.PusherChannelsClient()
        self._channels: dict[str, PusherChannel] = {}
        self._connection: ConnectionEvents | None = None
        # Nothing the threads reach refers to this object (callbacks reach the
        # callback thread and _CallbackFailures, not the client), so a client dropped
        # without disconnect() is collected, and then closed here.
        threads = (self._loop_thread, self._callback_thread)
        weakref.finalize(self, _close_abandoned, self._name, *threads, self._client).atexit = False
        if options:
            self._client._configure(self._wrap_options(options))

    @classmethod
    def get_instance(cls) -> Self:
        """The process-wide default blocking client."""
        if cls._default_instance is None:
            cls._default_instance = cls()
        instance = cls._default_instance
        assert isinstance(instance, cls)
        return instance

    # --------------------------------------------------------------- plumbing

    def _run(self, coroutine: Any) -> Any:
        return self._loop_thread.run(coroutine)

    def _wrap_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        wrapped = dict(options)
        self._callback_failures.on_error = options.get("on_error")
        for name in CALLBACK_NAMES:
            callback = options.get(name)
            if callback is None or not callable(callback):
                continue
            if name in _RETURNING_CALLBACKS:
                wrapped[name] = _in_worker_thread(callback, f"{self._name} {name}")
            else:
                wrapped[name] = self._on_callback_thread(callback)
        return wrapped

    def _on_callback_thread(self, callback: Callable[..., Any]) -> Callable[..., None]:
        if _is_async(callback):
            name = getattr(callback, "__qualname__", type(callback).__qualname__)
            raise PusherConfigError(
                f"callback {name} is async: the blocking client calls callbacks on its "
                "callback thread and cannot await them; pass a plain function, or use "
                "the asyncio client (pusher_channels.PusherChannelsClient)"
            )
        submit = self._callback_thread.submit

        def relay(*args: Any) -> None:
            submit(callback, args)

        relay.__qualname__ = getattr(callback, "__qualname__", "callback")
        return relay

    # ------------------------------------------------------------- connection

    def init(self, **options: Unpack[ClientKeywords]) -> None:
        """(Re)configure the client; see the asyncio client's ``init``."""
        self._run(self._client.init(**self._wrap_options(options)))
        self._channels.clear()

    def connect(self, timeout: float | None = None) -> None:
        """Connect and return once ``CONNECTED`` (see the asyncio client).

        Interrupted (``KeyboardInterrupt``, ``SystemExit``...), it disconnects the
        client and stops its threads, as leaving ``with`` would, before raising.
        """
        try:
            self._run(self._client.connect(timeout=timeout))
        except Exception:
            # The asyncio client is disconnected by now if it gave up (refused,
            # timed out, disconnect() called...): then so are the threads.
            if self._client.connection_state is ConnectionState.DISCONNECTED:
                self._stop_threads(ON_DISCONNECT)
            raise
        except BaseException:
            # The call was cancelled on the loop, which may not have seen it yet:
            # disconnecting, rather than looking at the state, does not race it.
            self._shut_down(ON_INTERRUPT)
            raise

    def disconnect(self) -> None:
        """Close the connection, run the callbacks still queued, and stop the threads.

        Safe from any thread, callbacks and authorizers included, and bounded: see
        the module's docstring. Blocking calls still waiting raise
        :class:`~pusher_channels.PusherConnectionError`.
        """
        self._shut_down(ON_DISCONNECT)

    def _shut_down(self, bounds: ShutdownBounds) -> None:
        self._close_connection(bounds.close)
        self._stop_threads(bounds)

    def _close_connection(self, timeout: float) -> None:
        if not self._loop_thread.running:
            return
        try:
            self._loop_thread.run(self._client.disconnect(), timeout)
        except TimeoutError:
            logger.warning("the connection did not close within %g s; stopping anyway", timeout)
        except LoopStoppedError:
            pass  # another thread is stopping the client

    def _stop_threads(self, bounds: ShutdownBounds) -> None:
        if self._loop_thread.running and not self._loop_thread.in_loop_thread():
            self._loop_thread.stop(bounds.loop_stop)
        dropped = self._callback_thread.stop(bounds.callbacks)
        if dropped:
            logger.warning(
                "%d queued callback(s) dropped at disconnect, after %g s of grace",
                dropped,
                bounds.callbacks,
            )

    @property
    def connection_state(self) -> ConnectionState:
        """The current connection state."""
        return self._client.connection_state

    def get_socket_id(self) -> str | None:
        """The socket id of the live connection, or ``None``."""
        return self._client._runtime.socket_id if self._client._runtime else None

    def health(self) -> Health:
        """A snapshot of the client's health, for a ``/health`` endpoint: see
        :meth:`pusher_channels.PusherChannelsClient.health`.

        Safe from any thread (a web server's worker threads, a callback): it is taken
        on the client's event loop while that runs. Never raises.
        """
        loop_thread = self._loop_thread
        if loop_thread.running and not loop_thread.in_loop_thread():
            try:
                health: Health = loop_thread.run(_call(self._client.health))
            except LoopStoppedError:
                pass  # stopped meanwhile: nothing changes the state any more
            else:
                return health
        return self._client.health()

    @property
    def connection(self) -> ConnectionEvents:
        """The connection's events: ``client.connection.bind("state_change", f)``;
        listeners run on the callback thread."""
        connection = self._connection
        if connection is None:
            connection = self._connection = ConnectionEvents(self)
        return connection

    def _current_socket_id(self) -> str | None:
        return self.get_socket_id()

    def _handler_registry(self) -> Bindings:
        return self._client._handler_registry()

    def _listener_registry(self) -> Bindings:
        return self._client._listener_registry()

    def _relay(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        return self._on_callback_thread(callback)

    # ---------------------------------------------------------------- channels

    def subscribe(
        self, channel_name: str, **callbacks: Unpack[ChannelCallbackKeywords]
    ) -> PusherChannel:
        """Subscribe to a channel (see the asyncio client); callbacks as keywords."""
        unknown = set(callbacks) - set(CHANNEL_CALLBACK_NAMES)
        if unknown:
            raise TypeError(f"unknown channel callbacks: {', '.join(sorted(unknown))}")
        wrapped: dict[str, Any] = {}
        for name, callback in callbacks.items():
            if callback is None:
                continue
            if not callable(callback):
                raise PusherConfigError(f"{name} must be callable, got {callback!r}")
            wrapped[name] = self._on_callback_thread(callback)
        channel = self._run(self._client.subscribe(channel_name, **wrapped))
        facade = self._channels.get(channel_name)
        if facade is None or facade._channel is not channel:
            facade = PusherChannel(self, channel)
            self._channels[channel_name] = facade
        return facade

    def unsubscribe(self, channel_name: str) -> None:
        """Stop receiving a channel."""
        self._channels.pop(channel_name, None)
        self._run(self._client.unsubscribe(channel_name))

    def get_channel(self, channel_name: str) -> PusherChannel | None:
        """The channel object, if subscribed (or pending)."""
        if self._client.get_channel(channel_name) is None:
            return None
        return self._channels.get(channel_name)

    @property
    def channels(self) -> Mapping[str, PusherChannel]:
        """Every channel subscribed or pending, by name."""
        return {name: ch for name, ch in self._channels.items() if name in self._client.channels}

    def trigger(self, event: PusherEvent) -> None:
        """Send a client event (see the asyncio client's rules)."""
        self._run(self._client.trigger(event))

    def events(
        self, *, timeout: float | None = None, max_buffer: int = DEFAULT_CAPACITY
    ) -> SyncEventIterator:
        """Iterate over every channel's events; see :class:`SyncEventIterator`."""
        return SyncEventIterator(self, self._run(_open(self._client.events, max_buffer)), timeout)

    # ----------------------------------------------------------------- sign-in

    def signin(self) -> dict[str, Any] | None:
        """Sign the user in (see the asyncio client)."""
        result: dict[str, Any] | None = self._run(self._client.signin())
        return result

    @property
    def user(self) -> dict[str, Any] | None:
        """The signed-in user's data, or ``None``."""
        return self._client.user

    # --------------------------------------------------------------------- with

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        """Disconnect; on ``KeyboardInterrupt`` (or ``SystemExit``), at once.

        Interrupted, the callbacks still queued are dropped and the slow callback
        that may be running is not waited for, so the program ends within a second.
        """
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        self._shut_down(ON_INTERRUPT if interrupted else ON_DISCONNECT)

    def __repr__(self) -> str:
        return f"<sync PusherChannelsClient {self.connection_state}>"


class PusherChannel(BindsEvents):
    """A channel of the blocking client; see :class:`pusher_channels.PusherChannel`.

    Handlers bound to it run on the client's callback thread.
    """

    __slots__ = ("_channel", "_client")

    def __init__(self, client: PusherChannelsClient, channel: AsyncChannel) -> None:
        self._client = client
        self._channel = channel

    @property
    def channel_name(self) -> str:
        """The channel's name."""
        return self._channel.channel_name

    @property
    def kind(self) -> ChannelKind:
        """Public, private, private-encrypted or presence."""
        return self._channel.kind

    @property
    def subscribed(self) -> bool:
        """Whether the server confirmed the subscription on the current connection."""
        return self._channel.subscribed

    @property
    def members(self) -> Mapping[str, PusherMember]:
        """Presence members by user id: a read-only snapshot, taken at each read."""
        return MappingProxyType(dict(self._channel.members))

    @property
    def me(self) -> PusherMember | None:
        """This connection's own presence member."""
        return self._channel.me

    @property
    def subscription_count(self) -> int | None:
        """The last subscription count the server reported."""
        return self._channel.subscription_count

    @property
    def last_gap(self) -> SubscriptionGap | None:
        """How long the channel was not subscribed before its latest resubscription."""
        return self._channel.last_gap

    def wait_subscribed(self, timeout: float | None = None) -> None:
        """Block until the server has confirmed the subscription, through the
        failures the client retries by itself; raises as
        :meth:`pusher_channels.PusherChannel.wait_subscribed` does."""
        self._client._run(self._channel.wait_subscribed(timeout))

    def _handler_registry(self) -> Bindings:
        return self._channel._bound()

    def _relay(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        return self._client._on_callback_thread(callback)

    def trigger(
        self, event: PusherEvent | None = None, *, event_name: str | None = None, data: Any = None
    ) -> None:
        """Send a client event on this channel."""
        self._client._run(self._channel.trigger(event, event_name=event_name, data=data))

    def unsubscribe(self) -> None:
        """Stop receiving this channel."""
        self._client.unsubscribe(self.channel_name)

    def events(
        self, *, timeout: float | None = None, max_buffer: int = DEFAULT_CAPACITY
    ) -> SyncEventIterator:
        """Iterate over this channel's events; see :class:`SyncEventIterator`."""
        iterator = self._client._run(_open(self._channel.events, max_buffer))
        return SyncEventIterator(self._client, iterator, timeout)

    def __repr__(self) -> str:
        return f"<sync {self._channel!r}>"


class SyncEventIterator(Iterator[PusherEvent]):
    """``for event in ...events(timeout=...)``: a blocking iterator of events.

    It ends when no event arrives within ``timeout`` seconds (``None``: wait
    forever), when the channel is unsubscribed or the client disconnects, and
    raises if the subscription fails. Buffering and the slow-consumer policy are
    those of the asyncio iterators. ``close()`` (or ``with``) releases it.
    """

    def __init__(
        self, client: PusherChannelsClient, iterator: EventIterator, timeout: float | None
    ) -> None:
        self._client = client
        self._iterator: EventIterator | None = iterator
        self._timeout = timeout

    @property
    def dropped(self) -> int:
        """Events dropped because the buffer was full."""
        return self._iterator.dropped if self._iterator is not None else 0

    def __iter__(self) -> SyncEventIterator:
        return self

    def __next__(self) -> PusherEvent:
        iterator = self._iterator
        if iterator is None or not self._client._loop_thread.running:
            raise StopIteration
        try:
            event: PusherEvent = self._client._run(asyncio.wait_for(anext(iterator), self._timeout))
        except (StopAsyncIteration, TimeoutError, LoopStoppedError):
            self.close()
            raise StopIteration from None
        return event

    def close(self) -> None:
        """Stop receiving events."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            self._client._loop_thread.call_soon(_close_iterator, iterator)

    def __enter__(self) -> SyncEventIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class _CallbackFailures:
    """Reports a callback that raised: to ``on_error``, or, without one, aloud.

    Apart from the client, so that the callback thread holds no reference to it.
    """

    __slots__ = ("on_error",)

    def __init__(self) -> None:
        self.on_error: Callable[..., Any] | None = None

    def __call__(self, callback: Callable[..., Any], exc: Exception) -> None:
        """A callback raised: tell ``on_error``, or, without one, say it aloud.

        With no ``on_error`` (or when ``on_error`` itself raised) the exception goes
        to :func:`threading.excepthook`, as an exception escaping a thread would: by
        default it is printed with its traceback, whatever logging is configured.
        """
        name = getattr(callback, "__qualname__", repr(callback))
        error = CallbackError(f"callback {name} raised {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        on_error = self.on_error
        if on_error is None or callback is on_error:
            _tell_the_thread_hook(error)
            return
        logger.error("callback %s raised %s", name, type(exc).__name__, exc_info=exc)
        try:
            on_error(error.message, None, error)
        except Exception as failure:
            _tell_the_thread_hook(failure)


def _close_abandoned(
    name: str,
    loop_thread: LoopThread,
    callback_thread: CallbackThread,
    client: async_client.PusherChannelsClient,
) -> None:
    """A blocking client was collected while its threads ran: close it, and warn.

    As an unclosed asyncio transport does, with a :class:`ResourceWarning`. This
    runs wherever the garbage collector does, so nothing here waits or takes a
    lock: the loop closes the connection and stops itself.
    """
    if loop_thread.abandon(client.disconnect, callback_thread.close):
        warnings.warn(
            f"unclosed blocking client {name!r}: call disconnect() (or use it in a "
            "'with' block) when done; it was closed when collected",
            ResourceWarning,
            stacklevel=1,
        )


def _close_iterator(iterator: EventIterator) -> None:
    iterator._close(iterator._stream)


async def _open(factory: Callable[..., EventIterator], max_buffer: int) -> EventIterator:
    return factory(max_buffer=max_buffer)


async def _call(function: Callable[[], T]) -> T:
    """``function()``, as a coroutine to run on the client's loop."""
    return function()


def _is_async(callback: Callable[..., Any]) -> bool:
    """Whether calling ``callback`` makes a coroutine (a partial of one included)."""
    call = getattr(type(callback), "__call__", None)  # noqa: B004 - the type's own call
    return inspect.iscoroutinefunction(callback) or (
        not inspect.isroutine(callback) and inspect.iscoroutinefunction(call)
    )


def _in_worker_thread(callback: Callable[..., Any], thread_name: str) -> Callable[..., Any]:
    """Run a callback that returns an answer in a daemon thread, and await it."""

    async def relay(*args: Any) -> Any:
        result = await in_daemon_thread(callback, args, thread_name)
        if inspect.isawaitable(result):
            result = await result
        return result

    return relay


def _tell_the_thread_hook(error: BaseException) -> None:
    """Report an exception of the callback thread the way Python reports one that
    escapes a thread (``threading.excepthook``, which prints it by default)."""
    threading.excepthook(
        threading.ExceptHookArgs(
            (type(error), error, error.__traceback__, threading.current_thread())
        )
    )
