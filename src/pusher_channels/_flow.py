"""Flow control: one owner for "is the socket being read?".

Consumers that fall behind (an ``events()`` buffer at capacity, an async callback
with a backlog) *hold* the flow; while anything holds it, the current socket is not
read, and every new socket is paused as soon as its connection is established, so
that backpressure survives a reconnection.

A holder that makes no progress for :data:`STALL_TIMEOUT` seconds (an iterator left
with ``break`` but still referenced, a callback that never returns) is taken to have
left: its hold is released, so one abandoned consumer cannot stall the others. It
keeps buffering up to its overflow limit, then drops (and reports) what it cannot
take. It may hold again once it has drained and filled up anew.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

__all__ = ["STALL_TIMEOUT", "FlowControl", "Holder", "Reader"]

STALL_TIMEOUT: Final = 5.0
"""Seconds without progress after which a full consumer stops holding the socket."""


class Holder(Protocol):
    """A consumer that can hold the flow."""

    @property
    def progress(self) -> int:
        """A counter that grows whenever the consumer takes something."""


class Reader(Protocol):
    """What reads the socket (the socket lifecycle)."""

    def hold_reading(self) -> None:
        """Stop reading."""

    def release_reading(self) -> None:
        """Read again."""


_NO_HOLDERS: Final[dict[Holder, int]] = {}


class FlowControl:
    """Pauses and resumes reading for the consumers that hold the flow."""

    __slots__ = ("_check", "_holders", "_loop", "_reader", "stall_timeout")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        reader: Reader,
        stall_timeout: float | None = None,
    ) -> None:
        self._loop = loop
        self._reader = reader
        """Told to hold and release reading (its methods looked up at each call: no
        bound method kept per connection)."""
        self.stall_timeout = STALL_TIMEOUT if stall_timeout is None else stall_timeout
        self._holders: dict[Holder, int] = _NO_HOLDERS
        """Each holder, with its progress when last checked (the shared empty dict,
        never written, until the first holds)."""
        self._check: asyncio.TimerHandle | None = None

    @property
    def held(self) -> bool:
        """Whether reading is held by some consumer."""
        return bool(self._holders)

    def hold(self, holder: Holder) -> None:
        """``holder`` is full: stop reading until it is released."""
        if holder in self._holders:
            return
        if self._holders is _NO_HOLDERS:
            self._holders = {}
        self._holders[holder] = holder.progress
        if len(self._holders) == 1:
            self._reader.hold_reading()
            self._check = self._loop.call_later(self.stall_timeout, self._release_stalled)

    def release(self, holder: Holder) -> None:
        """``holder`` caught up (or left): read again if nothing else holds."""
        if self._holders.pop(holder, None) is None:
            return
        if not self._holders:
            self._stop_checking()
            self._reader.release_reading()

    def release_all(self) -> None:
        """Forget every holder (the client is closing)."""
        had = bool(self._holders)
        if had:
            self._holders.clear()
        self._stop_checking()
        if had:
            self._reader.release_reading()

    def _release_stalled(self) -> None:
        self._check = None
        for holder, seen in list(self._holders.items()):
            if holder.progress == seen:
                del self._holders[holder]
            else:
                self._holders[holder] = holder.progress
        if self._holders:
            self._check = self._loop.call_later(self.stall_timeout, self._release_stalled)
        else:
            self._reader.release_reading()

    def _stop_checking(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
