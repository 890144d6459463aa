"""What the protocol core asks of the runtime, and what it reports to the user.

The core never performs I/O. After each input it leaves, in order, a list of these
outputs: *actions* for the runtime to perform (open, send, close, authorize) and
*notifications* for the dispatcher to hand to callbacks. Channel events themselves
are :class:`~pusher_channels.protocol.messages.PusherEvent` objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import PusherError, SigninError, SubscriptionError
from .messages import PusherEvent, PusherMember

__all__ = [
    "AuthenticateUser",
    "AuthorizeChannel",
    "CloseSocket",
    "ConnectionState",
    "DecryptionFailed",
    "ErrorRepeated",
    "ErrorReported",
    "MemberAdded",
    "MemberRemoved",
    "OpenSocket",
    "Output",
    "SendMessage",
    "SignedIn",
    "SigninFailed",
    "StateChanged",
    "SubscriptionCountChanged",
    "SubscriptionFailed",
    "SubscriptionSucceeded",
    "WatchlistEvent",
]


class ConnectionState(enum.StrEnum):
    """The connection's state, as the Flutter client names them.

    Members compare equal to their names: ``ConnectionState.CONNECTED == "CONNECTED"``.
    """

    CONNECTING = "CONNECTING"
    """A socket is being opened, or waits for the server's handshake."""
    CONNECTED = "CONNECTED"
    """The server confirmed the connection; a socket id is known."""
    DISCONNECTING = "DISCONNECTING"
    """``disconnect()`` was called; the socket is closing."""
    DISCONNECTED = "DISCONNECTED"
    """No connection, and none will be attempted until ``connect()``."""
    RECONNECTING = "RECONNECTING"
    """The connection was lost; a new attempt is scheduled."""


# Actions: I/O the runtime performs.


@dataclass(frozen=True, slots=True)
class OpenSocket:
    """Open a WebSocket to ``url``, then report ``socket_opened`` or ``socket_closed``."""

    url: str


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``payload`` (UTF-8 JSON) as one text frame."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close the socket: politely with ``code``, or drop it at once when ``abort``.

    After an abort the core has already moved on: the runtime reports nothing more
    about that socket.
    """

    code: int = 1000
    reason: str = ""
    abort: bool = False


@dataclass(frozen=True, slots=True)
class AuthorizeChannel:
    """Fetch an authorization for ``channel_name`` on ``socket_id``.

    Answer with ``channel_authorized`` or ``channel_authorization_failed``, passing
    ``socket_id`` back so that an answer for an old connection is discarded.
    """

    channel_name: str
    socket_id: str
    incarnation: int = field(default=0, compare=False)
    """The channel record's incarnation: pass it back with the answer, so that an
    answer for a channel unsubscribed (and subscribed again) meanwhile is discarded."""


@dataclass(frozen=True, slots=True)
class AuthenticateUser:
    """Fetch a user authentication (``{auth, user_data}``) for ``socket_id``.

    Answer with ``user_authenticated`` or ``user_authentication_failed``.
    """

    socket_id: str


# Notifications: what the dispatcher hands to callbacks.


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connection state changed from ``previous`` to ``current``."""

    current: ConnectionState
    previous: ConnectionState


@dataclass(frozen=True, slots=True)
class SubscriptionSucceeded:
    """The server confirmed the subscription; ``data`` is its decoded payload."""

    channel_name: str
    data: Any


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    """Authorization or subscription failed for ``error.channel_name``.

    ``retry_in`` is the delay in seconds before the client tries again by itself,
    or ``None`` when it will not (until ``subscribe()`` or the next connection).
    """

    error: SubscriptionError
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class ErrorReported:
    """Something went wrong that the user should hear of (``on_error``)."""

    error: PusherError


@dataclass(frozen=True, slots=True)
class ErrorRepeated:
    """An error of the connection whose kind (its code) was reported already in the
    same outage (a restarting server closing each new socket with 4200): for the
    log and the count, not for ``on_error``. ``repeats``: how many times this kind
    has repeated in the outage so far."""

    error: PusherError
    repeats: int


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """A member joined a presence channel."""

    channel_name: str
    member: PusherMember


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A member left a presence channel."""

    channel_name: str
    member: PusherMember


@dataclass(frozen=True, slots=True)
class SubscriptionCountChanged:
    """The server reported how many connections are subscribed to a channel."""

    channel_name: str
    count: int


@dataclass(frozen=True, slots=True)
class DecryptionFailed:
    """An encrypted event could not be decrypted, even with a fresh key: skipped."""

    channel_name: str
    event_name: str
    reason: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The server confirmed the sign-in; ``user_data`` is the decoded user data."""

    user_data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SigninFailed:
    """The sign-in failed (authenticator or server)."""

    error: SigninError


@dataclass(frozen=True, slots=True)
class WatchlistEvent:
    """Users of the signed-in user's watchlist came ``online`` or went ``offline``."""

    name: str
    user_ids: list[str]


Output = (
    OpenSocket
    | SendMessage
    | CloseSocket
    | AuthorizeChannel
    | StateChanged
    | SubscriptionSucceeded
    | SubscriptionFailed
    | ErrorReported
    | ErrorRepeated
    | MemberAdded
    | MemberRemoved
    | SubscriptionCountChanged
    | DecryptionFailed
    | AuthenticateUser
    | SignedIn
    | SigninFailed
    | WatchlistEvent
    | PusherEvent
)
