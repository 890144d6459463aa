"""The two servers the conformance scenarios run against, behind one interface.

Both use the same app (soketi's fixture credentials and encryption master key),
client events and user authentication enabled, so a scenario's code never knows
which one it talks to; only its expectations may, where the two differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import pusher
from devtools.soketi import APP_ID, APP_KEY, APP_SECRET, MASTER_KEY_BASE64, SoketiServer

from pusher_channels.testing import PusherTestServer
from tests.testing.raw_client import RawSocket

SOKETI = "soketi"
TEST_SERVER = "test-server"


class Target(Protocol):
    """A running Pusher-protocol server."""

    name: str

    @property
    def port(self) -> int:
        """The port of the WebSocket endpoint and the HTTP API."""

    def restart(self) -> None:
        """Kill the server (sockets drop, no close frame) and start it again, same port."""


def sdk_for(target: Target) -> Any:
    """The official server SDK, pointed at ``target``."""
    return pusher.Pusher(
        app_id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        host="127.0.0.1",
        port=target.port,
        ssl=False,
        encryption_master_key_base64=MASTER_KEY_BASE64,
        timeout=5,
    )


def client_options(target: Target) -> dict[str, Any]:
    """The keywords that point this library's client at ``target``."""
    return {"api_key": APP_KEY, "host": "127.0.0.1", "ws_port": target.port, "use_tls": False}


@dataclass
class SoketiTarget:
    """soketi (a Node process), as ``devtools/soketi.py`` runs it for the suite."""

    server: SoketiServer
    name: str = SOKETI

    @property
    def port(self) -> int:
        return self.server.port

    def restart(self) -> None:
        self.server.kill()
        self.server.start()


@dataclass
class PusherTestServerTarget:
    """``PusherTestServer`` on a thread of its own."""

    server: PusherTestServer = field(
        default_factory=lambda: PusherTestServer(
            app_id=APP_ID,
            key=APP_KEY,
            secret=APP_SECRET,
            encryption_master_key_base64=MASTER_KEY_BASE64,
        )
    )
    name: str = TEST_SERVER

    @property
    def port(self) -> int:
        return self.server.port

    def restart(self) -> None:
        self.server.restart(graceful=False)


async def connect(target: Target) -> tuple[RawSocket, str]:
    """A raw WebSocket to ``target`` and its socket id."""
    raw = await RawSocket.connect(target.port, f"/app/{APP_KEY}?protocol=7&client=conformance")
    return raw, await raw.established()


async def subscribe(
    target: Target, raw: RawSocket, socket_id: str, channel: str, user: dict[str, Any] | None = None
) -> None:
    """Send ``pusher:subscribe``, authorized by the SDK when the channel needs it."""
    data: dict[str, Any] = {"channel": channel}
    if channel.startswith(("private-", "presence-")):
        presence_user = user if channel.startswith("presence-") else None
        answer = sdk_for(target).authenticate(channel, socket_id, presence_user)
        data["auth"] = answer["auth"]
        if "channel_data" in answer:
            data["channel_data"] = answer["channel_data"]
    raw.send_json({"event": "pusher:subscribe", "data": data})


def decoded(frame: dict[str, Any]) -> dict[str, Any]:
    """A frame with a JSON-string ``data`` decoded (for comparing what it says)."""
    data = frame.get("data")
    if isinstance(data, str):
        try:
            return {**frame, "data": json.loads(data)}
        except json.JSONDecodeError:
            return frame
    return frame
