"""Connection states: every transition announced once, in order, with its previous state."""

from __future__ import annotations

import itertools

import pytest

from pusher_channels.protocol.actions import (
    CloseSocket,
    ConnectionState,
    ErrorReported,
    OpenSocket,
    SendMessage,
    StateChanged,
)
from pusher_channels.protocol.backoff import Backoff

from .helpers import (
    URL,
    connected,
    errors,
    established,
    frame,
    make_connection,
    of_type,
    opens,
    take,
    transitions,
)

CONNECTING = ConnectionState.CONNECTING
CONNECTED = ConnectionState.CONNECTED
DISCONNECTING = ConnectionState.DISCONNECTING
DISCONNECTED = ConnectionState.DISCONNECTED
RECONNECTING = ConnectionState.RECONNECTING


def test_initial_state() -> None:
    conn = make_connection()
    assert conn.state is DISCONNECTED
    assert conn.socket_id is None
    assert conn.fatal_error is None
    assert conn.take_outputs() == []
    assert conn.next_deadline() is None


def test_states_compare_equal_to_their_names() -> None:
    assert ConnectionState.CONNECTED == "CONNECTED"
    assert {s.value for s in ConnectionState} == {
        "CONNECTING",
        "CONNECTED",
        "DISCONNECTING",
        "DISCONNECTED",
        "RECONNECTING",
    }


def test_full_cycle_connect_established_lost_reconnect() -> None:
    conn = make_connection()
    everything = []

    conn.connect(0.0)
    outputs = take(conn)
    assert outputs == [StateChanged(CONNECTING, DISCONNECTED), OpenSocket(URL)]
    everything += outputs

    conn.socket_opened(0.1)
    assert take(conn) == []
    conn.receive(established("1.2"), 0.2)
    outputs = take(conn)
    assert outputs == [StateChanged(CONNECTED, CONNECTING)]
    assert conn.socket_id == "1.2"
    everything += outputs

    conn.socket_closed(1006, "", 5.0)
    outputs = take(conn)
    assert transitions(outputs) == [(CONNECTED, RECONNECTING)]
    assert conn.socket_id is None
    everything += outputs

    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    outputs = take(conn)
    assert outputs == [StateChanged(CONNECTING, RECONNECTING), OpenSocket(URL)]
    everything += outputs

    conn.socket_opened(deadline)
    conn.receive(established("3.4"), deadline)
    outputs = take(conn)
    assert outputs == [StateChanged(CONNECTED, CONNECTING)]
    assert conn.socket_id == "3.4"
    everything += outputs

    assert transitions(everything) == [
        (DISCONNECTED, CONNECTING),
        (CONNECTING, CONNECTED),
        (CONNECTED, RECONNECTING),
        (RECONNECTING, CONNECTING),
        (CONNECTING, CONNECTED),
    ]


def test_state_changes_chain_and_match_the_state() -> None:
    conn = make_connection()
    changes: list[StateChanged] = []
    conn.connect(0.0)
    changes += of_type(take(conn), StateChanged)
    conn.receive(established(), 0.0)
    changes += of_type(take(conn), StateChanged)
    conn.socket_closed(4200, "", 1.0)
    changes += of_type(take(conn), StateChanged)
    conn.handle_timer(1.0)
    changes += of_type(take(conn), StateChanged)
    conn.disconnect(1.5)
    changes += of_type(take(conn), StateChanged)
    conn.socket_closed(1000, "", 1.6)
    changes += of_type(take(conn), StateChanged)
    for before, after in itertools.pairwise(changes):
        assert after.previous is before.current
        assert after.current is not after.previous
    assert changes[0].previous is DISCONNECTED
    assert changes[-1].current is conn.state is DISCONNECTED


def test_connect_twice_does_nothing_the_second_time() -> None:
    conn = make_connection()
    conn.connect(0.0)
    take(conn)
    conn.connect(0.5)
    assert take(conn) == []
    conn.receive(established(), 1.0)
    take(conn)
    conn.connect(1.5)
    assert take(conn) == []
    assert conn.state is CONNECTED


def test_disconnect_when_disconnected_does_nothing() -> None:
    conn = make_connection()
    conn.disconnect(0.0)
    assert take(conn) == []
    assert conn.state is DISCONNECTED


def test_disconnect_from_connected() -> None:
    conn = connected(now=0.0)
    conn.disconnect(10.0)
    outputs = take(conn)
    assert outputs == [
        StateChanged(DISCONNECTING, CONNECTED),
        CloseSocket(1000, "client disconnect"),
    ]
    assert conn.next_deadline() == 12.0  # close_timeout

    conn.disconnect(10.5)  # again: nothing more
    assert take(conn) == []

    conn.socket_closed(1000, "client disconnect", 10.7)
    outputs = take(conn)
    assert outputs == [StateChanged(DISCONNECTED, DISCONNECTING)]
    assert conn.state is DISCONNECTED
    assert conn.socket_id is None
    assert conn.fatal_error is None
    assert conn.next_deadline() is None
    conn.handle_timer(1000.0)
    assert take(conn) == []


def test_disconnect_while_reconnecting_never_opens_a_socket() -> None:
    conn = connected(now=0.0)
    conn.socket_closed(1006, "", 1.0)
    take(conn)
    assert conn.state is RECONNECTING
    retry_at = conn.next_deadline()
    assert retry_at is not None

    conn.disconnect(1.1)
    outputs = take(conn)
    assert transitions(outputs) == [(RECONNECTING, DISCONNECTING), (DISCONNECTING, DISCONNECTED)]
    assert not of_type(outputs, CloseSocket)  # there is no socket to close
    assert conn.state is DISCONNECTED
    assert conn.next_deadline() is None

    conn.handle_timer(retry_at)
    conn.handle_timer(retry_at + 1000)
    assert opens(take(conn)) == []
    assert conn.state is DISCONNECTED


def test_disconnect_while_connecting_closes_the_socket_being_opened() -> None:
    conn = make_connection()
    conn.connect(0.0)
    take(conn)
    conn.disconnect(0.5)
    outputs = take(conn)
    assert outputs == [
        StateChanged(DISCONNECTING, CONNECTING),
        CloseSocket(1000, "client disconnect"),
    ]
    # A late handshake is ignored.
    conn.receive(established(), 0.6)
    assert take(conn) == []
    assert conn.state is DISCONNECTING
    conn.socket_closed(1000, "", 0.7)
    assert transitions(take(conn)) == [(DISCONNECTING, DISCONNECTED)]


def test_close_timeout_while_disconnecting_aborts_and_finishes() -> None:
    conn = connected(now=0.0)
    conn.disconnect(10.0)
    take(conn)
    conn.handle_timer(11.999)
    assert take(conn) == []
    assert conn.state is DISCONNECTING

    conn.handle_timer(12.0)
    outputs = take(conn)
    assert outputs == [CloseSocket(abort=True), StateChanged(DISCONNECTED, DISCONNECTING)]
    assert conn.next_deadline() is None
    # The aborted socket's late close is ignored.
    conn.socket_closed(1006, "", 12.5)
    assert take(conn) == []
    assert conn.state is DISCONNECTED


def test_connect_while_disconnecting_reconnects_after_the_close() -> None:
    conn = connected(now=0.0)
    conn.disconnect(1.0)
    take(conn)
    conn.connect(1.1)
    assert take(conn) == []
    conn.socket_closed(1000, "", 1.2)
    outputs = take(conn)
    assert transitions(outputs) == [(DISCONNECTING, DISCONNECTED), (DISCONNECTED, CONNECTING)]
    assert opens(outputs) == [OpenSocket(URL)]


def test_connect_while_disconnecting_reconnects_after_the_close_timeout() -> None:
    conn = connected(now=0.0)
    conn.disconnect(1.0)
    conn.connect(1.1)
    take(conn)
    conn.handle_timer(3.0)
    outputs = take(conn)
    assert outputs == [
        CloseSocket(abort=True),
        StateChanged(DISCONNECTED, DISCONNECTING),
        StateChanged(CONNECTING, DISCONNECTED),
        OpenSocket(URL),
    ]


def test_connect_then_disconnect_while_disconnecting_stays_disconnected() -> None:
    conn = connected(now=0.0)
    conn.disconnect(1.0)
    conn.connect(1.1)
    conn.disconnect(1.2)
    take(conn)
    conn.socket_closed(1000, "", 1.3)
    outputs = take(conn)
    assert transitions(outputs) == [(DISCONNECTING, DISCONNECTED)]
    assert opens(outputs) == []


def test_send_only_while_connected() -> None:
    conn = make_connection()
    assert conn.send(b"{}") is False
    conn.connect(0.0)
    assert conn.send(b"{}") is False
    conn.receive(established(), 0.0)
    take(conn)
    assert conn.send(b'{"event":"client-x"}') is True
    assert take(conn) == [SendMessage(b'{"event":"client-x"}')]
    conn.socket_closed(1006, "", 1.0)
    take(conn)
    assert conn.send(b"{}") is False
    assert of_type(take(conn), SendMessage) == []


@pytest.mark.parametrize("random_value", [0.0, 0.5, 0.999])
def test_a_graceful_server_restart_is_a_handful_of_attempts_and_one_error(
    random_value: float,
) -> None:
    """A soketi graceful restart on the core's clock: for 3 s every new socket is
    closed with an announced 4200 (its shutdown grace period), then the port refuses
    for 1.5 s (the process starting again), then it accepts. With the client's
    backoff (10 quick attempts first) the restart costs at most 8 attempts and one
    error, and the client is back within one backoff step of the server."""
    conn = make_connection(lambda: random_value, backoff=Backoff(maximum=30.0, quick_attempts=10))
    conn.connect(0.0)
    conn.socket_opened(0.0)
    conn.receive(established(), 0.0)
    take(conn)
    closing_until, back_at = 13.0, 14.5
    closed = frame("pusher:error", {"code": 4200, "message": "Server is closing."})
    now = 10.0
    conn.receive(closed, now)
    conn.socket_closed(4200, "", now)
    outputs = take(conn)
    attempts: list[float] = []
    while conn.state is not CONNECTED:
        deadline = conn.next_deadline()
        assert deadline is not None
        conn.handle_timer(deadline)
        attempts.append(deadline)
        now = deadline + 0.005
        conn.socket_opened(now)
        if now < closing_until:
            conn.receive(closed, now)
            conn.socket_closed(4200, "", now)
        elif now < back_at:
            conn.socket_open_failed("ConnectionRefusedError", now)
        else:
            conn.receive(established("5.6"), now)
        outputs += take(conn)
    assert len(attempts) <= 8, [round(t - 10.0, 2) for t in attempts]
    assert attempts[0] == 10.0  # the first reconnection is immediate
    assert now - back_at <= 4.0
    assert [e.error.code for e in errors(outputs)] == [4200]
    assert conn.repeated_errors == sum(1 for t in attempts if t + 0.005 < closing_until)
    assert all(type(o) is not ErrorReported or o.error.code == 4200 for o in outputs)
