"""Network faults between the client and soketi, through the fault proxy.

client ──> FaultProxy ──> soketi. Each test breaks the path one way (blackhole,
cut, latency, a reset in the middle of a frame, the authorization endpoint down
during a reconnect), measures how long the client takes to notice and to recover,
and checks that afterwards every channel is subscribed exactly once and events
arrive in order. ``loop_errors`` fails the test if any exception escapes to the
event loop.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import AuthorizationError, PusherChannelsClient, PusherError
from tests.faults.helpers import (
    CONNECTED,
    RECONNECTING,
    Timeline,
    as_user,
    check_connections,
    check_in_order,
    new_connection,
    publish_round,
    report,
    summary,
)
from tests.support.fault_proxy import FaultProxy
from tests.support.recorder import wait_until

ACTIVITY_TIMEOUT = 1.0
PONG_TIMEOUT = 1.0
DETECTION_BOUND = ACTIVITY_TIMEOUT + PONG_TIMEOUT + 1.0
"""The brief's bound: a dead path is noticed within activity + pong timeout + 1 s."""
HANDSHAKE_TIMEOUT = 10.0
"""The core's ``ConnectionSettings.handshake_timeout`` (not an option)."""

CHANNELS = ["faults-public", "private-faults", "presence-faults", "private-encrypted-faults"]
AUTHORIZED = CHANNELS[1:]
CUTS_IN_A_ROW = 8


def via(proxy: FaultProxy, soketi: SoketiServer, auth: AuthServer, **more: Any) -> dict[str, Any]:
    """Client keywords for soketi through ``proxy``, authorized by ``auth`` as alice."""
    return {
        **soketi.client_options(),
        "ws_port": proxy.port,
        "auth_endpoint": auth.url,
        "auth_params": as_user("alice"),
        **more,
    }


async def subscribe_all(
    client: PusherChannelsClient, timeline: Timeline, channels: list[str] = CHANNELS
) -> None:
    """Subscribe ``channels`` (with per-channel callbacks) and wait until all are."""
    for name in channels:
        await client.subscribe(name, **timeline.channel_callbacks(name))
    await wait_until(
        lambda: timeline.subscribed_on_last_connection() == set(channels),
        what="the first subscriptions",
    )


def resubscribed(timeline: Timeline, connections: int, channels: list[str] = CHANNELS) -> bool:
    """A connection newer than the first ``connections`` has every channel subscribed."""
    if len(timeline.connections()) <= connections:
        return False
    return timeline.subscribed_on_last_connection() == set(channels)


async def events_flow(soketi: SoketiServer, timeline: Timeline, name: str, count: int = 5) -> None:
    """Publish ``count`` events on every channel; all must arrive, in order."""
    await publish_round(soketi, CHANNELS, name, count)
    await wait_until(
        lambda: len(timeline.round_events(name)) >= len(CHANNELS) * count,
        what=f"the events {name!r}",
    )
    check_in_order(timeline.round_events(name), CHANNELS, count)


def presence_is_alice(client: PusherChannelsClient) -> bool:
    """The presence channel is subscribed, with alice as its only member."""
    channel = client.get_channel("presence-faults")
    return channel is not None and channel.subscribed and list(channel.members) == ["alice"]


def back(timeline: Timeline, client: PusherChannelsClient, connections: int) -> Callable[[], bool]:
    """A condition: a new connection has every channel subscribed, presence exact."""
    return lambda: resubscribed(timeline, connections) and presence_is_alice(client)


def resets_reached(proxy: FaultProxy, count: int) -> Callable[[], bool]:
    """A condition: the proxy has reset ``count`` connections mid-frame."""
    return lambda: proxy.stats.reset >= count


# ------------------------------------------------------------------- blackhole


@pytest.mark.parametrize("drop", [False, True], ids=["held", "dropped"])
async def test_blackhole_is_noticed_by_the_heartbeat_and_recovered(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
    drop: bool,
) -> None:
    """A silent path (sockets open, nothing passes) is noticed by ping/pong alone.

    ``held``: bytes wait and flow when the path returns, as TCP retransmission
    does; the reconnection attempt caught in the blackhole completes then.
    ``dropped``: bytes are lost; that attempt hangs until the handshake timeout.
    """
    timeline = Timeline()
    async with PusherChannelsClient(
        **via(
            proxy,
            own_soketi,
            own_auth,
            activity_timeout=ACTIVITY_TIMEOUT,
            pong_timeout=PONG_TIMEOUT,
        ),
        **timeline.callbacks(),
    ) as client:
        await subscribe_all(client, timeline)
        await asyncio.sleep(2.5)  # two ping/pong rounds through the healthy proxy
        assert timeline.count_state(RECONNECTING) == 0, "a live path must not be dropped"

        proxy.blackhole(True, drop=drop)
        try:
            detected = await wait_until(
                lambda: timeline.count_state(RECONNECTING) > 0,
                timeout=DETECTION_BOUND,
                what="the silent path to be noticed",
            )
            await asyncio.sleep(1.0)  # the new attempt is caught in the blackhole too
            assert client.connection_state is not CONNECTED
        finally:
            proxy.blackhole(False)
        recovered = await wait_until(
            lambda: resubscribed(timeline, 1) and presence_is_alice(client),
            timeout=HANDSHAKE_TIMEOUT + 10,
            what="recovery once the path is back",
        )
        await events_flow(own_soketi, timeline, "after-blackhole")
        await asyncio.sleep(0.2)
        check_connections(timeline, CHANNELS, own_user="alice")
        assert timeline.subscription_errors == []
    mode = "bytes dropped" if drop else "bytes held"
    report(
        f"blackhole ({mode}), activity_timeout=1, pong_timeout=1",
        f"noticed after {detected:.2f} s (bound {DETECTION_BOUND:g} s); "
        f"path back -> all 4 channels subscribed: {recovered:.2f} s",
    )


# ------------------------------------------------------------------------- cut


async def test_cut_reconnects_and_resubscribes_once(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
) -> None:
    timeline = Timeline()
    timings: list[float] = []
    async with PusherChannelsClient(
        **via(proxy, own_soketi, own_auth), **timeline.callbacks()
    ) as client:
        await subscribe_all(client, timeline)
        for number in range(3):
            connections = len(timeline.connections())
            socket_id = await client.get_socket_id()
            assert proxy.cut() == 1
            took = await wait_until(
                back(timeline, client, connections),
                timeout=15,
                what="reconnected and resubscribed after the cut",
            )
            timings.append(took)
            assert await client.get_socket_id() != socket_id
            await events_flow(own_soketi, timeline, f"after-cut-{number}")
        await asyncio.sleep(0.2)
        check_connections(timeline, CHANNELS, own_user="alice")
        assert len(timeline.connections()) == 4
        assert timeline.subscription_errors == []
    report("TCP cut (FIN both sides)", f"cut -> all 4 channels subscribed: {summary(timings)}")


async def test_cuts_during_resubscription_end_with_every_channel_subscribed_once(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
) -> None:
    """Each connection is cut 0-80 ms after it is established, while its
    authorizations (50 ms each) are in flight or just answered: answers made for a
    dead socket must be discarded, and nothing may be subscribed twice."""
    timeline = Timeline()
    rng = random.Random(7)
    own_auth.delay = 0.05
    async with PusherChannelsClient(
        **via(proxy, own_soketi, own_auth), **timeline.callbacks()
    ) as client:
        await subscribe_all(client, timeline)
        cuts = 0
        for number in range(CUTS_IN_A_ROW):
            await wait_until(new_connection(timeline, number), what=f"connection {number + 1}")
            await asyncio.sleep(rng.uniform(0.0, 0.08))
            cuts += proxy.cut()
        connections = len(timeline.connections())
        started = time.monotonic()
        await wait_until(
            back(timeline, client, connections),
            timeout=15,
            what="every channel subscribed after the last cut",
        )
        settled = time.monotonic() - started
        await events_flow(own_soketi, timeline, "after-cuts")
        await asyncio.sleep(0.3)
        check_connections(timeline, CHANNELS, own_user="alice")
        assert timeline.subscription_errors == []
        assert cuts == CUTS_IN_A_ROW
        assert len(timeline.connections()) == CUTS_IN_A_ROW + 1
    report(
        f"{CUTS_IN_A_ROW} cuts, each 0-80 ms into a resubscription (auth 50 ms)",
        f"last cut -> all subscribed: {settled:.2f} s; no channel subscribed twice",
    )


# --------------------------------------------------------------------- latency


async def test_latency_of_50_ms_each_way_keeps_everything_working(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
) -> None:
    proxy.latency = 0.05
    timeline = Timeline()
    client = PusherChannelsClient(
        **via(
            proxy,
            own_soketi,
            own_auth,
            activity_timeout=ACTIVITY_TIMEOUT,
            pong_timeout=PONG_TIMEOUT,
        ),
        **timeline.callbacks(),
    )
    started = time.monotonic()
    try:
        await client.connect(timeout=10)
        connected = time.monotonic() - started
        started = time.monotonic()
        await subscribe_all(client, timeline)
        subscribed = time.monotonic() - started
        arrivals: dict[int, float] = {}
        sent: dict[int, float] = {}

        def arrived(event: Any) -> None:
            if event.event_name == "ping-latency":
                arrivals[int(event.json()["seq"])] = time.monotonic()

        await client.subscribe("faults-public", on_event=arrived)
        sdk = own_soketi.server_sdk()
        for seq in range(20):
            sent[seq] = time.monotonic()
            await asyncio.to_thread(sdk.trigger, "faults-public", "ping-latency", {"seq": seq})
        await wait_until(lambda: len(arrivals) == 20, what="20 events")
        delays = [arrivals[seq] - sent[seq] for seq in range(20)]
        assert sorted(arrivals, key=arrivals.__getitem__) == list(range(20)), "in order"
        await events_flow(own_soketi, timeline, "with-latency", count=10)
        await asyncio.sleep(2.5)  # heartbeats with a 100 ms round trip
        assert timeline.count_state(RECONNECTING) == 0
        assert client.connection_state is CONNECTED
        check_connections(timeline, CHANNELS, own_user="alice")
        assert timeline.subscription_errors == []
    finally:
        await client.disconnect()
    report(
        "50 ms latency each way",
        f"connect {connected:.2f} s; 4 channels subscribed in {subscribed:.2f} s; "
        f"trigger -> event {summary(delays)}; no reconnection with 1 s timeouts",
    )


# --------------------------------------------------------------- reset mid-frame


async def test_reset_in_the_middle_of_a_frame_recovers_quietly(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
) -> None:
    """Half a frame then RST: no half-event is delivered, no exception escapes."""
    timeline = Timeline()
    timings: list[float] = []
    async with PusherChannelsClient(
        **via(proxy, own_soketi, own_auth), **timeline.callbacks()
    ) as client:
        await subscribe_all(client, timeline)
        sdk = own_soketi.server_sdk()
        for number in range(3):
            connections = len(timeline.connections())
            assert proxy.reset_mid_frame() == 1
            payload = {"seq": 0, "padding": "x" * (200 + 1000 * number)}  # 7-bit/16-bit lengths
            started = time.monotonic()
            await asyncio.to_thread(sdk.trigger, "faults-public", f"cut-{number}", payload)
            await wait_until(resets_reached(proxy, number + 1), what="the reset")
            await wait_until(
                back(timeline, client, connections),
                timeout=15,
                what="recovery after the reset",
            )
            timings.append(time.monotonic() - started)
            assert timeline.events_named(f"cut-{number}") == [], "no event from half a frame"
            await events_flow(own_soketi, timeline, f"after-reset-{number}")
        await asyncio.sleep(0.2)
        check_connections(timeline, CHANNELS, own_user="alice")
        assert all(isinstance(error, PusherError) for _, _, error in timeline.errors)
        assert timeline.subscription_errors == []
    report(
        "RST after half a frame",
        f"trigger -> all 4 channels subscribed: {summary(timings)}; "
        f"on_error calls: {len(timeline.errors)}",
    )


# --------------------------------------------------- authorization endpoint down


async def auth_down_on_reconnect(
    proxy: FaultProxy, auth: AuthServer, timeline: Timeline, client: PusherChannelsClient
) -> float:
    """Break the endpoint (HTTP 503), cut the connection; return when all 3
    authorized channels have reported the failure on the new connection."""
    connections = len(timeline.connections())
    auth.failure = Failure(status=503)
    started = time.monotonic()
    proxy.cut()
    await wait_until(
        lambda: (
            len(timeline.connections()) > connections
            and {getattr(e, "channel_name", "") for _, e in timeline.subscription_errors}
            == set(AUTHORIZED)
            and timeline.subscribed_on_last_connection() == {"faults-public"}
        ),
        timeout=15,
        what="every authorized channel to report the failure",
    )
    reported = time.monotonic() - started
    assert client.connection_state is CONNECTED, "the connection is unaffected"
    assert timeline.subscribed_on_last_connection() == {"faults-public"}
    for _, error in timeline.subscription_errors:
        assert isinstance(error, AuthorizationError)
        assert error.status == 503
    for name in AUTHORIZED:
        channel = client.get_channel(name)
        assert channel is not None
        assert not channel.subscribed
    return reported


async def test_auth_endpoint_down_during_reconnect_is_retried_with_backoff(
    loop_errors: list[dict[str, Any]],
    own_soketi: SoketiServer,
    own_auth: AuthServer,
    proxy: FaultProxy,
) -> None:
    """The wanted policy: a failed authorization is retried by itself, with backoff
    (bounded: no hot loop while the endpoint is down), so that once the endpoint is
    back the channels are subscribed again without a reconnection or user action."""
    outage, back_within, max_requests = 2.0, 8.0, 4
    timeline = Timeline()
    async with PusherChannelsClient(
        **via(proxy, own_soketi, own_auth), **timeline.callbacks()
    ) as client:
        await subscribe_all(client, timeline)
        await auth_down_on_reconnect(proxy, own_auth, timeline, client)
        socket_id = await client.get_socket_id()
        connections = len(timeline.connections())
        await asyncio.sleep(outage)
        for name in AUTHORIZED:
            tries = len(own_auth.requests_for(name)) - 1  # the first connection's request
            assert tries <= max_requests, f"{name}: {tries} requests in {outage:g} s"
        own_auth.failure = None
        recovered = await wait_until(
            lambda: (
                timeline.subscribed_on_last_connection() == set(CHANNELS)
                and presence_is_alice(client)
            ),
            timeout=back_within,
            what="the channels to be retried once the endpoint is back",
        )
        assert await client.get_socket_id() == socket_id, "no reconnection was needed"
        assert len(timeline.connections()) == connections
        await events_flow(own_soketi, timeline, "after-retry")
        await asyncio.sleep(0.2)
        check_connections(timeline, CHANNELS, own_user="alice")
    report("auth endpoint back after a failed re-authorization", f"retried in {recovered:.2f} s")
