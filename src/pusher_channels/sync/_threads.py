"""The threads behind the blocking facade: one event loop, one callback runner, workers.

Every blocking call runs its coroutine on the loop thread (as anyio's
BlockingPortal does) and waits for the result, so the blocking client is the
asyncio client, with no protocol logic of its own. User callbacks run on the
callback thread, one at a time, in arrival order; since the loop never waits for
them, a callback may call the client (subscribe, trigger, disconnect) freely.
Callbacks that return an answer (``on_authorizer``, ``on_user_authenticator``)
run each in a daemon thread of its own that nothing joins.

Every wait here ends by design: stopping the loop cancels the blocking calls still
waiting on it (they raise :class:`LoopStoppedError`), and no shutdown waits for a
thread that runs user code, since that thread may be the one stopping the client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from ..exceptions import PusherConnectionError

__all__ = [
    "ON_DISCONNECT",
    "ON_INTERRUPT",
    "CallbackThread",
    "LoopStoppedError",
    "LoopThread",
    "ShutdownBounds",
    "in_daemon_thread",
]

logger = logging.getLogger("pusher_channels")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ShutdownBounds:
    """How long each step of stopping the client may take, in seconds.

    Attributes:
        close: the connection closing politely (the core itself drops the socket
            after its own close timeout, 2 s); then the loop is stopped anyway.
        loop_stop: the tasks left on the loop ending (half of it) and the loop
            thread and its executor's threads ending (all of it).
        callbacks: the callbacks still queued running; the rest is dropped, and
            a callback still running is left to finish on its (daemon) thread.
    """

    close: float
    loop_stop: float
    callbacks: float


# disconnect(): at most about 7 s in all, milliseconds when nothing is slow.
ON_DISCONNECT = ShutdownBounds(close=3.0, loop_stop=1.0, callbacks=3.0)
# Leaving ``with`` on KeyboardInterrupt (or SystemExit...): about a second at most.
ON_INTERRUPT = ShutdownBounds(close=0.5, loop_stop=0.5, callbacks=0.0)


class LoopStoppedError(PusherConnectionError):
    """A blocking call ended (or was refused) because the client's loop stopped."""


class LoopThread:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._waiting: set[concurrent.futures.Future[Any]] = set()

    @property
    def running(self) -> bool:
        """Whether the loop thread is up (and not being stopped)."""
        return self._thread is not None and not self._stopping

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the loop thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> None:
        """Start the loop thread (once)."""
        with self._lock:
            self._start()

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(thread_name_prefix=self._executor_prefix)
        )
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            try:
                loop.run_forever()
            finally:
                # The thread owns its loop, and ends it as asyncio.run() does: a
                # socket still open is dropped (see pusher_channels._loop_end), then
                # closing the loop shuts its executor down, without waiting.
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"{self._name} loop", daemon=True)
        self._thread.start()
        started.wait()
        return loop

    @property
    def _executor_prefix(self) -> str:
        return f"{self._name} executor"

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and return its result (blocking).

        Raises:
            LoopStoppedError: the loop is being stopped, or was stopped while waiting.
            TimeoutError: ``timeout`` seconds passed; the coroutine is cancelled.
        """
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError("a blocking call was made on the client's own event loop")
        future = self._submit(coroutine)
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise LoopStoppedError("the call ended: the client was disconnected") from None
        finally:
            future.cancel()  # a no-op once done; else the call is abandoned (timeout, Ctrl-C)
            with self._lock:
                self._waiting.discard(future)

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._stopping:
                coroutine.close()
                raise LoopStoppedError("the client is disconnecting")
            future = asyncio.run_coroutine_threadsafe(coroutine, self._start())
            self._waiting.add(future)
        return future

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Schedule ``function(*args)`` on the loop, if it runs.

        Takes no lock: finalizers call it (a blocking iterator collected), and the
        garbage collector may run them on a thread that holds this object's lock.
        """
        loop = self._loop
        if loop is None or self._stopping:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(function, *args)

    def abandon(
        self, close: Callable[[], Coroutine[Any, Any, Any]], then: Callable[[], None]
    ) -> bool:
        """Have the loop close its client and stop itself; wait for nothing.

        For a client collected without ``disconnect()``: on the loop, ``close()`` is
        awaited (for at most :data:`ON_DISCONNECT`'s ``close``), then ``then()`` is
        called, the tasks left are cancelled and the loop stops; its thread then
        closes it and ends. Meant to be called from a finalizer, which may run on
        any thread, in the middle of anything (a lock this thread holds included):
        it takes no lock. Returns whether the loop was running.
        """
        loop = self._loop
        if loop is None or self._stopping:
            return False
        try:
            loop.call_soon_threadsafe(self._close_abandoned, close, then)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    def _close_abandoned(
        self, close: Callable[[], Coroutine[Any, Any, Any]], then: Callable[[], None]
    ) -> None:
        with self._lock:
            loop = self._loop
            if loop is None or self._stopping:
                return
            self._stopping = True
            waiting = list(self._waiting)
        for future in waiting:
            future.cancel()
        loop.create_task(_close_then_stop(close, then, ON_DISCONNECT))

    def stop(self, timeout: float = ON_DISCONNECT.loop_stop) -> None:
        """Stop the loop within ``timeout`` seconds, from any thread but its own.

        The blocking calls still waiting raise :class:`LoopStoppedError`; the tasks left
        on the loop are cancelled. A second caller, while one stops the loop,
        returns at once.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or self._stopping:
                return
            if threading.current_thread() is thread:
                raise RuntimeError("the loop thread cannot stop itself")
            self._stopping = True
            waiting = list(self._waiting)
        try:
            for future in waiting:
                future.cancel()
            self._wind_down(loop, thread, time.monotonic() + timeout, timeout / 2)
        finally:
            with self._lock:
                self._loop = None
                self._thread = None
                self._stopping = False

    def _wind_down(
        self,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        deadline: float,
        cancel_timeout: float,
    ) -> None:
        asyncio.run_coroutine_threadsafe(_cancel_tasks_and_stop(cancel_timeout), loop)
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            logger.warning("the event loop thread %r did not stop; left running", thread.name)
            return
        # The thread closed its loop as it ended, which shut the executor down.
        _join_threads_named(self._executor_prefix, deadline)


async def _close_then_stop(
    close: Callable[[], Coroutine[Any, Any, Any]], then: Callable[[], None], bounds: ShutdownBounds
) -> None:
    """Await ``close()`` (bounded), call ``then()``, cancel the other tasks, stop."""
    try:
        async with asyncio.timeout(bounds.close):
            await close()
    except TimeoutError:
        logger.warning("the connection did not close within %g s; stopping anyway", bounds.close)
    except Exception:
        logger.exception("closing an abandoned client failed; stopping anyway")
    then()
    await _cancel_tasks_and_stop(bounds.loop_stop / 2)


async def _cancel_tasks_and_stop(timeout: float) -> None:
    """Cancel every other task of the running loop, give them ``timeout`` s, stop."""
    loop = asyncio.get_running_loop()
    try:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            if stuck:
                logger.warning("%d task(s) ignored cancellation at disconnect", len(stuck))
    finally:
        loop.stop()


def _join_threads_named(prefix: str, deadline: float) -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(prefix):
            thread.join(max(0.0, deadline - time.monotonic()))


async def in_daemon_thread(function: Callable[..., T], args: tuple[Any, ...], name: str) -> T:
    """Run ``function(*args)`` in a new daemon thread and await its result.

    Nothing ever joins that thread: if the awaiting task is cancelled (by
    ``disconnect()`` or a timeout), the result is discarded when it comes, and the
    thread ends when ``function`` returns.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[Any], None], value: Any) -> None:
        if not answer.done():
            outcome(value)

    def work() -> None:
        try:
            result = function(*args)
        except Exception as exc:
            reply: tuple[Callable[[Any], None], Any] = (answer.set_exception, exc)
        else:
            reply = (answer.set_result, result)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, *reply)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await answer


class CallbackThread:
    """Runs user callbacks one at a time, in the order they were submitted."""

    _STOP: Any = object()

    def __init__(self, name: str, report_error: Callable[[Callable[..., Any], Exception], None]):
        self._name = name
        self._report_error = report_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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

    def stop(self, grace: float = ON_DISCONNECT.callbacks) -> int:
        """End the thread: let it run what is queued for ``grace`` seconds, drop the rest.

        Returns how many queued callbacks were dropped. A callback still running
        then is not waited for: the (daemon) thread ends once it returns. Called
        from the callback thread itself, nothing is waited for or dropped: the
        queue runs once the calling callback returns.
        """
        thread, old_queue = self._detach()
        if thread is None:
            return 0
        if threading.current_thread() is thread:
            return 0
        thread.join(grace)
        return self._drop_queued(old_queue) if thread.is_alive() else 0

    def close(self) -> None:
        """End the thread once the callbacks queued have run; wait for nothing."""
        self._detach()

    def _detach(self) -> tuple[threading.Thread | None, queue.SimpleQueue[Any]]:
        """Take the running thread and its queue, which it is told to end after."""
        with self._lock:
            thread, self._thread = self._thread, None
            old_queue, self._queue = self._queue, queue.SimpleQueue()
        if thread is not None:
            old_queue.put(self._STOP)
        return thread, old_queue

    def _drop_queued(self, calls: queue.SimpleQueue[Any]) -> int:
        dropped = 0
        with contextlib.suppress(queue.Empty):
            while True:
                dropped += calls.get_nowait() is not self._STOP
        calls.put(self._STOP)
        return dropped

    def _run(self, calls: queue.SimpleQueue[Any]) -> None:
        while True:
            item = calls.get()
            if item is self._STOP:
                return
            callback, args = item
            try:
                result = callback(*args)
            except Exception as exc:
                self._report_error(callback, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited, and not to be warned about
                self._report_error(
                    callback,
                    TypeError(
                        "returned an awaitable, which the blocking client cannot await; "
                        "its work was not done"
                    ),
                )
