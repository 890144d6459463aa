"""Outages: a server restart is one incident, reported once, with a few attempts.

An outage runs from the loss of the connection (or a first failed attempt) to the
next ``pusher:connection_established``. Two rules keep one from becoming a storm:

- **Errors are reported once per outage and kind** (their code): the first goes to
  ``on_error``; the same kind again in the same outage (a restarting soketi closes
  every new socket with 4200 for its shutdown grace period, 3 s by default) is
  counted (:attr:`Outage.repeated_errors`) and left for the log
  (:class:`~.actions.ErrorRepeated`).
- **A 42xx close is reconnected at once, once** (the protocol's "reconnect
  immediately"). Another 42xx within :data:`RESTART_WINDOW` of that reconnection
  means the server is restarting (or closes every new connection): from then on
  the outage waits the backoff's exponential steps, without the quick attempts that
  would only storm a server that said it is going away. A 42xx later than that is
  reconnected at once again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ..exceptions import PusherError
from .actions import ErrorRepeated, ErrorReported
from .backoff import Backoff
from .close import CloseAction

__all__ = ["RESTART_WINDOW", "Outage"]

RESTART_WINDOW: Final = 10.0
"""Seconds after the reconnection that followed a 42xx close within which another
42xx close means the server is restarting."""


class Outage:
    """The current outage's waits and reports, for one connection core."""

    __slots__ = (
        "_backoff",
        "_kinds",
        "_restart_backoff",
        "_restart_steps",
        "_restart_until",
        "_restarting",
        "repeated_errors",
    )

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._restart_backoff = replace(backoff, quick_attempts=0)
        """The waits of a restart: the backoff's exponential steps, no quick attempts."""
        self._restarting = False
        """Whether this outage is a restart (a 42xx close repeated)."""
        self._restart_steps = 0
        """The restart waits taken since the latest first 42xx close."""
        self._restart_until: float | None = None
        """Until when a 42xx close repeats the latest one."""
        self._kinds: dict[int | None, int] = {}
        """The kinds (codes) of error reported in this outage, each with how many
        times it repeated since."""
        self.repeated_errors = 0
        """How many errors were not reported (``on_error``) because one of the same
        kind had been already in the same outage; counted for the client's life."""

    def start_afresh(self) -> None:
        """``connect()`` after ``DISCONNECTED``: nothing of earlier outages counts."""
        self._restarting = False
        self._restart_steps = 0
        self._restart_until = None
        self._kinds.clear()

    def ended(self) -> None:
        """The connection is established: the outage is over.

        A 42xx close soon after still counts as the restart's (see
        :data:`RESTART_WINDOW`): a server that closes each new connection at once
        is not reconnected at once each time.
        """
        self._restarting = False
        self._kinds.clear()

    def report(self, error: PusherError, *, connected: bool) -> ErrorReported | ErrorRepeated:
        """What to do with an error of the connection (a close code, announced or
        not): report it, or, if its kind was reported already in this outage, count
        it and leave it for the log. While ``connected``, an error starts an outage."""
        kinds = self._kinds
        if connected:
            kinds.clear()
        repeats = kinds.get(error.code)
        if repeats is None:
            kinds[error.code] = 0
            return ErrorReported(error)
        kinds[error.code] = repeats + 1
        self.repeated_errors += 1
        return ErrorRepeated(error, repeats + 1)

    def delay(self, attempt: int, action: CloseAction, now: float, random_value: float) -> float:
        """Seconds to wait before the next attempt, after failed attempt number
        ``attempt`` of the outage failed at ``now`` with ``action``.

        A first 42xx close waits 0 s. A repeated one makes the outage a restart:
        this and every later wait of the outage is the next exponential step of the
        backoff, with no quick attempts, and never shorter than the usual wait.
        """
        usual = self._backoff.delay(attempt, action, random_value)
        if action is CloseAction.RECONNECT_NOW:
            until = self._restart_until
            if not self._restarting and (until is None or now > until):
                self._restart_steps = 0
                self._restart_until = now + RESTART_WINDOW
                return 0.0
            self._restarting = True
        elif not self._restarting:
            return usual
        self._restart_steps += 1
        step = self._restart_backoff.delay(self._restart_steps, CloseAction.BACKOFF, random_value)
        delay = max(step, usual)
        self._restart_until = now + delay + RESTART_WINDOW
        return delay
