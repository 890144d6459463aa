"""What the server core asks its shell to do: send a frame, ping, close a connection.

The core never touches a socket; each of its methods returns a list of these, in
the order they must happen.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CloseConnection", "Output", "PingConnection", "SendFrame"]


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send ``payload`` (UTF-8 JSON) as a text frame to ``socket_id``."""

    socket_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PingConnection:
    """Send a WebSocket ping frame to ``socket_id``."""

    socket_id: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close ``socket_id`` with a close frame carrying ``code`` and ``reason``.

    The core has already forgotten the connection (members removed, counts sent).
    """

    socket_id: str
    code: int
    reason: str


Output = SendFrame | PingConnection | CloseConnection
