"""Drives the server core (no sockets, no loop): connections, frames in, outputs out.

Time is a number the test advances; every output is decoded and filed by socket
id, so a test reads what each client would have received.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

from pusher_channels.protocol.signatures import (
    authorization,
    channel_string_to_sign,
    user_string_to_sign,
)
from pusher_channels.testing.core import ServerCore
from pusher_channels.testing.outputs import CloseConnection, Output, PingConnection, SendFrame
from pusher_channels.testing.settings import AppSettings

Frame = dict[str, Any]


class Harness:
    """One core and what it asked its shell to do."""

    def __init__(self, **settings: Any) -> None:
        self.settings = AppSettings(**settings)
        self.core = ServerCore(self.settings, random.Random(7))
        self.now = 100.0
        self.inbox: dict[str, list[Frame]] = defaultdict(list)
        self.closed: dict[str, tuple[int, str]] = {}
        self.pings: list[str] = []

    # -------------------------------------------------------------- driving it

    def connect(self, query: dict[str, str] | None = None) -> str:
        """Open a connection (protocol 7) and drop its connection_established."""
        socket_id, outputs = self.core.open_connection(query or {"protocol": "7"}, self.now)
        self.take(outputs)
        assert self.inbox[socket_id].pop(0)["event"] == "pusher:connection_established"
        return socket_id

    def send(self, socket_id: str, frame: Frame | str) -> None:
        """A frame from the client (a dict is sent as JSON)."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self.take(self.core.receive(socket_id, text, self.now))

    def advance(self, seconds: float) -> None:
        """Let time pass and run the timers."""
        self.now += seconds
        self.take(self.core.handle_timer(self.now))

    def take(self, outputs: list[Output]) -> None:
        """File each output under its socket id."""
        for output in outputs:
            if isinstance(output, SendFrame):
                self.inbox[output.socket_id].append(json.loads(output.payload))
            elif isinstance(output, PingConnection):
                self.pings.append(output.socket_id)
            elif isinstance(output, CloseConnection):
                self.closed[output.socket_id] = (output.code, output.reason)

    # ------------------------------------------------------------ the protocol

    def auth(self, socket_id: str, channel: str, channel_data: str | None = None) -> str:
        """A valid authorization for ``channel``."""
        to_sign = channel_string_to_sign(socket_id, channel, channel_data)
        return authorization(self.settings.key, self.settings.secret, to_sign)

    def subscribe(self, socket_id: str, channel: str, user: dict[str, Any] | None = None) -> None:
        """Subscribe with a valid signature (presence: as ``user``)."""
        data: dict[str, Any] = {"channel": channel}
        if channel.startswith("presence-"):
            channel_data = json.dumps(user or {"user_id": "u"})
            data["channel_data"] = channel_data
            data["auth"] = self.auth(socket_id, channel, channel_data)
        elif channel.startswith("private-"):
            data["auth"] = self.auth(socket_id, channel)
        self.send(socket_id, {"event": "pusher:subscribe", "data": data})

    def signin(self, socket_id: str, user: dict[str, Any]) -> None:
        """Sign in with a valid signature."""
        user_data = json.dumps(user)
        auth = authorization(
            self.settings.key, self.settings.secret, user_string_to_sign(socket_id, user_data)
        )
        self.send(
            socket_id, {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}
        )

    # --------------------------------------------------------------- reading it

    def pop(self, socket_id: str) -> list[Frame]:
        """What ``socket_id`` received since the last pop."""
        frames, self.inbox[socket_id] = self.inbox[socket_id], []
        return frames

    def events(self, socket_id: str) -> list[str]:
        """The names of what ``socket_id`` received since the last pop (and pop it)."""
        return [frame["event"] for frame in self.pop(socket_id)]

    def error(self, socket_id: str) -> Frame:
        """The one frame received since the last pop, which must be a pusher:error."""
        [frame] = self.pop(socket_id)
        assert frame["event"] == "pusher:error", frame
        data: Frame = frame["data"]
        return data
