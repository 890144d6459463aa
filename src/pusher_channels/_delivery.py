"""Delivery: the core's events and notifications, to iterators and callbacks.

Every channel event goes to the open event streams of its channel and of the client
(in arrival order, next to the callbacks), then to the global and the channel's
``on_event``. Notifications (subscription answers, members, counts, errors, state
changes, sign-in) go to the global callback and the channel's own. Both share one
:class:`~pusher_channels._flow.FlowControl`: a full stream and a callback lane with a
backlog hold the socket the same way.

Handlers bound by name (``bind``) are called on the same path, right after the
``on_event`` at their level (client, then channel). They also see, as events, the
notifications pusher-js emits on a channel (``pusher:subscription_succeeded``,
``pusher:subscription_error``, ``pusher:member_added``, ``pusher:member_removed``,
``pusher:subscription_count``) and ``pusher:resubscribed``; ``on_event`` and the
iterators do not, as in the seed.

Channel callbacks are kept by channel name here, so the runtime needs nothing of
the public channel objects.

What a channel's events go to is decided once per channel, not per event
(:attr:`Delivery.plans`): when there is one thing to do (one ``on_event``, or one
open stream, or the handlers of one registry), the runtime's hot path gives the
event to it directly, with no test of the others. The decision is dropped whenever
what it was made from changes: a stream opens or closes, a channel is subscribed or
unsubscribed (its callbacks), a handler is bound or unbound anywhere
(:data:`._bindings.generation`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from . import _bindings
from ._bindings import CACHE_LIMIT as BINDINGS_CACHE_LIMIT
from ._bindings import NO_BINDINGS, Bindings
from ._dispatch import Dispatcher
from ._flow import FlowControl
from ._gaps import SubscriptionGap, next_gap
from ._streams import EventStream
from .exceptions import CallbackError, PusherError, SlowConsumerError
from .protocol.actions import (
    ConnectionState,
    DecryptionFailed,
    ErrorRepeated,
    ErrorReported,
    MemberAdded,
    MemberRemoved,
    Output,
    SignedIn,
    SigninFailed,
    StateChanged,
    SubscriptionCountChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
    WatchlistEvent,
)
from .protocol.channels import ChannelRecord
from .protocol.close import CloseAction, close_action
from .protocol.messages import PusherEvent
from .protocol.user import SERVER_TO_USER_PREFIX

__all__ = ["CHANNEL_CALLBACK_NAMES", "ChannelCallbacks", "Delivery"]

logger = logging.getLogger("pusher_channels")

Callback = Callable[..., Any]


CHANNEL_CALLBACK_NAMES: Final = (
    "on_subscription_succeeded",
    "on_subscription_error",
    "on_member_added",
    "on_member_removed",
    "on_event",
    "on_subscription_count",
    "on_resubscribed",
)
"""The keywords of ``subscribe()``."""

_CONNECTED: Final = ConnectionState.CONNECTED
_NO_STREAMS: Final[dict[str | None, set[EventStream]]] = {}
_NO_ROUTES: Final[dict[str, tuple[EventStream, ...]]] = {}


class ChannelCallbacks:
    """What the client keeps for one channel beside the core's record: the callbacks
    given to ``subscribe()`` (each may be ``None``), the handlers bound to it, and
    when it was last subscribed (its subscription gaps).

    The public channel type is a subclass (the runtime keeps the channel object
    itself by name, without knowing its type), so every name here starts with an
    underscore: none of them is part of the channel's public API. One object per
    channel, with the core's record the only other: 100,000 channels are 200,000
    objects for the cyclic garbage collector to walk, not 400,000.
    """

    __slots__ = ("_bindings", "_last_gap", "_on_event", "_others", "_record", "_since")

    _record: ChannelRecord
    """The core's record, set by the runtime when the channel is registered."""

    def __init__(
        self,
        *,
        on_subscription_succeeded: Callback | None = None,
        on_subscription_error: Callback | None = None,
        on_member_added: Callback | None = None,
        on_member_removed: Callback | None = None,
        on_event: Callback | None = None,
        on_subscription_count: Callback | None = None,
        on_resubscribed: Callback | None = None,
    ) -> None:
        self._on_event = on_event
        """The channel's ``on_event``: a slot of its own, read for every event."""
        others = (
            ("on_subscription_succeeded", on_subscription_succeeded),
            ("on_subscription_error", on_subscription_error),
            ("on_member_added", on_member_added),
            ("on_member_removed", on_member_removed),
            ("on_subscription_count", on_subscription_count),
            ("on_resubscribed", on_resubscribed),
        )
        self._others: dict[str, Callback] | None = None
        """The other callbacks given, by name; ``None`` without any. One slot, not six:
        the cyclic garbage collector visits every slot of every channel in each
        full collection, and most channels have none of them."""
        if any(callback is not None for _, callback in others):
            self._others = {name: callback for name, callback in others if callback is not None}
        self._bindings: Bindings | None = None
        """The handlers bound to the channel; ``None`` until the first is (most
        channels never have one, and 100,000 of them should not cost 100,000
        registries)."""
        self._since: bool | tuple[float, float] | None = None
        """Where the channel stands for its subscription gaps: ``True`` while
        subscribed, ``(loop time, wall time)`` of the last frame received on the
        connection lost while it was, ``None`` before its first subscription."""
        self._last_gap: SubscriptionGap | None = None
        """The gap before the latest resubscription; ``None`` before the first."""

    def _bound(self) -> Bindings:
        """The channel's handler registry, made on first use."""
        bindings = self._bindings
        if bindings is None:
            bindings = self._bindings = Bindings()
        return bindings

    def _callback(self, name: str) -> Callback | None:
        """The callback given as ``name`` (one of :data:`CHANNEL_CALLBACK_NAMES`)."""
        if name == "on_event":
            return self._on_event
        others = self._others
        return others.get(name) if others is not None else None

    def _update(self, other: ChannelCallbacks) -> None:
        """Take every callback that ``other`` sets."""
        if other._on_event is not None:
            self._on_event = other._on_event
        if other._others is not None:
            self._others = {**(self._others or {}), **other._others}

    def _lost(self, last_frame: tuple[float, float]) -> None:
        """The connection left ``CONNECTED``: a subscribed channel is no longer, since
        ``last_frame`` (loop time, wall time), when its connection was last heard."""
        if self._since is True:
            self._since = last_frame

    def _confirmed(self, now: float) -> SubscriptionGap | None:
        """The server confirmed the subscription; the gap it ends, if a resubscription."""
        since, self._since = self._since, True
        if not isinstance(since, tuple):
            return None
        silent_since, silent_since_wall = since
        gap = self._last_gap = next_gap(self._last_gap, silent_since, silent_since_wall, now)
        return gap


class Delivery:
    """Routes events and notifications for one client, on one event loop."""

    __slots__ = (
        "_bindings",
        "_callbacks",
        "_listeners",
        "_loop",
        "_on_event",
        "_on_user_event",
        "_routes",
        "_streams",
        "channel_callbacks",
        "dispatcher",
        "flow",
        "generation",
        "lanes",
        "plans",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callbacks: Mapping[str, Callback],
        channel_callbacks: dict[str, ChannelCallbacks],
        flow: FlowControl,
        *,
        bindings: Bindings | None = None,
        listeners: Bindings | None = None,
    ) -> None:
        self._loop = loop
        self._callbacks = callbacks
        self._on_event = callbacks.get("on_event")  # looked up once: the hot path
        self._on_user_event = callbacks.get("on_user_event")
        self._bindings = bindings if bindings is not None else NO_BINDINGS
        """The client's handlers, for every channel's events."""
        self._listeners = listeners if listeners is not None else NO_BINDINGS
        """The connection's listeners: ``state_change``, state names, ``error``."""
        self.channel_callbacks = channel_callbacks
        """Per channel name, the callbacks given to ``subscribe()``."""
        self.flow = flow
        self.dispatcher = Dispatcher(self, flow)
        # Both the shared empty dicts, never written, until the first stream opens:
        # most clients use callbacks only.
        self._streams: dict[str | None, set[EventStream]] = _NO_STREAMS
        # Per channel, the streams its events go to (the client's, then the channel's),
        # built on first use and cleared whenever a stream opens or closes.
        self._routes: dict[str, tuple[EventStream, ...]] = _NO_ROUTES
        self.lanes = self.dispatcher.lanes
        """The dispatcher's open lanes: while any is open, every call goes through
        :meth:`Dispatcher.call`, so that a callback's calls keep their order."""
        self.plans: dict[str, Callback] = {}
        """Per channel, the decision of what its events are given to, called as a
        callback is (:meth:`Dispatcher.call`): when there is one thing to do, that
        thing (the one ``on_event``, the one stream's ``put``, or a function that
        calls the one registry's handlers for the event's name); else the general
        path, :meth:`deliver_each`. No entry until the channel's first event
        (:meth:`deliver` decides). Valid while :attr:`generation` is the handlers'
        generation. Replaced, never cleared, when a decision may no longer hold: a
        decision made from what changed meanwhile (the blocking facade binds from
        other threads) lands in a dict already dropped."""
        self.generation = _bindings.generation
        """The handlers' generation the decisions were made in."""

    def use_handlers(self, bindings: Bindings, listeners: Bindings) -> None:
        """The client's handler and listener registries, made on its first bind."""
        self._bindings = bindings
        self._listeners = listeners
        self.plans = {}

    # ---------------------------------------------------------------- events

    def deliver(self, event: PusherEvent) -> None:
        """A channel event: to the streams, then to ``on_event`` callbacks.

        The runtime's hot path does the same by itself while no lane is open: it
        calls the channel's decided target (see :attr:`plans`) directly.
        """
        generation = _bindings.generation
        if generation is not self.generation:  # a handler was bound or unbound
            self.plans = {}
            self.generation = generation
        channel_name = event.channel_name
        target = self.plans.get(channel_name)
        if target is None:
            target = self._plan(channel_name)
        self.dispatcher.call(target, event)

    def deliver_each(self, event: PusherEvent) -> None:
        """A channel event, the general path: every stream and callback is decided
        for this event."""
        channel_name = event.channel_name
        channel = self.channel_callbacks.get(channel_name)
        if self._streams and channel is not None:
            route = self._routes.get(channel_name)
            if route is None:
                route = self._route(channel_name)
            for stream in route:
                stream.put(event)
        call = self.dispatcher.call
        if channel is None and channel_name.startswith(SERVER_TO_USER_PREFIX):
            if self._on_user_event is not None:
                call(self._on_user_event, event)
            return
        if self._on_event is not None:
            call(self._on_event, event)
        if self._bindings.active:
            for handler in self._bindings.handlers(event.event_name):
                call(handler, event)
        if channel is not None:
            if channel._on_event is not None:
                call(channel._on_event, event)
            bindings = channel._bindings
            if bindings is not None and bindings.active:
                for handler in bindings.handlers(event.event_name):
                    call(handler, event)

    def _plan(self, channel_name: str) -> Callback:
        """Decide what a channel's events are given to: when there is one thing to
        do, that thing (the one stream's ``put``, the one ``on_event``, or the one
        registry's handlers for the event's name); else :meth:`deliver_each`."""
        plans = self.plans  # first: see plans
        channel = self.channel_callbacks.get(channel_name)
        target: Callback = self.deliver_each
        if channel is not None:
            bindings = channel._bindings
            route = self._routes.get(channel_name) or self._route(channel_name)
            things: list[Any] = [
                *route,
                self._on_event,
                self._bindings if self._bindings.active else None,
                channel._on_event,
                bindings if bindings is not None and bindings.active else None,
            ]
            things = [thing for thing in things if thing is not None]
            if len(things) == 1:
                (thing,) = things
                if isinstance(thing, EventStream):
                    target = thing.put
                elif isinstance(thing, Bindings):
                    target = self._to_handlers(thing)
                else:
                    target = thing
        plans[channel_name] = target
        return target

    def _to_handlers(self, bindings: Bindings) -> Callback:
        """A channel's target when one registry's handlers are all there is to call:
        those bound to each event's name, as :meth:`deliver_each` calls them."""
        lanes, call = self.lanes, self.dispatcher.call
        failed, open_lane = self.dispatcher.failed, self.dispatcher.open_lane
        # The handlers per event name, as the registry works them out: kept here for
        # as long as this function is the decision, that is until any handler is
        # bound or unbound (a new generation drops it), and bounded as the
        # registry's own cache is.
        known: dict[str, tuple[Callback, ...]] = {}

        def to_handlers(event: PusherEvent) -> None:
            name = event.event_name
            handlers = known.get(name)
            if handlers is None:
                if len(known) >= BINDINGS_CACHE_LIMIT:
                    known.clear()
                handlers = known[name] = bindings.handlers(name)
            for handler in handlers:
                if lanes:
                    call(handler, event)
                    continue
                # Dispatcher.call, inline: no lane is open.
                try:
                    result = handler(event)
                except (Exception, asyncio.CancelledError) as exc:
                    failed(handler, exc)
                    continue
                if result is not None and inspect.isawaitable(result):
                    open_lane(handler, result)

        return to_handlers

    def forget_plans(self) -> None:
        """What channels' events go to must be decided again (callbacks changed)."""
        self.plans = {}

    def _emit(self, channel_name: str, event_name: str, data: Any) -> None:
        """A notification, as an event for the bound handlers only (as pusher-js
        emits it on the channel); ``data`` is sent as JSON text."""
        channel = self.channel_callbacks.get(channel_name)
        bindings = channel._bindings if channel is not None else None
        if not self._bindings and not bindings:
            return
        event = PusherEvent(channel_name, event_name, orjson.dumps(data).decode())
        call = self.dispatcher.call
        for handler in self._bindings.handlers(event_name):
            call(handler, event)
        if bindings:
            for handler in bindings.handlers(event_name):
                call(handler, event)

    def _route(self, channel_name: str) -> tuple[EventStream, ...]:
        streams = self._streams
        if not streams:
            return ()  # and nothing kept: _routes may be the shared empty dict
        route = (*streams.get(None, ()), *streams.get(channel_name, ()))
        self._routes[channel_name] = route
        return route

    # --------------------------------------------------------------- streams

    def open_stream(self, key: str | None, capacity: int) -> EventStream:
        """A new stream of one channel's events (``None``: every channel's)."""
        stream = EventStream(
            key, capacity, self._stream_overflowed, self.flow.hold, self.flow.release
        )
        if self._streams is _NO_STREAMS:
            self._streams = {}
            self._routes = {}
        self._streams.setdefault(key, set()).add(stream)
        self._routes.clear()
        self.plans = {}
        return stream

    def close_stream(self, stream: EventStream, error: PusherError | None = None) -> None:
        """Stop feeding a stream (its iterator is gone, or it ends with ``error``)."""
        streams = self._streams.get(stream.key)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.key]
            self._routes.clear()
            self.plans = {}
        stream.finish(error)

    def finish_streams(self, key: str | None, error: PusherError | None = None) -> None:
        """End the streams of one channel (or the client's, for ``None``)."""
        self._routes.clear()
        self.plans = {}
        for stream in self._streams.pop(key, ()):
            stream.finish(error)

    def finish_all_streams(self, error: PusherError | None = None) -> None:
        """End every stream (the client disconnected)."""
        for key in list(self._streams):
            self.finish_streams(key, error)

    def _stream_overflowed(self, error: SlowConsumerError) -> None:
        logger.warning("%s", error.message)
        self._error(error)

    # ---------------------------------------------------------- notifications

    def call(self, name: str, *args: Any) -> None:
        """Call the global callback ``name``, if set."""
        callback = self._callbacks.get(name)
        if callback is not None:
            self.dispatcher.call(callback, *args)

    def _listen(self, name: str, *args: Any) -> None:
        """Call the connection's listeners for ``name``."""
        for listener in self._listeners.handlers(name):
            self.dispatcher.call(listener, *args)

    def _error(self, error: PusherError) -> None:
        """An error for ``on_error`` and the connection's ``error`` listeners."""
        self.call("on_error", error.message, error.code, error)
        if self._listeners:
            self._listen("error", error.message, error.code, error)

    def call_channel(self, channel_name: str, name: str, *args: Any) -> None:
        """Call a channel's own callback ``name``, if set."""
        channel = self.channel_callbacks.get(channel_name)
        callback = channel._callback(name) if channel is not None else None
        if callback is not None:
            self.dispatcher.call(callback, *args)

    def notify(self, output: Output) -> None:
        """Hand a notification of the core to its callbacks."""
        if isinstance(output, StateChanged):
            self._state_changed(output)
        elif isinstance(output, ErrorReported):
            error = output.error
            logger.log(_log_level(error), "error: %s (code %s)", error.message, error.code)
            self._error(error)
        elif isinstance(output, ErrorRepeated):
            error = output.error
            logger.log(
                _log_level(error) - 10,
                "error again: %s (code %s), %d repeats in this outage",
                error.message,
                error.code,
                output.repeats,
            )
        elif isinstance(output, DecryptionFailed):
            logger.warning(
                "event %r on %r skipped: %s", output.event_name, output.channel_name, output.reason
            )
            self.call("on_decryption_failure", output.event_name, output.reason)
        elif isinstance(output, SubscriptionFailed):
            self._subscription_failed(output)
        elif isinstance(output, SubscriptionSucceeded):
            self._subscription_succeeded(output)
        elif isinstance(output, MemberAdded | MemberRemoved):
            name = "member_added" if isinstance(output, MemberAdded) else "member_removed"
            member = output.member
            self._to_both(output.channel_name, "on_" + name, member)
            self._emit(
                output.channel_name,
                "pusher:" + name,
                {"user_id": member.user_id, "user_info": member.user_info},
            )
        elif isinstance(output, SubscriptionCountChanged):
            self._to_both(output.channel_name, "on_subscription_count", output.count)
            self._emit(
                output.channel_name,
                "pusher:subscription_count",
                {"subscription_count": output.count},
            )
        elif isinstance(output, WatchlistEvent):
            self.call("on_watchlist_event", output.name, output.user_ids)
        elif isinstance(output, SignedIn):
            logger.info("signed in as user %r", output.user_data.get("id"))
            self.call("on_signin_succeeded", output.user_data)
        elif isinstance(output, SigninFailed):
            error = output.error
            logger.warning("sign-in failed: %s", error.message)
            self._error(error)
        else:  # pragma: no cover - every notification type is handled above
            raise AssertionError(f"unhandled output {output!r}")

    def channels_lost(self, last_frame_at: float) -> None:
        """The connection left ``CONNECTED`` (or vanished with its loop): every
        subscribed channel stopped being subscribed when the connection was last heard
        from, at ``last_frame_at`` (loop time), not when the loss was noticed."""
        last_frame = (last_frame_at, time.time() - (self._loop.time() - last_frame_at))
        for channel in self.channel_callbacks.values():
            channel._lost(last_frame)

    def _state_changed(self, change: StateChanged) -> None:
        current, previous = change.current, change.previous
        logger.info("connection state %s -> %s", previous, current)
        self.call("on_connection_state_change", current, previous)
        if self._listeners:
            self._listen("state_change", current, previous)
            self._listen(current.name.lower())

    def _subscription_succeeded(self, output: SubscriptionSucceeded) -> None:
        name = output.channel_name
        self._to_both(name, "on_subscription_succeeded", output.data)
        self._emit(name, "pusher:subscription_succeeded", output.data)
        channel = self.channel_callbacks.get(name)
        gap = channel._confirmed(self._loop.time()) if channel is not None else None
        if gap is not None:
            logger.info("%r resubscribed after %.3f s unsubscribed", name, gap.duration)
            self.call_channel(name, "on_resubscribed", gap)
            self._emit(name, "pusher:resubscribed", _gap_data(gap))

    def _to_both(self, channel_name: str, name: str, argument: Any) -> None:
        self.call(name, channel_name, argument)
        self.call_channel(channel_name, name, argument)

    def _subscription_failed(self, output: SubscriptionFailed) -> None:
        error = output.error
        name = error.channel_name
        # The message says any retry. A retried failure is one incident: its first
        # attempt is a WARNING, the retries that follow are routine (INFO).
        level = (
            logging.INFO if output.retry_in is not None and error.attempt > 1 else logging.WARNING
        )
        logger.log(level, "subscription to %r failed: %s", name, error.message)
        if output.retry_in is None:
            self.finish_streams(name, error)
        self.call("on_subscription_error", error.message, error)
        self.call_channel(name, "on_subscription_error", error.message, error)
        self._emit(
            name, "pusher:subscription_error", {"error": error.message, "status": error.status}
        )

    # ------------------------------------------------------- callback failures

    def callback_failed(self, callback: Callback, error: PusherError) -> None:
        """A callback raised: tell ``on_error`` and the connection's ``error``
        listeners, or, without any, say it aloud.

        With neither (or when one of them raised) the failure goes to the event
        loop's exception handler, as an unhandled task exception would: by default it
        is printed with its traceback, whatever logging is configured.
        """
        on_error = self._callbacks.get("on_error")
        cause = error.__cause__
        error_listeners = self._listeners.handlers("error") if self._listeners else ()
        a_reporter_failed = callback is on_error or callback in error_listeners
        if a_reporter_failed or (on_error is None and not error_listeners):
            # The error, with the callback's own exception as its cause (a
            # CancelledError included), so the handler shows both tracebacks.
            self._loop.call_exception_handler(
                {"message": f"pusher_channels: {error.message}", "exception": error}
            )
            return
        logger.error("%s", error.message, exc_info=cause if cause is not None else None)
        if not isinstance(error, CallbackError | SlowConsumerError):
            error = CallbackError(error.message)
        self._error(error)


def _log_level(error: PusherError) -> int:
    """The level an error is logged at: ``INFO`` for the routine 42xx ("reconnect
    immediately": a server restarting, which the client does at once), ``WARNING``
    for the others. Their repeats in one outage go one level lower."""
    code = error.code
    if code is not None and close_action(code) is CloseAction.RECONNECT_NOW:
        return logging.INFO
    return logging.WARNING


def _gap_data(gap: SubscriptionGap) -> dict[str, Any]:
    return {
        "gap_seconds": gap.duration,
        "started_at": gap.started_at,
        "ended_at": gap.ended_at,
        "resubscription": gap.resubscription,
    }
