"""One TCP connection to the test server: HTTP/1.1 requests, or a WebSocket after an upgrade.

The HTTP side is :mod:`h11` (already installed with httpx), so the HTTP API and the
WebSocket endpoint share one port, as on soketi and Pusher. After a
``101 Switching Protocols`` the bytes go to the :class:`~.frames.FrameReader`.
Everything the peer learns goes to its :class:`PeerOwner` (the server), which
answers through :meth:`Peer.send_text`, :meth:`Peer.close` and friends.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

from .frames import (
    Close,
    FrameError,
    FrameReader,
    Message,
    Opcode,
    Ping,
    Pong,
    accept_for,
    encode_close,
    encode_frame,
)
from .http_api import HttpRequest, HttpResponse

__all__ = ["Peer", "PeerOwner"]

CLOSE_GRACE: Final = 1.0
"""Seconds the server waits for the client's answer to its close frame."""
MAX_BODY: Final = 10 * 1024 * 1024
_APP_PATH: Final = re.compile(r"(?:/.*)?/app/([^/]+)/?")


class PeerOwner(Protocol):
    """What a peer reports to: the server's own methods, private to this package."""

    def _peer_opened(self, peer: Peer) -> None:
        """A TCP connection was accepted."""

    def _peer_closed(self, peer: Peer) -> None:
        """A TCP connection is gone."""

    def _http_request(self, request: HttpRequest) -> HttpResponse:
        """Answer an HTTP request."""

    def _websocket_opened(self, peer: Peer, app_key: str | None, query: dict[str, str]) -> None:
        """A WebSocket handshake completed (``app_key`` None: the path is not ``/app/<key>``)."""

    def _websocket_text(self, peer: Peer, text: str) -> None:
        """A text message arrived."""

    def _websocket_heard(self, peer: Peer) -> None:
        """Any other frame arrived (ping, pong, binary): the client is alive."""

    def _websocket_closed(self, peer: Peer, code: int | None) -> None:
        """The WebSocket ended (``code`` from the client's close frame, if any)."""


class Peer(asyncio.Protocol):
    """One accepted TCP connection."""

    def __init__(self, owner: PeerOwner, max_message_bytes: int, paused: bool) -> None:
        self._owner = owner
        self._max_message = max_message_bytes
        self._transport: asyncio.Transport | None = None
        self._http = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._frames: FrameReader | None = None
        self.socket_id: str | None = None
        """Set by the owner once the WebSocket is accepted."""
        self._paused = paused
        self._held: list[bytes] = []
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_code: int | None = None
        """The client's close code, or the code a framing error closed with."""
        self._reported_close = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def is_websocket(self) -> bool:
        """Whether the connection was upgraded."""
        return self._frames is not None

    # ----------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._paused:
            transport.pause_reading()
        self._owner._peer_opened(self)

    def data_received(self, data: bytes) -> None:
        if self._frames is not None:
            self._websocket_data(data)
        else:
            self._http_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._transport = None
        self._report_closed()
        self._owner._peer_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    # --------------------------------------------------------- the server's calls

    def send_text(self, payload: bytes) -> None:
        """Send one text frame (held while paused)."""
        self._write(encode_frame(Opcode.TEXT, payload))

    def send_frame(self, opcode: Opcode, payload: bytes) -> None:
        """Send one frame of any kind, unchecked (for tests of odd frames)."""
        self._write(encode_frame(opcode, payload))

    def send_ping(self) -> None:
        """Send a WebSocket ping."""
        self._write(encode_frame(Opcode.PING))

    def close(self, code: int, reason: str) -> None:
        """Send a close frame, then end the TCP connection (after the client's answer)."""
        transport = self._transport
        if transport is None or self._closing:
            return
        self._closing = True
        if self._frames is None:
            transport.close()
            return
        transport.write(encode_close(code, reason))
        self._close_timer = asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.close)

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame."""
        if self._transport is not None:
            self._transport.abort()

    def pause(self) -> None:
        """Stop reading and hold what is sent, as a frozen process would."""
        self._paused = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume(self) -> None:
        """Read again and send what was held."""
        self._paused = False
        held, self._held = self._held, []
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for data in held:
            transport.write(data)
        transport.resume_reading()

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or self._closing or transport.is_closing():
            return
        if self._paused:
            self._held.append(data)
        else:
            transport.write(data)

    # ------------------------------------------------------------------ HTTP side

    def _http_data(self, data: bytes) -> None:
        try:
            self._http.receive_data(data)
            self._http_events()
        except h11.RemoteProtocolError as exc:
            self._http_error(exc.error_status_hint, f"Bad request: {exc}")
        except h11.LocalProtocolError:
            self.abort()

    def _http_events(self) -> None:
        while self._transport is not None and not self._closing:
            event = self._http.next_event()
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                # Only a WebSocket request is left unanswered (h11 waits for our
                # decision on the protocol switch it proposes).
                if self._wants_websocket() and self._http.our_state is h11.SEND_RESPONSE:
                    self._upgrade()
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > MAX_BODY:
                    self._http_error(413, "The body is too large")
                    return
            elif isinstance(event, h11.EndOfMessage):
                if not self._wants_websocket():
                    self._answer()
            elif isinstance(event, h11.ConnectionClosed):
                self.close(1000, "")
                return

    def _wants_websocket(self) -> bool:
        request = self._request
        if request is None:
            return False
        headers = {name.lower(): value.lower() for name, value in request.headers}
        return b"upgrade" in headers.get(b"connection", b"") and headers.get(b"upgrade") == (
            b"websocket"
        )

    def _answer(self) -> None:
        request = self._request
        assert request is not None
        target = urlsplit(request.target.decode("latin-1"))
        http_request = HttpRequest(
            method=request.method.decode("ascii"),
            path=unquote(target.path),
            query=tuple(parse_qsl(target.query, keep_blank_values=True)),
            body=bytes(self._body),
            raw_path=target.path,
        )
        self._respond(self._owner._http_request(http_request))
        if self._http.our_state is h11.MUST_CLOSE:
            self.close(1000, "")
        elif self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()

    def _respond(self, response: HttpResponse) -> None:
        transport = self._transport
        if transport is None:
            return
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
        ]
        try:
            transport.write(
                self._http.send(h11.Response(status_code=response.status, headers=headers)) or b""
            )
            transport.write(self._http.send(h11.Data(data=response.body)) or b"")
            transport.write(self._http.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            self.abort()

    def _http_error(self, status: int, message: str) -> None:
        if self._http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._respond(HttpResponse.text(status, message))
        self.close(1000, "")

    def _upgrade(self) -> None:
        request = self._request
        assert request is not None
        headers = {name.lower(): value for name, value in request.headers}
        if headers.get(b"sec-websocket-version") != b"13":
            self._refuse_upgrade("Expected a WebSocket upgrade (version 13)")
            return
        accept = accept_for(headers.get(b"sec-websocket-key", b""))
        if accept is None:
            self._refuse_upgrade("Sec-WebSocket-Key must be 16 bytes in base64")
            return
        response = h11.InformationalResponse(
            status_code=101,
            headers=[
                (b"Upgrade", b"websocket"),
                (b"Connection", b"Upgrade"),
                (b"Sec-WebSocket-Accept", accept),
            ],
        )
        assert self._transport is not None
        self._transport.write(self._http.send(response) or b"")
        trailing, _ = self._http.trailing_data
        self._frames = FrameReader(self._max_message)
        target = urlsplit(request.target.decode("latin-1"))
        match = _APP_PATH.fullmatch(target.path)
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        self._owner._websocket_opened(self, unquote(match.group(1)) if match else None, query)
        if trailing:
            self._websocket_data(bytes(trailing))

    def _refuse_upgrade(self, reason: str) -> None:
        """Answer a handshake that cannot be accepted: ``400 Bad Request``, then close."""
        self._respond(HttpResponse.text(400, reason))
        self.close(1000, "")

    # ------------------------------------------------------------- WebSocket side

    def _websocket_data(self, data: bytes) -> None:
        assert self._frames is not None
        try:
            received = self._frames.feed(data)
        except FrameError as error:
            self._close_code = error.code
            self.close(error.code, error.reason)
            self._report_closed()
            return
        for item in received:
            if self._transport is None:
                return
            if isinstance(item, Message):
                if self._closing:
                    continue
                if item.text is not None:
                    self._owner._websocket_text(self, item.text)
                else:
                    self._owner._websocket_heard(self)
            elif isinstance(item, Ping):
                self._owner._websocket_heard(self)
                self._write(encode_frame(Opcode.PONG, item.payload))
            elif isinstance(item, Pong):
                self._owner._websocket_heard(self)
            elif isinstance(item, Close):
                self._client_closed(item)
                return

    def _client_closed(self, frame: Close) -> None:
        self._close_code = frame.code
        transport = self._transport
        if transport is None:
            return
        if not self._closing:
            self._closing = True
            code = frame.code if frame.code is not None else 1000
            transport.write(encode_close(code if code < 5000 else 1000, ""))
        transport.close()
        self._report_closed()

    def _report_closed(self) -> None:
        if self._frames is not None and not self._reported_close:
            self._reported_close = True
            self._owner._websocket_closed(self, self._close_code)
