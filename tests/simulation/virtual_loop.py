"""A virtual-time asyncio event loop: no sleeping, no real I/O, the same run every time.

:class:`VirtualEventLoop` is asyncio's own selector loop with two things replaced:

- ``time()`` reads a :class:`VirtualClock` instead of the monotonic clock, so
  ``loop.call_at``, ``asyncio.sleep`` and ``asyncio.timeout`` all run on virtual time;
- the selector never blocks: when the loop would wait in ``select(timeout)`` for the
  next timer, the clock jumps forward by ``timeout`` instead, and the timer is due.

Nothing here opens a socket (the selector only holds the loop's own self-pipe, which
nothing in a simulation writes to), so a run depends on nothing but its inputs: the
same seed gives the same sequence of callbacks, bit for bit.

When nothing at all is scheduled (no ready callback, no timer) while the simulation
still waits, nothing can ever happen again: ``select(None)`` raises
:class:`SimulationStalledError` instead of hanging the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

__all__ = ["SimulationStalledError", "VirtualClock", "VirtualEventLoop", "run_virtual"]

T = TypeVar("T")

START_TIME: Final = 1_000.0
"""Where virtual time starts: not zero, so that "no deadline" (0.0) never looks due."""


class SimulationStalledError(RuntimeError):
    """The loop had nothing scheduled while a coroutine still waited: a deadlock."""


class VirtualClock:
    """Seconds of virtual time; only ever moves forward."""

    __slots__ = ("now",)

    def __init__(self, start: float = START_TIME) -> None:
        self.now = start

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative values are ignored)."""
        if seconds > 0:
            self.now += seconds


class _VirtualSelector(selectors.SelectSelector):
    """A selector that advances the virtual clock where a real one would block."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # Only the self-pipe is registered; poll it without waiting.
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise SimulationStalledError("nothing is scheduled and nothing can wake the loop")
        self._clock.advance(timeout)
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop on a :class:`VirtualClock`."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        super().__init__(_VirtualSelector(self.clock))
        # Timers due within this much of "now" run in the same iteration; virtual
        # time lands exactly on deadlines, so a tiny resolution is enough.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        """The virtual time, in seconds."""
        return self.clock.now


def run_virtual(coroutine: Coroutine[Any, Any, T], loop: VirtualEventLoop | None = None) -> T:
    """Run ``coroutine`` to completion on a fresh (or given) virtual loop, then close it.

    Tasks left over are cancelled and given a chance to finish, as ``asyncio.run``
    does, so nothing leaks into the next run.
    """
    loop = loop if loop is not None else VirtualEventLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    gathered = asyncio.gather(*tasks, return_exceptions=True)
    # Tasks that refuse to end are left behind; the loop is closed anyway.
    with contextlib.suppress(TimeoutError, SimulationStalledError):
        loop.run_until_complete(asyncio.wait_for(gathered, timeout=3600.0))
