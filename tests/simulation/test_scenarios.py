"""Lifecycle scenarios replayed by hand on the simulated network and virtual clock.

Real servers close politely within milliseconds, so the interleavings below cannot
be timed against soketi; the simulated server can hold a close unanswered (a silent
socket) for as long as a test needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pusher_channels import (
    AuthorizationError,
    ConnectionState,
    PusherChannelsClient,
    PusherConnectionError,
)
from pusher_channels._dispatch import SHUTDOWN_GRACE
from pusher_channels.exceptions import PusherTimeoutError, SigninError

from .seam import simulated_network
from .sim_server import APP_KEY, FaultProfile, SimNetwork, sign
from .virtual_loop import run_virtual

CALM = FaultProfile(
    refuse=0,
    slow_upgrade=0,
    hang_upgrade=0,
    no_greeting=0,
    silent_socket=0,
    reject_subscription=0,
    latency=0.01,
    late_handshake=0,
)


def calm_network() -> SimNetwork:
    return SimNetwork(random.Random(1), CALM)


def client(**options: Any) -> PusherChannelsClient:
    """A client of the simulated server, with ``options`` (callbacks, timeouts...)."""
    return PusherChannelsClient(
        api_key=APP_KEY, host="sim.invalid", ws_port=6001, use_tls=False, **options
    )


def test_a_connect_waiting_on_a_disconnection_gives_up_when_disconnect_is_called_again() -> None:
    """Scenario 8: ``connect()`` during DISCONNECTING, then a ``disconnect()`` (here the
    one a timed-out ``connect(timeout=...)`` makes): neither call may report one thing
    while the client does another."""
    network = calm_network()

    async def scenario() -> tuple[BaseException | None, BaseException | None, ConnectionState]:
        pusher = client()
        await pusher.connect()
        (socket,) = network.live_sockets()
        socket.go_silent()  # the close below is never answered: DISCONNECTING lasts 2 s
        closing = asyncio.ensure_future(pusher.disconnect())
        await asyncio.sleep(0.1)
        assert pusher.connection_state is ConnectionState.DISCONNECTING
        patient = asyncio.ensure_future(pusher.connect())
        hasty = asyncio.ensure_future(pusher.connect(timeout=0.5))
        outcomes = await asyncio.gather(patient, hasty, return_exceptions=True)
        await closing
        await asyncio.sleep(5)
        state = pusher.connection_state
        await pusher.disconnect()
        first, second = (o if isinstance(o, BaseException) else None for o in outcomes)
        return first, second, state

    with simulated_network(network):
        patient, hasty, state = run_virtual(scenario())
    assert isinstance(hasty, PusherTimeoutError)
    assert isinstance(patient, PusherConnectionError), "it waited, then connected anyway"
    assert state is ConnectionState.DISCONNECTED


def test_connect_during_disconnecting_connects_once_the_disconnection_is_done() -> None:
    """Scenario 8: alone, ``connect()`` during DISCONNECTING waits its turn and connects."""
    network = calm_network()

    async def scenario() -> tuple[ConnectionState, ConnectionState]:
        pusher = client()
        await pusher.connect()
        network.live_sockets()[0].go_silent()
        closing = asyncio.ensure_future(pusher.disconnect())
        await asyncio.sleep(0.1)
        during = pusher.connection_state
        await pusher.connect()
        await closing
        after = pusher.connection_state
        await pusher.disconnect()
        return during, after

    with simulated_network(network):
        during, after = run_virtual(scenario())
    assert during is ConnectionState.DISCONNECTING
    assert after is ConnectionState.CONNECTED


@pytest.mark.parametrize("late", [0.1, 1.0, 3.0])
def test_a_handshake_finishing_after_its_attempt_was_given_up_is_never_adopted(
    late: float,
) -> None:
    """Scenario 1: a WebSocket library that opens the socket anyway after the attempt
    was cancelled (as picows did) cannot make it the live socket."""
    network = SimNetwork(random.Random(2), dataclasses.replace(CALM, late_handshake=1.0))

    async def scenario() -> tuple[ConnectionState, int]:
        pusher = client()
        # The first attempt takes seconds to open.
        network.profile = dataclasses.replace(network.profile, slow_upgrade=1.0)
        with pytest.raises(PusherTimeoutError):
            await pusher.connect(timeout=0.5)
        network.profile = dataclasses.replace(network.profile, slow_upgrade=0.0)
        await asyncio.sleep(late + 3.5)  # the late handshake has reported by now
        state = pusher.connection_state
        live = len(network.live_sockets())
        return state, live

    with simulated_network(network):
        state, live = run_virtual(scenario())
    assert state is ConnectionState.DISCONNECTED
    assert live == 0


def test_two_callbacks_disconnecting_at_once_do_not_wait_on_each_other() -> None:
    """Found by the soak run: two async callbacks each awaiting
    ``wait_for(disconnect(), 3)`` while the server does not answer the close (2 s):
    each ``disconnect()`` waited for the other callback to finish."""
    network = calm_network()
    outcomes: list[str] = []

    def disconnecting(pusher: PusherChannelsClient) -> Callable[[Any], Awaitable[None]]:
        async def callback(data: Any) -> None:
            network.live_sockets()[0].go_silent()
            try:
                await asyncio.wait_for(pusher.disconnect(), 3)
            except TimeoutError:
                outcomes.append("timed out")
            else:
                outcomes.append("returned")

        return callback

    async def scenario() -> ConnectionState:
        pusher = client()
        await pusher.connect()
        await pusher.subscribe("a", on_subscription_succeeded=disconnecting(pusher))
        await pusher.subscribe("b", on_subscription_succeeded=disconnecting(pusher))
        await asyncio.sleep(10)
        return pusher.connection_state

    with simulated_network(network):
        state = run_virtual(scenario())
    assert outcomes == ["returned", "returned"]
    assert state is ConnectionState.DISCONNECTED


@pytest.mark.parametrize(
    "outage",
    [
        ConnectionError("the auth backend is down"),
        OSError(101, "Network is unreachable"),
        socket.gaierror(-3, "Temporary failure in name resolution"),
        TimeoutError("the auth backend did not answer"),
    ],
    ids=type,
)
def test_a_channel_is_subscribed_within_35_s_of_the_end_of_a_100_s_auth_outage(
    outage: Exception,
) -> None:
    """Issue 20, item 1: the authorizer cannot reach its backend for 100 s (it raises
    ``outage``, a retryable failure) while the connection stays healthy. The
    channel is retried for as long as it is wanted, at most one maximum gap (30 s)
    apart, and subscribed on the same connection once the backend is back."""
    network = calm_network()
    asked_at: list[float] = []

    async def scenario() -> tuple[float | None, list[ConnectionState], int]:
        loop = asyncio.get_running_loop()
        outage_ends = loop.time() + 100.0
        states: list[ConnectionState] = []

        async def authorize(channel_name: str, socket_id: str, _: Any) -> dict[str, str]:
            asked_at.append(loop.time())
            if loop.time() < outage_ends:
                raise outage
            return {"auth": sign(f"{socket_id}:{channel_name}")}

        pusher = client(
            on_authorizer=authorize,
            on_connection_state_change=lambda current, _: states.append(current),
        )
        await pusher.connect()
        channel = await pusher.subscribe("private-orders")
        subscribed_after: float | None = None
        while loop.time() < outage_ends + 120.0:
            if channel.subscribed:
                subscribed_after = loop.time() - outage_ends
                break
            await asyncio.sleep(0.05)
        sockets = len(network.sockets)
        await pusher.disconnect()
        return subscribed_after, states, sockets

    with simulated_network(network):
        subscribed_after, states, sockets = run_virtual(scenario())
    assert subscribed_after is not None, f"never subscribed; {len(asked_at)} authorizations"
    assert 0.0 <= subscribed_after <= 35.0
    assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert ConnectionState.RECONNECTING not in states, "no reconnection"
    assert sockets == 1


def test_an_authorizer_raising_permission_error_is_refused_not_retried() -> None:
    """An ``OSError`` of this machine (a ``PermissionError``, a missing file) is the
    authorizer's refusal, not a network failure: final at once."""
    network = calm_network()
    calls: list[str] = []

    async def scenario() -> BaseException | None:
        def authorize(channel_name: str, socket_id: str, _: Any) -> dict[str, str]:
            calls.append(channel_name)
            raise PermissionError("not for you")

        pusher = client(
            on_authorizer=authorize,
        )
        await pusher.connect()
        channel = await pusher.subscribe("private-orders")
        try:
            await channel.wait_subscribed(timeout=60)
        except Exception as exc:
            return exc
        finally:
            await asyncio.sleep(10)
            await pusher.disconnect()
        return None

    with simulated_network(network):
        outcome = run_virtual(scenario())
    assert isinstance(outcome, AuthorizationError)
    assert not outcome.retryable
    assert "PermissionError: not for you" in outcome.message
    assert calls == ["private-orders"]


def test_health_through_an_auth_outage_on_virtual_time() -> None:
    """Issue 20, item 5: during a 100 s auth outage the channel shows as retrying, with
    its error and next retry; healthy for one maximum gap (30 s) from its subscribe()
    (made 40 s into the connection), then not; healthy again once subscribed, with no
    reconnection counted."""
    network = calm_network()

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        outage_ends = loop.time() + 140.0

        async def authorize(channel_name: str, socket_id: str, _: Any) -> dict[str, str]:
            if loop.time() < outage_ends:
                raise ConnectionError("the auth backend is down")
            return {"auth": sign(f"{socket_id}:{channel_name}")}

        pusher = client(
            on_authorizer=authorize,
        )
        await pusher.connect()
        await asyncio.sleep(40.0)
        start = loop.time()
        await pusher.subscribe("private-orders")
        seen = []
        for moment in (10.0, 50.0):
            await asyncio.sleep(start + moment - loop.time())
            seen.append(pusher.health())
        channel = pusher.get_channel("private-orders")
        assert channel is not None
        await channel.wait_subscribed(timeout=120)
        seen.append(pusher.health())
        await pusher.disconnect()
        return seen

    with simulated_network(network):
        early, late, after = run_virtual(scenario())
    early_channel = early.channel("private-orders")
    assert early_channel is not None
    assert early_channel.status == "retrying"
    assert early_channel.error is not None
    assert "the auth backend is down" in early_channel.error
    assert early_channel.next_retry_at is not None
    assert early.checked_at < early_channel.next_retry_at <= early.checked_at + 30.0
    assert early.healthy, early.problems
    late_channel = late.channel("private-orders")
    assert late_channel is not None
    assert late_channel.status == "retrying"
    assert not late.healthy
    assert late.problems[0].startswith("channel 'private-orders' not subscribed for 50.")
    assert after.healthy, after.problems
    assert after.reconnections == 0


def test_a_connect_during_disconnects_grace_is_never_cancelled_by_it() -> None:
    """Item 7 of issue 20, with the real 5 s grace on the virtual clock: an async
    ``on_event`` call outlives the grace of a ``disconnect()`` that a ``connect()``
    follows at once. The old ``disconnect()`` must cancel nothing of the new
    connection (its ``on_event`` calls, a lane it opened meanwhile) and report
    nothing while it is connected."""
    network = calm_network()
    received: list[int] = []
    succeeded: list[str] = []
    errors: list[tuple[ConnectionState, str]] = []
    state = [ConnectionState.DISCONNECTED]

    def on_state_change(current: ConnectionState, previous: ConnectionState) -> None:
        state[0] = current

    async def on_event(event: Any) -> None:
        seq = event.json()["seq"]
        if seq == 1:
            await asyncio.sleep(SHUTDOWN_GRACE + 3)  # the old connection's call
        received.append(seq)

    async def on_subscription_succeeded(channel_name: str, data: Any) -> None:
        await asyncio.sleep(SHUTDOWN_GRACE)  # the new connection's: a lane opened
        succeeded.append(channel_name)  # during the old grace, and outliving it

    async def scenario() -> tuple[ConnectionState, list[tuple[ConnectionState, str]]]:
        pusher = client(
            on_event=on_event,
            on_subscription_succeeded=on_subscription_succeeded,
            on_connection_state_change=on_state_change,
            on_error=lambda message, code, error: errors.append((state[0], message)),
        )
        await pusher.connect()
        await pusher.subscribe("prices")
        await asyncio.sleep(SHUTDOWN_GRACE + 1)  # the first success's lane is done
        network.server.channel_event(network.live_sockets()[0], "prices")  # seq 1, slow
        await asyncio.sleep(1)
        closing = asyncio.ensure_future(pusher.disconnect())
        await asyncio.sleep(0.1)  # the close is answered: DISCONNECTED, the grace runs
        assert state[0] is ConnectionState.DISCONNECTED
        assert not closing.done()
        await pusher.connect()
        await asyncio.sleep(1)
        (socket,) = network.live_sockets()
        for _ in range(3):
            network.server.channel_event(socket, "prices")  # seq 2, 3, 4
        await closing
        await asyncio.sleep(SHUTDOWN_GRACE * 3)
        connected, reported = pusher.connection_state, list(errors)
        await pusher.disconnect()
        return connected, reported

    with simulated_network(network):
        connected, reported = run_virtual(scenario())
    assert connected is ConnectionState.CONNECTED
    assert reported == [], "reported while connected"
    assert received == [1, 2, 3, 4], "a call was cancelled"
    assert succeeded == ["prices", "prices"], "a lane opened meanwhile was cancelled"


def test_a_connect_during_init_connects_with_the_new_configuration() -> None:
    """Found by the simulation: ``connect()`` called while ``init()`` was closing the
    previous configuration went to it, which then connected a socket nobody owned.
    The new configuration is in place from the start of ``init()``."""
    network = calm_network()

    async def scenario() -> tuple[ConnectionState, int]:
        pusher = client()
        await pusher.connect()
        network.live_sockets()[0].go_silent()  # the previous one's close takes 2 s
        reconfiguring = asyncio.ensure_future(
            pusher.init(api_key=APP_KEY, host="sim.invalid", ws_port=6001, use_tls=False)
        )
        await asyncio.sleep(0.1)
        await pusher.connect(timeout=5)
        await reconfiguring
        await asyncio.sleep(3)  # the previous configuration's socket is gone by now
        state = pusher.connection_state
        live = len(network.live_sockets())
        await pusher.disconnect()
        return state, live

    with simulated_network(network):
        state, live = run_virtual(scenario())
    assert state is ConnectionState.CONNECTED
    assert live == 1, f"{live} live sockets: one of them belongs to nobody"


def test_a_subscribe_the_server_never_answers_is_mended_by_a_new_connection() -> None:
    """Found by the simulation: a server that loses a ``pusher:subscribe`` (soketi does
    when its adapter fails the join) left the channel subscribing for good on a
    connection that answered every ping. After as long as the heartbeat gives the
    server to answer (activity timeout plus pong timeout, 35 s here), the connection
    is taken as broken and a new one subscribes the channel. (The wait is noted from
    the connection's next timer or system frame after the subscribe: at most one
    activity timeout late.)"""
    network = calm_network()

    async def scenario() -> tuple[float | None, int]:
        pusher = client(
            activity_timeout=30,
            pong_timeout=5,
        )
        await pusher.connect()
        network.profile = dataclasses.replace(CALM, lost_answer=1.0)
        channel = await pusher.subscribe("news")
        await asyncio.sleep(0.5)  # the subscribe reached the server, which lost it
        network.profile = CALM
        loop = asyncio.get_running_loop()
        lost_at = loop.time()
        subscribed_after: float | None = None
        for _ in range(120):
            await asyncio.sleep(1.0)
            if channel.subscribed:
                subscribed_after = loop.time() - lost_at
                break
        await pusher.disconnect()
        return subscribed_after, len(network.sockets)

    with simulated_network(network):
        subscribed_after, sockets = run_virtual(scenario())
    assert subscribed_after is not None, f"never subscribed in 120 s ({sockets} sockets)"
    assert 35.0 <= subscribed_after < 30.0 + 35.0 + 5.0
    assert sockets == 2


def test_a_refusal_in_the_hosted_form_during_a_signin_is_the_channels_not_the_signins() -> None:
    """Found by the simulation: the hosted service refuses a subscribe with a
    ``pusher:error`` naming the channel; one that arrived while a sign-in waited for
    its answer was taken as the sign-in's refusal (which then was never tried again),
    and the channel stayed subscribing."""
    network = SimNetwork(random.Random(3), dataclasses.replace(CALM, hosted_refusals=True))
    refusals: list[str] = []

    def wrong_authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
        return {"auth": f"{APP_KEY}:{'0' * 64}"}

    def user_authenticator(socket_id: str, options: Any) -> dict[str, str]:
        user_data = '{"id": "me"}'
        return {"auth": sign(f"{socket_id}::user::{user_data}"), "user_data": user_data}

    async def scenario() -> tuple[Any, bool]:
        pusher = client(
            on_authorizer=wrong_authorizer,
            on_user_authenticator=user_authenticator,
        )
        await pusher.connect()
        channel = await pusher.subscribe(
            "private-a", on_subscription_error=lambda message, error: refusals.append(message)
        )
        await asyncio.sleep(0)  # the authorizer answers; the subscribe is sent
        try:
            user: Any = await pusher.signin()  # sent before the refusal arrives
        except SigninError as exc:
            user = exc
        await asyncio.sleep(1.0)
        subscribed = channel.subscribed
        await pusher.disconnect()
        return user, subscribed

    with simulated_network(network):
        user, subscribed = run_virtual(scenario())
    assert not isinstance(user, SigninError), f"the sign-in was refused: {user}"
    assert user == {"id": "me"}
    assert len(refusals) == 1
    assert "Invalid signature" in refusals[0]
    assert not subscribed


def test_an_authorizer_raising_cancelled_error_by_itself_is_a_failure_retried() -> None:
    """Found by the simulation: an authorizer that raised ``CancelledError`` without
    being cancelled (a library under it cancelling its own work) ended its request
    with no answer, and the channel stayed authorizing for good."""
    network = calm_network()
    calls: list[str] = []

    async def authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
        calls.append(channel_name)
        if len(calls) == 1:
            raise asyncio.CancelledError
        return {"auth": sign(f"{socket_id}:{channel_name}")}

    async def scenario() -> tuple[bool, list[str]]:
        pusher = client(
            on_authorizer=authorizer,
            on_subscription_error=lambda message, error: errors.append(message),
        )
        await pusher.connect()
        channel = await pusher.subscribe("private-a")
        await asyncio.sleep(5.0)
        subscribed = channel.subscribed
        await pusher.disconnect()
        return subscribed, calls

    errors: list[str] = []
    with simulated_network(network):
        subscribed, calls = run_virtual(scenario())
    assert subscribed, f"not subscribed after 5 s; {len(calls)} authorizer calls"
    assert len(calls) == 2
    assert "CancelledError" in errors[0]


def test_a_refusal_in_the_hosted_form_for_an_unsubscribed_incarnation_is_not_the_next_ones() -> (
    None
):
    """Found by the simulation: the hosted service's refusal (a ``pusher:error``) of
    a subscribe whose channel was left and joined again before the answer was
    applied to the new subscription, whose own success was then taken for the
    stale answer: the channel failed, though the server had subscribed it."""
    network = SimNetwork(random.Random(4), dataclasses.replace(CALM, hosted_refusals=True))
    calls: list[int] = []
    first_errors: list[str] = []
    second_errors: list[str] = []

    def authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
        calls.append(1)
        if len(calls) == 1:
            return {"auth": f"{APP_KEY}:{'0' * 64}"}  # refused by the server
        return {"auth": sign(f"{socket_id}:{channel_name}")}

    async def scenario() -> tuple[bool, list[str]]:
        pusher = client(
            on_authorizer=authorizer,
        )
        await pusher.connect()
        await pusher.subscribe(
            "private-a", on_subscription_error=lambda message, error: first_errors.append(message)
        )
        await asyncio.sleep(0)  # the wrongly signed subscribe is sent
        await pusher.unsubscribe("private-a")
        channel = await pusher.subscribe(
            "private-a", on_subscription_error=lambda message, error: second_errors.append(message)
        )
        await asyncio.sleep(2.0)
        subscribed = channel.subscribed
        server = sorted(network.live_sockets()[0].channels)
        await pusher.disconnect()
        return subscribed, server

    with simulated_network(network):
        subscribed, server = run_virtual(scenario())
    assert second_errors == [], f"the new subscription got the old refusal: {second_errors}"
    assert subscribed, f"not subscribed, yet the server has {server}"
    assert first_errors == []  # the unsubscribed incarnation hears nothing more
