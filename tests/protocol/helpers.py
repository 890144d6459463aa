"""Small helpers for driving the sans-I/O core by hand: settings, frames, outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import orjson

from pusher_channels.protocol.actions import (
    ConnectionState,
    ErrorReported,
    OpenSocket,
    Output,
    SendMessage,
    StateChanged,
)
from pusher_channels.protocol.backoff import Backoff
from pusher_channels.protocol.connection import Connection, ConnectionSettings

URL: Final = "ws://pusher.test:6001/app/app-key?protocol=7&client=test&version=0"
MISSING: Final[Any] = object()
"""Marks a frame field to leave out entirely (``None`` would be sent as ``null``)."""

T = TypeVar("T")


def make_settings(**overrides: Any) -> ConnectionSettings:
    """Small, round settings so that times in tests are easy to follow."""
    values: dict[str, Any] = {
        "url": URL,
        "activity_timeout": 120.0,
        "pong_timeout": 5.0,
        "backoff": Backoff(initial=1.0, maximum=8.0, jitter=0.5),
        "max_reconnection_attempts": None,
        "handshake_timeout": 10.0,
        "close_timeout": 2.0,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


def make_connection(
    random_value: Callable[[], float] = lambda: 0.0, **overrides: Any
) -> Connection:
    """A ``Connection`` in DISCONNECTED with :func:`make_settings` and fixed randomness."""
    return Connection(make_settings(**overrides), random_value=random_value)


def take(conn: Connection) -> list[Output]:
    """Return the outputs left so far, and clear them (as the runtime does)."""
    return conn.take_outputs()


# ------------------------------------------------------------------ server frames


def frame(
    event: str,
    data: Any = MISSING,
    *,
    channel: Any = MISSING,
    user_id: Any = MISSING,
    double_encode: bool = True,
) -> str:
    """A server frame as text. ``data`` that is not a string is JSON-encoded into a
    string first when ``double_encode`` (the usual server behaviour)."""
    message: dict[str, Any] = {"event": event}
    if channel is not MISSING:
        message["channel"] = channel
    if data is not MISSING:
        if double_encode and not isinstance(data, str):
            data = orjson.dumps(data).decode()
        message["data"] = data
    if user_id is not MISSING:
        message["user_id"] = user_id
    return orjson.dumps(message).decode()


def established(socket_id: str = "1.2", activity_timeout: float | None = 30) -> str:
    """``pusher:connection_established`` with a double-encoded ``data``."""
    data: dict[str, Any] = {"socket_id": socket_id}
    if activity_timeout is not None:
        data["activity_timeout"] = activity_timeout
    return frame("pusher:connection_established", data)


def subscription_succeeded(channel: str, data: Any = None) -> str:
    return frame(
        "pusher_internal:subscription_succeeded", {} if data is None else data, channel=channel
    )


def presence_payload(members: dict[str, Any]) -> dict[str, Any]:
    """The ``subscription_succeeded`` payload of a presence channel."""
    return {"presence": {"ids": list(members), "hash": members, "count": len(members)}}


# ----------------------------------------------------------------- driving states


def connect_and_establish(
    conn: Connection,
    now: float = 0.0,
    socket_id: str = "1.2",
    server_timeout: float | None = 30,
) -> list[Output]:
    """connect → socket_opened → connection_established; return (and clear) outputs.

    ``server_timeout`` is the server's ``activity_timeout`` in the handshake."""
    conn.connect(now)
    conn.socket_opened(now)
    conn.receive(established(socket_id, server_timeout), now)
    assert conn.state is ConnectionState.CONNECTED
    return take(conn)


def connected(
    now: float = 0.0, socket_id: str = "1.2", server_timeout: float | None = 30, **overrides: Any
) -> Connection:
    """A fresh connection already CONNECTED, with no outputs pending.

    ``overrides`` go to :func:`make_settings` (e.g. the ``activity_timeout`` option)."""
    conn = make_connection(**overrides)
    connect_and_establish(conn, now, socket_id, server_timeout)
    return conn


def lose(conn: Connection, now: float, code: int | None = 1006, reason: str = "") -> list[Output]:
    """The socket closes underneath; return (and clear) the outputs."""
    conn.socket_closed(code, reason, now)
    return take(conn)


def reconnect(conn: Connection, socket_id: str = "3.4") -> list[Output]:
    """From RECONNECTING: fire the retry timer and complete a new handshake."""
    assert conn.state is ConnectionState.RECONNECTING
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    assert state_of(conn) is ConnectionState.CONNECTING
    conn.socket_opened(deadline)
    conn.receive(established(socket_id), deadline)
    assert state_of(conn) is ConnectionState.CONNECTED
    return take(conn)


# ------------------------------------------------------------------ reading outputs


def of_type(outputs: Sequence[object], kind: type[T]) -> list[T]:
    return [o for o in outputs if isinstance(o, kind)]


def sent(outputs: Sequence[object]) -> list[dict[str, Any]]:
    """The messages sent (SendMessage payloads), decoded."""
    result = []
    for message in of_type(outputs, SendMessage):
        decoded = orjson.loads(message.payload)
        assert isinstance(decoded, dict)
        result.append(decoded)
    return result


def sent_events(outputs: Sequence[object]) -> list[str]:
    return [message["event"] for message in sent(outputs)]


def subscribed_channels(outputs: Sequence[object]) -> list[str]:
    """The channel of every ``pusher:subscribe`` sent, in order."""
    return [m["data"]["channel"] for m in sent(outputs) if m["event"] == "pusher:subscribe"]


def transitions(outputs: Sequence[object]) -> list[tuple[ConnectionState, ConnectionState]]:
    """``(previous, current)`` of every StateChanged, in order."""
    return [(o.previous, o.current) for o in of_type(outputs, StateChanged)]


def errors(outputs: Sequence[object]) -> list[ErrorReported]:
    return of_type(outputs, ErrorReported)


def opens(outputs: Sequence[object]) -> list[OpenSocket]:
    return of_type(outputs, OpenSocket)


def state_of(conn: Connection) -> ConnectionState:
    """The state now; a call, so that type checkers do not keep an earlier narrowing."""
    return conn.state
