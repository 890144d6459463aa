"""Reconnection delays: exponential, capped, jittered; and the attempt limit."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pusher_channels.exceptions import PusherConnectionError
from pusher_channels.protocol.actions import ConnectionState, OpenSocket
from pusher_channels.protocol.backoff import Backoff
from pusher_channels.protocol.close import CloseAction
from pusher_channels.protocol.connection import LATE_TIMER, Connection

from .helpers import (
    connect_and_establish,
    connected,
    errors,
    established,
    lose,
    make_connection,
    of_type,
    opens,
    state_of,
    take,
    transitions,
)

# ------------------------------------------------------------------ Backoff.delay


def test_delays_double_from_initial_until_the_cap_without_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.0)
    delays = [backoff.delay(n, CloseAction.BACKOFF, 0.0) for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_random_value_zero_gives_the_base_and_near_one_takes_off_the_jitter() -> None:
    backoff = Backoff(initial=2.0, maximum=100.0, jitter=0.5)
    assert backoff.delay(1, CloseAction.BACKOFF, 0.0) == 2.0
    assert backoff.delay(1, CloseAction.BACKOFF, 0.5) == 1.5
    assert backoff.delay(3, CloseAction.BACKOFF, 0.999999) == pytest.approx(4.0, abs=1e-5)


def test_reconnect_now_waits_zero_only_on_the_first_attempt() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.5)
    assert backoff.delay(1, CloseAction.RECONNECT_NOW, 0.7) == 0.0
    assert backoff.delay(2, CloseAction.RECONNECT_NOW, 0.0) == 1.0


def test_backoff_at_least_one_second_has_a_floor_of_one_second() -> None:
    backoff = Backoff(initial=0.1, maximum=0.5, jitter=1.0)
    for attempt in range(1, 20):
        assert backoff.delay(attempt, CloseAction.BACKOFF_AT_LEAST_1S, 0.99) == 1.0
    big = Backoff(initial=4.0, maximum=30.0, jitter=0.0)
    assert big.delay(2, CloseAction.BACKOFF_AT_LEAST_1S, 0.0) == 8.0


def test_huge_attempt_numbers_stay_capped_and_finite() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.5)
    for attempt in (31, 64, 1000, 10**9):
        assert backoff.delay(attempt, CloseAction.BACKOFF, 0.0) == 30.0


@settings(max_examples=300)
@given(
    initial=st.floats(min_value=0.001, max_value=60.0),
    maximum=st.floats(min_value=0.001, max_value=600.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    attempt=st.integers(min_value=1, max_value=10_000),
    random_value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    action=st.sampled_from([CloseAction.BACKOFF, CloseAction.RECONNECT_NOW]),
)
def test_delay_stays_within_jitter_band_and_cap(
    *,
    initial: float,
    maximum: float,
    jitter: float,
    attempt: int,
    random_value: float,
    action: CloseAction,
) -> None:
    backoff = Backoff(initial=initial, maximum=maximum, jitter=jitter)
    delay = backoff.delay(attempt, action, random_value)
    if action is CloseAction.RECONNECT_NOW and attempt == 1:
        assert delay == 0.0
        return
    base = min(maximum, initial * 2.0 ** min(attempt - 1, 30))
    assert delay <= maximum
    assert delay <= base
    assert delay >= (1.0 - jitter) * base - 1e-12
    assert delay > 0.0 or jitter == 1.0


@settings(max_examples=200)
@given(
    random_value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_base_delay_never_shrinks_from_one_attempt_to_the_next(
    random_value: float, jitter: float
) -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=jitter)
    # The same random draw: a later attempt never waits less.
    delays = [backoff.delay(n, CloseAction.BACKOFF, random_value) for n in range(1, 40)]
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) <= 30.0


# ------------------------------------------------------- through the Connection


def fail_attempts(count: int, **overrides: Any) -> tuple[list[float], Connection]:
    """Connect, then let ``count`` consecutive attempts fail with 1006; return delays."""
    conn = make_connection(**overrides)
    conn.connect(0.0)
    now = 0.0
    delays: list[float] = []
    for _ in range(count):
        assert conn.state is ConnectionState.CONNECTING
        now += 0.25  # exact in binary: delays come out exact
        conn.socket_closed(1006, "", now)
        if state_of(conn) is not ConnectionState.RECONNECTING:
            break
        deadline = conn.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        conn.handle_timer(deadline)
        now = deadline
    return delays, conn


def test_connection_delays_grow_exponentially_and_cap_at_max_reconnect_gap() -> None:
    delays, _ = fail_attempts(8)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]


@settings(max_examples=100)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), min_size=1))
def test_connection_delays_stay_in_band_for_any_random_values(values: list[float]) -> None:
    stream = itertools.cycle(values)
    conn = make_connection(random_value=lambda: next(stream))
    conn.connect(0.0)
    now = 0.0
    for attempt in range(1, 25):
        conn.socket_closed(None, "", now)
        deadline = conn.next_deadline()
        assert deadline is not None
        base = min(8.0, 1.0 * 2 ** (attempt - 1))
        assert 0.5 * base - 1e-9 <= deadline - now <= base + 1e-9
        conn.handle_timer(deadline)
        now = deadline + 0.5


@pytest.mark.parametrize("limit", [0, 1, 3, 6])
def test_gives_up_after_max_reconnection_attempts(limit: int) -> None:
    conn = make_connection(max_reconnection_attempts=limit)
    conn.connect(0.0)
    now = 0.0
    for _ in range(limit):
        now += 1
        conn.socket_closed(1006, "", now)
        assert conn.state is ConnectionState.RECONNECTING
        assert conn.fatal_error is None
        deadline = conn.next_deadline()
        assert deadline is not None
        conn.handle_timer(deadline)
        now = deadline
    take(conn)
    # Failure number limit + 1: give up.
    conn.socket_closed(1006, "", now + 1)
    outputs = take(conn)
    assert conn.state is ConnectionState.DISCONNECTED
    assert isinstance(conn.fatal_error, PusherConnectionError)
    assert f"gave up after {limit} reconnection attempts" in conn.fatal_error.message
    assert any(e.error is conn.fatal_error for e in errors(outputs))
    assert transitions(outputs) == [(ConnectionState.CONNECTING, ConnectionState.DISCONNECTED)]
    assert conn.next_deadline() is None
    conn.handle_timer(now + 10_000)
    assert not of_type(take(conn), OpenSocket)


def test_handshake_timeouts_count_as_failed_attempts() -> None:
    conn = make_connection(max_reconnection_attempts=1)
    conn.connect(0.0)
    conn.handle_timer(10.0)  # handshake timeout 1
    assert conn.state is ConnectionState.RECONNECTING
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    conn.handle_timer(deadline + 10.0)  # handshake timeout 2
    assert state_of(conn) is ConnectionState.DISCONNECTED
    assert conn.fatal_error is not None


def test_a_successful_connection_resets_the_attempt_count() -> None:
    conn = make_connection(max_reconnection_attempts=2)
    conn.connect(0.0)
    now = 0.0
    for _ in range(2):
        conn.socket_closed(1006, "", now)
        deadline = conn.next_deadline()
        assert deadline is not None
        conn.handle_timer(deadline)
        now = deadline
    conn.socket_opened(now)
    conn.receive(established(), now)
    assert conn.state is ConnectionState.CONNECTED
    # Two more failures are again allowed, and the first delay is the initial one.
    conn.socket_closed(1006, "", now + 1)
    assert conn.next_deadline() == now + 2
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    conn.socket_closed(1006, "", deadline)
    assert state_of(conn) is ConnectionState.RECONNECTING
    assert conn.fatal_error is None


def test_unlimited_attempts_keep_retrying_with_a_capped_delay() -> None:
    delays, conn = fail_attempts(1000)
    assert len(delays) == 1000
    assert conn.state is ConnectionState.CONNECTING
    assert max(delays) == 8.0
    assert delays[-1] == 8.0
    assert conn.fatal_error is None


def test_unlimited_attempts_after_a_connection_too() -> None:
    conn = connected()
    now = 1.0
    for _ in range(1000):
        conn.socket_closed(1006, "", now)
        assert conn.state is ConnectionState.RECONNECTING
        deadline = conn.next_deadline()
        assert deadline is not None
        assert deadline - now <= 8.0
        conn.handle_timer(deadline)
        now = deadline
    assert conn.fatal_error is None


def test_quick_attempts_come_first_then_the_exponential_backoff() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.0, quick_attempts=3, quick_delay=0.25)
    delays = [backoff.delay(n, CloseAction.BACKOFF, 0.0) for n in range(1, 8)]
    assert delays == [0.25, 0.25, 0.25, 0.5, 1.0, 2.0, 4.0]
    assert backoff.delay(1, CloseAction.BACKOFF_AT_LEAST_1S, 0.0) == 1.0
    assert backoff.delay(1, CloseAction.RECONNECT_NOW, 0.0) == 0.0


def test_the_client_options_retry_quickly_for_about_two_seconds() -> None:
    from pusher_channels.options import parse_options

    backoff = parse_options({"api_key": "k", "cluster": "eu"}).connection_settings().backoff
    quick = [backoff.delay(n, CloseAction.BACKOFF, 0.0) for n in range(1, 11)]
    assert sum(quick) == pytest.approx(2.5)
    assert backoff.delay(11, CloseAction.BACKOFF, 0.0) == 0.5
    assert backoff.delay(100, CloseAction.BACKOFF, 0.0) == 30.0


# ------------------------------------------- a certificate that fails verification


def _fail_with_a_certificate(conn: Connection, now: float) -> float:
    """One attempt refused by certificate verification; the seconds until the next."""
    conn.socket_open_failed("SSLCertVerificationError: expired", now, certificate=True)
    deadline = conn.next_deadline()
    assert deadline is not None
    return deadline - now


def test_a_certificate_failure_is_retried_with_backoff_and_reported_each_time() -> None:
    """A long-running service comes back by itself once the certificate is fixed
    (renewed, the clock corrected, the CA installed): the client retries, slowly,
    and tells ``on_error`` of every failure, since each needs someone to act."""
    backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.0, quick_attempts=10)
    conn = make_connection(backoff=backoff)
    conn.connect(0.0)
    take(conn)
    now, delays, reports = 0.0, [], []
    for _ in range(8):
        delay = _fail_with_a_certificate(conn, now)
        outputs = take(conn)
        reports += [e.error for e in errors(outputs)]
        assert conn.state is ConnectionState.RECONNECTING
        assert conn.fatal_error is None
        delays.append(delay)
        now += delay
        conn.handle_timer(now)
        assert of_type(take(conn), OpenSocket), "another attempt"
    assert delays == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], "no quick attempts"
    assert len(reports) == 8
    assert all(isinstance(e, PusherConnectionError) for e in reports)
    assert all("expired" in e.message for e in reports)


def test_certificate_failures_count_towards_max_reconnection_attempts() -> None:
    conn = make_connection(max_reconnection_attempts=2)
    conn.connect(0.0)
    now = 0.0
    for _ in range(2):
        now += _fail_with_a_certificate(conn, now)
        conn.handle_timer(now)
    conn.socket_open_failed("SSLCertVerificationError: expired", now, certificate=True)
    assert conn.state is ConnectionState.DISCONNECTED
    assert conn.fatal_error is not None
    assert "gave up after 2 reconnection attempts" in conn.fatal_error.message
    assert "expired" in conn.fatal_error.message


def test_a_connection_after_a_certificate_failure_resets_the_count() -> None:
    conn = make_connection()
    conn.connect(0.0)
    now = _fail_with_a_certificate(conn, 0.0)
    conn.handle_timer(now)
    conn.socket_opened(now)
    conn.receive(established(), now)
    assert conn.state is ConnectionState.CONNECTED
    conn.socket_closed(1006, "", now + 1)
    assert conn.next_deadline() == now + 2, "the first delay again"


def test_a_reconnection_timer_that_fires_late_draws_its_wait_again_once() -> None:
    """A loop held for 100 ms (one process with 1,000 clients dropped at once) fires
    every reconnection due meanwhile together; a late timer spreads them again."""
    draws = iter([0.5, 0.8, 0.3])
    conn = make_connection(random_value=lambda: next(draws))
    connect_and_establish(conn)
    lose(conn, now=1.0)
    deadline = conn.next_deadline()
    assert deadline is not None
    late = deadline + LATE_TIMER + 0.05
    conn.handle_timer(late)
    assert opens(take(conn)) == [], "not at once: a new wait is drawn"
    redrawn = conn.next_deadline()
    assert redrawn is not None
    assert late < redrawn <= late + 0.25
    conn.handle_timer(redrawn + 1.0)  # late again: only once per wait
    assert len(opens(take(conn))) == 1


def test_a_reconnection_timer_on_time_connects_at_once() -> None:
    conn = make_connection(random_value=lambda: 0.5)
    connect_and_establish(conn)
    lose(conn, now=1.0)
    deadline = conn.next_deadline()
    assert deadline is not None
    conn.handle_timer(deadline + 0.01)
    assert len(opens(take(conn))) == 1
