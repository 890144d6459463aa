"""Health: a snapshot of one client that a ``/health`` endpoint can serve.

``client.health()`` (asyncio and blocking clients alike) returns a :class:`Health`:
the connection's state and since when, how long ago the last frame arrived, how
many times the connection was re-established, and where each wanted channel stands.
``healthy`` sums it up for a probe; ``problems`` says why not, in words;
``as_dict()`` is the JSON to serve::

    @app.get("/health")
    def health() -> JSONResponse:
        snapshot = pusher.health()
        return JSONResponse(snapshot.as_dict(), status_code=200 if snapshot.healthy else 503)

A snapshot holds no secret: no signature, no key, no header, no query string (the
error messages it repeats are those of the exceptions, which never carry one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .protocol.actions import ConnectionState
from .protocol.channels import ChannelRecord, ChannelStatus

__all__ = ["ChannelHealth", "ChannelHealthStatus", "Health"]

ChannelHealthStatus = Literal["subscribed", "pending", "retrying", "refused"]
"""Where a wanted channel stands (see :attr:`ChannelHealth.status`)."""

_CONNECTED: Final = ConnectionState.CONNECTED


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """One channel the application wants (subscribed, or pending since
    ``subscribe()``), as :meth:`~pusher_channels.PusherChannelsClient.health` saw it.

    Attributes:
        name: the channel's name.
        status: ``"subscribed"``: the server confirmed it on the current connection.
            ``"pending"``: not yet, and nothing failed: it waits for the connection,
            the authorizer or the server's answer. ``"retrying"``: an attempt failed
            in a way that may pass (the auth endpoint answered 5xx or 429, timed out
            or could not be reached) and the client tries again by itself.
            ``"refused"``: the last attempt failed for good on this connection (HTTP
            403, a refusal by the server); ``subscribe()`` again, or the next
            connection, tries again.
        unsubscribed_since: since when the channel is not subscribed (epoch
            seconds): since the connection was established, or since the
            channel's ``subscribe()`` if later; without a connection, since the
            connection was lost. ``None`` when subscribed.
        error: the message of the last failure (retrying and refused channels),
            else ``None``.
        next_retry_at: when the client tries again (epoch seconds), for a retrying
            channel waiting for its retry; ``None`` while the retry is under way,
            and for the other statuses.
    """

    name: str
    status: ChannelHealthStatus
    unsubscribed_since: float | None = None
    error: str | None = None
    next_retry_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The channel's fields but its name, as JSON-serialisable data."""
        return {
            "status": self.status,
            "unsubscribed_since": self.unsubscribed_since,
            "error": self.error,
            "next_retry_at": self.next_retry_at,
        }


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of one client's health, for a ``/health`` endpoint.

    Attributes:
        healthy: connected, a frame received within the activity and pong timeouts
            (``activity_timeout + pong_timeout``, the server's lower activity
            timeout included), and no wanted channel refused, nor unsubscribed for
            longer than one maximum gap (``max_reconnect_gap_in_seconds``).
        state: the connection state.
        state_since: since when the connection is in that state (epoch seconds).
        seconds_since_last_frame: seconds since the last frame arrived from the
            server (on the live connection, or on the last one); ``None`` before the
            first connection.
        reconnections: how many times a lost connection was established again
            since the client was configured (a ``connect()`` after
            ``disconnect()`` is not a reconnection).
        repeated_errors: errors of the connection counted instead of reported to
            ``on_error``: one of the same kind had been reported already in the same
            outage (a server restart closes every new socket with 4200 until it is
            back: ``on_error`` hears of it once, the rest are counted here).
        channels: every wanted channel, in subscription order.
        problems: why the client is not healthy, one sentence each; empty when it is.
        checked_at: when the snapshot was taken (epoch seconds).
    """

    healthy: bool
    state: ConnectionState
    state_since: float
    seconds_since_last_frame: float | None
    reconnections: int
    repeated_errors: int
    channels: tuple[ChannelHealth, ...]
    problems: tuple[str, ...]
    checked_at: float

    def channel(self, name: str) -> ChannelHealth | None:
        """The named channel's health, if the application wants that channel."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        return None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-serialisable data (``json.dumps`` takes it as is):
        the fields above, ``state`` as its name and ``channels`` keyed by name."""
        return {
            "healthy": self.healthy,
            "state": self.state.value,
            "state_since": self.state_since,
            "seconds_since_last_frame": self.seconds_since_last_frame,
            "reconnections": self.reconnections,
            "repeated_errors": self.repeated_errors,
            "channels": {channel.name: channel.as_dict() for channel in self.channels},
            "problems": list(self.problems),
            "checked_at": self.checked_at,
        }


def assess(
    *,
    state: ConnectionState,
    state_since: float,
    connection_changed_at: float | None,
    connection_changed_at_wall: float,
    now: float | None,
    wall_now: float,
    last_frame_at: float | None,
    reconnections: int,
    repeated_errors: int,
    records: Iterable[ChannelRecord],
    waiting_since: Mapping[str, float],
    frame_limit: float,
    max_gap: float,
) -> Health:
    """Take the snapshot from what the runtime knows.

    Times named ``*_wall`` and ``state_since`` are epoch seconds; the others are on
    the event loop's clock (``now``; ``None`` before the client ran on a loop).
    ``connection_changed_at`` is when the connection last became, or stopped being,
    ``CONNECTED`` (``None``: never); ``waiting_since`` has, per channel, when it was
    subscribed (or tried again by ``subscribe()``) while connected, if it has not
    been subscribed since; ``frame_limit`` is the longest silence of a healthy
    connection and ``max_gap`` the longest a channel may stay unsubscribed.
    """
    problems: list[str] = []
    if state is not _CONNECTED:
        problems.append(f"the connection is {state.value}, not CONNECTED")
    # On the loop's clock: now, and since when connected (None when not).
    clock: tuple[float, float] | None = None
    if now is not None and state is _CONNECTED and connection_changed_at is not None:
        clock = (now, connection_changed_at)
    silence: float | None = None
    if now is not None and last_frame_at is not None:
        silence = max(0.0, now - last_frame_at)
        if clock is not None and silence > frame_limit:
            problems.append(
                f"no frame from the server for {silence:.1f} s "
                f"(a healthy connection has one within {frame_limit:g} s)"
            )
    channels: list[ChannelHealth] = []
    for record in records:
        if record.status is ChannelStatus.SUBSCRIBED:
            channels.append(ChannelHealth(record.name, "subscribed"))
            continue
        failure = record.failure
        error = failure.message if failure is not None else None
        status: ChannelHealthStatus = "pending"
        if record.refused:
            status = "refused"
            problems.append(f"channel {record.name!r} refused: {error}")
        elif failure is not None:
            status = "retrying"
        next_retry_at = None
        if status == "retrying" and record.retry_at is not None and now is not None:
            next_retry_at = wall_now - (now - record.retry_at)
        unsubscribed_since = connection_changed_at_wall
        if clock is not None:
            current, connected_at = clock
            since = max(connected_at, waiting_since.get(record.name, connected_at))
            unsubscribed_since = wall_now - (current - since)
            waited = current - since
            if status != "refused" and waited > max_gap:
                problems.append(
                    f"channel {record.name!r} not subscribed for {waited:.1f} s "
                    f"(more than one maximum gap, {max_gap:g} s)"
                    + (f"; last failure: {error}" if error is not None else "")
                )
        channels.append(
            ChannelHealth(record.name, status, unsubscribed_since, error, next_retry_at)
        )
    return Health(
        healthy=not problems,
        state=state,
        state_since=state_since,
        seconds_since_last_frame=silence if connection_changed_at is not None else None,
        reconnections=reconnections,
        repeated_errors=repeated_errors,
        channels=tuple(channels),
        problems=tuple(problems),
        checked_at=wall_now,
    )


def not_configured(wall_now: float) -> Health:
    """The health of a client that ``init()`` has not configured yet."""
    return Health(
        healthy=False,
        state=ConnectionState.DISCONNECTED,
        state_since=wall_now,
        seconds_since_last_frame=None,
        reconnections=0,
        repeated_errors=0,
        channels=(),
        problems=("the client is not configured: call init()",),
        checked_at=wall_now,
    )
