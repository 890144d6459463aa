"""``client.health()``: a snapshot a ``/health`` endpoint can serve, against soketi.

Healthy when connected with every channel subscribed; a refused channel (HTTP 403)
makes it unhealthy with the error; a channel being retried shows it, with the next
retry's time, and stays healthy for one maximum gap; a disconnected client is not
healthy; a restart of the server counts one reconnection. Asyncio and blocking
clients alike, the blocking one from several threads at once.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import ChannelHealth, ConnectionState, Health, PusherChannelsClient
from pusher_channels import sync as blocking
from tests.support.recorder import wait_until

_names = itertools.count()


def unique(prefix: str) -> str:
    """A channel name of the given kind that no other test uses."""
    return f"{prefix}-health-{next(_names)}-{int(time.time() * 1000) % 100000}"


def served(health: Health) -> dict[str, object]:
    """What a ``/health`` endpoint would send: ``as_dict()`` through JSON, and back."""
    decoded: dict[str, object] = json.loads(json.dumps(health.as_dict()))
    return decoded


def channel_of(health: Health, name: str) -> ChannelHealth:
    channel = health.channel(name)
    assert channel is not None, f"{name} is not in {health.channels}"
    return channel


async def test_a_connected_client_with_every_channel_subscribed_is_healthy(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    public, private = unique("news"), unique("private")
    before = time.time()
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        connected_at = time.time()
        for name in (public, private):
            channel = await client.subscribe(name)
            await channel.wait_subscribed(timeout=10)
        health = client.health()
    assert health.healthy, health.problems
    assert health.problems == ()
    assert health.state is ConnectionState.CONNECTED
    assert before <= health.state_since <= connected_at
    assert health.seconds_since_last_frame is not None
    assert 0.0 <= health.seconds_since_last_frame < 5.0
    assert health.reconnections == 0
    assert [(c.name, c.status) for c in health.channels] == [
        (public, "subscribed"),
        (private, "subscribed"),
    ]
    assert channel_of(health, private) == ChannelHealth(private, "subscribed")
    data = served(health)
    assert data["healthy"] is True
    assert data["state"] == "CONNECTED"
    assert data["channels"] == {
        public: {
            "status": "subscribed",
            "unsubscribed_since": None,
            "error": None,
            "next_retry_at": None,
        },
        private: {
            "status": "subscribed",
            "unsubscribed_since": None,
            "error": None,
            "next_retry_at": None,
        },
    }
    text = json.dumps(health.as_dict())
    assert soketi.secret not in text
    assert soketi.key not in text  # nothing of the app's credentials


async def test_a_refused_channel_makes_the_client_unhealthy_with_its_error(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    allowed, denied = unique("private"), unique("private")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        await (await client.subscribe(allowed)).wait_subscribed(timeout=10)
        auth_server.failure = Failure(status=403, body='{"error":"not yours"}')
        await client.subscribe(denied)
        await wait_until(lambda: channel_of(client.health(), denied).status == "refused")
        health = client.health()
    assert not health.healthy
    assert health.state is ConnectionState.CONNECTED
    assert channel_of(health, allowed).status == "subscribed"
    refused = channel_of(health, denied)
    assert refused.error is not None
    assert "HTTP 403" in refused.error
    assert refused.next_retry_at is None
    assert refused.unsubscribed_since is not None
    assert len(health.problems) == 1
    assert denied in health.problems[0]
    assert "HTTP 403" in health.problems[0]
    assert served(health)["healthy"] is False


async def test_a_retrying_channel_shows_its_error_and_next_retry_and_turns_unhealthy_after_a_gap(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Retrying is healthy for one maximum gap (a blip is not an incident), then not."""
    name = unique("private")
    auth_server.failure = Failure(status=503, body="maintenance")
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        max_reconnect_gap_in_seconds=2.0,
    ) as client:
        subscribed_at = time.time()
        await client.subscribe(name)
        await wait_until(lambda: channel_of(client.health(), name).next_retry_at is not None)
        early = client.health()
        await wait_until(lambda: time.time() - subscribed_at > 2.5, what="one gap")
        late = client.health()
        auth_server.failure = None
        await wait_until(lambda: channel_of(client.health(), name).status == "subscribed")
        recovered = client.health()
    retrying = channel_of(early, name)
    assert retrying.status == "retrying"
    assert retrying.error is not None
    assert "HTTP 503" in retrying.error
    assert retrying.next_retry_at is not None
    assert early.checked_at < retrying.next_retry_at <= early.checked_at + 2.0
    assert retrying.unsubscribed_since is not None
    assert subscribed_at - 0.5 <= retrying.unsubscribed_since <= early.checked_at
    assert early.healthy, early.problems
    assert channel_of(late, name).status == "retrying"
    assert not late.healthy
    assert len(late.problems) == 1
    assert name in late.problems[0]
    assert "HTTP 503" in late.problems[0]
    assert recovered.healthy, recovered.problems
    assert recovered.reconnections == 0


async def test_a_client_is_not_healthy_once_disconnected(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    name = unique("private")
    client = PusherChannelsClient(**soketi.client_options(), auth_endpoint=auth_server.url)
    before = client.health()
    await client.connect()
    await (await client.subscribe(name)).wait_subscribed(timeout=10)
    assert client.health().healthy
    disconnected_at = time.time()
    await client.disconnect()
    health = client.health()
    assert not before.healthy
    assert before.seconds_since_last_frame is None
    assert not health.healthy
    assert health.state is ConnectionState.DISCONNECTED
    assert health.state_since >= disconnected_at
    assert health.problems == ("the connection is DISCONNECTED, not CONNECTED",)
    assert channel_of(health, name).status == "pending"  # still wanted
    assert served(health)["state"] == "DISCONNECTED"


async def test_a_server_restart_counts_one_reconnection(own_soketi: SoketiServer) -> None:
    name = unique("news")
    async with PusherChannelsClient(**own_soketi.client_options()) as client:
        channel = await client.subscribe(name)
        await channel.wait_subscribed(timeout=10)
        own_soketi.stop()
        await wait_until(
            lambda: client.connection_state is not ConnectionState.CONNECTED, what="the loss"
        )
        lost = client.health()
        own_soketi.start()
        await wait_until(lambda: channel.subscribed, 20.0, "resubscribed")
        health = client.health()
    assert not lost.healthy
    assert lost.reconnections == 0
    assert health.healthy, health.problems
    assert health.reconnections == 1
    assert channel_of(health, name).status == "subscribed"


def test_the_blocking_client_serves_its_health_to_any_thread(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Health read by four threads while the main thread subscribes and unsubscribes."""
    names = [unique("private") for _ in range(20)]
    snapshots: list[Health] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            try:
                snapshots.append(client.health())
            except BaseException as exc:
                failures.append(exc)
                return

    with blocking.PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        probes = [threading.Thread(target=probe) for _ in range(4)]
        for thread in probes:
            thread.start()
        try:
            for round_ in range(3):
                channels = [client.subscribe(name) for name in names]
                for channel in channels:
                    channel.wait_subscribed(timeout=10)
                if round_ < 2:
                    for name in names:
                        client.unsubscribe(name)
        finally:
            done.set()
            for thread in probes:
                thread.join(10)
        health = client.health()
    after = client.health()
    assert failures == []
    assert len(snapshots) > 10
    assert health.healthy, health.problems
    assert [c.name for c in health.channels] == names
    assert {c.status for c in health.channels} == {"subscribed"}
    assert not after.healthy
    assert after.state is ConnectionState.DISCONNECTED
