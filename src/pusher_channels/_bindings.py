"""Handlers bound by event name, as pusher-js's ``bind``: one registry per channel,
one for the whole client, and one for the connection's own events.

A registry keeps its bindings in bind order. An event name may be a glob pattern
(``"order-*"``, matched as :func:`fnmatch.fnmatchcase` does); the handlers that match
one name are worked out once and kept until the bindings change, so delivering an
event to bound handlers costs a dictionary lookup.

A binding is a pair of what the user gave (the *callback*, by which it is found
again and unbound) and what is called (the same callback, or, for the blocking
facade, a relay to its callback thread).

The blocking facade binds from the user's threads while its event loop's thread
delivers. That is safe without a lock: the bindings are immutable tuples, replaced
whole, and every change then replaces the cache by a new dictionary; a lookup takes
the cache before the bindings, so a result worked out from bindings that changed
meanwhile can only land in a cache already dropped.

Every change also gives :data:`generation` a new value, after the change: the
delivery decides once per channel what to call (see :mod:`._delivery`), and
decides again when it sees a new generation.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol, TypeVar, overload

from .exceptions import PusherConfigError
from .protocol.actions import ConnectionState

__all__ = [
    "CONNECTION_EVENTS",
    "NO_BINDINGS",
    "Bindings",
    "BindsEvents",
    "ConnectionEvents",
    "ConnectionOwner",
    "is_pattern",
]

Callback = Callable[..., Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])

_GLOB_CHARACTERS: Final = frozenset("*?[")
CACHE_LIMIT: Final = 4096
"""Event names whose handlers are kept worked out; past it the cache starts over, so
that names made per order or per user cannot grow it without bound."""

CONNECTION_EVENTS: Final = frozenset(
    {"state_change", "error", *(state.name.lower() for state in ConnectionState)}
)
"""What ``client.connection.bind()`` accepts: ``state_change``, ``error`` and each
state's lower-case name."""


_GENERATIONS: Final = itertools.count(1)
generation = 0
"""Changes whenever a handler is bound or unbound, on any registry of the process
(each value is drawn from a counter once the change is made, so a value is never
seen twice, from whichever thread the change came)."""


def _changed() -> None:
    global generation
    generation = next(_GENERATIONS)


def is_pattern(event_name: str) -> bool:
    """Whether an event name is a glob pattern rather than a plain name."""
    return not _GLOB_CHARACTERS.isdisjoint(event_name)


class _Binding:
    __slots__ = ("call", "callback", "event_name", "matches")

    def __init__(self, event_name: str | None, callback: Callback, call: Callback) -> None:
        self.event_name = event_name
        self.callback = callback
        self.call = call
        self.matches: Callable[[str], object] | None = None
        if event_name is not None and is_pattern(event_name):
            self.matches = re.compile(fnmatch.translate(event_name)).match

    def applies_to(self, event_name: str) -> bool:
        if self.event_name is None:
            return True
        if self.matches is None:
            return self.event_name == event_name
        return self.matches(event_name) is not None


class Bindings:
    """Global handlers and handlers bound by event name (or glob), in bind order.

    Global handlers come first, then name-bound ones, as in pusher-js. Binding the
    same callback to the same name twice is one binding.
    """

    __slots__ = ("_by_name", "_cache", "_global", "active")

    def __init__(self) -> None:
        self._global: tuple[_Binding, ...] = ()
        self._by_name: tuple[_Binding, ...] = ()
        self.active = False
        """Whether any handler is bound: a plain attribute, read for every event."""
        self._cache: dict[str, tuple[Callback, ...]] | None = None
        """The handlers worked out per event name; ``None`` until the first lookup
        (an unused registry costs no dictionary)."""

    def __bool__(self) -> bool:
        return self.active

    def handlers(self, event_name: str) -> tuple[Callback, ...]:
        """What to call for one event, in order: global, then bound to its name."""
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        handlers = cache.get(event_name)
        if handlers is None:
            handlers = tuple(
                binding.call
                for binding in (*self._global, *self._by_name)
                if binding.applies_to(event_name)
            )
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[event_name] = handlers
        return handlers

    def bind(self, event_name: str, callback: Callback, call: Callback | None = None) -> None:
        """Call ``callback`` (or ``call``, standing for it) for events named so."""
        if not isinstance(event_name, str) or not event_name:
            raise PusherConfigError(f"event name must be a non-empty string, got {event_name!r}")
        _check_callable(callback)
        if any(b.event_name == event_name and b.callback == callback for b in self._by_name):
            return
        self._by_name = (*self._by_name, _Binding(event_name, callback, call or callback))
        self.active = bool(self._global or self._by_name)
        self._cache = None
        _changed()

    def bind_global(self, callback: Callback, call: Callback | None = None) -> None:
        """Call ``callback`` (or ``call``) for every event."""
        _check_callable(callback)
        if any(b.callback == callback for b in self._global):
            return
        self._global = (*self._global, _Binding(None, callback, call or callback))
        self.active = bool(self._global or self._by_name)
        self._cache = None
        _changed()

    def unbind(self, event_name: str | None = None, callback: Callback | None = None) -> None:
        """Remove name-bound handlers: all, one name's, one callback's, or one pair."""
        self._by_name = _without(self._by_name, event_name, callback)
        self.active = bool(self._global or self._by_name)
        self._cache = None
        _changed()

    def unbind_global(self, callback: Callback | None = None) -> None:
        """Remove every global handler, or ``callback``'s."""
        self._global = _without(self._global, None, callback)
        self.active = bool(self._global or self._by_name)
        self._cache = None
        _changed()

    def unbind_all(self) -> None:
        """Remove every handler."""
        self._global = ()
        self._by_name = ()
        self.active = bool(self._global or self._by_name)
        self._cache = None
        _changed()


class _NoBindings(Bindings):
    """The registry of a client that has bound nothing: shared, and never bound to
    (the client makes a registry of its own on the first ``bind``)."""

    __slots__ = ()

    def handlers(self, event_name: str) -> tuple[Callback, ...]:
        return ()

    def bind(self, event_name: str, callback: Callback, call: Callback | None = None) -> None:
        raise AssertionError("the shared empty registry is never bound to")

    def bind_global(self, callback: Callback, call: Callback | None = None) -> None:
        raise AssertionError("the shared empty registry is never bound to")


NO_BINDINGS: Final[Bindings] = _NoBindings()
"""No handler bound: what the runtime holds until the client's first ``bind``, so that
thousands of clients that bind nothing cost no registry each."""


def _without(
    bindings: Iterable[_Binding], event_name: str | None, callback: Callback | None
) -> tuple[_Binding, ...]:
    return tuple(
        b
        for b in bindings
        if not (
            (event_name is None or b.event_name == event_name)
            and (callback is None or b.callback == callback)
        )
    )


def _check_callable(callback: object) -> None:
    if not callable(callback):
        raise PusherConfigError(f"a handler must be callable, got {callback!r}")


class BindsEvents:
    """``bind``/``unbind`` in pusher-js's manner, for the channel and client types.

    A subclass says which :class:`Bindings` it binds to; the blocking facade also
    says how a callback is called (on its callback thread).
    """

    __slots__ = ()

    def _handler_registry(self) -> Bindings:
        raise NotImplementedError

    def _relay(self, callback: Callback) -> Callback:
        return callback

    @overload
    def bind(self, event_name: str) -> Callable[[Handler], Handler]: ...

    @overload
    def bind(self, event_name: str, callback: Handler) -> Handler: ...

    def bind(self, event_name: str, callback: Callback | None = None) -> Any:
        """Call ``callback(event)`` for each event named ``event_name``.

        ``event_name`` may be a glob pattern (``"order-*"``). Several handlers may be
        bound to one name; they are called in the order bound, after ``on_event``,
        with the same ordering and error rules. Binding the same callback to the
        same name again changes nothing. Besides the events sent on the channel,
        handlers see ``pusher:subscription_succeeded``,
        ``pusher:subscription_error``, ``pusher:member_added``,
        ``pusher:member_removed``, ``pusher:subscription_count`` and
        ``pusher:resubscribed``, with their data as JSON text.

        Returns ``callback``; without one, a decorator: ``@channel.bind("price")``.
        Handlers stay bound across reconnections, until unbound.

        Raises:
            PusherConfigError: the name is empty or the callback is not callable.
        """
        if callback is None:

            def decorator(handler: Handler) -> Handler:
                self.bind(event_name, handler)
                return handler

            return decorator
        self._handler_registry().bind(event_name, callback, self._relay(callback))
        return callback

    def unbind(self, event_name: str | None = None, callback: Callback | None = None) -> None:
        """Remove handlers bound by name: with no argument every one, with a name
        that name's (as it was bound: a pattern by its pattern), with a callback
        that callback's wherever bound, with both that one binding."""
        self._handler_registry().unbind(event_name, callback)

    def bind_global(self, callback: Handler) -> Handler:
        """Call ``callback(event)`` for every event, before the name-bound handlers.

        Returns ``callback``, so it also works as a decorator.
        """
        self._handler_registry().bind_global(callback, self._relay(callback))
        return callback

    def unbind_global(self, callback: Callback | None = None) -> None:
        """Remove every global handler, or only ``callback``."""
        self._handler_registry().unbind_global(callback)

    def unbind_all(self) -> None:
        """Remove every handler, global and name-bound."""
        self._handler_registry().unbind_all()


class ConnectionOwner(Protocol):
    """The client whose connection :class:`ConnectionEvents` are about."""

    @property
    def connection_state(self) -> ConnectionState:
        """The current connection state."""

    def _current_socket_id(self) -> str | None:
        """The live connection's socket id, or ``None``."""

    def _listener_registry(self) -> Bindings:
        """The connection's listeners, made on first use."""

    def _relay(self, callback: Callback) -> Callback:
        """What is called for ``callback`` (the callback itself, or a relay)."""


class ConnectionEvents:
    """The connection's events, bound as in pusher-js: ``client.connection.bind(...)``.

    ============================  ==============================================
    event name                    the listener is called with
    ============================  ==============================================
    ``"state_change"``            ``(current, previous)``, two
                                  :class:`~pusher_channels.ConnectionState`
    ``"connecting"``,             nothing, when the connection enters that state
    ``"connected"``,
    ``"disconnecting"``,
    ``"disconnected"``,
    ``"reconnecting"``
    ``"error"``                   ``(message, code, error)``, as ``on_error``
    ============================  ==============================================

    Listeners run beside the ``on_connection_state_change`` and ``on_error``
    options, after them, with the same ordering and error rules.
    """

    __slots__ = ("_owner",)

    def __init__(self, owner: ConnectionOwner) -> None:
        self._owner = owner

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        return self._owner.connection_state

    @property
    def socket_id(self) -> str | None:
        """The socket id of the live connection, or ``None``."""
        return self._owner._current_socket_id()

    @overload
    def bind(self, event_name: str) -> Callable[[Handler], Handler]: ...

    @overload
    def bind(self, event_name: str, listener: Handler) -> Handler: ...

    def bind(self, event_name: str, listener: Callback | None = None) -> Any:
        """Call ``listener`` on a connection event (see the table above).

        Returns ``listener``; without one, a decorator.

        Raises:
            PusherConfigError: an unknown event name, or a listener not callable.
        """
        if event_name not in CONNECTION_EVENTS:
            known = ", ".join(sorted(CONNECTION_EVENTS))
            raise PusherConfigError(f"unknown connection event {event_name!r}; one of: {known}")
        if listener is None:

            def decorator(handler: Handler) -> Handler:
                self.bind(event_name, handler)
                return handler

            return decorator
        owner = self._owner
        owner._listener_registry().bind(event_name, listener, owner._relay(listener))
        return listener

    def unbind(self, event_name: str | None = None, listener: Callback | None = None) -> None:
        """Remove listeners: every one, one event's, one listener's, or one pair."""
        self._owner._listener_registry().unbind(event_name, listener)

    def __repr__(self) -> str:
        return f"<ConnectionEvents {self.state}>"
