"""The two threads behind the blocking facade: one event loop, one callback runner.

Every blocking call runs its coroutine on the loop thread (as anyio's
BlockingPortal does) and waits for the result, so the blocking client is the
asyncio client, with no protocol logic of its own. User callbacks run on the
callback thread, one at a time, in arrival order; since the loop never waits for
them, a callback may call the client (subscribe, trigger, disconnect) freely.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["CallbackThread", "LoopThread"]

logger = logging.getLogger("pusher_channels")
T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop thread is up."""
        return self._thread is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (starting the thread if needed)."""
        if self._loop is None:
            self.start()
        assert self._loop is not None
        return self._loop

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the loop thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> None:
        """Start the loop thread (once)."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"{self._name} loop", daemon=True)
        self._thread.start()
        started.wait()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result (blocking)."""
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError("a blocking call was made on the client's own event loop")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Schedule ``function(*args)`` on the loop, if it runs."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(function, *args)

    def stop(self) -> None:
        """Stop the loop, shut its executor down, and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("the loop thread cannot stop itself")
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = None
        self._thread = None


class CallbackThread:
    """Runs user callbacks one at a time, in the order they were submitted."""

    _STOP: Any = object()

    def __init__(self, name: str, report_error: Callable[[Callable[..., Any], Exception], None]):
        self._name = name
        self._report_error = report_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def in_callback_thread(self) -> bool:
        """Whether the caller is a callback."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Queue ``callback(*args)``; start the thread if needed."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._queue,),
                    name=f"{self._name} callbacks",
                    daemon=True,
                )
                self._thread.start()
        self._queue.put((callback, args))

    def stop(self) -> None:
        """Run what is queued, then end the thread (joined unless called from it)."""
        with self._lock:
            thread, self._thread = self._thread, None
            old_queue, self._queue = self._queue, queue.SimpleQueue()
        if thread is None:
            return
        old_queue.put(self._STOP)
        if threading.current_thread() is not thread:
            thread.join()

    def _run(self, calls: queue.SimpleQueue[Any]) -> None:
        while True:
            item = calls.get()
            if item is self._STOP:
                return
            callback, args = item
            try:
                callback(*args)
            except Exception as exc:
                self._report_error(callback, exc)
