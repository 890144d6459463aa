"""Subscription gaps: how long a channel was not subscribed before a resubscription.

Pusher keeps no history: what was published while a channel was not subscribed is
gone. A channel stops being subscribed when its connection leaves ``CONNECTED``
(a drop, or ``disconnect()``), and is subscribed again on the next connection. The
window in which events may have been missed, which an app fetches from its own API,
starts earlier than the loss: at the last frame received on the lost connection. A
connection that went silent (a frozen server, a half-open path) is only noticed
``activity_timeout + pong_timeout`` later (150 s by default), and whatever was
published meanwhile is lost too. Each channel keeps the times it needs for this
itself (:class:`~pusher_channels._delivery.ChannelCallbacks`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SubscriptionGap", "next_gap"]


@dataclass(frozen=True, slots=True)
class SubscriptionGap:
    """The time in which a channel's events may have been missed, before its latest
    resubscription: from the last frame received on the lost connection to the
    server's confirmation of the resubscription.

    Attributes:
        started_at: when the last frame arrived on the connection that was then
            lost or closed (seconds since the epoch, as :func:`time.time`). Events
            published after it may be missing, including those of the silence
            before the loss was noticed (up to ``activity_timeout + pong_timeout``
            on a half-open connection). Fetch what changed since this time, a
            little before it (events take time to arrive, and clocks differ).
        ended_at: when the server confirmed the resubscription (epoch seconds).
        duration: ``ended_at - started_at``, in seconds: the whole silent window,
            measured on the event loop's monotonic clock (so a clock change cannot
            make it negative).
        resubscription: which resubscription this is: 1 for the first after the
            channel's first subscription, 2 for the next, and so on.
    """

    started_at: float
    ended_at: float
    duration: float
    resubscription: int


def next_gap(
    previous: SubscriptionGap | None, silent_since: float, silent_since_wall: float, now: float
) -> SubscriptionGap:
    """The gap a resubscription confirmed at ``now`` ends: it began at
    ``silent_since``, the last frame of the lost connection (the loop's monotonic
    clock; ``silent_since_wall`` on the wall clock), and follows ``previous``, the
    channel's gap before it, if any."""
    duration = max(0.0, now - silent_since)
    return SubscriptionGap(
        started_at=silent_since_wall,
        ended_at=silent_since_wall + duration,
        duration=duration,
        resubscription=(previous.resubscription if previous is not None else 0) + 1,
    )
