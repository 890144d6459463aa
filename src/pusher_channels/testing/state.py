"""The server core's records: one per connection, one per occupied channel.

Sets that must keep their order (subscribers, a connection's channels) are dicts
with ``None`` values, so that inspection and member lists come out in the order
things happened.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .inspection import ChannelInfo, ConnectionInfo

__all__ = ["ChannelRecord", "ConnectionRecord", "MemberRecord"]


@dataclass(eq=False, slots=True)
class ConnectionRecord:
    """What the server knows about one open connection."""

    socket_id: str
    query: dict[str, str]
    last_heard: float
    frame_log: int
    channels: dict[str, None] = field(default_factory=dict)
    presence: dict[str, str] = field(default_factory=dict)
    """Presence channel name to the user id this connection joined it as."""
    user_id: str | None = None
    user_data: dict[str, Any] | None = None
    watchlist: tuple[str, ...] = ()
    ping_sent_at: float | None = None
    authorize_by: float | None = None
    """When the connection is closed unless it signed in or joined a private channel."""
    client_event_times: deque[float] = field(default_factory=deque)
    received: deque[Any] = field(init=False)
    sent: deque[Any] = field(init=False)
    open: bool = True
    close_code: int | None = None

    def __post_init__(self) -> None:
        self.received = deque(maxlen=self.frame_log)
        self.sent = deque(maxlen=self.frame_log)

    def deadline(self, activity_timeout: float, pong_timeout: float) -> float:
        """When the server must next act on this connection (ping, close)."""
        if self.ping_sent_at is not None:
            heartbeat = self.ping_sent_at + pong_timeout
        else:
            heartbeat = self.last_heard + activity_timeout
        if self.authorize_by is not None:
            return min(heartbeat, self.authorize_by)
        return heartbeat

    def info(self) -> ConnectionInfo:
        """A snapshot for inspection."""
        return ConnectionInfo(
            socket_id=self.socket_id,
            query=dict(self.query),
            channels=tuple(self.channels),
            user_id=self.user_id,
            received=tuple(self.received),
            sent=tuple(self.sent),
            open=self.open,
            close_code=self.close_code,
        )


@dataclass(eq=False, slots=True)
class MemberRecord:
    """One presence member: the first ``user_info`` given, and its connections."""

    user_info: Any
    sockets: dict[str, None] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class ChannelRecord:
    """One occupied channel; removed when its last subscriber leaves."""

    name: str
    subscribers: dict[str, None] = field(default_factory=dict)
    members: dict[str, MemberRecord] = field(default_factory=dict)

    def info(self) -> ChannelInfo:
        """A snapshot for inspection."""
        return ChannelInfo(
            name=self.name,
            subscribers=tuple(self.subscribers),
            members={user_id: member.user_info for user_id, member in self.members.items()},
        )

    def presence_data(self) -> dict[str, Any]:
        """The ``presence`` object of a presence subscription's success."""
        ids = list(self.members)
        return {
            "presence": {
                "ids": ids,
                "hash": {user_id: self.members[user_id].user_info for user_id in ids},
                "count": len(ids),
            }
        }
