"""User authentication (sign-in): its state, and the server payloads it reads.

After ``signin()``, every established connection authenticates the user: the
runtime fetches ``{auth, user_data}`` for the socket, the core sends
``pusher:signin``, the server answers ``pusher:signin_success``, and the core
subscribes to the user's ``#server-to-user-{id}`` channel. Watchlist events
(``online`` / ``offline``) come to a signed-in connection without a channel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from ..exceptions import PusherProtocolError
from .messages import decode_data

__all__ = [
    "SERVER_TO_USER_PREFIX",
    "SigninStatus",
    "UserSession",
    "parse_signin_success",
    "parse_watchlist_events",
]

SERVER_TO_USER_PREFIX: Final = "#server-to-user-"
MAX_WATCHLIST_ENTRIES: Final = 1000


class SigninStatus(enum.Enum):
    """Where the sign-in stands on the current connection."""

    IDLE = "idle"
    AUTHENTICATING = "authenticating"
    """Waiting for the user authenticator's answer."""
    SENT = "sent"
    """``pusher:signin`` sent, waiting for the server."""
    SIGNED_IN = "signed_in"
    FAILED = "failed"


@dataclass(slots=True)
class UserSession:
    """The sign-in state of one client.

    Attributes:
        wanted: ``signin()`` was called: sign in on every connection.
        status: where the sign-in stands on the current connection.
        user_data: the server-confirmed user data once signed in.
    """

    wanted: bool = False
    status: SigninStatus = SigninStatus.IDLE
    user_data: dict[str, Any] | None = field(default=None)

    @property
    def channel_name(self) -> str | None:
        """The user's ``#server-to-user-{id}`` channel, once signed in."""
        if self.user_data is None:
            return None
        return SERVER_TO_USER_PREFIX + str(self.user_data["id"])

    def reset(self) -> None:
        """The connection is gone: sign in again on the next one, if wanted."""
        self.status = SigninStatus.IDLE
        self.user_data = None


def parse_signin_success(data: Any) -> dict[str, Any]:
    """Read ``pusher:signin_success`` data: ``{"user_data": "<JSON with id>"}``.

    Raises:
        PusherProtocolError: no ``user_data`` object with a non-empty string ``id``.
    """
    payload = decode_data(data)
    user_data = decode_data(payload.get("user_data")) if isinstance(payload, dict) else None
    if not isinstance(user_data, dict):
        raise PusherProtocolError("pusher:signin_success has no 'user_data' object")
    user_id = user_data.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise PusherProtocolError("pusher:signin_success user_data has no string 'id'")
    return user_data


def parse_watchlist_events(data: Any) -> list[tuple[str, list[str]]]:
    """Read ``pusher_internal:watchlist_events``: ``{"events": [{name, user_ids}]}``.

    Raises:
        PusherProtocolError: not an ``events`` list of ``{name, user_ids}`` objects.
    """
    payload = decode_data(data)
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise PusherProtocolError("watchlist payload has no 'events' list")
    result: list[tuple[str, list[str]]] = []
    for entry in events[:MAX_WATCHLIST_ENTRIES]:
        if not isinstance(entry, dict):
            raise PusherProtocolError("watchlist entry is not an object")
        name, user_ids = entry.get("name"), entry.get("user_ids")
        if not isinstance(name, str) or not isinstance(user_ids, list):
            raise PusherProtocolError("watchlist entry lacks 'name' or 'user_ids'")
        result.append((name, [str(user_id) for user_id in user_ids]))
    return result
