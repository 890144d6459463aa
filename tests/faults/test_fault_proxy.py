"""The fault proxy itself, against a plain TCP echo server: each fault does what it says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.fault_proxy import FaultProxy, _cut_offset

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_proxy() -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of an echo server, both on 127.0.0.1."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = FaultProxy(server.sockets[0].getsockname()[1], max_connections=4)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


async def connect(proxy: FaultProxy) -> Stream:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def roundtrip(stream: Stream, data: bytes, timeout: float = 2.0) -> bytes:
    reader, writer = stream
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout)


async def read_until_closed(reader: asyncio.StreamReader) -> tuple[bytes, OSError | None]:
    """Everything read until the end, and the error that ended it (``None``: EOF)."""
    received = b""
    for _ in range(100):
        try:
            chunk = await asyncio.wait_for(reader.read(100), 2)
        except OSError as exc:
            return received, exc
        if not chunk:
            break
        received += chunk
    return received, None


async def test_forwards_both_ways(echo_proxy: FaultProxy) -> None:
    stream = await connect(echo_proxy)
    assert await roundtrip(stream, b"hello") == b"hello"
    assert await roundtrip(stream, b"x" * 200_000) == b"x" * 200_000
    assert echo_proxy.active_connections == 1
    stream[1].close()


async def test_cut_closes_both_sides(echo_proxy: FaultProxy) -> None:
    stream = await connect(echo_proxy)
    await roundtrip(stream, b"ping")
    assert echo_proxy.cut() == 1
    assert await asyncio.wait_for(stream[0].read(), 2) == b""
    assert echo_proxy.stats.cut == 1
    stream[1].close()


@pytest.mark.parametrize("drop", [False, True])
async def test_blackhole_holds_or_drops(echo_proxy: FaultProxy, drop: bool) -> None:
    stream = await connect(echo_proxy)
    await roundtrip(stream, b"before")
    echo_proxy.blackhole(True, drop=drop)
    stream[1].write(b"during")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream[0].readexactly(6), 0.3)
    echo_proxy.blackhole(False)
    if drop:
        assert echo_proxy.stats.dropped_bytes == 6
        assert await roundtrip(stream, b"after") == b"after"
    else:
        assert await asyncio.wait_for(stream[0].readexactly(6), 2) == b"during"
    stream[1].close()


async def test_latency_delays_each_way_and_keeps_order(echo_proxy: FaultProxy) -> None:
    stream = await connect(echo_proxy)
    await roundtrip(stream, b"warm")
    echo_proxy.latency = 0.1
    started = time.monotonic()
    for i in range(5):
        stream[1].write(f"{i}".encode())
        await stream[1].drain()
        await asyncio.sleep(0.01)
    got = await asyncio.wait_for(stream[0].readexactly(5), 2)
    assert got == b"01234"
    assert time.monotonic() - started >= 0.2  # 0.1 s each way
    with pytest.raises(ValueError, match="latency"):
        echo_proxy.latency = -1
    stream[1].close()


def test_cut_offset_falls_inside_the_first_frame() -> None:
    short = bytes([0x81, 10]) + b"0123456789" + bytes([0x81, 1]) + b"x"
    assert _cut_offset(short) == 2 + 5
    medium = bytes([0x81, 126]) + (300).to_bytes(2, "big") + b"y" * 300
    assert _cut_offset(medium) == 4 + 150
    split = bytes([0x81, 126]) + (3000).to_bytes(2, "big") + b"z" * 100
    assert _cut_offset(split) == len(split) - 1
    assert _cut_offset(bytes([0x8A, 0])) == 1
    assert _cut_offset(b"\x81") is None


async def test_reset_mid_frame_sends_half_then_rst(echo_proxy: FaultProxy) -> None:
    stream = await connect(echo_proxy)
    # The echo server has no HTTP handshake: pretend one went by.
    await roundtrip(stream, b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    assert echo_proxy.reset_mid_frame() == 1
    frame = bytes([0x81, 20]) + b"a" * 20
    stream[1].write(frame)
    received, error = await read_until_closed(stream[0])
    assert received == frame[:12]
    assert isinstance(error, ConnectionResetError)
    assert echo_proxy.stats.reset == 1
    stream[1].close()


async def test_connections_are_bounded_and_stop_closes_them(echo_proxy: FaultProxy) -> None:
    streams = [await connect(echo_proxy) for _ in range(4)]
    for stream in streams:
        await roundtrip(stream, b"ok")
    extra = await connect(echo_proxy)
    assert await asyncio.wait_for(extra[0].read(), 2) == b""  # closed at once
    assert echo_proxy.stats.refused == 1
    await echo_proxy.stop()
    for reader, writer in [*streams, extra]:
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 2)
        writer.close()
    assert echo_proxy.active_connections == 0
