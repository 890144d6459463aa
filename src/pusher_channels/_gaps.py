"""Subscription gaps: how long a channel was not subscribed before a resubscription.

Pusher keeps no history: what was published while a channel was not subscribed is
gone. A channel stops being subscribed when its connection leaves ``CONNECTED``
(a drop, or ``disconnect()``), and is subscribed again on the next connection; the
time in between is the window in which events may have been missed, which an app
fetches from its own API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["GapTracker", "SubscriptionGap"]


@dataclass(frozen=True, slots=True)
class SubscriptionGap:
    """The time a channel was not subscribed, before its latest resubscription.

    Attributes:
        started_at: when the channel stopped being subscribed (seconds since the
            epoch, as :func:`time.time`): the connection was lost or closed.
        ended_at: when the server confirmed the resubscription (epoch seconds).
        duration: ``ended_at - started_at``, in seconds, measured on the event
            loop's monotonic clock (so a clock change cannot make it negative).
        resubscription: which resubscription this is: 1 for the first after the
            channel's first subscription, 2 for the next, and so on.
    """

    started_at: float
    ended_at: float
    duration: float
    resubscription: int


class GapTracker:
    """For one channel: whether it is subscribed, and since when it is not."""

    __slots__ = ("_lost_at", "_lost_at_wall", "_subscribed", "last_gap")

    def __init__(self) -> None:
        self._subscribed = False
        self._lost_at: float | None = None
        self._lost_at_wall = 0.0
        self.last_gap: SubscriptionGap | None = None
        """The gap before the latest resubscription; ``None`` before the first."""

    def lost(self, now: float) -> None:
        """The connection left ``CONNECTED``: a subscribed channel is no longer."""
        if self._subscribed:
            self._subscribed = False
            self._lost_at = now
            self._lost_at_wall = time.time()

    def subscribed(self, now: float) -> SubscriptionGap | None:
        """The server confirmed the subscription; the gap it ends, if a resubscription."""
        self._subscribed = True
        lost_at, self._lost_at = self._lost_at, None
        if lost_at is None:
            return None
        previous = self.last_gap.resubscription if self.last_gap is not None else 0
        duration = max(0.0, now - lost_at)
        gap = SubscriptionGap(
            started_at=self._lost_at_wall,
            ended_at=self._lost_at_wall + duration,
            duration=duration,
            resubscription=previous + 1,
        )
        self.last_gap = gap
        return gap
