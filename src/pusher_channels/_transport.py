"""The WebSocket, on picows.

picows was chosen by measurement (``benchmarks/ws_libraries.py``): it receives small
text frames at a fraction of the CPU cost of ``websockets`` and ``aiohttp``, it is
maintained, it speaks TLS, HTTP and SOCKS proxies, and its callback interface feeds
the sans-I/O core directly, with no task or queue per frame.

This module is the only one that knows picows. :func:`connect_websocket` opens one
socket for one connection attempt and reports what happens to it to that attempt's
:class:`SocketSink`; the runtime reaches it through this module's attribute, so a
simulation can put a connector of its own in its place.

The connector's contract: ``sink.opened(transport)`` once the upgrade is done, then
``sink.text_received`` per message and ``sink.closed`` once at the end (never after
:meth:`Transport.abort`). It raises if the socket cannot be opened. When its task is
cancelled it closes what it opened (the TCP connection too, even in the middle of a
handshake) and never reports to the sink again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Coroutine
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import picows

__all__ = [
    "MAX_MESSAGE_SIZE",
    "NotTLSError",
    "SocketSink",
    "Transport",
    "WebSocket",
    "connect_websocket",
]

logger = logging.getLogger("pusher_channels.websocket")
# picows reports each connection at INFO; the runtime already logs the lifecycle.
logger.setLevel(logging.WARNING)
_picows_logger: Final = logging.LoggerAdapter(logger, {})
"""What picows logs to. Given a ``logging.Logger``, picows makes a child logger for
each connection (named after its socket: a logger, its lists and dictionaries per
idle connection); through an adapter every connection shares this one."""

MAX_MESSAGE_SIZE: Final = 10 * 1024 * 1024
"""A frame or reassembled message larger than this closes the socket (code 1009)."""

MAX_CLOSE_REASON_BYTES: Final = 123
"""A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455, 5.5)."""

_AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]

READ_BUFFER_SIZE: Final = 2048
"""picows's initial read buffer per connection (it grows when a message needs it):
small, so that thousands of idle connections stay cheap."""

_TEXT: Final = picows.WSMsgType.TEXT
_CONTINUATION: Final = picows.WSMsgType.CONTINUATION
_CLOSE: Final = picows.WSMsgType.CLOSE
_BINARY: Final = picows.WSMsgType.BINARY


class Transport(Protocol):
    """What the runtime asks of an open socket."""

    def send(self, payload: bytes) -> None:
        """Send one text frame."""

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the sink's ``closed`` follows."""

    def abort(self) -> None:
        """Drop the connection at once; nothing more is reported."""

    def pause_reading(self) -> None:
        """Stop reading (backpressure)."""

    def resume_reading(self) -> None:
        """Read again."""


class SocketSink(Protocol):
    """Where one connection attempt's socket reports what happens to it."""

    def opened(self, transport: Transport) -> None:
        """The WebSocket handshake finished."""

    def text_received(self, payload: bytes | memoryview) -> None:
        """One complete text message arrived (a view is valid during the call)."""

    def binary_received(self, size: int) -> None:
        """A binary message arrived; the Pusher protocol has none."""

    def closed(self, code: int | None, reason: str) -> None:
        """The socket is gone; ``code`` is the server's close code, if it sent one."""


def truncate_utf8(text: str, limit: int) -> bytes:
    """``text`` as UTF-8, cut to at most ``limit`` bytes without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return encoded
    return encoded[:limit].decode("utf-8", errors="ignore").encode("utf-8")


class WebSocket(picows.WSListener):
    """One WebSocket connection, reporting to a :class:`SocketSink`."""

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_closed_reported",
        "_fragment_is_text",
        "_fragments",
        "_sink",
        "_transport",
    )

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
        self._sink.opened(self)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == _TEXT and frame.fin and self._fragments is None:
            self._sink.text_received(frame.get_payload_as_memoryview())
        elif msg_type == _CLOSE:
            self._close_code = frame.get_close_code().value or None
            try:
                self._close_reason = frame.get_close_reason() or ""
            except UnicodeDecodeError:
                self._close_reason = ""
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif msg_type in (_TEXT, _BINARY):
            if self._fragments is not None:
                # RFC 6455 5.4: a new data frame may not interrupt a fragmented message.
                self._fail(1002, "new data frame in the middle of a fragmented message")
                return
            self._fragment_is_text = msg_type == _TEXT
            self._fragments = bytearray(frame.get_payload_as_memoryview())
            if not frame.fin:
                return
            self._complete_message()
        elif msg_type == _CONTINUATION:
            self._continue_message(frame)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._report_closed()

    # Transport

    def send(self, payload: bytes) -> None:
        """Send one text frame (dropped if the socket is already closing)."""
        if self._transport is not None:
            self._transport.send(_TEXT, payload)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; ``closed`` follows."""
        if self._transport is None:
            return
        self._transport.send_close(
            picows.WSCloseCode(code),
            truncate_utf8(reason, MAX_CLOSE_REASON_BYTES) if reason else None,
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
            self._sink.text_received(bytes(message))
        else:
            self._sink.binary_received(len(message))

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
        self._sink.closed(self._close_code, self._close_reason)


class NotTLSError(ConnectionError):
    """A ``wss`` connection found a server that does not speak TLS on its port.

    ``certain`` when the port was seen to accept a plain ``ws`` WebSocket: trying TLS
    again cannot work. Otherwise the TLS handshake failed in a way that suggests it.
    """

    def __init__(self, message: str, *, certain: bool) -> None:
        super().__init__(message)
        self.certain = certain


def connect_websocket(
    sink: SocketSink,
    url: str,
    *,
    ssl_context: ssl.SSLContext | None,
    proxy: str | None,
    handshake_timeout: float,
    max_redirects: int = 0,
    receive_buffer: int | None = None,
) -> Coroutine[Any, Any, Transport]:
    """Open a WebSocket to ``url`` for one attempt; raise ``OSError``/``picows.WSError``.

    (A coroutine to await, as from an ``async def``: the coroutine that does the work,
    without one more around it for each connection being opened.)

    ``receive_buffer`` sets the TCP socket's receive buffer (``SO_RCVBUF``), which
    bounds how much one read hands over, and so how long the event loop is busy with
    the frames of one read; ``None`` leaves the system's autotuning.

    ``max_redirects`` HTTP redirects of the upgrade request are followed (picows
    follows 5 by default, to any host: here none unless asked). Cancelling the call
    closes the TCP connection at once, whatever stage the handshake (proxy, TLS,
    upgrade) has reached.

    A ``wss`` URL (without a proxy) whose handshake fails, or has not finished after
    :data:`PLAIN_TEXT_CHECK_DELAY` seconds, is checked for a server that does not speak
    TLS (see :func:`_speaks_plain_websocket`); :class:`NotTLSError` then says so.
    """
    opener = _Opener(sink, receive_buffer)
    opening = _open_websocket(
        opener,
        url,
        ssl_context=ssl_context,
        proxy=proxy,
        handshake_timeout=handshake_timeout,
        max_redirects=max_redirects,
    )
    if proxy is not None or not url.startswith("wss://"):
        return opening
    return _open_checking_tls(url, opening, opener.tcp_sockets)


async def _open_checking_tls(
    url: str, handshake: Coroutine[Any, Any, Transport], tcp_sockets: list[socket.socket]
) -> Transport:
    """Await ``handshake`` (a ``wss`` one); if it fails after the TCP connection
    was made, or takes long, ask the port in plain text and say what was found."""
    opening = asyncio.ensure_future(handshake)
    probe: asyncio.Future[bool] | None = None
    try:
        await asyncio.wait({opening}, timeout=PLAIN_TEXT_CHECK_DELAY)
        if not opening.done():
            # A TLS server answers the handshake at once; soketi, for one, keeps
            # silent on a plain port until its idle timeout.
            probe = asyncio.ensure_future(_speaks_plain_websocket(url))
            either: set[asyncio.Future[Any]] = {opening, probe}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not opening.done() and probe.result():
                raise _plain_text_server(url)
        try:
            return await opening
        except (ssl.SSLCertVerificationError, picows.WSError):
            raise  # TLS itself worked, or said precisely what is wrong
        except (ssl.SSLError, ConnectionError) as exc:
            if not tcp_sockets or isinstance(exc, ConnectionRefusedError):
                raise  # no connection at all: nothing to say about TLS
            if probe is None:
                probe = asyncio.ensure_future(_speaks_plain_websocket(url))
            if await probe:
                raise _plain_text_server(url) from exc
            raise _maybe_plain_text_server(url, exc) from exc
    finally:
        for task in (opening, probe):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task})


PLAIN_TEXT_CHECK_DELAY: Final = 1.0
"""Seconds a ``wss`` handshake may take before the port is asked in plain text."""
PLAIN_TEXT_CHECK_TIMEOUT: Final = 3.0
"""Seconds that plain-text question may take."""


def _host_and_port(url: str) -> tuple[str, int, str]:
    """The host, port and resource (path and query) of a ``ws``/``wss`` URL."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, resource or "/"


def _where(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _plain_text_server(url: str) -> NotTLSError:
    host, port, _ = _host_and_port(url)
    where = _where(host, port)
    return NotTLSError(
        f"the server at {where} does not speak TLS: it accepted a plain-text WebSocket "
        f"(ws://) on that port. Connect with use_tls=False and ws_port={port}",
        certain=True,
    )


def _maybe_plain_text_server(url: str, exc: BaseException) -> NotTLSError:
    host, port, _ = _host_and_port(url)
    where = _where(host, port)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return NotTLSError(
        f"the TLS handshake with {where} failed ({detail}): the server may not speak TLS "
        "on that port (use_tls=False connects without TLS)",
        certain=False,
    )


async def _speaks_plain_websocket(url: str) -> bool:
    """Whether the ``wss`` URL's port accepts a plain-text WebSocket upgrade.

    Only a ``101 Switching Protocols`` answer counts: a TLS server that receives plain
    HTTP answers 400 or closes, so a slow TLS server is never taken for a plain one.
    Any failure counts as no.
    """
    host, port, resource = _host_and_port(url)
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    request = (
        f"GET {resource} HTTP/1.1\r\nHost: {_where(host, port)}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii", "replace")
    loop = asyncio.get_running_loop()
    tcp: socket.socket | None = None
    try:
        async with asyncio.timeout(PLAIN_TEXT_CHECK_TIMEOUT):
            tcp = await _connect_tcp(host, port)
            await loop.sock_sendall(tcp, request)
            answer = b""
            while b"\r\n" not in answer and len(answer) < 64:
                chunk = await loop.sock_recv(tcp, 64)
                if not chunk:
                    break
                answer += chunk
    except (OSError, TimeoutError):
        return False
    finally:
        if tcp is not None:
            tcp.close()
    return answer.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101"))


class _Opener:
    """What picows calls back while it opens one attempt's WebSocket: for the TCP
    socket, and for the listener. (One object with two methods, rather than two
    closures and their cells for every connection being opened.)"""

    __slots__ = ("receive_buffer", "sink", "tcp_sockets")

    def __init__(self, sink: SocketSink, receive_buffer: int | None) -> None:
        self.sink = sink
        self.receive_buffer = receive_buffer
        self.tcp_sockets: list[socket.socket] = []
        """The TCP sockets opened (one, unless a redirect was followed)."""

    async def open_tcp(self, parsed_url: picows.WSParsedURL) -> socket.socket:
        tcp = await _connect_tcp(parsed_url.host, parsed_url.port, self.receive_buffer)
        self.tcp_sockets.append(tcp)
        return tcp

    def make_listener(self, *_upgrade: object) -> WebSocket:
        # picows first offers (request, response), then calls with no arguments.
        return WebSocket(self.sink)


async def _open_websocket(
    opener: _Opener,
    url: str,
    *,
    ssl_context: ssl.SSLContext | None,
    proxy: str | None,
    handshake_timeout: float,
    max_redirects: int,
) -> Transport:
    """Open the WebSocket with picows; the TCP sockets it opens go to the opener's
    ``tcp_sockets``."""
    try:
        _, listener = await picows.ws_connect(
            opener.make_listener,
            url,
            ssl_context=ssl_context,
            proxy=proxy,
            max_redirects=max_redirects,
            socket_factory=opener.open_tcp,
            websocket_handshake_timeout=handshake_timeout,
            max_frame_size=MAX_MESSAGE_SIZE,
            read_buffer_init_size=READ_BUFFER_SIZE,
            enable_auto_pong=True,
            logger_name=_picows_logger,
            # asyncio's own socket and TLS transports: aiofastnet's (picows's default
            # when installed) cost about 5 KiB more per idle connection and no less
            # CPU per event, plain or TLS (docs/performance.md).
            use_aiofastnet=False,
        )
    except BaseException:
        for tcp in opener.tcp_sockets:
            _shut_down(tcp)
        raise
    assert isinstance(listener, WebSocket)
    return listener


async def _connect_tcp(host: str, port: int, receive_buffer: int | None = None) -> socket.socket:
    """A connected non-blocking TCP socket to ``host``, trying each address in turn
    (with ``receive_buffer`` as its ``SO_RCVBUF``, set before connecting so that the
    window is negotiated with it)."""
    loop = asyncio.get_running_loop()
    addresses: list[_AddressInfo] | None = _numeric_address(host, port)
    if addresses is None:  # a name: resolved in the loop's executor
        addresses = list(await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    if not addresses:
        raise OSError(f"no address for {host!r}")
    last_error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        tcp = socket.socket(family, kind, proto)
        tcp.setblocking(False)
        try:
            if receive_buffer is not None:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            await loop.sock_connect(tcp, address)
        except OSError as exc:
            tcp.close()
            last_error = exc
            continue
        except BaseException:
            tcp.close()
            raise
        return tcp
    assert last_error is not None
    raise last_error


def _numeric_address(host: str, port: int) -> list[_AddressInfo] | None:
    """``host`` as an address, when it is an IP literal (no resolver needed), as
    asyncio's own connections skip the resolver for them."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if address.version == 4:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port))]
    return [
        (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port, 0, 0))
    ]


def _shut_down(tcp: socket.socket) -> None:
    """End a TCP connection that an asyncio transport may own: the transport then
    sees the end of the stream and closes the socket itself."""
    with contextlib.suppress(OSError):  # already gone: its transport has seen it
        tcp.shutdown(socket.SHUT_RDWR)
