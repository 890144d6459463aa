"""Heartbeat: activity timeout, ping, pong timeout, and the handshake timeout."""

from __future__ import annotations

import orjson
import pytest

from pusher_channels.protocol.actions import (
    CloseSocket,
    ConnectionState,
    OpenSocket,
    SendMessage,
)

from .helpers import (
    connected,
    errors,
    frame,
    make_connection,
    of_type,
    opens,
    sent,
    state_of,
    take,
    transitions,
)

PING = {"event": "pusher:ping", "data": {}}
PONG = {"event": "pusher:pong", "data": {}}


@pytest.mark.parametrize(
    ("option", "server", "effective"),
    [
        (120.0, 30, 30.0),
        (10.0, 30, 10.0),
        (30.0, 30, 30.0),
        (120.0, 120, 120.0),
        (120.0, 0.5, 1.0),  # not below one second
    ],
)
def test_effective_activity_timeout_is_the_minimum(
    option: float, server: float, effective: float
) -> None:
    conn = connected(now=100.0, server_timeout=server, activity_timeout=option)
    assert conn.activity_timeout == effective
    assert conn.next_deadline() == 100.0 + effective


@pytest.mark.parametrize("server", [None, 0, -5, "30", [30]])
def test_unusable_server_activity_timeout_keeps_the_option(server: object) -> None:
    conn = make_connection(activity_timeout=50.0)
    conn.connect(0.0)
    data: dict[str, object] = {"socket_id": "1.2"}
    if server is not None:
        data["activity_timeout"] = server
    conn.receive(frame("pusher:connection_established", data), 0.0)
    assert conn.state is ConnectionState.CONNECTED
    assert conn.activity_timeout == 50.0


def test_activity_timeout_is_recomputed_on_each_connection() -> None:
    conn = connected(server_timeout=30, activity_timeout=120.0)
    assert conn.activity_timeout == 30.0
    conn.socket_closed(1006, "", 1.0)
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    conn.receive(frame("pusher:connection_established", {"socket_id": "5.6"}), deadline)
    assert conn.activity_timeout == 120.0


def test_no_ping_before_the_activity_timeout() -> None:
    conn = connected(now=0.0, server_timeout=30)
    for now in (0.0, 1.0, 29.0, 29.999):
        conn.handle_timer(now)
    assert take(conn) == []
    assert conn.next_deadline() == 30.0


def test_ping_at_exactly_last_activity_plus_timeout() -> None:
    conn = connected(now=0.0, server_timeout=30)
    deadline = conn.next_deadline()
    assert deadline == 30.0
    conn.handle_timer(deadline)
    outputs = take(conn)
    assert len(outputs) == 1
    assert isinstance(outputs[0], SendMessage)
    assert orjson.loads(outputs[0].payload) == PING
    assert conn.state is ConnectionState.CONNECTED
    # Now waiting for the pong.
    assert conn.next_deadline() == 35.0
    # No second ping while waiting.
    conn.handle_timer(34.0)
    assert take(conn) == []


def test_any_received_frame_postpones_the_ping() -> None:
    conn = connected(now=0.0, server_timeout=30)
    conn.subscribe("news")
    conn.receive(frame("pusher_internal:subscription_succeeded", "{}", channel="news"), 0.0)
    take(conn)
    assert conn.receive(frame("update", "{}", channel="news"), 20.0) is not None
    assert conn.next_deadline() == 50.0
    conn.handle_timer(30.0)
    assert take(conn) == []
    # Even a frame that is not valid protocol shows the server is alive.
    conn.receive("garbage", 45.0)
    take(conn)
    assert conn.next_deadline() == 75.0
    conn.handle_timer(50.0)
    assert take(conn) == []
    conn.handle_timer(75.0)
    assert sent(take(conn)) == [PING]


def test_no_pong_within_pong_timeout_drops_and_reconnects_at_once() -> None:
    conn = connected(now=0.0, server_timeout=30)
    conn.handle_timer(30.0)
    take(conn)
    conn.handle_timer(34.999)
    assert take(conn) == []
    assert conn.state is ConnectionState.CONNECTED

    conn.handle_timer(35.0)
    outputs = take(conn)
    assert of_type(outputs, CloseSocket) == [CloseSocket(abort=True)]
    assert transitions(outputs) == [(ConnectionState.CONNECTED, ConnectionState.RECONNECTING)]
    assert state_of(conn) is ConnectionState.RECONNECTING
    assert conn.socket_id is None
    assert conn.next_deadline() == 35.0
    # The abort must come before the state change is announced.
    assert isinstance(outputs[0], CloseSocket)

    conn.handle_timer(35.0)
    outputs = take(conn)
    assert opens(outputs) == [OpenSocket(conn.settings.url)]
    assert state_of(conn) is ConnectionState.CONNECTING


def test_pong_within_the_window_cancels_the_drop() -> None:
    conn = connected(now=0.0, server_timeout=30)
    conn.handle_timer(30.0)
    take(conn)
    conn.receive(frame("pusher:pong", {}, double_encode=False), 33.0)
    assert take(conn) == []
    conn.handle_timer(35.0)
    assert take(conn) == []
    assert conn.state is ConnectionState.CONNECTED
    # The next ping comes activity_timeout after the pong.
    assert conn.next_deadline() == 63.0
    conn.handle_timer(63.0)
    assert sent(take(conn)) == [PING]


def test_late_timer_call_after_a_ping_still_drops() -> None:
    conn = connected(now=0.0, server_timeout=30)
    conn.handle_timer(31.0)  # ping sent late
    take(conn)
    assert conn.next_deadline() == 36.0
    conn.handle_timer(100.0)
    assert of_type(take(conn), CloseSocket) == [CloseSocket(abort=True)]
    assert conn.state is ConnectionState.RECONNECTING


def test_server_ping_is_answered_with_pong() -> None:
    conn = connected(now=0.0)
    result = conn.receive('{"event":"pusher:ping","data":{}}', 5.0)
    assert result is None
    assert sent(take(conn)) == [PONG]
    conn.receive('{"event":"pusher:ping"}', 6.0)  # Reverb: no data
    assert sent(take(conn)) == [PONG]
    assert conn.next_deadline() == 36.0


def test_server_ping_is_not_answered_when_not_connected() -> None:
    conn = make_connection()
    conn.connect(0.0)
    take(conn)
    conn.receive('{"event":"pusher:ping","data":{}}', 1.0)
    assert take(conn) == []


def test_handshake_timeout_aborts_and_reconnects() -> None:
    conn = make_connection(handshake_timeout=10.0)
    conn.connect(0.0)
    take(conn)
    assert conn.next_deadline() == 10.0
    conn.socket_opened(1.0)
    conn.handle_timer(9.999)
    assert take(conn) == []
    assert conn.state is ConnectionState.CONNECTING

    conn.handle_timer(10.0)
    outputs = take(conn)
    assert of_type(outputs, CloseSocket) == [CloseSocket(abort=True)]
    assert transitions(outputs) == [(ConnectionState.CONNECTING, ConnectionState.RECONNECTING)]
    assert state_of(conn) is ConnectionState.RECONNECTING
    deadline = conn.next_deadline()
    assert deadline == 11.0  # initial backoff 1 s, random 0
    conn.handle_timer(deadline)
    assert opens(take(conn)) == [OpenSocket(conn.settings.url)]


def test_handshake_timeout_counts_from_open_socket_even_if_the_socket_never_opens() -> None:
    conn = make_connection(handshake_timeout=3.0)
    conn.connect(5.0)
    take(conn)
    conn.handle_timer(8.0)
    assert of_type(take(conn), CloseSocket) == [CloseSocket(abort=True)]
    assert conn.state is ConnectionState.RECONNECTING


def test_established_before_the_handshake_timeout_cancels_it() -> None:
    conn = make_connection(handshake_timeout=10.0)
    conn.connect(0.0)
    conn.socket_opened(1.0)
    conn.receive(frame("pusher:connection_established", {"socket_id": "1.2"}), 2.0)
    take(conn)
    conn.handle_timer(10.0)
    conn.handle_timer(20.0)
    assert take(conn) == []
    assert conn.state is ConnectionState.CONNECTED


def test_established_without_socket_id_is_reported_and_times_out() -> None:
    conn = make_connection(handshake_timeout=10.0)
    conn.connect(0.0)
    take(conn)
    conn.receive(frame("pusher:connection_established", {"activity_timeout": 30}), 1.0)
    outputs = take(conn)
    assert len(errors(outputs)) == 1
    assert "socket_id" in errors(outputs)[0].error.message
    assert conn.state is ConnectionState.CONNECTING
    conn.handle_timer(10.0)
    assert state_of(conn) is ConnectionState.RECONNECTING


def test_boolean_server_activity_timeout_is_ignored() -> None:
    conn = make_connection(activity_timeout=50.0)
    conn.connect(0.0)
    conn.receive(
        frame("pusher:connection_established", {"socket_id": "1.2", "activity_timeout": True}), 0.0
    )
    assert conn.state is ConnectionState.CONNECTED
    assert conn.activity_timeout == 50.0


def test_a_subscribe_left_unanswered_as_long_as_a_ping_may_be_drops_the_connection() -> None:
    """A server that lost a ``pusher:subscribe`` never answers it: once it has left
    every subscribe due unanswered for the activity timeout plus the pong timeout,
    the connection is taken as broken (a new one subscribes every channel)."""
    conn = connected(now=0.0, server_timeout=30, pong_timeout=5.0)
    conn.subscribe("news")
    take(conn)
    conn.handle_timer(10.0)  # the wait is noted at the next timer
    assert conn.next_deadline() == 30.0  # the ping comes first
    conn.handle_timer(30.0)
    assert sent(take(conn)) == [PING]
    conn.receive(frame("pusher:pong", "{}"), 30.1)
    assert conn.next_deadline() == 45.0
    conn.handle_timer(44.9)
    assert take(conn) == []
    conn.handle_timer(45.0)
    outputs = take(conn)
    assert of_type(outputs, CloseSocket) == [CloseSocket(abort=True)]
    assert "no answer to 1 subscription(s) within 35 s" in errors(outputs)[0].error.message
    assert conn.state is ConnectionState.RECONNECTING


def test_answers_that_keep_coming_keep_the_connection() -> None:
    """Many subscribes answered one after another: each answer starts the wait anew."""
    conn = connected(now=0.0, server_timeout=30, pong_timeout=5.0)
    for index in range(5):
        conn.subscribe(f"c{index}")
    take(conn)
    for index in range(5):
        now = 20.0 * (index + 1)
        conn.handle_timer(now - 0.5)
        conn.receive(
            frame("pusher_internal:subscription_succeeded", "{}", channel=f"c{index}"), now
        )
        take(conn)
        assert conn.state is ConnectionState.CONNECTED
    assert conn.next_deadline() == 130.0  # the heartbeat only: nothing is due


@pytest.mark.parametrize(
    "refusal",
    [
        {"code": None, "message": "Existing subscription to channel news"},
        {"code": 4009, "message": "Connection is unauthorized"},  # Laravel Reverb
    ],
)
def test_a_refusal_in_a_pusher_error_is_an_answer(refusal: dict[str, object]) -> None:
    conn = connected(now=0.0, server_timeout=30, pong_timeout=5.0)
    conn.subscribe("news")
    conn.receive(frame("pusher:error", refusal), 1.0)
    take(conn)
    assert conn.subscriptions.unanswered == 0
    assert conn.next_deadline() == 31.0


def test_a_refusal_of_the_user_channel_does_not_answer_a_channels_subscribe() -> None:
    """The user channel's subscribe (after ``signin()``) is not counted; its refusal
    must not stand for the answer a lost subscribe never got (found by the
    simulation: the lost subscribe then went unnoticed for good)."""
    conn = connected(now=0.0, server_timeout=30, pong_timeout=5.0)
    conn.subscribe("news")
    refusal = (
        "Invalid signature: Expected HMAC SHA256 hex digest of 1.2:#server-to-user-me, but got x"
    )
    conn.receive(frame("pusher:error", {"code": None, "message": refusal}), 1.0)
    take(conn)
    assert conn.subscriptions.unanswered == 1
    assert conn.next_deadline() == 31.0  # the ping; the lost answer's deadline is 36


def test_a_subscribe_answer_nobody_waits_for_does_not_stand_for_a_lost_one() -> None:
    """Found by the soak run: a malformed ``pusher:subscription_error`` for a channel
    with no subscribe due (here ``""``) was counted as an answer, and the subscribe
    the server had lost then went unnoticed for good."""
    conn = connected(now=0.0, server_timeout=30, pong_timeout=5.0)
    conn.subscribe("news")
    conn.subscribe("sports")
    conn.receive(frame("pusher_internal:subscription_succeeded", "{}", channel="sports"), 0.5)
    conn.receive(frame("pusher:subscription_error", "{}", channel=""), 1.0)
    conn.receive(frame("pusher_internal:subscription_succeeded", "{}", channel="sports"), 1.5)
    take(conn)
    assert conn.subscriptions.unanswered == 1  # news's
