"""Subscription gaps: how long a channel was not subscribed before a resubscription.

Pusher keeps no history: what was published while a channel was not subscribed is
gone. A channel stops being subscribed when its connection leaves ``CONNECTED``
(a drop, or ``disconnect()``), and is subscribed again on the next connection; the
time in between is the window in which events may have been missed, which an app
fetches from its own API. Each channel keeps the times it needs for this itself
(:class:`~pusher_channels._delivery.ChannelCallbacks`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SubscriptionGap", "next_gap"]


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


def next_gap(
    previous: SubscriptionGap | None, lost_at: float, lost_at_wall: float, now: float
) -> SubscriptionGap:
    """The gap a resubscription confirmed at ``now`` ends: it began at ``lost_at``
    (the loop's monotonic clock; ``lost_at_wall`` on the wall clock), and follows
    ``previous``, the channel's gap before it, if any."""
    duration = max(0.0, now - lost_at)
    return SubscriptionGap(
        started_at=lost_at_wall,
        ended_at=lost_at_wall + duration,
        duration=duration,
        resubscription=(previous.resubscription if previous is not None else 0) + 1,
    )
