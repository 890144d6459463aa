"""The blaster: a local server speaking just enough of the Pusher protocol to send fast.

Run by ``benchmarks.run`` as its own process (so its CPU time is never charged to a
client), on 127.0.0.1, and stopped by its PID::

    .venv/bin/python -m benchmarks.blaster --max-events 200000 [--cpu 1] \\
        [--prebuild bench private-encrypted-bench]

It prints its port on the first line of stdout. For every WebSocket on
``/app/<key>`` (any query string: pysher's ``protocol=6`` is accepted like any
other; no signature is checked) it

1. sends ``pusher:connection_established``;
2. answers every ``pusher:subscribe`` with ``pusher_internal:subscription_succeeded``
   for that channel, and every ``pusher:ping`` with ``pusher:pong``. A presence
   channel whose name ends in a number M (``presence-room-10000``) is answered with
   a room of M members, ``user-0`` to ``user-<M-1>``, each with a ``user_info``;
3. after the first subscription to a channel that is not a presence channel, if the
   key is ``bench-N`` with N > 0, writes N pre-built frames
   ``{"event":"ev","channel":<channel>,"data":"{\\"seq\\":n,...}"}`` (``data`` is a
   JSON string of about 100 bytes, as Pusher sends it) as fast as the socket accepts
   them (respecting the transport's flow control), then closes with 1000. On a
   ``private-encrypted-`` channel the data is encrypted as Pusher's server SDKs do
   (NaCl secretbox under ``sha256(channel_name + master_key)``, with
   :data:`~._common.BENCH_MASTER_KEY_BASE64`), so the client decrypts every event.
   With N = 0 it sends nothing more and keeps the socket open (the scale and
   channels workloads);
4. on a client event (``client-*``) on a presence channel, with key ``bench-J``,
   sends J member changes: ``member_removed`` then ``member_added`` of
   ``user-<k mod M>`` for k = 0 .. J-1 (the room keeps its M members).

Frames are built once per channel name and kept (``--prebuild`` builds some at
start, so that the first client's wall time does not include the building).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import re
import sys

import orjson
import picows
from nacl.secret import SecretBox

from ._common import (
    BENCH_MASTER_KEY_BASE64,
    EVENT_NAME,
    KEY_PREFIX,
    PAYLOAD_FILLER,
    THROUGHPUT_CHANNEL,
    raise_fd_limit,
)

FRAMES_PER_WRITE = 256  # about 40 KB per transport.write()
CLOSE_GRACE_S = 5.0
_KEY = re.compile(rb"/app/([^/?]+)")
_ROOM_SIZE = re.compile(r"-(\d+)$")
_ESTABLISHED = orjson.dumps(
    {
        "event": "pusher:connection_established",
        "data": orjson.dumps({"socket_id": "1234.5678", "activity_timeout": 120}).decode(),
    }
)
_PONG = orjson.dumps({"event": "pusher:pong", "data": {}})
_MASTER_KEY = base64.b64decode(BENCH_MASTER_KEY_BASE64)
MAX_ROOM = 1_000_000
MAX_KEY_NUMBER = 10_000_000


def event_data(seq: int) -> str:
    """The ``data`` of event ``seq``: a JSON string of about 100 bytes."""
    return orjson.dumps({"seq": seq, "payload": "x" * PAYLOAD_FILLER}).decode()


def make_event(seq: int, channel: str = THROUGHPUT_CHANNEL) -> bytes:
    """One event frame's payload, double-encoded as Pusher servers send it."""
    return orjson.dumps({"event": EVENT_NAME, "channel": channel, "data": event_data(seq)})


def encrypted_event_maker(channel: str) -> SecretBox:
    """The secret box of an encrypted channel: key ``sha256(channel + master key)``."""
    return SecretBox(hashlib.sha256(channel.encode() + _MASTER_KEY).digest())


def make_encrypted_event(seq: int, channel: str, box: SecretBox) -> bytes:
    """One encrypted event: ``data`` is ``{"nonce": b64, "ciphertext": b64}`` as text."""
    nonce = os.urandom(SecretBox.NONCE_SIZE)
    ciphertext = box.encrypt(event_data(seq).encode(), nonce).ciphertext
    data = {
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    message = {"event": EVENT_NAME, "channel": channel, "data": orjson.dumps(data).decode()}
    return orjson.dumps(message)


def server_text_frame(payload: bytes) -> bytes:
    """A complete server-to-client WebSocket TEXT frame (FIN, unmasked)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class Frames:
    """N pre-built wire frames of one channel in one buffer, sliced without copying."""

    def __init__(self, count: int, channel: str = THROUGHPUT_CHANNEL) -> None:
        if channel.startswith("private-encrypted-"):
            box = encrypted_event_maker(channel)
            payloads = [make_encrypted_event(i, channel, box) for i in range(count)]
        else:
            payloads = [make_event(i, channel) for i in range(count)]
        frames = [server_text_frame(payload) for payload in payloads]
        self.offsets = [0]
        for frame in frames:
            self.offsets.append(self.offsets[-1] + len(frame))
        self.blob = memoryview(b"".join(frames))
        self.count = count


def room_size(channel: str) -> int:
    """The members of a presence room, from the number its name ends in (else 0)."""
    match = _ROOM_SIZE.search(channel)
    return min(int(match.group(1)), MAX_ROOM) if match else 0


def user_info(index: int) -> dict[str, str]:
    return {"name": f"User {index}", "avatar": f"https://example.com/u/{index}.png"}


def presence_data(members: int) -> str:
    """The ``data`` of a presence subscription with ``members`` members."""
    ids = [f"user-{i}" for i in range(members)]
    presence = {"ids": ids, "hash": {f"user-{i}": user_info(i) for i in range(members)}}
    return orjson.dumps({"presence": {**presence, "count": members}}).decode()


def member_changes(channel: str, members: int, changes: int) -> bytes:
    """``changes`` pairs of member_removed and member_added frames, on the wire."""
    frames = []
    for k in range(changes):
        index = k % max(members, 1)
        user_id = f"user-{index}"
        removed = {"user_id": user_id}
        added = {"user_id": user_id, "user_info": user_info(index)}
        for event, data in (("member_removed", removed), ("member_added", added)):
            message = {
                "event": f"pusher_internal:{event}",
                "channel": channel,
                "data": orjson.dumps(data).decode(),
            }
            frames.append(server_text_frame(orjson.dumps(message)))
    return b"".join(frames)


class Server:
    """What every connection shares: the frames built so far, by channel."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self._frames: dict[str, Frames] = {}
        self._presence: dict[int, str] = {}

    def frames(self, channel: str) -> Frames:
        frames = self._frames.get(channel)
        if frames is None:
            frames = self._frames[channel] = Frames(self.max_events, channel)
        return frames

    def presence(self, members: int) -> str:
        data = self._presence.get(members)
        if data is None:
            data = self._presence[members] = presence_data(members)
        return data


class BlasterListener(picows.WSListener):
    """One client connection."""

    def __init__(self, server: Server, events: int) -> None:
        super().__init__()
        self._server = server
        self._events = events
        self._blasting = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        transport.send(picows.WSMsgType.TEXT, _ESTABLISHED)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type != picows.WSMsgType.TEXT:
            return
        try:
            message = orjson.loads(frame.get_payload_as_memoryview())
        except orjson.JSONDecodeError:
            return
        if type(message) is not dict:
            return
        event = message.get("event")
        if event == "pusher:subscribe":
            self._subscribe(transport, message.get("data"))
        elif event == "pusher:ping":
            transport.send(picows.WSMsgType.TEXT, _PONG)
        elif isinstance(event, str) and event.startswith("client-"):
            channel = message.get("channel")
            if isinstance(channel, str) and channel.startswith("presence-"):
                members = room_size(channel)
                transport.underlying_transport.write(member_changes(channel, members, self._events))

    def _subscribe(self, transport: picows.WSTransport, data: object) -> None:
        if isinstance(data, str):
            data = orjson.loads(data)
        channel = data.get("channel", "") if isinstance(data, dict) else ""
        presence = channel.startswith("presence-")
        reply = {
            "event": "pusher_internal:subscription_succeeded",
            "channel": channel,
            "data": self._server.presence(room_size(channel)) if presence else "{}",
        }
        transport.send(picows.WSMsgType.TEXT, orjson.dumps(reply))
        if self._events > 0 and not self._blasting and not presence:
            self._blasting = True
            frames = self._server.frames(channel)
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._blast(transport, frames))

    async def _blast(self, transport: picows.WSTransport, frames: Frames) -> None:
        raw = transport.underlying_transport
        blob, offsets, count = frames.blob, frames.offsets, min(self._events, frames.count)
        for start in range(0, count, FRAMES_PER_WRITE):
            if raw.is_closing():
                return
            if not self._writable.is_set():
                await self._writable.wait()
            end = min(start + FRAMES_PER_WRITE, count)
            raw.write(blob[offsets[start] : offsets[end]])
        transport.send_close(picows.WSCloseCode.OK)
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.disconnect)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()


async def serve(max_events: int, prebuild: list[str]) -> None:
    shared = Server(max_events)
    for channel in prebuild:
        shared.frames(channel)

    def factory(request: picows.WSUpgradeRequest) -> picows.WSListener | None:
        match = _KEY.match(request.path)
        key = match.group(1).decode() if match else ""
        events = 0
        if key.startswith(KEY_PREFIX) and key[len(KEY_PREFIX) :].isdigit():
            events = min(int(key[len(KEY_PREFIX) :]), MAX_KEY_NUMBER)
        return BlasterListener(shared, events)

    server = await picows.ws_create_server(
        factory,
        "127.0.0.1",
        0,
        websocket_handshake_timeout=60,
        logger_name="blaster",
        max_frame_size=64 * 1024 * 1024,
    )
    port: int = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()  # until the parent stops this process by its PID


def main() -> None:
    parser = argparse.ArgumentParser(description="Pusher-protocol blaster (127.0.0.1)")
    parser.add_argument("--max-events", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument(
        "--prebuild", nargs="*", default=[], help="channels whose event frames to build at start"
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    raise_fd_limit(65536)
    asyncio.run(serve(args.max_events, args.prebuild))


if __name__ == "__main__":
    main()
