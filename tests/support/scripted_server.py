"""A scripted Pusher-protocol server, for what real servers will not send.

soketi never sends ``pusher_internal:subscription_count``, watchlist events,
malformed frames, or a 4200 error in answer to ``pusher:signin`` (as Laravel Reverb
does). This server does exactly what a test tells it: it greets each connection
with ``pusher:connection_established``, records what the client sends, answers
subscriptions, and lets the test push any frame or close code. 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import picows
from devtools.soketi import ServerOptions

Reply = Callable[["ScriptedConnection", dict[str, Any]], None]


class ScriptedConnection(picows.WSListener):
    """One client connection to the scripted server."""

    def __init__(self, server: ScriptedServer) -> None:
        super().__init__()
        self.server = server
        self.transport: picows.WSTransport | None = None
        self.received: list[dict[str, Any]] = []
        self.socket_id = f"{next(server.ids)}.{next(server.ids)}"

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        self.server.connections.append(self)
        if self.server.greet:
            self.send(
                {
                    "event": "pusher:connection_established",
                    "data": json.dumps({"socket_id": self.socket_id, "activity_timeout": 120}),
                }
            )

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type != picows.WSMsgType.TEXT:
            return
        message = json.loads(frame.get_payload_as_utf8_text())
        self.received.append(message)
        handler = self.server.replies.get(message.get("event"))
        if handler is not None:
            handler(self, message)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self in self.server.connections:
            self.server.connections.remove(self)

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a frame: a dict as JSON text, a str as text, bytes as binary."""
        assert self.transport is not None
        if isinstance(message, bytes):
            self.transport.send(picows.WSMsgType.BINARY, message)
        else:
            text = message if isinstance(message, str) else json.dumps(message)
            self.transport.send(picows.WSMsgType.TEXT, text.encode())

    def close(self, code: int, reason: str = "") -> None:
        """Close with a close code, as a server does."""
        assert self.transport is not None
        self.transport.send_close(picows.WSCloseCode(code), reason.encode())
        self.transport.disconnect()


def succeed_subscription(connection: ScriptedConnection, message: dict[str, Any]) -> None:
    """Answer every ``pusher:subscribe`` with ``pusher_internal:subscription_succeeded``."""
    connection.send(
        {
            "event": "pusher_internal:subscription_succeeded",
            "channel": message["data"]["channel"],
            "data": "{}",
        }
    )


@dataclass
class ScriptedServer:
    """The server. ``replies`` maps a client event name to a reaction."""

    greet: bool = True
    replies: dict[str, Reply] = field(
        default_factory=lambda: {"pusher:subscribe": succeed_subscription}
    )
    connections: list[ScriptedConnection] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def client_options(self) -> ServerOptions:
        """Keywords that point a client here."""
        return {"api_key": "scripted", "host": "127.0.0.1", "ws_port": self.port, "use_tls": False}

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await picows.ws_create_server(
            lambda request: ScriptedConnection(self), "127.0.0.1", 0
        )

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.disconnect()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def broadcast(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a frame to every connected client."""
        for connection in self.connections:
            connection.send(message)
