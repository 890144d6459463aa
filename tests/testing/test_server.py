"""PusherTestServer over real sockets: both run modes, the HTTP front, heartbeats, faults.

Clients are this library's (asyncio and blocking), the official ``pusher`` SDK over
HTTP, and a raw WebSocket client (``raw_client.py``) where a test needs to see or
withhold single frames.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import threading
import time
from typing import Any

import pusher
import pytest

from pusher_channels import (
    ConnectionState,
    PusherChannelsClient,
    PusherEvent,
)
from pusher_channels.sync import PusherChannelsClient as BlockingClient
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import Recorder, wait_until
from tests.testing.raw_client import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    RawSocket,
)

CONNECTED = ConnectionState.CONNECTED
RECONNECTING = ConnectionState.RECONNECTING


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "PusherTestServer"]


# ------------------------------------------------------------------- run modes


async def test_async_mode_serves_clients_and_the_sdk_on_one_port() -> None:
    recorder = Recorder()
    async with (
        PusherTestServer() as server,
        PusherChannelsClient(
            **server.client_kwargs(sign_locally=True),
            presence_channel_data={"user_id": "ann", "user_info": {"name": "Ann"}},
            **recorder.callbacks(),
        ) as client,
    ):
        names = ["orders", "private-chat", "presence-room", "private-encrypted-vault"]
        channels = [await client.subscribe(name) for name in names]
        await wait_until(lambda: all(c.subscribed for c in channels), what="subscriptions")
        socket_id = await client.get_socket_id()
        assert [info.socket_id for info in server.connections] == [socket_id]
        assert server.connections[0].channels == tuple(names)
        assert server.members("presence-room") == {"ann": {"name": "Ann"}}

        sdk = pusher.Pusher(**server.sdk_kwargs())
        for name in names:
            await asyncio.to_thread(sdk.trigger, name, "hello", {"to": name})
        await wait_until(lambda: len(recorder.events) == 4, what="four events")
        assert [e.json() for e in recorder.events] == [{"to": name} for name in names]
        info = await asyncio.to_thread(sdk.channel_info, "presence-room", ["user_count"])
        assert info == {"occupied": True, "user_count": 1}
    assert recorder.errors == []
    assert not server.running


def test_threaded_mode_serves_the_blocking_client() -> None:
    events: list[PusherEvent] = []
    before = len(server_threads())
    with (
        PusherTestServer() as server,
        BlockingClient(**server.client_kwargs(), on_event=events.append) as client,
    ):
        assert len(server_threads()) == before + 1
        channel = client.subscribe("orders")
        server.wait_until_blocking(lambda: channel.subscribed)
        server.trigger("orders", "created", {"id": 7})
        server.wait_until_blocking(lambda: len(events) == 1)
        assert events[0].json() == {"id": 7}
        assert server.subscribers("orders") == [client.get_socket_id()]
    assert len(server_threads()) == before, "the server's thread ends with the block"


async def test_a_threaded_server_serves_an_async_test() -> None:
    with PusherTestServer() as server:
        recorder = Recorder()
        async with PusherChannelsClient(**server.client_kwargs(), **recorder.callbacks()) as client:
            channel = await client.subscribe("orders")
            await server.wait_until(lambda: channel.subscribed)
            server.trigger("orders", "created", "plain")
            await server.wait_until(lambda: len(recorder.events) == 1)
            with pytest.raises(TimeoutError, match="never"):
                await server.wait_until(lambda: False, timeout=0.05, message="never")
    assert recorder.events[0].data == "plain"


async def test_calls_need_a_running_server_and_blocking_waits_refuse_its_loop() -> None:
    server = PusherTestServer(app_id="not-digits")
    with pytest.raises(RuntimeError, match="not running"):
        server.trigger("orders", "e", "d")
    with pytest.raises(ValueError, match="app ids made of digits"):
        server.sdk_kwargs()
    async with server:
        with pytest.raises(RuntimeError, match="wait_until"):
            server.wait_until_blocking(lambda: True)
        with pytest.raises(RuntimeError, match="already running"):
            await server.__aenter__()
        with pytest.raises(ValueError, match="Invalid channel name"):
            server.trigger("bad name", "e", "d")
        with pytest.raises(ValueError, match="alone"):
            server.trigger(["private-encrypted-a", "b"], "e", "d")


# ---------------------------------------------------------------- the front door


async def test_websocket_refusals_close_with_the_documented_codes() -> None:
    async with PusherTestServer() as server:
        for path, code in [
            ("/app/wrong-key?protocol=7", 4001),
            ("/app/test-key", 4008),
            ("/app/test-key?protocol=2", 4007),
            ("/not/a/pusher/path?protocol=7", 4005),
        ]:
            raw = await RawSocket.connect(server.port, path)
            frame = await raw.recv()
            assert (frame.opcode, frame.close_code) == (OPCODE_CLOSE, code), path
            await raw.close()
        raw = await RawSocket.connect(server.port, "/custom/prefix/app/test-key?protocol=7")
        assert await raw.established()
        await raw.close()


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"dGhlIHNhbXBsZSBub25jZQ=="[:-2] + "é".encode(), id="utf-8"),
        pytest.param("ñ".encode("latin-1") * 24, id="latin-1"),
        pytest.param(b"not a websocket key", id="not-base64"),
        pytest.param(base64.b64encode(b"k" * 15), id="15-bytes"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_a_malformed_websocket_key_is_answered_400_and_closed(key: bytes) -> None:
    """A ``Sec-WebSocket-Key`` must be 16 bytes in base64 (RFC 6455, 4.2.1): any
    other gets ``400 Bad Request`` and the connection is closed, and the server
    goes on serving."""
    async with PusherTestServer() as server:
        raw = await RawSocket.connect(server.port, key=key, expect_upgrade=False)
        assert raw.status == 400
        rest = await asyncio.wait_for(raw.reader.read(), 5)  # up to the server's close
        assert b"Sec-WebSocket-Key" in rest
        assert raw.reader.at_eof()
        await raw.close()
        raw = await RawSocket.connect(server.port)
        assert await raw.established()
        await raw.close()


def test_http_keep_alive_errors_and_readiness() -> None:
    with PusherTestServer() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        for _ in range(2):
            connection.request("GET", "/ready")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"OK")
        connection.request("POST", "/apps/123456/events?auth_key=test-key", body=b"{}")
        response = connection.getresponse()
        assert response.status == 401
        assert response.getheader("Content-Type", "").startswith("text/plain")
        response.read()
        connection.close()

        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"NONSENSE\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(
                b"GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n"
            )
            assert raw.recv(100).startswith(b"HTTP/1.1 400")


async def test_fragmented_and_pipelined_client_frames_are_understood() -> None:
    async with PusherTestServer() as server:
        raw = await RawSocket.connect(server.port)
        await raw.established()
        text = json.dumps({"event": "pusher:subscribe", "data": {"channel": "orders"}}).encode()
        raw.send_frame(OPCODE_TEXT, text[:10], fin=False)
        raw.send_frame(OPCODE_PING, b"still here")
        raw.send_frame(0x0, text[10:])
        assert (await raw.recv()).payload == b"still here"
        assert (await raw.recv_json())["event"] == "pusher_internal:subscription_succeeded"
        raw.send_frame(OPCODE_TEXT, b"\xff")
        frame = await raw.recv()
        assert (frame.opcode, frame.close_code) == (OPCODE_CLOSE, 1007)
        await raw.close()
        await server.wait_until(lambda: server.connections == [])
        [closed] = server.all_connections
        assert closed.close_code == 1007
        assert closed.received_events("pusher:subscribe")


# -------------------------------------------------------------------- heartbeat


async def test_the_server_pings_a_silent_client_and_closes_it_with_4201() -> None:
    async with PusherTestServer(activity_timeout=0.3, pong_timeout=0.3) as server:
        silent, answering = (
            await RawSocket.connect(server.port),
            await RawSocket.connect(server.port),
        )
        established = json.loads((await silent.recv_json())["data"])
        assert established["activity_timeout"] == 0.3
        await answering.established()
        assert (await silent.recv()).opcode == OPCODE_PING
        ping = await answering.recv()
        assert ping.opcode == OPCODE_PING
        answering.send_frame(OPCODE_PONG, ping.payload)
        frame = await silent.recv()
        assert (frame.opcode, frame.close_code) == (OPCODE_CLOSE, 4201)
        assert len(server.connections) == 1, "the answering client stays"
        for raw in (silent, answering):
            await raw.close()


async def test_pusher_ping_events_are_answered_and_pause_stops_answering() -> None:
    async with PusherTestServer() as server:
        raw = await RawSocket.connect(server.port)
        await raw.established()
        raw.send_json({"event": "pusher:ping", "data": {}})
        assert await raw.recv_json() == {"event": "pusher:pong", "data": "{}"}
        server.pause()
        assert server.paused
        raw.send_json({"event": "pusher:ping", "data": {}})
        raw.send_frame(OPCODE_PING, b"x")
        with pytest.raises(TimeoutError):
            await raw.recv(timeout=0.3)
        connecting = asyncio.create_task(RawSocket.connect(server.port))
        await asyncio.sleep(0.2)
        assert not connecting.done(), "a connection made while paused waits"
        server.resume()
        assert await raw.recv_json() == {"event": "pusher:pong", "data": "{}"}
        assert (await raw.recv()).opcode == OPCODE_PONG
        late = await connecting
        await late.established()
        for socket_ in (raw, late):
            await socket_.close()


# ----------------------------------------------------------------------- faults


async def test_dropped_connections_reconnect_and_resubscribe() -> None:
    recorder = Recorder()
    async with (
        PusherTestServer() as server,
        PusherChannelsClient(**server.client_kwargs(), **recorder.callbacks()) as client,
    ):
        await client.subscribe("orders")
        await wait_until(lambda: len(recorder.succeeded) == 1, what="subscription")
        first = await client.get_socket_id()
        server.drop_connections()
        await wait_until(lambda: len(recorder.succeeded) == 2, what="resubscribed")
        assert await client.get_socket_id() != first
        assert RECONNECTING in recorder.current_states
        assert server.subscribers("orders") == [await client.get_socket_id()]
        closed = [c for c in server.all_connections if not c.open]
        assert [c.socket_id for c in closed] == [first]
        assert closed[0].close_code is None, "dropped without a close frame"


async def test_close_codes_drive_the_client_policy() -> None:
    recorder = Recorder()
    async with (
        PusherTestServer() as server,
        PusherChannelsClient(**server.client_kwargs(), **recorder.callbacks()) as client,
    ):
        first = await client.get_socket_id()
        assert first is not None
        server.close_connections(4200, "go again")
        await wait_until(
            lambda: recorder.current_states.count(CONNECTED) == 2, what="reconnected at once"
        )
        server.close_connections(4001, "you are refused")
        await wait_until(lambda: client.connection_state is ConnectionState.DISCONNECTED)
        assert [code for _, code, _ in recorder.errors if code is not None] == [4200, 4001]
        assert server.connection(first).close_code == 4200


async def test_restart_keeps_the_port_and_starts_from_an_empty_state() -> None:
    recorder = Recorder()
    async with PusherTestServer() as server:
        port = server.port
        async with PusherChannelsClient(**server.client_kwargs(), **recorder.callbacks()) as client:
            await client.subscribe("orders")
            await wait_until(lambda: len(recorder.succeeded) == 1, what="subscription")
            server.stop(graceful=False)
            assert not server.running
            assert server.channels == {}
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)
            await wait_until(lambda: RECONNECTING in recorder.current_states)
            server.start()
            server.start()  # already running: nothing happens
            assert server.port == port
            await wait_until(lambda: len(recorder.succeeded) == 2, timeout=15, what="resubscribed")
            server.trigger("orders", "after", {"ok": True})
            await wait_until(lambda: len(recorder.events) == 1, what="the event")
            server.restart()
            await wait_until(lambda: len(recorder.succeeded) == 3, timeout=15, what="again")
        refusals = [code for _, code, _ in recorder.errors if code and 4000 <= code <= 4099]
        assert refusals == [], "a restart is never a refusal"


async def test_raw_frames_reach_clients_unchecked() -> None:
    recorder = Recorder()
    async with (
        PusherTestServer() as server,
        PusherChannelsClient(**server.client_kwargs(), **recorder.callbacks()) as client,
    ):
        raw = await RawSocket.connect(server.port)
        raw_id = await raw.established()
        server.send_raw("not json", raw_id)
        server.send_raw(b"\x00\x01", binary=True)
        server.send_raw({"event": "custom", "channel": "x", "data": "1"})
        assert (await raw.recv()).payload == b"not json"
        assert (await raw.recv()).opcode == OPCODE_BINARY
        assert (await raw.recv_json())["event"] == "custom"
        custom = {"event": "custom", "channel": "x", "data": "1"}
        assert server.connection(raw_id).sent[-3:] == ("not json", b"\x00\x01", custom)
        await wait_until(lambda: len(recorder.errors) == 1, what="the client's report")
        assert "binary" in recorder.errors[0][0]
        with pytest.raises(KeyError):
            server.send_raw("x", "1.1")
        await raw.close()
        assert client.connection_state is CONNECTED


async def test_user_features_over_the_wire() -> None:
    """Sign-in, server-to-user events, watchlist and termination with this library."""
    user_events: list[PusherEvent] = []
    watch: list[tuple[str, list[str]]] = []
    recorder = Recorder()
    async with PusherTestServer() as server:
        sdk = pusher.Pusher(**server.sdk_kwargs())

        def authenticate(socket_id: str, _options: Any) -> Any:
            return sdk.authenticate_user(socket_id, {"id": "ann", "watchlist": ["bob"]})

        async with PusherChannelsClient(
            **server.client_kwargs(),
            on_user_authenticator=authenticate,
            on_user_event=user_events.append,
            on_watchlist_event=lambda name, ids: watch.append((name, ids)),
            **recorder.callbacks(),
        ) as client:
            assert await client.signin() == {"id": "ann", "watchlist": ["bob"]}
            await wait_until(lambda: watch == [("offline", ["bob"])], what="initial status")
            await server.wait_until(lambda: server.subscribers("#server-to-user-ann") != [])
            await asyncio.to_thread(sdk.send_to_user, "ann", "note", {"n": 1})
            await wait_until(lambda: len(user_events) == 1, what="the user event")
            assert (user_events[0].event_name, user_events[0].json()) == ("note", {"n": 1})
            async with PusherChannelsClient(
                **server.client_kwargs(),
                on_user_authenticator=lambda socket_id, _o: sdk.authenticate_user(
                    socket_id, {"id": "bob"}
                ),
            ) as bob:
                await bob.signin()
                await wait_until(lambda: ("online", ["bob"]) in watch, what="bob online")
            await wait_until(lambda: watch[-1] == ("offline", ["bob"]), what="bob offline")
            await asyncio.to_thread(sdk.terminate_user_connections, "ann")
            await wait_until(lambda: any(code == 4009 for _, code, _ in recorder.errors))
            assert client.connection_state is ConnectionState.DISCONNECTED


async def test_many_clients_at_once() -> None:
    async with PusherTestServer() as server:
        recorders = [Recorder() for _ in range(30)]
        clients = [
            PusherChannelsClient(**server.client_kwargs(), **r.callbacks()) for r in recorders
        ]
        try:
            await asyncio.gather(*(c.connect(timeout=10) for c in clients))
            for index, client in enumerate(clients):
                await client.subscribe(f"crowd-{index % 3}")
            await wait_until(lambda: all(r.succeeded for r in recorders), what="30 subscriptions")
            started = time.monotonic()
            for channel in range(3):
                server.trigger(f"crowd-{channel}", "hello", {"n": channel})
            await wait_until(lambda: all(r.events for r in recorders), what="30 events")
            assert time.monotonic() - started < 5
            assert {len(server.subscribers(f"crowd-{n}")) for n in range(3)} == {10}
        finally:
            await asyncio.gather(*(c.disconnect() for c in clients))
        await server.wait_until(lambda: server.connections == [])
