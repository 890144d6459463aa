"""The blaster: a local server speaking just enough of the Pusher protocol to send fast.

Run by ``benchmarks.run`` as its own process (so its CPU time is never charged to a
client), on 127.0.0.1, and stopped by its PID::

    .venv/bin/python -m benchmarks.blaster --max-events 200000 [--cpu 1]

It prints its port on the first line of stdout. For every WebSocket on
``/app/<key>`` (any query string: pysher's ``protocol=6`` is accepted like any
other; nothing is validated) it

1. sends ``pusher:connection_established``;
2. answers every ``pusher:subscribe`` with ``pusher_internal:subscription_succeeded``
   for that channel, and every ``pusher:ping`` with ``pusher:pong``;
3. after the first subscription, if the key is ``bench-N`` with N > 0, writes N
   pre-built frames ``{"event":"ev","channel":"bench","data":"{\\"seq\\":n,...}"}``
   (``data`` is a JSON string of about 100 bytes, as Pusher sends it) as fast as the
   socket accepts them (respecting the transport's flow control), then closes with
   1000. With N = 0 (the scale test) it sends nothing more and keeps the socket open.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys

import orjson
import picows

from ._common import EVENT_NAME, KEY_PREFIX, PAYLOAD_FILLER, THROUGHPUT_CHANNEL, raise_fd_limit

FRAMES_PER_WRITE = 256  # about 40 KB per transport.write()
CLOSE_GRACE_S = 5.0
_KEY = re.compile(rb"/app/([^/?]+)")
_ESTABLISHED = orjson.dumps(
    {
        "event": "pusher:connection_established",
        "data": orjson.dumps({"socket_id": "1234.5678", "activity_timeout": 120}).decode(),
    }
)
_PONG = orjson.dumps({"event": "pusher:pong", "data": {}})


def make_event(seq: int) -> bytes:
    """One event frame's payload, double-encoded as Pusher servers send it."""
    inner = orjson.dumps({"seq": seq, "payload": "x" * PAYLOAD_FILLER}).decode()
    return orjson.dumps({"event": EVENT_NAME, "channel": THROUGHPUT_CHANNEL, "data": inner})


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
    """N pre-built wire frames in one buffer, sliced without copying."""

    def __init__(self, count: int) -> None:
        frames = [server_text_frame(make_event(i)) for i in range(count)]
        self.offsets = [0]
        for frame in frames:
            self.offsets.append(self.offsets[-1] + len(frame))
        self.blob = memoryview(b"".join(frames))
        self.count = count


class BlasterListener(picows.WSListener):
    """One client connection."""

    def __init__(self, frames: Frames, events: int) -> None:
        super().__init__()
        self._frames = frames
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
            data = message.get("data")
            if isinstance(data, str):
                data = orjson.loads(data)
            channel = data.get("channel", "") if isinstance(data, dict) else ""
            reply = {
                "event": "pusher_internal:subscription_succeeded",
                "channel": channel,
                "data": "{}",
            }
            transport.send(picows.WSMsgType.TEXT, orjson.dumps(reply))
            if self._events > 0 and not self._blasting:
                self._blasting = True
                loop = asyncio.get_running_loop()
                self._task = loop.create_task(self._blast(transport))
        elif event == "pusher:ping":
            transport.send(picows.WSMsgType.TEXT, _PONG)

    async def _blast(self, transport: picows.WSTransport) -> None:
        raw = transport.underlying_transport
        blob, offsets, count = self._frames.blob, self._frames.offsets, self._events
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


async def serve(max_events: int) -> None:
    frames = Frames(max_events)

    def factory(request: picows.WSUpgradeRequest) -> picows.WSListener | None:
        match = _KEY.match(request.path)
        key = match.group(1).decode() if match else ""
        events = 0
        if key.startswith(KEY_PREFIX) and key[len(KEY_PREFIX) :].isdigit():
            events = min(int(key[len(KEY_PREFIX) :]), max_events)
        return BlasterListener(frames, events)

    server = await picows.ws_create_server(
        factory, "127.0.0.1", 0, websocket_handshake_timeout=60, logger_name="blaster"
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
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    raise_fd_limit(65536)
    asyncio.run(serve(args.max_events))


if __name__ == "__main__":
    main()
