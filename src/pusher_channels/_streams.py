"""Event streams: the bounded buffers behind ``events()`` iterators.

The runtime's router puts each delivered event into every open stream of its
channel (and of the client), in arrival order, next to the callbacks: iterators
and callbacks see the same events in the same order.

Slow-consumer policy, in two steps:

1. When a stream holds ``capacity`` events, the client stops reading the socket
   (backpressure) until the consumer has taken half of them. A socket read can
   still bring many frames at once (tens of thousands on a fast link), so the
   stream keeps accepting events past ``capacity`` for a while: a consumer that
   keeps up loses nothing.
2. At ``OVERFLOW_FACTOR * capacity`` events, new events for that stream are
   dropped (never the ones already buffered, so what the consumer sees stays in
   order, with a gap), :attr:`EventStream.dropped` counts them, and ``on_error``
   hears of it once per overflow with a :class:`SlowConsumerError`.

Memory never grows without bound. A paused socket also stops answering pings, so
a consumer stuck for longer than the heartbeat allows ends in a reconnection.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Final

from .exceptions import PusherError, SlowConsumerError
from .protocol.messages import PusherEvent

__all__ = ["DEFAULT_CAPACITY", "EventIterator", "EventStream"]

DEFAULT_CAPACITY: Final = 10_000
OVERFLOW_FACTOR: Final = 10


class EventStream:
    """A bounded FIFO of events between the router and one iterator."""

    __slots__ = (
        "_buffer",
        "_error",
        "_finished",
        "_full",
        "_on_drained",
        "_on_full",
        "_on_overflow",
        "_overflowing",
        "_waiter",
        "capacity",
        "dropped",
        "key",
    )

    def __init__(
        self,
        key: str | None,
        capacity: int,
        on_overflow: Callable[[SlowConsumerError], None],
        on_full: Callable[[EventStream], None] | None = None,
        on_drained: Callable[[EventStream], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("an event stream needs a capacity of at least 1")
        self.key = key
        self.capacity = capacity
        self.dropped = 0
        self._buffer: collections.deque[PusherEvent] = collections.deque()
        self._on_overflow = on_overflow
        self._on_full = on_full
        self._on_drained = on_drained
        self._full = False
        self._overflowing = False
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._error: PusherError | None = None

    def put(self, event: PusherEvent) -> None:
        """Add an event, or drop it if the stream is full or finished."""
        if self._finished:
            return
        size = len(self._buffer)
        if size >= self.capacity and not self._full:
            self._full = True
            if self._on_full is not None:
                self._on_full(self)
        if size >= self.capacity * OVERFLOW_FACTOR:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                where = f"channel {self.key!r}" if self.key is not None else "the client"
                self._on_overflow(
                    SlowConsumerError(
                        f"events() buffer of {where} is full "
                        f"({self.capacity * OVERFLOW_FACTOR} events): "
                        "new events are dropped until the consumer catches up"
                    )
                )
            return
        self._buffer.append(event)
        if self._waiter is not None:
            self._wake()

    def finish(self, error: PusherError | None = None) -> None:
        """End the stream after the buffered events; raise ``error`` then, if given."""
        if self._finished:
            return
        self._finished = True
        self._error = error
        self._drained()
        self._wake()

    def take_nowait(self) -> PusherEvent | None:
        """The next buffered event, or ``None`` if none is buffered (no waiting)."""
        buffer = self._buffer
        if not buffer:
            return None
        event = buffer.popleft()
        if self._full and len(buffer) <= self.capacity // 2:
            self._overflowing = False
            self._drained()
        return event

    async def get(self) -> PusherEvent | None:
        """The next event, waiting for one; ``None`` once the stream has ended.

        Raises:
            PusherError: the stream ended because of this error (e.g. the
                subscription failed).
        """
        while not self._buffer:
            if self._finished:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._buffer.popleft()
        if self._full and len(self._buffer) <= self.capacity // 2:
            self._overflowing = False
            self._drained()
        return event

    def _drained(self) -> None:
        if self._full:
            self._full = False
            if self._on_drained is not None:
                self._on_drained(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class EventIterator:
    """``async for event in ...``: the iterator returned by ``events()``.

    It is registered when created, so no event is missed between ``events()`` and
    the first ``await``. It ends when its channel is unsubscribed or the client
    disconnects, and raises the error if the subscription fails or the server
    refuses the connection. Leaving the loop early (``break``) closes it; so do
    ``await iterator.aclose()`` and ``async with``.
    """

    __slots__ = ("__weakref__", "_close", "_stream")

    def __init__(self, stream: EventStream, close: Callable[[EventStream], None]) -> None:
        self._stream = stream
        self._close = close

    @property
    def dropped(self) -> int:
        """Events dropped because this iterator's buffer was full."""
        return self._stream.dropped

    def __aiter__(self) -> EventIterator:
        return self

    async def __anext__(self) -> PusherEvent:
        event = self._stream.take_nowait()  # the common case: no coroutine to await
        if event is not None:
            return event
        event = await self._stream.get()
        if event is None:
            self._close(self._stream)
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._close(self._stream)

    async def __aenter__(self) -> EventIterator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        self._close(self._stream)
