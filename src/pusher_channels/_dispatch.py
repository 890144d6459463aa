"""Calling user callbacks: in arrival order, plain or async, never breaking the loop.

A plain callback is called at once when nothing is waiting before it. When a
callback is a coroutine function (or returns an awaitable), later calls queue up
behind it and one worker task awaits them in order, so callbacks always see events
in the order they arrived, and no task is created per event.

A callback that raises is logged with its traceback and reported to ``on_error`` as
a :class:`~pusher_channels.exceptions.CallbackError`; the connection and the later
callbacks carry on.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from typing import Any

from .exceptions import CallbackError

__all__ = ["Dispatcher"]

logger = logging.getLogger("pusher_channels")

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class Dispatcher:
    """Runs user callbacks in order, on the event loop that owns the client."""

    __slots__ = ("_idle", "_queue", "_report_error", "_worker")

    def __init__(self, report_error: Callable[[Callable[..., Any], CallbackError], None]) -> None:
        self._report_error = report_error
        # Made with the first worker: a client whose callbacks are all plain never
        # needs them (they would cost about 1.5 KiB per idle connection).
        self._queue: collections.deque[Call] | None = None
        self._idle: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    def call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` after every call made before it."""
        if self._worker is not None:
            assert self._queue is not None
            self._queue.append((callback, args))
            return
        try:
            result = callback(*args)
        except Exception as exc:
            self._failed(callback, exc)
            return
        if result is not None and inspect.isawaitable(result):
            self._start_worker(callback, result)

    def running_in_worker(self) -> bool:
        """Whether the caller is a callback run by the worker task."""
        return self._worker is not None and asyncio.current_task() is self._worker

    async def wait_idle(self) -> None:
        """Wait until every queued callback has run."""
        if self._idle is not None and not self.running_in_worker():
            await self._idle.wait()

    def cancel(self) -> None:
        """Drop queued callbacks and stop the worker (the client is closing for good)."""
        if self._queue is not None:
            self._queue.clear()
        if self._worker is not None and not self.running_in_worker():
            self._worker.cancel()

    def _start_worker(self, callback: Callable[..., Any], first: Any) -> None:
        if self._queue is None:
            self._queue = collections.deque()
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        self._worker = asyncio.get_running_loop().create_task(
            self._work(callback, first, self._queue, self._idle), name="pusher_channels callbacks"
        )

    async def _work(
        self,
        callback: Callable[..., Any],
        awaitable: Any,
        queue: collections.deque[Call],
        idle: asyncio.Event,
    ) -> None:
        try:
            try:
                await awaitable
            except Exception as exc:
                self._failed(callback, exc)
            while queue:
                callback, args = queue.popleft()
                try:
                    result = callback(*args)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    self._failed(callback, exc)
        finally:
            self._worker = None
            idle.set()

    def _failed(self, callback: Callable[..., Any], exc: Exception) -> None:
        name = getattr(callback, "__qualname__", repr(callback))
        logger.error("callback %s raised %s", name, type(exc).__name__, exc_info=exc)
        error = CallbackError(f"callback {name} raised {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        self._report_error(callback, error)
