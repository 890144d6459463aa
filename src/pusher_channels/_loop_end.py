"""Hearing that an event loop is being shut down, while it still runs.

A socket belongs to the event loop that opened it, and only that loop, running,
can close it: once ``loop.close()`` has run, the socket stays open until the
process ends or the garbage collector finds it (``ResourceWarning: unclosed
transport``), and the server keeps the connection (and a presence member) alive
meanwhile. So a client still connected when its loop ends (``asyncio.run()``
returning, a notebook's loop replaced, the blocking client's loop thread ending)
must act during the shutdown itself.

The hook: ``asyncio.run()`` and ``asyncio.Runner`` cancel the loop's tasks, then
call ``loop.shutdown_asyncgens()``, which closes (``aclose()``) every asynchronous
generator still suspended on the loop, and only then close the loop. A
:class:`LoopEndWatch` is such a generator: its ``finally`` runs the callback,
on the loop, after the tasks are gone and before the loop closes. Unlike a task
waiting forever, it shows in no ``asyncio.all_tasks()``.

A loop closed without ``shutdown_asyncgens()`` (by hand) never tells: then the
socket is left to the garbage collector, as before. The generator is given a
finalizer of its own that does nothing, so that collecting it after its loop
closed does not ask that closed loop to run its ``aclose()`` (which would fail).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any

__all__ = ["LoopEndWatch"]


class LoopEndWatch:
    """Calls ``on_end()`` on the running loop when that loop is shut down.

    Make it on the loop to watch (in a coroutine or a callback of that loop), and
    keep a reference to it: the loop holds its generator weakly.
    """

    __slots__ = ("_generator",)

    def __init__(self, on_end: Callable[[], object]) -> None:
        generator = _until_shutdown(on_end)
        firstiter, finalizer = sys.get_asyncgen_hooks()
        # The loop's first-iteration hook registers the generator for
        # shutdown_asyncgens(); the finalizer is ours (see the module's docstring).
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=_leave_alone)
        try:
            _start(generator)
        finally:
            sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
        self._generator = generator


async def _until_shutdown(on_end: Callable[[], object]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        on_end()


def _start(generator: AsyncGenerator[None, None]) -> None:
    """Run ``generator`` to its first ``yield``, where it waits for the shutdown."""
    with contextlib.suppress(StopIteration):  # what reaching a yield raises here
        generator.asend(None).send(None)


def _leave_alone(generator: AsyncGenerator[Any, Any]) -> None:
    """The finalizer of a watch collected unclosed: there is nothing to close."""
