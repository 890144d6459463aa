"""Keeping the connection up against PusherTestServer: restarts, freezes, disconnects.

A restart is ``stop(graceful=False)`` (sockets dropped, as a killed process drops
them) or ``stop()`` (4200, as a server shutting down closes them), then ``start()``
on the same port; a freeze is ``pause()``, as SIGSTOP freezes a process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pusher
from devtools.auth_server import AuthServer

from pusher_channels import ConnectionState, PusherChannelsClient
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import Recorder, wait_until

CONNECTED = ConnectionState.CONNECTED
RECONNECTING = ConnectionState.RECONNECTING
DISCONNECTED = ConnectionState.DISCONNECTED


def sdk_for(server: PusherTestServer) -> Any:
    """The official server SDK, pointed at ``server``."""
    return pusher.Pusher(**server.sdk_kwargs())


async def trigger(server: PusherTestServer, channel: str, event: str, data: object) -> None:
    """Trigger an event through the official server SDK."""
    await asyncio.to_thread(sdk_for(server).trigger, channel, event, data)


async def test_restart_reconnects_and_resubscribes_once(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    channels = ["feed-a", "feed-b", "feed-c"]
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        for name in channels:
            await client.subscribe(name)
        await wait_until(lambda: len(recorder.succeeded) == 3, what="first subscriptions")
        first_socket = await client.get_socket_id()

        pusher_server.stop(graceful=False)
        killed_at = time.monotonic()
        await wait_until(lambda: RECONNECTING in recorder.current_states, what="RECONNECTING")
        pusher_server.start()
        await wait_until(lambda: len(recorder.succeeded) == 6, timeout=20, what="resubscribed")
        back_after = time.monotonic() - killed_at

        assert client.connection_state is CONNECTED
        assert await client.get_socket_id() != first_socket
        per_channel = Counter(name for name, _ in recorder.succeeded)
        assert per_channel == dict.fromkeys(channels, 2)
        lost = recorder.current_states.index(RECONNECTING)
        assert recorder.current_states[lost:][-1] is CONNECTED
        assert ConnectionState.CONNECTING in recorder.current_states[lost:]

        for name in channels:
            await trigger(pusher_server, name, "after-restart", {"channel": name})
        await wait_until(lambda: len(recorder.events) == 3, what="events after the restart")
        assert sorted(e.channel_name for e in recorder.events) == channels
        await asyncio.sleep(0.3)
        assert len(recorder.succeeded) == 6, "no channel may be subscribed twice"
    print(f"back to subscribed {back_after:.2f} s after the kill (restart included)")


async def test_graceful_server_shutdown_reconnects(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        await client.subscribe("graceful")
        await wait_until(lambda: len(recorder.succeeded) == 1, what="subscription")
        pusher_server.stop()
        await wait_until(lambda: RECONNECTING in recorder.current_states, what="RECONNECTING")
        pusher_server.start()
        await wait_until(lambda: len(recorder.succeeded) == 2, timeout=20, what="resubscribed")
        assert client.connection_state is CONNECTED


async def test_disconnect_means_no_reconnection(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    client = PusherChannelsClient(**pusher_server.client_kwargs(), **recorder.callbacks())
    await client.subscribe("quiet")
    await client.connect(timeout=10)
    await wait_until(lambda: len(recorder.succeeded) == 1, what="subscription")
    await client.disconnect()
    states = list(recorder.states)

    pusher_server.stop(graceful=False)
    pusher_server.start()
    await asyncio.sleep(2.0)

    assert client.connection_state is DISCONNECTED
    assert recorder.states == states
    assert client.get_channel("quiet") is not None, "channels stay registered"

    await client.connect(timeout=10)
    await wait_until(lambda: len(recorder.succeeded) == 2, what="resubscribed on connect()")
    await client.disconnect()


async def test_frozen_server_is_detected_by_ping_and_pong(pusher_server: PusherTestServer) -> None:
    """A frozen server keeps the socket open but silent: only the heartbeat can notice."""
    activity, pong = 1.0, 1.0
    recorder = Recorder()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(),
        activity_timeout=activity,
        pong_timeout=pong,
        **recorder.callbacks(),
    ) as client:
        await client.subscribe("heartbeat")
        await wait_until(lambda: len(recorder.succeeded) == 1, what="subscription")
        await asyncio.sleep(2.5)  # a few ping/pong rounds on a live server
        assert client.connection_state is CONNECTED
        assert RECONNECTING not in recorder.current_states

        pusher_server.pause()
        try:
            detected_after = await wait_until(
                lambda: RECONNECTING in recorder.current_states,
                timeout=activity + pong + 1.0,
                what="the dead connection to be noticed",
            )
        finally:
            pusher_server.resume()
        await wait_until(lambda: len(recorder.succeeded) == 2, timeout=20, what="resubscribed")
        assert client.connection_state is CONNECTED
    print(f"frozen server noticed after {detected_after:.2f} s")


async def test_restart_with_authorized_channels_resubscribes_each_exactly_once(
    pusher_server: PusherTestServer,
) -> None:
    """20 private, 5 presence and 5 encrypted channels survive a server restart."""
    auth = AuthServer(sdk_for(pusher_server))
    auth.start()
    recorder = Recorder()
    names = (
        [f"private-r{i}" for i in range(20)]
        + [f"presence-r{i}" for i in range(5)]
        + [f"private-encrypted-r{i}" for i in range(5)]
    )
    try:
        async with PusherChannelsClient(
            **pusher_server.client_kwargs(), auth_endpoint=auth.url, **recorder.callbacks()
        ) as client:
            for name in names:
                await client.subscribe(name)
            await wait_until(lambda: len(recorder.succeeded) == 30, what="30 subscriptions")
            first_socket = await client.get_socket_id()

            pusher_server.stop(graceful=False)
            await wait_until(lambda: RECONNECTING in recorder.current_states, what="RECONNECTING")
            pusher_server.start()
            await wait_until(lambda: len(recorder.succeeded) == 60, timeout=20, what="resubscribed")
            await asyncio.sleep(0.3)

            assert Counter(name for name, _ in recorder.succeeded) == dict.fromkeys(names, 2)
            second_socket = await client.get_socket_id()
            assert second_socket != first_socket
            sockets_used = {r.form["socket_id"] for r in auth.requests}
            assert sockets_used == {first_socket, second_socket}
            for name in names:
                channel = client.get_channel(name)
                assert channel is not None
                assert channel.subscribed
                if name.startswith("presence-"):
                    assert list(channel.members) == ["guest"], "no stale or duplicate members"
            sdk = sdk_for(pusher_server)
            await asyncio.to_thread(sdk.trigger, "private-encrypted-r0", "after", {"ok": True})
            await asyncio.to_thread(sdk.trigger, "private-r0", "after", {"ok": True})
            await wait_until(lambda: len(recorder.events) == 2, what="events after the restart")
            assert all(e.json() == {"ok": True} for e in recorder.events)
            assert recorder.subscription_errors == []
    finally:
        auth.stop()
