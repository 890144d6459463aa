"""The WebSocket layer's edges, from the lifecycle review's list of smaller findings.

The scripted server stands in for soketi here: soketi never fragments a message
badly or sends a megabyte frame on request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import picows
import pytest

from pusher_channels import (
    PusherChannelsClient,
    PusherConfigError,
    PusherEvent,
    _runtime,
    _transport,
)
from pusher_channels._transport import WebSocket
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import wait_until
from tests.support.scripted_server import ScriptedServer


async def test_a_data_frame_inside_a_fragmented_message_is_a_protocol_error(
    scripted_server: ScriptedServer,
) -> None:
    """RFC 6455 5.4: a new data frame may not interrupt a fragmented message."""
    events: list[PusherEvent] = []
    async with PusherChannelsClient(
        **scripted_server.client_options(), on_event=events.append
    ) as client:
        channel = await client.subscribe("fragments")
        await wait_until(lambda: channel.subscribed)
        first = scripted_server.connections[0]
        assert first.transport is not None
        interloper = json.dumps({"event": "interloper", "channel": "fragments", "data": "{}"})
        first.transport.send(picows.WSMsgType.TEXT, b'{"event": "half', fin=False)
        first.transport.send(picows.WSMsgType.TEXT, interloper.encode())
        await wait_until(lambda: first not in scripted_server.connections, what="the close")
        await wait_until(lambda: channel.subscribed and len(scripted_server.connections) == 1)
    assert [event.event_name for event in events] == []


@pytest.mark.parametrize("character", ["é", "€", "😀"], ids=["2 bytes", "3 bytes", "4 bytes"])
@pytest.mark.parametrize("ascii_prefix", [0, 1, 2, 3])
def test_a_long_close_reason_is_cut_on_a_character_boundary(
    character: str, ascii_prefix: int
) -> None:
    """A close reason is at most 123 bytes and must stay valid UTF-8: the limit falls
    inside a character for some of these reasons, on a boundary for others."""
    sent: list[bytes | None] = []

    class Recorder:
        def send_close(self, code: Any, reason: bytes | None = None) -> None:
            sent.append(reason)

        def disconnect(self, graceful: bool = True) -> None:
            pass

    class Sink:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    text = "a" * ascii_prefix + character * 100
    socket = _transport.WebSocket(Sink())
    socket._transport = Recorder()  # type: ignore[assignment]
    socket.close(1000, text)
    (reason,) = sent
    assert reason is not None
    size = len(character.encode())
    whole_characters = (123 - ascii_prefix) // size
    assert reason.decode("utf-8") == "a" * ascii_prefix + character * whole_characters


async def test_the_debug_frame_log_does_not_copy_whole_frames(
    scripted_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG each frame is shown in part: only that part may be copied."""
    copies: list[int] = []

    def counting_bytes(value: Any = b"") -> bytes:
        result = bytes(value)
        copies.append(len(result))
        return result

    monkeypatch.setattr(_runtime, "bytes", counting_bytes, raising=False)
    caplog.set_level(logging.DEBUG, logger="pusher_channels.frames")
    big = json.dumps({"event": "big", "channel": "frames", "data": "x" * 1_000_000})
    events: list[PusherEvent] = []
    async with PusherChannelsClient(
        **scripted_server.client_options(), on_event=events.append
    ) as client:
        channel = await client.subscribe("frames")
        await wait_until(lambda: channel.subscribed)
        scripted_server.broadcast(big)
        await wait_until(lambda: len(events) == 1)
    assert copies, "the frame log copied nothing: is DEBUG on?"
    assert max(copies) <= 2000


async def test_the_listener_factory_takes_the_upgrade_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """picows first offers ``(request, response)``: no TypeError on every connect."""
    made: list[Any] = []

    async def fake_ws_connect(factory: Any, url: str, **options: Any) -> tuple[Any, Any]:
        listener = factory(object(), object())
        made.append(listener)
        return object(), listener

    monkeypatch.setattr(picows, "ws_connect", fake_ws_connect)

    class Sink:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    transport = await _transport.connect_websocket(
        Sink(), "ws://127.0.0.1:1/app/k", ssl_context=None, proxy=None, handshake_timeout=1
    )
    assert made == [transport]
    assert isinstance(transport, _transport.WebSocket)


async def test_cancelling_an_attempt_closes_its_tcp_connection_at_once() -> None:
    """The TCP connection of an attempt given up mid-handshake is closed, not left."""
    accepted: list[asyncio.StreamReader] = []
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(reader)
        await reader.read()  # never answers the upgrade; returns at the client's close
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Sink:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    attempt = asyncio.create_task(
        _transport.connect_websocket(
            Sink(),
            f"ws://127.0.0.1:{port}/app/k",
            ssl_context=None,
            proxy=None,
            handshake_timeout=30,
        )
    )
    await wait_until(lambda: bool(accepted))
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await asyncio.wait_for(closed.wait(), 2)
    server.close()
    await server.wait_closed()


async def test_cancelling_a_wss_attempt_closes_the_plain_text_check_too() -> None:
    """A silent ``wss`` port is asked in plain text after a second; giving the attempt
    up then closes both TCP connections at once."""
    accepted: list[asyncio.StreamReader] = []
    closed: list[bool] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(reader)
        await reader.read()  # answers nothing; returns at the client's close
        closed.append(True)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Sink:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    attempt = asyncio.create_task(
        _transport.connect_websocket(
            Sink(),
            f"wss://127.0.0.1:{port}/app/k",
            ssl_context=None,
            proxy=None,
            handshake_timeout=30,
        )
    )
    await wait_until(lambda: len(accepted) == 2, what="the TLS attempt and the plain check")
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await wait_until(lambda: len(closed) == 2, timeout=2, what="both connections closed")
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("asked", "at_least", "at_most"),
    [(None, 65_536, 2 * 65_536), (262_144, 262_144, 2 * 262_144)],
    ids=["default", "asked"],
)
async def test_the_receive_buffer_is_set_on_the_socket(
    pusher_server: PusherTestServer, asked: int | None, at_least: int, at_most: int
) -> None:
    """It bounds what one read hands over (and so the event loop's longest stall
    under a flood); Linux doubles the value asked for. The default is 64 KiB."""
    kwargs = pusher_server.client_kwargs()
    if asked is not None:
        kwargs["receive_buffer_bytes"] = asked
    async with PusherChannelsClient(**kwargs) as client:
        runtime = client._runtime
        assert runtime is not None
        assert runtime._parts is not None
        attempt = runtime._parts.sockets.current
        assert attempt is not None
        assert isinstance(attempt.transport, WebSocket)
        raw = attempt.transport._transport
        assert raw is not None
        tcp = raw.underlying_transport.get_extra_info("socket")
        size = tcp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert at_least <= size <= at_most


@pytest.mark.parametrize("bad", [-1, 100, True, "64k"])
def test_a_receive_buffer_out_of_range_is_refused(bad: object) -> None:
    with pytest.raises(PusherConfigError, match="receive_buffer_bytes"):
        PusherChannelsClient(api_key="k", host="127.0.0.1", receive_buffer_bytes=bad)  # type: ignore[arg-type]
