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

Memory never grows without bound. The pause is owned by flow control
(:mod:`._flow`): it holds across reconnections, and a consumer that takes nothing
for ``STALL_TIMEOUT`` seconds stops holding it (it is taken to have left), so one
abandoned iterator cannot stall the connection. A paused socket also stops
answering pings, so a consumer stuck for longer than the heartbeat allows ends in
a reconnection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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
        "_error",
        "_finished",
        "_on_drained",
        "_on_full",
        "_on_overflow",
        "_overflowing",
        "_room",
        "_waiter",
        "buffer",
        "capacity",
        "dropped",
        "fast_take_floor",
        "full",
        "key",
        "progress",
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
        self.progress = 0
        """Events taken so far (flow control tells a slow consumer from one that left)."""
        self.buffer: collections.deque[PusherEvent] = collections.deque()
        """The events not taken yet (taken directly by the iterator's fast path)."""
        self.full = False
        """Whether the buffer reached ``capacity`` and has not drained to half since."""
        self.fast_take_floor = 0
        """While the buffer holds more events than this, taking one needs no checks."""
        # put() appends without further checks below this size: ``capacity``, then
        # the overflow limit once full; 0 once finished.
        self._room = capacity
        self._on_overflow = on_overflow
        self._on_full = on_full
        self._on_drained = on_drained
        self._overflowing = False
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._error: PusherError | None = None

    def put(self, event: PusherEvent) -> None:
        """Add an event, or drop it if the stream is full or finished."""
        buffer = self.buffer
        if len(buffer) < self._room:  # the hot path: room left, nothing to decide
            buffer.append(event)
            if self._waiter is not None:
                self._wake()
            return
        self._put_past_capacity(event)

    def _put_past_capacity(self, event: PusherEvent) -> None:
        if self._finished:
            return
        size = len(self.buffer)
        if not self.full:
            self.full = True
            self._room = self.capacity * OVERFLOW_FACTOR
            self.fast_take_floor = self.capacity // 2 + 1
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
        self.buffer.append(event)
        if self._waiter is not None:
            self._wake()

    def finish(self, error: PusherError | None = None) -> None:
        """End the stream after the buffered events; raise ``error`` then, if given."""
        if self._finished:
            return
        self._finished = True
        self._room = 0
        self._error = error
        self._drained()
        self._wake()

    def take_nowait(self) -> PusherEvent | None:
        """The next buffered event, or ``None`` if none is buffered (no waiting)."""
        buffer = self.buffer
        if not buffer:
            return None
        event = buffer.popleft()
        self.progress += 1
        if self.full and len(buffer) <= self.capacity // 2:
            self._overflowing = False
            self._drained()
        return event

    async def get(self) -> PusherEvent | None:
        """The next event, waiting for one; ``None`` once the stream has ended.

        Raises:
            PusherError: the stream ended because of this error (e.g. the
                subscription failed).
        """
        while not self.buffer:
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
        return self.take_nowait()

    def _drained(self) -> None:
        if self.full:
            self.full = False
            self.fast_take_floor = 0
            if not self._finished:
                self._room = self.capacity
            if self._on_drained is not None:
                self._on_drained(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None  # one wake-up per wait: later puts skip this call
            if not waiter.done():
                waiter.set_result(None)


class EventIterator:
    """``async for event in ...``: the iterator returned by ``events()``.

    It is registered when created, so no event is missed between ``events()`` and
    the first ``await``. It ends when its channel is unsubscribed or the client
    disconnects, and raises the error if the subscription fails or the server
    refuses the connection. ``await iterator.aclose()`` and ``async with`` close
    it; so does dropping it (``break`` out of ``async for event in
    channel.events()`` with no other reference closes it at once; one collected
    by another thread, in a reference cycle, is closed on its loop soon after).
    An iterator left with ``break`` but still referenced is not closed: if its buffer fills
    up it holds the socket only while its consumer makes progress, and stops
    holding after ``STALL_TIMEOUT`` seconds without any (see :mod:`._flow`).
    """

    __slots__ = ("__weakref__", "_close", "_loop", "_stream")

    def __init__(self, stream: EventStream, close: Callable[[EventStream], None]) -> None:
        """Made on the running loop, which owns ``stream``; ``close`` stops feeding it."""
        self._stream = stream
        self._close = close
        self._loop = asyncio.get_running_loop()

    @property
    def dropped(self) -> int:
        """Events dropped because this iterator's buffer was full."""
        return self._stream.dropped

    def __aiter__(self) -> EventIterator:
        return self

    async def __anext__(self) -> PusherEvent:
        stream = self._stream
        buffer = stream.buffer
        if len(buffer) > stream.fast_take_floor:  # the common case: nothing to await
            stream.progress += 1
            return buffer.popleft()
        event = stream.take_nowait()
        if event is not None:
            return event
        event = await stream.get()
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
        # The garbage collector calls this on whichever thread collects the iterator
        # (one in a reference cycle may be found by any thread), and the stream and
        # the delivery that feeds it belong to the loop: only the loop closes it.
        loop = self._loop
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            self._close(self._stream)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing feeds it
            loop.call_soon_threadsafe(self._close, self._stream)
