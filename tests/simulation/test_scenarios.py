"""Lifecycle scenarios replayed by hand on the simulated network and virtual clock.

Real servers close politely within milliseconds, so the interleavings below cannot
be timed against soketi; the simulated server can hold a close unanswered (a silent
socket) for as long as a test needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pusher_channels import ConnectionState, PusherChannelsClient, PusherConnectionError
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


def client() -> PusherChannelsClient:
    return PusherChannelsClient(api_key=APP_KEY, host="sim.invalid", ws_port=6001, use_tls=False)


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
        pusher = PusherChannelsClient(
            api_key=APP_KEY,
            host="sim.invalid",
            ws_port=6001,
            use_tls=False,
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
        pusher = PusherChannelsClient(
            api_key=APP_KEY,
            host="sim.invalid",
            ws_port=6001,
            use_tls=False,
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
        pusher = PusherChannelsClient(
            api_key=APP_KEY,
            host="sim.invalid",
            ws_port=6001,
            use_tls=False,
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
        pusher = PusherChannelsClient(
            api_key=APP_KEY,
            host="sim.invalid",
            ws_port=6001,
            use_tls=False,
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
