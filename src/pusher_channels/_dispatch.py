"""Calling user callbacks: each in arrival order, none holding back another.

A plain callback is called at once. When a callback is a coroutine function (or
returns an awaitable), that callback gets a *lane*: later calls to the same callback
queue behind the one still running, and one task works through them in order. Other
callbacks are not held back by it, so one slow or hung callback cannot stall the
rest (state changes, other channels, errors).

A lane is bounded like an ``events()`` buffer: at ``capacity`` queued calls it holds
the flow (the socket is not read until it catches up, see :mod:`._flow`); at
``OVERFLOW_FACTOR`` times that, new calls for it are dropped and ``on_error`` gets a
:class:`~pusher_channels.exceptions.SlowConsumerError`.

A callback that raises (``CancelledError`` included) is reported (see
:class:`Dispatcher`) and the next calls run in order.

:meth:`Dispatcher.call` is what every call goes through, but for one: the delivery
of a channel event to a channel's one callback, while no lane is open, calls it
itself (one Python call less per event) and hands what it cannot finish back here:
an exception to :meth:`Dispatcher.failed`, an awaitable to
:meth:`Dispatcher.open_lane`, exactly as :meth:`Dispatcher.call` would. :meth:`Dispatcher.shutdown`
waits a bounded grace period for running callbacks, then cancels what is left, unless
``connect()`` starts a new connection meanwhile (:meth:`Dispatcher.connection_started`):
the grace belongs to the connection that ended, and a new one is never touched by it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from ._flow import FlowControl
from .exceptions import CallbackError, PusherError, SlowConsumerError

__all__ = ["DEFAULT_LANE_CAPACITY", "SHUTDOWN_GRACE", "Dispatcher", "ErrorReporter"]

logger = logging.getLogger("pusher_channels")

DEFAULT_LANE_CAPACITY: Final = 10_000
"""Queued calls of one async callback at which the socket stops being read."""
OVERFLOW_FACTOR: Final = 10
SHUTDOWN_GRACE: Final = 5.0
"""Seconds ``disconnect()`` gives running callbacks before cancelling them."""


class ErrorReporter(Protocol):
    """Where the failures of callbacks are reported (the delivery)."""

    def callback_failed(self, callback: Callable[..., Any], error: PusherError) -> None:
        """``callback`` failed with ``error``."""


_running_lane: contextvars.ContextVar[_Lane | None] = contextvars.ContextVar(
    "pusher_channels_running_lane", default=None
)


class _Lane:
    """The queued calls of one async callback, and the task working through them."""

    __slots__ = ("callback", "full", "overflowing", "progress", "queue", "task")

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.progress = 0
        self.full = False
        self.overflowing = False


class Dispatcher:
    """Runs user callbacks on the event loop that owns the client."""

    __slots__ = ("_disconnecting", "_flow", "_reporter", "_taken_over", "capacity", "lanes")

    def __init__(
        self,
        reporter: ErrorReporter,
        flow: FlowControl | None = None,
        capacity: int = DEFAULT_LANE_CAPACITY,
    ) -> None:
        self._reporter = reporter
        """Told of failures (an object, not a bound method kept per connection)."""
        self._flow = flow
        self.capacity = capacity
        self.lanes: dict[Callable[..., Any], _Lane] = {}
        """The open lanes, by callback: the same dict for the dispatcher's life (the
        delivery keeps it and tests it for emptiness on its fast path; an empty dict
        is not tracked by the garbage collector)."""
        self._disconnecting: tuple[_Lane, ...] = ()
        """Lanes whose callback is inside ``disconnect()``: a shutdown does not wait
        for them (they wait for it), so two callbacks disconnecting at once cannot
        wait on each other. (A tuple, replaced whole: the empty one costs an idle
        connection nothing, where a set or a list would be an object of its own.)"""
        self._taken_over: asyncio.Future[None] | None = None
        """Made by a shutdown that waits, resolved when a new connection starts: that
        shutdown then stops at once."""

    def call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` after every earlier call of the same callback."""
        lanes = self.lanes
        if lanes:
            lane = lanes.get(callback)
            if lane is not None:
                self._queue(lane, args)
                return
        try:
            result = callback(*args)
        except (Exception, asyncio.CancelledError) as exc:
            self.failed(callback, exc)
            return
        if result is not None and inspect.isawaitable(result):
            self.open_lane(callback, result)

    @property
    def busy(self) -> bool:
        """Whether some async callback is still running or queued."""
        return bool(self.lanes)

    def own_lane(self) -> _Lane | None:
        """The lane of the callback that is calling, if one is (also from a task it
        started, such as ``asyncio.wait_for(client.disconnect(), 3)``)."""
        lane = _running_lane.get()
        if lane is not None and self.lanes.get(lane.callback) is lane:
            return lane
        return None

    @contextlib.contextmanager
    def disconnecting(self) -> Iterator[None]:
        """Mark the calling callback's lane, if any, as inside ``disconnect()``."""
        lane = self.own_lane()
        if lane is None:
            yield
            return
        self._disconnecting = (*self._disconnecting, lane)
        try:
            yield
        finally:
            marked = self._disconnecting
            at = marked.index(lane)
            self._disconnecting = marked[:at] + marked[at + 1 :]

    def connection_started(self) -> None:
        """``connect()`` starts a new connection: a shutdown under way stops at once.

        It cancels nothing more: what runs from then on belongs to the live client,
        as callbacks running across a reconnection do (later calls of a callback still
        queue behind its running one).
        """
        taken_over, self._taken_over = self._taken_over, None
        if taken_over is not None and not taken_over.done():
            taken_over.set_result(None)

    async def shutdown(self, grace: float | None = None) -> None:
        """Let running callbacks finish for ``grace`` seconds, then cancel the rest.

        The caller's own lane (a callback awaiting ``disconnect()``) is neither
        waited for nor cancelled. What is cancelled is reported. A connection started
        meanwhile (:meth:`connection_started`) ends the shutdown there, with nothing
        (more) cancelled: the grace belongs to the connection that ended.
        """
        if grace is None:
            grace = SHUTDOWN_GRACE
        spared = {self.own_lane(), *self._disconnecting}
        pending = {lane.task for lane in self.lanes.values() if lane not in spared and lane.task}
        if pending:
            loop = asyncio.get_running_loop()
            taken_over = self._taken_over
            if taken_over is None:
                taken_over = self._taken_over = loop.create_future()
            deadline = loop.time() + grace
            while pending and not taken_over.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    {*pending, taken_over}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
            if taken_over.done():
                return
            for lane in list(self.lanes.values()):
                if lane in spared or lane.task not in pending:
                    continue
                name = _name(lane.callback)
                dropped = len(lane.queue)
                lane.queue.clear()
                assert lane.task is not None
                lane.task.cancel()
                message = (
                    f"callback {name} still running {grace:g} s after disconnect(): cancelled"
                    + (f", {dropped} queued calls dropped" if dropped else "")
                )
                logger.warning("%s", message)
                self._reporter.callback_failed(lane.callback, CallbackError(message))
            if pending:
                await asyncio.wait(pending)
            if taken_over.done():
                return
        for lane in list(self.lanes.values()):  # opened while shutting down
            if lane not in spared and lane.task is not None:
                lane.task.cancel()

    # ------------------------------------------------------------------- lanes

    def open_lane(self, callback: Callable[..., Any], first: Any) -> None:
        """``callback`` returned the awaitable ``first``: give it a lane, awaiting it."""
        lane = _Lane(callback)
        self.lanes[callback] = lane
        task = asyncio.get_running_loop().create_task(
            self._work(lane, first), name=f"pusher_channels callback {_name(callback)}"
        )
        lane.task = task
        if inspect.iscoroutine(first):
            # Cancelled before its first step, the task never awaits ``first``:
            # close it then, or Python warns that it was never awaited.
            task.add_done_callback(lambda _: first.close())

    def _queue(self, lane: _Lane, args: tuple[Any, ...]) -> None:
        queue = lane.queue
        if len(queue) < self.capacity:
            queue.append(args)
            return
        if not lane.full:
            lane.full = True
            if self._flow is not None:
                self._flow.hold(lane)
        if len(queue) >= self.capacity * OVERFLOW_FACTOR:
            if not lane.overflowing:
                lane.overflowing = True
                message = (
                    f"callback {_name(lane.callback)} has {len(queue)} calls waiting: "
                    "new calls are dropped until it catches up"
                )
                logger.warning("%s", message)
                self._reporter.callback_failed(lane.callback, SlowConsumerError(message))
            return
        queue.append(args)

    async def _work(self, lane: _Lane, first: Any) -> None:
        _running_lane.set(lane)  # this task's own context, and its children's
        callback, queue = lane.callback, lane.queue
        try:
            await self._run(callback, first)
            while queue:
                args = queue.popleft()
                lane.progress += 1
                if lane.full and len(queue) <= self.capacity // 2:
                    lane.full = lane.overflowing = False
                    if self._flow is not None:
                        self._flow.release(lane)
                try:
                    result = callback(*args)
                except (Exception, asyncio.CancelledError) as exc:
                    self.failed(callback, exc)
                    continue
                if inspect.isawaitable(result):
                    await self._run(callback, result)
        finally:
            if self.lanes.get(callback) is lane:
                del self.lanes[callback]
            if self._flow is not None:
                self._flow.release(lane)

    async def _run(self, callback: Callable[..., Any], awaitable: Any) -> None:
        try:
            await awaitable
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the lane itself is being cancelled (shutdown)
            self.failed(callback, exc)
        except Exception as exc:
            self.failed(callback, exc)

    def failed(self, callback: Callable[..., Any], exc: BaseException) -> None:
        """``callback`` raised ``exc``: report it."""
        name = _name(callback)
        error = CallbackError(f"callback {name} raised {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        self._reporter.callback_failed(callback, error)


def _name(callback: Callable[..., Any]) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)
