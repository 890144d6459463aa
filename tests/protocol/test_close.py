"""Close codes: the policy table, and what the connection does with each range."""

from __future__ import annotations

from typing import Any

import pytest

from pusher_channels.exceptions import PusherConnectionError
from pusher_channels.protocol.actions import (
    CloseSocket,
    ConnectionState,
    ErrorRepeated,
    OpenSocket,
    StateChanged,
)
from pusher_channels.protocol.backoff import Backoff
from pusher_channels.protocol.close import CloseAction, close_action, describe_close
from pusher_channels.protocol.connection import Connection

from .helpers import (
    connected,
    errors,
    established,
    frame,
    make_connection,
    of_type,
    opens,
    reconnect,
    state_of,
    take,
    transitions,
)

# ---------------------------------------------------------------- the pure table


@pytest.mark.parametrize("code", [4000, 4001, 4003, 4004, 4005, 4008, 4009, 4050, 4099])
def test_4000_to_4099_stop(code: int) -> None:
    assert close_action(code) is CloseAction.STOP


@pytest.mark.parametrize("code", [4100, 4101, 4150, 4199])
def test_4100_to_4199_back_off_at_least_one_second(code: int) -> None:
    assert close_action(code) is CloseAction.BACKOFF_AT_LEAST_1S


@pytest.mark.parametrize("code", [4200, 4201, 4202, 4250, 4299])
def test_4200_to_4299_reconnect_now(code: int) -> None:
    assert close_action(code) is CloseAction.RECONNECT_NOW


@pytest.mark.parametrize(
    "code", [None, 0, 1000, 1001, 1002, 1006, 1011, 3000, 3999, 4300, 4301, 4302, 4399, 4999, 5000]
)
def test_other_codes_back_off(code: int | None) -> None:
    assert close_action(code) is CloseAction.BACKOFF


def test_every_code_from_0_to_5999_maps_to_its_range() -> None:
    for code in range(6000):
        expected = (
            CloseAction.STOP
            if 4000 <= code <= 4099
            else CloseAction.BACKOFF_AT_LEAST_1S
            if 4100 <= code <= 4199
            else CloseAction.RECONNECT_NOW
            if 4200 <= code <= 4299
            else CloseAction.BACKOFF
        )
        assert close_action(code) is expected, code


def test_describe_close() -> None:
    assert describe_close(None, "") == "connection lost"
    assert describe_close(None, "refused") == "connection lost (refused)"
    assert describe_close(4001, "") == (
        "closed by server with code 4001: application does not exist (unknown app key)"
    )
    assert describe_close(4001, "App key x not in this cluster") == (
        "closed by server with code 4001: App key x not in this cluster"
    )
    assert describe_close(4999, "") == "closed by server with code 4999: no reason given"


# ------------------------------------------------------------ through Connection


def connecting(**overrides: Any) -> Connection:
    conn = make_connection(**overrides)
    conn.connect(0.0)
    conn.socket_opened(0.1)
    take(conn)
    assert conn.state is ConnectionState.CONNECTING
    return conn


@pytest.mark.parametrize("code", [4000, 4001, 4009, 4099])
def test_refusal_while_connecting_stops_without_retry(code: int) -> None:
    conn = connecting()
    conn.socket_closed(code, "", 0.5)
    outputs = take(conn)

    assert conn.state is ConnectionState.DISCONNECTED
    assert conn.fatal_error is not None
    assert isinstance(conn.fatal_error, PusherConnectionError)
    assert conn.fatal_error.code == code
    reported = errors(outputs)
    assert [e.error.code for e in reported] == [code]
    assert reported[0].error is conn.fatal_error
    assert transitions(outputs) == [(ConnectionState.CONNECTING, ConnectionState.DISCONNECTED)]
    assert conn.next_deadline() is None
    assert not of_type(outputs, OpenSocket)

    # Nothing ever fires again by itself.
    conn.handle_timer(10_000.0)
    assert take(conn) == []
    assert conn.state is ConnectionState.DISCONNECTED


def test_refusal_4001_message_names_the_unknown_app_key() -> None:
    conn = connecting()
    conn.socket_closed(4001, "", 0.5)
    assert conn.fatal_error is not None
    assert "4001" in conn.fatal_error.message
    assert "unknown app key" in conn.fatal_error.message


def test_refusal_while_connected_also_stops() -> None:
    conn = connected()
    conn.socket_closed(4009, "Connection not authorized.", 5.0)
    outputs = take(conn)
    assert conn.state is ConnectionState.DISCONNECTED
    assert conn.socket_id is None
    assert conn.fatal_error is not None
    assert conn.fatal_error.code == 4009
    assert "Connection not authorized." in conn.fatal_error.message
    assert transitions(outputs) == [(ConnectionState.CONNECTED, ConnectionState.DISCONNECTED)]
    assert conn.next_deadline() is None


def test_refusal_announced_by_pusher_error_is_reported_once() -> None:
    conn = connecting()
    conn.receive(
        frame("pusher:error", {"message": "App key nope not in this cluster", "code": 4001}), 0.2
    )
    conn.socket_closed(4001, "", 0.3)
    outputs = take(conn)
    assert [e.error.code for e in errors(outputs)] == [4001]
    assert conn.state is ConnectionState.DISCONNECTED
    assert conn.fatal_error is not None
    assert conn.fatal_error.code == 4001
    assert "App key nope not in this cluster" in conn.fatal_error.message


def test_connect_after_refusal_clears_the_fatal_error_and_opens_again() -> None:
    conn = connecting()
    conn.socket_closed(4001, "", 0.5)
    take(conn)
    conn.connect(1.0)
    outputs = take(conn)
    assert conn.fatal_error is None
    assert conn.state is ConnectionState.CONNECTING
    assert opens(outputs) == [OpenSocket(conn.settings.url)]


@pytest.mark.parametrize("code", [4100, 4199])
def test_4100_reconnects_after_at_least_one_second(code: int) -> None:
    # initial backoff 0.1 s: the 1 s floor must win.
    conn = connecting(backoff=Backoff(initial=0.1, maximum=8.0, jitter=0.5))
    conn.socket_closed(code, "over capacity", 2.0)
    outputs = take(conn)
    assert conn.state is ConnectionState.RECONNECTING
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline - 2.0 >= 1.0
    assert [e.error.code for e in errors(outputs)] == [code]
    assert conn.fatal_error is None

    conn.handle_timer(2.999)
    assert take(conn) == []
    conn.handle_timer(deadline)
    assert opens(take(conn)) == [OpenSocket(conn.settings.url)]
    assert state_of(conn) is ConnectionState.CONNECTING


@pytest.mark.parametrize("code", [4200, 4201, 4202])
def test_42xx_reconnects_immediately_on_the_first_attempt(code: int) -> None:
    conn = connected(now=0.0)
    conn.socket_closed(code, "", 7.0)
    outputs = take(conn)
    assert conn.state is ConnectionState.RECONNECTING
    assert conn.next_deadline() == 7.0
    assert transitions(outputs) == [(ConnectionState.CONNECTED, ConnectionState.RECONNECTING)]
    conn.handle_timer(7.0)
    outputs = take(conn)
    assert opens(outputs) == [OpenSocket(conn.settings.url)]
    assert transitions(outputs) == [(ConnectionState.RECONNECTING, ConnectionState.CONNECTING)]


def test_42xx_repeated_without_success_backs_off() -> None:
    conn = connected(now=0.0)
    conn.socket_closed(4200, "", 1.0)
    assert conn.next_deadline() == 1.0
    conn.handle_timer(1.0)
    conn.socket_closed(4200, "", 1.5)
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline > 1.5  # second attempt: no busy loop


@pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 4300, 4301, 3000, 4999])
def test_other_codes_reconnect_with_backoff(code: int | None) -> None:
    conn = connected(now=0.0)
    conn.socket_closed(code, "", 10.0)
    outputs = take(conn)
    assert conn.state is ConnectionState.RECONNECTING
    assert conn.fatal_error is None
    # initial 1.0, random 0.0 → exactly the base delay.
    assert conn.next_deadline() == 11.0
    assert transitions(outputs) == [(ConnectionState.CONNECTED, ConnectionState.RECONNECTING)]
    assert not of_type(outputs, CloseSocket)


@pytest.mark.parametrize("code", [None, 1000, 1001])
def test_normal_closes_and_drops_are_not_reported_as_errors(code: int | None) -> None:
    conn = connected()
    conn.socket_closed(code, "", 1.0)
    assert errors(take(conn)) == []
    assert conn.state is ConnectionState.RECONNECTING


@pytest.mark.parametrize("code", [1006, 4100, 4200, 4301])
def test_abnormal_closes_are_reported_with_their_code(code: int) -> None:
    conn = connected()
    conn.socket_closed(code, "", 1.0)
    reported = errors(take(conn))
    assert len(reported) == 1
    assert isinstance(reported[0].error, PusherConnectionError)
    assert reported[0].error.code == code


def test_close_with_1006_backs_off_exponentially_while_connecting() -> None:
    conn = connecting()
    delays = []
    now = 0.5
    for _ in range(5):
        conn.socket_closed(1006, "", now)
        deadline = conn.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        conn.handle_timer(deadline)
        assert conn.state is ConnectionState.CONNECTING
        now = deadline + 0.25
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_socket_closed_twice_is_ignored_the_second_time() -> None:
    conn = connected()
    conn.socket_closed(1006, "", 1.0)
    first = take(conn)
    conn.socket_closed(1006, "", 1.1)
    assert take(conn) == []
    assert of_type(first, StateChanged)
    assert conn.state is ConnectionState.RECONNECTING


# ------------------------------------------- a server restart: 42xx again and again

RESTARTING = "Server is closing. Please reconnect shortly."
QUICK_BACKOFF = Backoff(initial=1.0, maximum=8.0, jitter=0.5, quick_attempts=10, quick_delay=0.25)
"""The client's shape of backoff: quick attempts first (10 here, as the client's)."""


def closed_by_server(
    conn: Connection, now: float, code: int = 4200, announced: bool = True
) -> None:
    """The server closes the socket with ``code``, announcing it first with a
    ``pusher:error`` as soketi does (the hosted service, protocol 7, only closes)."""
    if announced:
        conn.receive(frame("pusher:error", {"code": code, "message": RESTARTING}), now)
    conn.socket_closed(code, "", now)


def next_attempt(conn: Connection) -> float:
    """Fire the reconnection timer and open the socket; return when it fired."""
    deadline = conn.next_deadline()
    assert deadline is not None
    assert conn.state is ConnectionState.RECONNECTING
    conn.handle_timer(deadline)
    conn.socket_opened(deadline)
    assert state_of(conn) is ConnectionState.CONNECTING
    return deadline


def test_42xx_again_on_the_immediate_reconnection_backs_off_without_the_quick_attempts() -> None:
    # soketi shutting down closes every new socket with 4200 (for 3 s by default):
    # the first reconnection is immediate, as the protocol says; the server closing
    # it the same way means it is restarting, and quick attempts would only storm it.
    conn = connected(now=0.0, backoff=QUICK_BACKOFF)
    closed_by_server(conn, 10.0)
    now, delays = 10.0, []
    for _ in range(4):
        opened = next_attempt(conn)
        delays.append(opened - now)
        now = opened + 0.01
        closed_by_server(conn, now)
    opened = next_attempt(conn)
    delays.append(opened - now)
    now = opened + 0.01
    conn.socket_open_failed("ConnectionRefusedError", now)  # the server is down now
    delays.append(next_attempt(conn) - now)
    assert delays == pytest.approx([0.0, 1.0, 2.0, 4.0, 8.0, 8.0])


def test_after_a_restart_a_drop_gets_the_quick_attempts_again() -> None:
    conn = connected(now=0.0, backoff=QUICK_BACKOFF)
    closed_by_server(conn, 10.0)
    next_attempt(conn)
    closed_by_server(conn, 10.01)
    reconnect(conn)
    conn.socket_closed(1006, "", 500.0)
    assert conn.next_deadline() == pytest.approx(500.25)


def test_a_server_closing_each_new_connection_with_42xx_is_not_reconnected_at_once_each_time() -> (
    None
):
    # Established, then closed with 4200 again at once: still the same restart.
    conn = connected(now=0.0)
    now, delays = 10.0, []
    for _ in range(4):
        closed_by_server(conn, now)
        opened = next_attempt(conn)
        delays.append(opened - now)
        conn.receive(established("5.6"), opened + 0.1)
        assert conn.state is ConnectionState.CONNECTED
        now = opened + 0.5
    assert delays == pytest.approx([0.0, 1.0, 2.0, 4.0])


@pytest.mark.parametrize("code", [4200, 4201, 4202])
def test_a_42xx_long_after_the_last_one_reconnects_at_once_again(code: int) -> None:
    conn = connected(now=0.0)
    closed_by_server(conn, 10.0, code)
    next_attempt(conn)
    closed_by_server(conn, 10.01, code)
    reconnect(conn)
    take(conn)
    closed_by_server(conn, 1000.0, code)
    assert conn.next_deadline() == 1000.0
    take(conn)


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "close-only"])
def test_a_restart_is_reported_once_then_counted(announced: bool) -> None:
    conn = connected(now=0.0, backoff=QUICK_BACKOFF)
    closed_by_server(conn, 10.0, announced=announced)
    reported = errors(take(conn))
    assert [e.error.code for e in reported] == [4200]
    repeats = []
    for _ in range(5):
        opened = next_attempt(conn)
        closed_by_server(conn, opened + 0.01, announced=announced)
        outputs = take(conn)
        repeats += of_type(outputs, ErrorRepeated)
        reported += errors(outputs)
    assert [e.error.code for e in reported] == [4200], "on_error once per outage"
    assert [(r.error.code, r.repeats) for r in repeats] == [(4200, n) for n in range(1, 6)]
    assert conn.repeated_errors == 5

    reconnect(conn)  # the outage is over: the next restart is reported again
    closed_by_server(conn, 5000.0, announced=announced)
    assert [e.error.code for e in errors(take(conn))] == [4200]
    assert conn.repeated_errors == 5


def test_another_kind_of_error_during_a_restart_is_reported() -> None:
    conn = connected(now=0.0)
    closed_by_server(conn, 10.0)
    take(conn)
    next_attempt(conn)
    closed_by_server(conn, 10.01, code=4100)
    assert [e.error.code for e in errors(take(conn))] == [4100]
