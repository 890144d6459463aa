"""Connecting to a real soketi: socket ids, states, refusals, timeouts, many clients."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from devtools.soketi import SoketiServer, free_port

from pusher_channels import (
    ConnectionState,
    PusherChannelsClient,
    PusherConnectionError,
    PusherTimeoutError,
)
from tests.support.recorder import Recorder, wait_until

CONNECTING = ConnectionState.CONNECTING
CONNECTED = ConnectionState.CONNECTED
DISCONNECTING = ConnectionState.DISCONNECTING
DISCONNECTED = ConnectionState.DISCONNECTED


async def test_connect_gives_socket_id_and_states_in_order(soketi: SoketiServer) -> None:
    recorder = Recorder()
    client = PusherChannelsClient(**soketi.client_options(), **recorder.callbacks())
    assert client.connection_state == "DISCONNECTED"
    assert await client.get_socket_id() is None

    await client.connect(timeout=10)

    socket_id = await client.get_socket_id()
    assert socket_id is not None
    assert re.fullmatch(r"\d+\.\d+", socket_id)
    assert client.connection_state is CONNECTED
    await client.disconnect()
    assert client.connection_state is DISCONNECTED
    assert await client.get_socket_id() is None
    assert recorder.states == [
        (CONNECTING, DISCONNECTED),
        (CONNECTED, CONNECTING),
        (DISCONNECTING, CONNECTED),
        (DISCONNECTED, DISCONNECTING),
    ]
    assert recorder.errors == []


async def test_unknown_app_key_is_refused_with_4001_and_not_retried(
    soketi: SoketiServer,
) -> None:
    recorder = Recorder()
    options = soketi.client_options() | {"api_key": "no-such-key"}
    client = PusherChannelsClient(**options, **recorder.callbacks())

    with pytest.raises(PusherConnectionError) as raised:
        await client.connect(timeout=10)

    assert raised.value.code == 4001
    assert client.connection_state is DISCONNECTED
    assert [code for _, code, _ in recorder.errors] == [4001]
    states_after_refusal = list(recorder.states)
    await asyncio.sleep(1.5)
    assert recorder.states == states_after_refusal, "a refused connection must not be retried"
    assert recorder.states[-1] == (DISCONNECTED, CONNECTING)


async def test_connect_timeout_raises_and_stops_retrying() -> None:
    recorder = Recorder()
    port = free_port()  # nothing listens here
    client = PusherChannelsClient(
        api_key="k", host="127.0.0.1", ws_port=port, use_tls=False, **recorder.callbacks()
    )
    started = time.monotonic()
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=0.8)
    assert time.monotonic() - started < 3
    assert client.connection_state is DISCONNECTED
    count = len(recorder.states)
    await asyncio.sleep(1.5)
    assert len(recorder.states) == count


async def test_server_down_at_connect_is_retried_until_it_starts() -> None:
    server = SoketiServer()
    recorder = Recorder()
    client = PusherChannelsClient(**server.client_options(), **recorder.callbacks())
    connecting = asyncio.create_task(client.connect(timeout=30))
    try:
        await wait_until(
            lambda: ConnectionState.RECONNECTING in recorder.current_states,
            what="a failed first attempt",
        )
        assert not connecting.done()
        await asyncio.to_thread(server.start)
        await connecting
        assert client.connection_state is CONNECTED
    finally:
        await client.disconnect()
        server.stop()


async def test_disconnect_then_init_again_works(soketi: SoketiServer) -> None:
    client = PusherChannelsClient.get_instance()
    assert PusherChannelsClient.get_instance() is client
    first = Recorder()
    await client.init(**soketi.client_options(), **first.callbacks())
    await client.connect(timeout=10)
    await client.disconnect()

    second = Recorder()
    await client.init(**soketi.client_options(), **second.callbacks())
    await client.connect(timeout=10)
    assert client.connection_state is CONNECTED
    assert second.current_states == [CONNECTING, CONNECTED]
    await client.disconnect()


async def test_async_with_connects_and_disconnects(soketi: SoketiServer) -> None:
    recorder = Recorder()
    async with PusherChannelsClient(**soketi.client_options(), **recorder.callbacks()) as client:
        assert client.connection_state is CONNECTED
    assert client.connection_state is DISCONNECTED
    assert recorder.current_states[-1] is DISCONNECTED


async def test_fifty_clients_connect_concurrently(soketi: SoketiServer) -> None:
    recorders = [Recorder() for _ in range(50)]
    clients = [
        PusherChannelsClient(**soketi.client_options(), **recorder.callbacks())
        for recorder in recorders
    ]
    try:
        await asyncio.gather(*(client.connect(timeout=20) for client in clients))
        socket_ids = {await client.get_socket_id() for client in clients}
        assert len(socket_ids) == 50
        assert None not in socket_ids
        for index, client in enumerate(clients):
            await client.subscribe(f"crowd-{index % 5}")
        await wait_until(
            lambda: all(len(r.succeeded) == 1 for r in recorders), what="50 subscriptions"
        )
        sdk = soketi.server_sdk()
        for channel in range(5):
            await asyncio.to_thread(sdk.trigger, f"crowd-{channel}", "hello", {"n": channel})
        await wait_until(lambda: all(len(r.events) == 1 for r in recorders), what="50 events")
        for index, recorder in enumerate(recorders):
            assert recorder.events[0].channel_name == f"crowd-{index % 5}"
            assert recorder.events[0].json() == {"n": index % 5}
    finally:
        await asyncio.gather(*(client.disconnect() for client in clients))
    assert all(c.connection_state is DISCONNECTED for c in clients)


async def test_cancelling_connect_stops_the_attempts() -> None:
    recorder = Recorder()
    client = PusherChannelsClient(
        api_key="k", host="127.0.0.1", ws_port=free_port(), use_tls=False, **recorder.callbacks()
    )
    attempt = asyncio.create_task(client.connect())
    await wait_until(lambda: ConnectionState.RECONNECTING in recorder.current_states)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert client.connection_state is DISCONNECTED
    count = len(recorder.states)
    await asyncio.sleep(1.0)
    assert len(recorder.states) == count, "nothing retries after the cancellation"
