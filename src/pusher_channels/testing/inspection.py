"""Read-only snapshots of the test server's state, for assertions.

They are copies taken at one moment: they never change afterwards, and reading
them needs no lock, whatever thread the server runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChannelInfo", "ConnectionInfo"]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One client connection, as the server saw it.

    Attributes:
        socket_id: the id the server gave it.
        query: the query parameters of its WebSocket URL (``protocol``,
            ``client``, ``version``...).
        channels: the channels it is subscribed to, in subscription order.
        user_id: the user it signed in as, if it did.
        received: every frame it sent, decoded from JSON (a frame that is not
            JSON is kept as its text), oldest first.
        sent: every frame the server sent it, decoded, oldest first.
        open: whether the connection is still open.
        close_code: the code it was closed with (``None`` while open or when the
            socket dropped without a close frame).
    """

    socket_id: str
    query: dict[str, str] = field(default_factory=dict)
    channels: tuple[str, ...] = ()
    user_id: str | None = None
    received: tuple[Any, ...] = ()
    sent: tuple[Any, ...] = ()
    open: bool = True
    close_code: int | None = None

    def received_events(self, event_name: str | None = None) -> list[dict[str, Any]]:
        """The frames it sent (all of them, or those named ``event_name``)."""
        return [
            frame
            for frame in self.received
            if isinstance(frame, dict) and (event_name is None or frame.get("event") == event_name)
        ]

    def sent_events(self, event_name: str | None = None) -> list[dict[str, Any]]:
        """The frames the server sent it (all of them, or those named ``event_name``)."""
        return [
            frame
            for frame in self.sent
            if isinstance(frame, dict) and (event_name is None or frame.get("event") == event_name)
        ]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One occupied channel.

    Attributes:
        name: the channel's name.
        subscribers: the socket ids subscribed, in subscription order.
        members: for presence channels, user id to ``user_info`` (in joining order).
    """

    name: str
    subscribers: tuple[str, ...] = ()
    members: dict[str, Any] = field(default_factory=dict)

    @property
    def subscription_count(self) -> int:
        """The number of connections subscribed."""
        return len(self.subscribers)

    @property
    def user_count(self) -> int:
        """The number of distinct presence members."""
        return len(self.members)
