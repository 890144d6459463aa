"""The close-code policy: what to do when the server closes the connection.

Pusher close codes (protocol v7, "Connection closure"):

=========  =====================================================  ===================
range      meaning                                                 action
=========  =====================================================  ===================
4000-4099  do not reconnect unchanged (4001 unknown app key, ...)  ``STOP``
4100-4199  reconnect after backing off at least one second         ``BACKOFF_AT_LEAST_1S``
4200-4299  reconnect immediately (4200 restart, 4201 pong missed)  ``RECONNECT_NOW``
other      network drops, 1000/1001/1006, 43xx, ...                ``BACKOFF``
=========  =====================================================  ===================

pusher-js treats 4300-4399 as a refusal; this library backs off and retries instead,
because a long-running service must stay up and those codes are not documented as
fatal.
"""

from __future__ import annotations

import enum

__all__ = ["CLOSE_MESSAGES", "CloseAction", "close_action", "describe_close"]


class CloseAction(enum.Enum):
    """What the connection does after the socket closed with a given code, or after
    an attempt failed (``BACKOFF_SLOWLY``: a TLS certificate that did not verify)."""

    STOP = "stop"
    BACKOFF_AT_LEAST_1S = "backoff_at_least_1s"
    RECONNECT_NOW = "reconnect_now"
    BACKOFF = "backoff"
    BACKOFF_SLOWLY = "backoff_slowly"
    """Exponential backoff from its first step, without the quick attempts, and never
    less than one second: for a failure that someone must mend (a certificate), which
    a few quick retries will not."""


CLOSE_MESSAGES: dict[int, str] = {
    4000: "application only accepts TLS connections: set use_tls=True",
    4001: "application does not exist (unknown app key)",
    4003: "application is disabled",
    4004: "application is over its connection quota",
    4005: "path not found",
    4006: "invalid version string format",
    4007: "unsupported protocol version",
    4008: "no protocol version supplied",
    4009: "connection is unauthorized",
    4100: "server over capacity",
    4200: "generic reconnect immediately",
    4201: "pong reply not received",
    4202: "closed after inactivity",
    4301: "client event rejected due to rate limit",
}


def close_action(code: int | None) -> CloseAction:
    """Return the action for a close ``code`` (``None`` when the socket just dropped)."""
    if code is None:
        return CloseAction.BACKOFF
    if 4000 <= code <= 4099:
        return CloseAction.STOP
    if 4100 <= code <= 4199:
        return CloseAction.BACKOFF_AT_LEAST_1S
    if 4200 <= code <= 4299:
        return CloseAction.RECONNECT_NOW
    return CloseAction.BACKOFF


def describe_close(code: int | None, reason: str) -> str:
    """A one-line description of a close, for logs and error messages."""
    if code is None:
        return f"connection lost ({reason})" if reason else "connection lost"
    known = CLOSE_MESSAGES.get(code)
    text = reason or known or "no reason given"
    return f"closed by server with code {code}: {text}"
