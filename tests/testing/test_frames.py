"""The server's WebSocket framing: masked, maybe fragmented client frames in; server frames out."""

from __future__ import annotations

import struct

import pytest

from pusher_channels.testing.frames import (
    Close,
    FrameError,
    FrameReader,
    Message,
    Opcode,
    Ping,
    Pong,
    accept_key,
    encode_close,
    encode_frame,
)

MASK = b"\x37\xfa\x21\x3d"


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    """A frame as a client sends it (masked)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return header + MASK + body


def test_accept_key_matches_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_messages_of_every_length_form_fed_in_pieces(size: int) -> None:
    text = ("é" * size)[:size]
    data = client_frame(Opcode.TEXT, text.encode("utf-8"))
    reader = FrameReader(max_message_bytes=1 << 20)
    received = []
    for start in range(0, len(data), 4096):
        received += reader.feed(data[start : start + 4096])
    assert received == [Message(text, None)]


def test_a_message_split_byte_by_byte() -> None:
    reader = FrameReader(1024)
    data = client_frame(Opcode.TEXT, b'{"event":"pusher:ping"}') * 2
    received = []
    for byte in data:
        received += reader.feed(bytes([byte]))
    assert received == [Message('{"event":"pusher:ping"}', None)] * 2


def test_fragments_are_joined_with_control_frames_in_between() -> None:
    reader = FrameReader(1024)
    data = (
        client_frame(Opcode.TEXT, b"hel", fin=False)
        + client_frame(Opcode.PING, b"p")
        + client_frame(Opcode.CONTINUATION, b"lo", fin=False)
        + client_frame(Opcode.CONTINUATION, b" world")
        + client_frame(Opcode.BINARY, b"\x00\x01")
        + client_frame(Opcode.PONG, b"")
    )
    assert reader.feed(data) == [
        Ping(b"p"),
        Message("hello world", None),
        Message(None, b"\x00\x01"),
        Pong(b""),
    ]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(Opcode.TEXT, b"x", masked=False), 1002),
        (bytes([0xC1]) + client_frame(Opcode.TEXT, b"x")[1:], 1002),
        (client_frame(0x3, b"x"), 1002),
        (client_frame(Opcode.CONTINUATION, b"x"), 1002),
        (client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"), 1002),
        (client_frame(Opcode.TEXT, b"\xff\xfe"), 1007),
        (client_frame(Opcode.PING, b"x" * 126), 1002),
        (client_frame(Opcode.PING, b"x", fin=False), 1002),
        (client_frame(Opcode.CLOSE, b"\x03"), 1002),
        (client_frame(Opcode.CLOSE, struct.pack("!H", 1005)), 1002),
        (client_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
        (client_frame(Opcode.TEXT, b"x" * 2000), 1009),
        (
            client_frame(Opcode.TEXT, b"x" * 600, fin=False)
            + client_frame(Opcode.CONTINUATION, b"x" * 600),
            1009,
        ),
    ],
)
def test_protocol_violations_give_the_close_code_to_answer_with(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameReader(max_message_bytes=1024).feed(data)
    assert raised.value.code == code


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40)
    with pytest.raises(FrameError) as raised:
        FrameReader(1024).feed(header)
    assert raised.value.code == 1009


def test_close_frames_with_and_without_a_code() -> None:
    reader = FrameReader(1024)
    data = client_frame(Opcode.CLOSE, b"") + client_frame(
        Opcode.CLOSE, struct.pack("!H", 4000) + "bye ✓".encode()
    )
    assert reader.feed(data) == [Close(None, ""), Close(4000, "bye ✓")]


@pytest.mark.parametrize(
    ("size", "header_size"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)]
)
def test_server_frames_are_unmasked_with_the_shortest_length(size: int, header_size: int) -> None:
    frame = encode_frame(Opcode.TEXT, b"x" * size)
    assert len(frame) == header_size + size
    assert frame[0] == 0x81
    assert not frame[1] & 0x80


def test_close_reasons_are_cut_without_breaking_a_character() -> None:
    frame = encode_close(4200, "é" * 100)
    assert frame[0] == 0x88
    payload = frame[2:]
    assert len(payload) <= 125
    assert struct.unpack("!H", payload[:2]) == (4200,)
    payload[2:].decode("utf-8")
    assert encode_close(None) == b"\x88\x00"
