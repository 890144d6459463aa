"""The server side of WebSocket framing (RFC 6455), sans I/O.

:class:`FrameReader` is fed the bytes a client sent and returns whole messages and
control frames; a protocol violation raises :class:`FrameError` with the close code
to answer with. ``encode_*`` build the server's (unmasked) frames. No extension is
negotiated, so the RSV bits must be zero.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "KEY_BYTES",
    "Close",
    "FrameError",
    "FrameReader",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "accept_for",
    "accept_key",
    "encode_close",
    "encode_frame",
]

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY_BYTES: Final = 16
"""The length of the nonce a ``Sec-WebSocket-Key`` carries in base64."""
_MAX_CONTROL_PAYLOAD: Final = 125


class Opcode(enum.IntEnum):
    """Frame opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class FrameError(Exception):
    """The client broke the framing rules: close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A whole data message: ``text`` for a TEXT message, ``data`` for a BINARY one."""

    text: str | None
    data: bytes | None


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping frame; answer with a pong carrying ``payload``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong frame."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame: ``code`` is ``None`` when the frame carried no code."""

    code: int | None
    reason: str


Received = Message | Ping | Pong | Close


def accept_key(client_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(client_key.encode("ascii") + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def accept_for(client_key: bytes) -> bytes | None:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` header as it
    arrived, or ``None`` when it is not 16 bytes in base64 (RFC 6455, 4.2.1): the
    handshake is then refused."""
    try:
        nonce = base64.b64decode(client_key, validate=True)
    except binascii.Error:  # not base64, non-ASCII bytes included
        return None
    if len(nonce) != KEY_BYTES:
        return None
    return accept_key(client_key.decode("ascii")).encode("ascii")


def encode_frame(opcode: Opcode, payload: bytes = b"") -> bytes:
    """One final, unmasked frame (servers never mask)."""
    length = len(payload)
    first = 0x80 | int(opcode)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def encode_close(code: int | None, reason: str = "") -> bytes:
    """A close frame with ``code`` and ``reason`` (cut to fit a control frame)."""
    if code is None:
        return encode_frame(Opcode.CLOSE)
    encoded = reason.encode("utf-8")[: _MAX_CONTROL_PAYLOAD - 2]
    # A cut in the middle of a character would make the reason invalid UTF-8.
    encoded = encoded.decode("utf-8", "ignore").encode("utf-8")
    return encode_frame(Opcode.CLOSE, struct.pack("!H", code) + encoded)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    length = len(payload)
    repeated = (mask * (length // 4 + 1))[:length]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(length, "big")


def _valid_close_code(code: int) -> bool:
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code <= 4999


class FrameReader:
    """Reassembles the client's frames into messages, checking the rules as it goes."""

    def __init__(self, max_message_bytes: int) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._fragment_size = 0

    def feed(self, data: bytes) -> list[Received]:
        """Add bytes from the socket; return what they completed.

        Raises:
            FrameError: a protocol violation (the code to close with is on it).
        """
        self._buffer += data
        received: list[Received] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return received
            item = self._handle(*frame)
            if item is not None:
                received.append(item)

    def _next_frame(self) -> tuple[bool, Opcode, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if first & 0x70:
            raise FrameError(1002, "reserved bits set without an extension")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise FrameError(1002, f"unknown opcode {first & 0x0F:#x}") from None
        if not second & 0x80:
            raise FrameError(1002, "client frames must be masked")
        length = second & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack_from("!H", buffer, 2)
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buffer, 2)
            offset = 10
        if length > self._max:
            raise FrameError(1009, f"frame of {length} bytes is too big")
        if len(buffer) < offset + 4 + length:
            return None
        mask = bytes(buffer[offset : offset + 4])
        start = offset + 4
        payload = _unmask(bytes(buffer[start : start + length]), mask)
        del buffer[: start + length]
        return bool(first & 0x80), opcode, payload

    def _handle(self, fin: bool, opcode: Opcode, payload: bytes) -> Received | None:
        if opcode >= Opcode.CLOSE:
            return self._control(fin, opcode, payload)
        if opcode is Opcode.CONTINUATION:
            if self._fragment_opcode is None:
                raise FrameError(1002, "continuation frame without a message to continue")
        elif self._fragment_opcode is not None:
            raise FrameError(1002, "new message before the previous one ended")
        else:
            self._fragment_opcode = opcode
        self._fragment_size += len(payload)
        if self._fragment_size > self._max:
            raise FrameError(1009, f"message of more than {self._max} bytes")
        self._fragments.append(payload)
        if not fin:
            return None
        whole = b"".join(self._fragments)
        kind = self._fragment_opcode
        self._fragments, self._fragment_opcode, self._fragment_size = [], None, 0
        if kind is Opcode.BINARY:
            return Message(None, whole)
        try:
            return Message(whole.decode("utf-8"), None)
        except UnicodeDecodeError:
            raise FrameError(1007, "text message is not valid UTF-8") from None

    @staticmethod
    def _control(fin: bool, opcode: Opcode, payload: bytes) -> Received:
        if not fin or len(payload) > _MAX_CONTROL_PAYLOAD:
            raise FrameError(1002, "control frames must be whole and at most 125 bytes")
        if opcode is Opcode.PING:
            return Ping(payload)
        if opcode is Opcode.PONG:
            return Pong(payload)
        if not payload:
            return Close(None, "")
        if len(payload) == 1:
            raise FrameError(1002, "close frame with a one-byte payload")
        (code,) = struct.unpack_from("!H", payload)
        if not _valid_close_code(code):
            raise FrameError(1002, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(1007, "close reason is not valid UTF-8") from None
        return Close(code, reason)
