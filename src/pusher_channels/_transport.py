"""The WebSocket, on picows.

picows was chosen by measurement (``benchmarks/ws_libraries.py``): it receives small
text frames at a fraction of the CPU cost of ``websockets`` and ``aiohttp``, it is
maintained, it speaks TLS, HTTP and SOCKS proxies, and its callback interface feeds
the sans-I/O core directly, with no task or queue per frame.

This module is the only one that knows picows. It turns picows callbacks into the
three calls of :class:`SocketSink`, and reassembles fragmented messages.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Final, Protocol

import picows

__all__ = ["MAX_MESSAGE_SIZE", "SocketSink", "WebSocket", "open_websocket"]

logger = logging.getLogger("pusher_channels.websocket")
# picows reports each connection at INFO; the runtime already logs the lifecycle.
logger.setLevel(logging.WARNING)

MAX_MESSAGE_SIZE: Final = 10 * 1024 * 1024
"""A frame or reassembled message larger than this closes the socket (code 1009)."""

READ_BUFFER_SIZE: Final = 2048
"""picows's initial read buffer per connection (it grows when a message needs it):
small, so that thousands of idle connections stay cheap."""

_TEXT: Final = picows.WSMsgType.TEXT
_CONTINUATION: Final = picows.WSMsgType.CONTINUATION
_CLOSE: Final = picows.WSMsgType.CLOSE
_BINARY: Final = picows.WSMsgType.BINARY


class SocketSink(Protocol):
    """Where a :class:`WebSocket` reports what happens to it."""

    def socket_opened(self, socket: WebSocket) -> None:
        """The WebSocket handshake finished."""

    def text_received(self, socket: WebSocket, payload: bytes | memoryview) -> None:
        """One complete text message arrived (the view is valid during the call)."""

    def binary_received(self, socket: WebSocket, size: int) -> None:
        """A binary message arrived; the Pusher protocol has none."""

    def socket_closed(self, socket: WebSocket, code: int | None, reason: str) -> None:
        """The socket is gone; ``code`` is the server's close code, if it sent one."""


class WebSocket(picows.WSListener):
    """One WebSocket connection, reporting to a :class:`SocketSink`."""

    def __init__(self, sink: SocketSink) -> None:
        super().__init__()
        self._sink = sink
        self._transport: picows.WSTransport | None = None
        self._fragments: bytearray | None = None
        self._fragment_is_text = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._closed_reported = False

    # picows callbacks

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._transport = transport
        self._sink.socket_opened(self)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == _TEXT and frame.fin:
            self._sink.text_received(self, frame.get_payload_as_memoryview())
        elif msg_type == _CLOSE:
            self._close_code = frame.get_close_code().value or None
            try:
                self._close_reason = frame.get_close_reason() or ""
            except UnicodeDecodeError:
                self._close_reason = ""
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif msg_type in (_TEXT, _BINARY):
            self._fragment_is_text = msg_type == _TEXT
            self._fragments = bytearray(frame.get_payload_as_memoryview())
            if not frame.fin:
                return
            self._complete_message()
        elif msg_type == _CONTINUATION:
            self._continue_message(frame)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._report_closed()

    # used by the runtime

    def send(self, payload: bytes) -> None:
        """Send one text frame (dropped if the socket is already closing)."""
        if self._transport is not None:
            self._transport.send(_TEXT, payload)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; ``socket_closed`` follows."""
        if self._transport is None:
            return
        self._transport.send_close(
            picows.WSCloseCode(code), reason.encode("utf-8")[:120] if reason else None
        )
        self._transport.disconnect(graceful=True)

    def pause_reading(self) -> None:
        """Stop reading from the socket (backpressure); frames already read still come."""
        if self._transport is not None:
            self._transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self._transport is not None and not self._transport.is_disconnected:
            self._transport.underlying_transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection at once; nothing more is reported."""
        self._closed_reported = True
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    # internals

    def _continue_message(self, frame: picows.WSFrame) -> None:
        if self._fragments is None:
            self._fail(1002, "continuation frame without a first fragment")
            return
        if len(self._fragments) + frame.payload_size > MAX_MESSAGE_SIZE:
            self._fail(1009, "message too big")
            return
        self._fragments += frame.get_payload_as_memoryview()
        if frame.fin:
            self._complete_message()

    def _complete_message(self) -> None:
        message = self._fragments
        self._fragments = None
        assert message is not None
        if self._fragment_is_text:
            self._sink.text_received(self, bytes(message))
        else:
            self._sink.binary_received(self, len(message))

    def _fail(self, code: int, reason: str) -> None:
        self._fragments = None
        self._close_code = code
        self._close_reason = reason
        if self._transport is not None:
            self._transport.send_close(picows.WSCloseCode(code), reason.encode())
            self._transport.disconnect()

    def _report_closed(self) -> None:
        if self._closed_reported:
            return
        self._closed_reported = True
        self._sink.socket_closed(self, self._close_code, self._close_reason)


async def open_websocket(
    make_socket: Callable[[], WebSocket],
    url: str,
    *,
    ssl_context: ssl.SSLContext | None,
    proxy: str | None,
    handshake_timeout: float,
) -> WebSocket:
    """Open a WebSocket to ``url``; raise ``OSError``/``picows.WSError`` on failure.

    ``make_socket`` creates the :class:`WebSocket` before the handshake, so that its
    owner knows it before the first frame can arrive.
    """
    _, listener = await picows.ws_connect(
        make_socket,
        url,
        ssl_context=ssl_context,
        proxy=proxy,
        websocket_handshake_timeout=handshake_timeout,
        max_frame_size=MAX_MESSAGE_SIZE,
        read_buffer_init_size=READ_BUFFER_SIZE,
        enable_auto_pong=True,
        logger_name=logger,
        # asyncio's own socket and TLS transports: aiofastnet's (picows's default when
        # installed) cost about 5 KiB more per idle connection and no less CPU per
        # event, plain or TLS (docs/performance.md).
        use_aiofastnet=False,
    )
    assert isinstance(listener, WebSocket)
    return listener
