"""A bare WebSocket client over asyncio streams, for frame-level tests of a server.

It answers nothing by itself (no automatic pong, no close reply), so a test sees
exactly what the server sends and decides what to send back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class RawFrame:
    """One frame from the server."""

    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The code of a close frame (None without one)."""
        assert self.opcode == OPCODE_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def json(self) -> Any:
        """The text payload, decoded."""
        return json.loads(self.payload)


class RawSocket:
    """One WebSocket connection, driven frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/app/test-key?protocol=7",
        *,
        expect_upgrade: bool = True,
        key: bytes | None = None,
    ) -> RawSocket:
        """Connect and shake hands; the response status is kept in :attr:`status`.

        ``key`` is the ``Sec-WebSocket-Key`` header's value, sent as it is (by
        default 16 random bytes in base64, as a client sends).
        """
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        if key is None:
            key = base64.b64encode(os.urandom(16))
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: "
            ).encode()
            + key
            + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        socket = cls(reader, writer)
        socket.status = int(head.split(b" ", 2)[1])
        if expect_upgrade:
            assert socket.status == 101, head
        return socket

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Send one masked frame."""
        mask = os.urandom(4)
        length = len(payload)
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    def send_json(self, message: dict[str, Any]) -> None:
        """Send a text frame of JSON."""
        self.send_frame(OPCODE_TEXT, json.dumps(message).encode())

    async def recv(self, timeout: float = 5.0) -> RawFrame:
        """The next frame from the server."""
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return RawFrame(head[0] & 0x0F, payload)

    async def recv_json(self, timeout: float = 5.0) -> Any:
        """The next text frame, decoded (pings in between are skipped, unanswered)."""
        while True:
            frame = await self.recv(timeout)
            if frame.opcode == OPCODE_TEXT:
                return frame.json()
            assert frame.opcode == OPCODE_PING, frame

    async def established(self) -> str:
        """Read ``pusher:connection_established``; return the socket id."""
        frame = await self.recv_json()
        assert frame["event"] == "pusher:connection_established", frame
        socket_id: str = json.loads(frame["data"])["socket_id"]
        return socket_id

    async def close(self) -> None:
        """Close the TCP connection (no close handshake)."""
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
