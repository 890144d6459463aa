"""A simulated Pusher server and network behind a fake WebSocket connector.

:meth:`SimNetwork.connect` has the signature and the contract of
``pusher_channels._transport.connect_websocket``: it reports to the attempt's sink
(``opened``, ``text_received``, ``binary_received``, ``closed``) and returns a
:class:`SimSocket` (the transport). Behind it, each socket talks to a small server
that speaks protocol 7 as soketi does:

- ``pusher:connection_established`` (socket id, ``activity_timeout``) after the upgrade;
- ``pusher:ping`` answered with ``pusher:pong``;
- ``pusher:subscribe`` answered with ``pusher_internal:subscription_succeeded``
  (presence members for ``presence-``), after checking the HMAC signature of
  ``private-``/``presence-`` authorizations, or with soketi's
  ``pusher:subscription_error``;
- ``pusher:unsubscribe``, client events (recorded as relayed), ``pusher:signin``.

Every frame travels with a seeded latency, in order (one FIFO per direction), and the
client's ``pause_reading()`` holds frames back until ``resume_reading()``.

Faults, drawn from the network's seeded random generator or asked for by the driver:
refused attempts, slow or never-finishing upgrades, sockets dropped without a close
frame, closed with a code from each range (1000, 4000-4099, 4100-4199, 4200-4299),
silent servers (nothing more is sent or answered), hostile frames (malformed JSON,
wrong types, unknown events, huge frames, binary frames).

The server stamps every channel event it injects with ``{"seq": n}``, one counter
per channel, so that consumers can check that nothing arrives twice or out of order.

Everything the client does that a real server would object to (a frame that is not
JSON, a subscribe before ``connection_established``, a client event on a channel
the socket has not subscribed, a send on a socket it closed) is recorded in
:attr:`SimNetwork.violations`.

Thread safety: the blocking facade runs the connector on its own loop thread. Every
socket remembers the loop that opened it; the driver's calls are handed to that loop
with ``call_soon_threadsafe`` when made from another thread.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import hashlib
import hmac
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "APP_KEY",
    "APP_SECRET",
    "Attempt",
    "FaultProfile",
    "SimNetwork",
    "SimSocket",
    "SocketState",
    "sign",
]

APP_KEY: Final = "simkey"
APP_SECRET: Final = "simsecret"

FATAL_CODES: Final = (4001, 4003, 4004, 4009)
BACKOFF_CODES: Final = (4100, 4150)
RECONNECT_CODES: Final = (4200, 4201, 4202)
OTHER_CLOSE_CODES: Final = (1000, 1001, 1011)
_ESTABLISHED: Final = b'{"event": "pusher:connection_established"'


def sign(text: str) -> str:
    """An authorization string ``key:hex-hmac`` for ``text``, as the server SDK makes."""
    digest = hmac.new(APP_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    return f"{APP_KEY}:{digest}"


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """How hostile the network is in one simulation run (probabilities per occasion).

    Attributes:
        refuse: an attempt fails with ``ConnectionRefusedError``.
        slow_upgrade: an attempt takes several virtual seconds to open.
        hang_upgrade: an attempt never opens within the handshake timeout.
        no_greeting: an opened socket never sends ``connection_established``.
        silent_socket: an opened socket goes silent after a while.
        reject_subscription: a correct subscription is refused anyway.
        latency: the largest one-way latency of a frame, in seconds.
        activity_timeout: what the server announces, in seconds.
        late_handshake: an attempt cancelled mid-handshake opens anyway, later, and
            reports it to its sink, breaking the connector's contract the way a
            WebSocket library that does not close on cancellation would: the
            runtime must never adopt that socket.
    """

    refuse: float = 0.05
    slow_upgrade: float = 0.1
    hang_upgrade: float = 0.02
    no_greeting: float = 0.02
    silent_socket: float = 0.03
    reject_subscription: float = 0.03
    latency: float = 0.2
    activity_timeout: int = 120
    late_handshake: float = 0.3

    @classmethod
    def draw(cls, rng: random.Random) -> FaultProfile:
        """A random profile: from a calm network to a very hostile one."""
        scale = rng.choice((0.0, 0.5, 1.0, 1.0, 2.0, 4.0))
        return cls(
            refuse=min(0.5, 0.05 * scale),
            slow_upgrade=min(0.5, 0.1 * scale),
            hang_upgrade=min(0.3, 0.02 * scale),
            no_greeting=min(0.3, 0.02 * scale),
            silent_socket=min(0.3, 0.03 * scale),
            reject_subscription=min(0.3, 0.03 * scale),
            latency=rng.choice((0.0, 0.01, 0.2, 1.0)),
            activity_timeout=rng.choice((5, 30, 120)),
            late_handshake=min(1.0, 0.3 * scale),
        )


class SocketState(enum.Enum):
    """Where a simulated socket is, as the network sees it."""

    OPEN = "open"
    """Opened; the client may use it (it has not closed or aborted it, nor been told
    that it closed)."""
    CLOSING = "closing"
    """The client called ``close()``; ``sink.closed`` has not been reported yet."""
    CLOSED = "closed"
    """``sink.closed`` was reported."""
    ABORTED = "aborted"
    """The client called ``abort()``; nothing more is reported."""


class AttemptStatus(enum.Enum):
    """What became of one call of the connector."""

    PENDING = "pending"
    OPENED = "opened"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True, eq=False)
class Attempt:
    """One call of the connector."""

    number: int
    url: str
    started_at: float
    status: AttemptStatus = AttemptStatus.PENDING
    socket: SimSocket | None = None
    ended_at: float | None = None


# What the server sends to the client: ("text", payload) | ("binary", size)
# | ("close", (code, reason)) | ("drop", None).
_Frame = tuple[str, Any]


@dataclass(slots=True, eq=False)
class _Direction:
    """One FIFO direction of a socket: frames with their due times, one timer."""

    queue: collections.deque[tuple[float, Any]] = field(default_factory=collections.deque)
    timer: asyncio.TimerHandle | None = None


class SimSocket:
    """One simulated WebSocket: the transport the client holds, and the server's end."""

    def __init__(
        self, network: SimNetwork, sink: Any, loop: asyncio.AbstractEventLoop, number: int
    ) -> None:
        self.network = network
        self.sink = sink
        self.loop = loop
        self.number = number
        self.socket_id = f"{network.rng.randrange(10**6)}.{number}"
        self.state = SocketState.OPEN
        self.opened_at = loop.time()
        self.ended_at: float | None = None
        self.established_delivered = False
        """``pusher:connection_established`` reached the sink."""
        self.silent = False
        self.paused = False
        self.channels: set[str] = set()
        self.user_ids: dict[str, str] = {}
        self.closed_by_server: tuple[int | None, str] | None = None
        self._to_client = _Direction()
        self._to_server = _Direction()

    def __repr__(self) -> str:
        return f"<SimSocket #{self.number} {self.socket_id} {self.state.value}>"

    @property
    def live(self) -> bool:
        """Whether the client could still use this socket."""
        return self.state is SocketState.OPEN

    # ------------------------------------------------------------ the Transport

    def send(self, payload: bytes) -> None:
        """The client sends one text frame."""
        if self.state is not SocketState.OPEN:
            if self.state is not SocketState.CLOSING:
                self.network.violation(f"{self!r}: send() after {self.state.value}")
            return
        self._schedule(self._to_server, bytes(payload), self._server_receive)

    def close(self, code: int, reason: str) -> None:
        """The client starts the closing handshake; ``sink.closed`` follows."""
        if self.state is not SocketState.OPEN:
            return
        self.state = SocketState.CLOSING
        self.network.trace(f"client closes {self!r} ({code})")
        if self.silent:
            return  # the server never answers: the client's close timeout must act
        # The server echoes the close frame; the client then reports closed.
        self._schedule(self._to_client, ("close", (code, "")), self._client_receive)

    def abort(self) -> None:
        """The client drops the socket; nothing more is reported."""
        if self.state in (SocketState.CLOSED, SocketState.ABORTED):
            return
        self.state = SocketState.ABORTED
        self.ended_at = self.loop.time()
        self.network.trace(f"client aborts {self!r}")
        self._stop_timers()

    def pause_reading(self) -> None:
        """Backpressure: hold frames back from the client."""
        self.paused = True

    def resume_reading(self) -> None:
        """Deliver held frames again."""
        if self.paused:
            self.paused = False
            self._rearm(self._to_client, self._client_receive, immediately=True)

    # --------------------------------------------------------- the server's end

    def push(self, message: dict[str, Any] | str) -> None:
        """The server sends a text frame (a dict as JSON)."""
        if self.silent or self.closed_by_server is not None:
            return
        text = message if isinstance(message, str) else json.dumps(message)
        self._schedule(self._to_client, ("text", text.encode()), self._client_receive)

    def push_binary(self, size: int) -> None:
        """The server sends a binary frame."""
        if not self.silent and self.closed_by_server is None:
            self._schedule(self._to_client, ("binary", size), self._client_receive)

    def server_close(self, code: int | None, reason: str = "") -> None:
        """The server closes (``code``) or the connection drops (``None``)."""
        if self.closed_by_server is not None or self.state not in (
            SocketState.OPEN,
            SocketState.CLOSING,
        ):
            return
        self.closed_by_server = (code, reason)
        self.network.trace(f"server {'closes' if code else 'drops'} {self!r} ({code})")
        kind = "close" if code is not None else "drop"
        self._schedule(self._to_client, (kind, (code, reason)), self._client_receive)

    def go_silent(self) -> None:
        """The server stops sending and answering (a half-dead connection)."""
        if not self.silent:
            self.silent = True
            self.network.trace(f"{self!r} goes silent")

    # ------------------------------------------------------------- delivery

    def _schedule(self, direction: _Direction, item: Any, handler: Callable[[Any], None]) -> None:
        now = self.loop.time()
        due = now + self.network.latency()
        if direction.queue:
            due = max(due, direction.queue[-1][0])  # TCP keeps frames in order
        direction.queue.append((due, item))
        self._rearm(direction, handler)

    def _rearm(
        self, direction: _Direction, handler: Callable[[Any], None], immediately: bool = False
    ) -> None:
        if direction.timer is not None or not direction.queue or self.loop.is_closed():
            return
        when = self.loop.time() if immediately else direction.queue[0][0]
        direction.timer = self.loop.call_at(when, self._deliver, direction, handler)

    def _deliver(self, direction: _Direction, handler: Callable[[Any], None]) -> None:
        direction.timer = None
        now = self.loop.time()
        while direction.queue and direction.queue[0][0] <= now:
            if self.state in (SocketState.CLOSED, SocketState.ABORTED):
                direction.queue.clear()
                return
            if direction is self._to_client and self.paused:
                return  # resume_reading() rearms
            _, item = direction.queue.popleft()
            handler(item)
        self._rearm(direction, handler)

    def _stop_timers(self) -> None:
        for direction in (self._to_client, self._to_server):
            direction.queue.clear()
            if direction.timer is not None:
                direction.timer.cancel()
                direction.timer = None

    def _client_receive(self, frame: _Frame) -> None:
        """A frame reaches the client's sink."""
        kind, value = frame
        if kind == "text":
            if value.startswith(_ESTABLISHED):
                self.established_delivered = True
            self.sink.text_received(value)
        elif kind == "binary":
            self.sink.binary_received(value)
        else:
            code, reason = value
            self.state = SocketState.CLOSED
            self.ended_at = self.loop.time()
            self._stop_timers()
            self.network.on_closed(self)
            self.sink.closed(code, reason)

    def _server_receive(self, payload: bytes) -> None:
        """A frame from the client reaches the server."""
        self.network.server.receive(self, payload)


class SimServer:
    """The server side of every socket: protocol 7 as soketi speaks it."""

    def __init__(self, network: SimNetwork) -> None:
        self.network = network
        self.sequence: dict[str, int] = collections.defaultdict(int)
        self.relayed: list[tuple[str, str, str]] = []
        """Client events the server relayed: (socket id, channel, event)."""
        self.peers: dict[str, dict[str, Any]] = {}
        """Presence members other than the client, per channel."""
        self.successes_sent: collections.Counter[tuple[str, str]] = collections.Counter()
        """Subscription successes sent, by (channel, socket id)."""

    def greet(self, socket: SimSocket) -> None:
        """Send ``pusher:connection_established``."""
        data = {
            "socket_id": socket.socket_id,
            "activity_timeout": self.network.profile.activity_timeout,
        }
        socket.push({"event": "pusher:connection_established", "data": json.dumps(data)})

    def receive(self, socket: SimSocket, payload: bytes) -> None:
        """Handle one frame from the client."""
        try:
            message = json.loads(payload)
        except ValueError:
            self.network.violation(f"{socket!r}: client sent invalid JSON {payload[:80]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            self.network.violation(f"{socket!r}: client frame without an event {payload[:80]!r}")
            return
        if socket.silent:
            return
        event: str = message["event"]
        data = message.get("data")
        if event == "pusher:ping":
            socket.push({"event": "pusher:pong", "data": {}})
        elif event == "pusher:pong":
            pass
        elif not socket.established_delivered:
            self.network.violation(f"{socket!r}: {event} before connection_established")
        elif event == "pusher:subscribe" and isinstance(data, dict):
            self._subscribe(socket, data)
        elif event == "pusher:unsubscribe" and isinstance(data, dict):
            socket.channels.discard(str(data.get("channel")))
        elif event == "pusher:signin" and isinstance(data, dict):
            self._signin(socket, data)
        elif event.startswith("client-"):
            self._client_event(socket, event, message.get("channel"))
        else:
            socket.push(
                {"event": "pusher:error", "data": {"code": None, "message": f"unknown {event}"}}
            )

    def _subscribe(self, socket: SimSocket, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if not isinstance(channel, str):
            self.network.violation(f"{socket!r}: subscribe without a channel name")
            return
        refusal = None
        channel_data = data.get("channel_data")
        if channel.startswith(("private-", "presence-")):
            text = f"{socket.socket_id}:{channel}"
            if channel.startswith("presence-"):
                text += f":{channel_data}"
            if data.get("auth") != sign(text):
                refusal = "The connection is unauthorized."
        if refusal is None and self.network.rng.random() < self.network.profile.reject_subscription:
            refusal = "Simulated refusal."
        if refusal is not None:
            socket.push(
                {
                    "event": "pusher:subscription_error",
                    "channel": channel,
                    "data": {"type": "AuthError", "error": refusal, "status": 401},
                }
            )
            return
        if channel in socket.channels:
            self.network.violation(f"{socket!r}: subscribed to {channel!r} twice")
        socket.channels.add(channel)
        self.successes_sent[(channel, socket.socket_id)] += 1
        answer: dict[str, Any] = {"sim_socket": socket.socket_id}
        if channel.startswith("presence-"):
            user_id = str(json.loads(str(channel_data)).get("user_id"))
            socket.user_ids[channel] = user_id
            members = {**self.peers.get(channel, {}), user_id: {"name": "me"}}
            answer["presence"] = {"ids": list(members), "hash": members, "count": len(members)}
        socket.push(
            {
                "event": "pusher_internal:subscription_succeeded",
                "channel": channel,
                "data": json.dumps(answer),
            }
        )

    def _signin(self, socket: SimSocket, data: dict[str, Any]) -> None:
        user_data = data.get("user_data")
        if not isinstance(user_data, str) or data.get("auth") != sign(
            f"{socket.socket_id}::user::{user_data}"
        ):
            socket.push({"event": "pusher:error", "data": {"code": 4009, "message": "bad signin"}})
            return
        socket.push(
            {"event": "pusher:signin_success", "data": json.dumps({"user_data": user_data})}
        )

    def _client_event(self, socket: SimSocket, event: str, channel: Any) -> None:
        if not isinstance(channel, str) or not channel.startswith(("private-", "presence-")):
            self.network.violation(f"{socket!r}: client event {event} on {channel!r}")
        elif channel not in socket.channels:
            self.network.violation(
                f"{socket!r}: client event {event} on {channel!r}, not subscribed on this socket"
            )
        else:
            self.relayed.append((socket.socket_id, channel, event))

    # ----------------------------------------------------------- injections

    def channel_event(self, socket: SimSocket, channel: str, client_event: bool = False) -> None:
        """Send one stamped event of ``channel`` to ``socket``."""
        self.sequence[channel] += 1
        message: dict[str, Any] = {
            "event": "client-peer" if client_event else "sim-event",
            "channel": channel,
            "data": json.dumps({"seq": self.sequence[channel]}),
        }
        if client_event and channel.startswith("presence-"):
            message["user_id"] = "peer-1"
        socket.push(message)

    def member_change(self, socket: SimSocket, channel: str, added: bool) -> None:
        """A peer joins or leaves a presence channel."""
        peers = self.peers.setdefault(channel, {})
        user_id = f"peer-{self.network.rng.randrange(4)}"
        if added:
            peers[user_id] = {"name": user_id}
            event, data = "pusher_internal:member_added", {"user_id": user_id, "user_info": {}}
        else:
            peers.pop(user_id, None)
            event, data = "pusher_internal:member_removed", {"user_id": user_id}
        socket.push({"event": event, "channel": channel, "data": json.dumps(data)})

    def hostile(self, socket: SimSocket, kind: int) -> None:
        """Send a frame that no well-behaved server sends."""
        channel = next(iter(sorted(socket.channels)), "news")
        frames: list[str | dict[str, Any]] = [
            "{not json",
            "[1, 2, 3]",
            {"event": 42, "data": "x"},
            {"event": "sim-event", "channel": 7, "data": "x"},
            {"event": "sim-event", "channel": channel, "data": {"no": "seq"}},
            {"event": "pusher:unknown_thing", "data": None},
            {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": 5},
            {"event": "pusher_internal:member_added", "channel": channel, "data": "[]"},
            {"event": "pusher:error", "data": "not an object"},
            {"event": "sim-huge", "channel": channel, "data": "x" * 200_000},
            {"event": "pusher:connection_established", "data": "{}"},
        ]
        if kind >= len(frames):
            socket.push_binary(1 + kind)
            return
        socket.push(frames[kind])


class SimNetwork:
    """The fake connector, the sockets it opened, and the server behind them."""

    HOSTILE_KINDS: Final = 12

    def __init__(
        self,
        rng: random.Random,
        profile: FaultProfile | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.rng = rng
        self.profile = profile if profile is not None else FaultProfile()
        self.server = SimServer(self)
        self.attempts: list[Attempt] = []
        self.sockets: list[SimSocket] = []
        self.violations: list[str] = []
        self.handshake_timeouts: list[float] = []
        self._trace = trace
        self._lock = threading.Lock()

    # ------------------------------------------------------------- the seam

    async def connect(
        self,
        sink: Any,
        url: str,
        *,
        ssl_context: Any = None,
        proxy: str | None = None,
        handshake_timeout: float = 10.0,
        max_redirects: int = 0,
        receive_buffer: int | None = None,
    ) -> SimSocket:
        """The fake ``connect_websocket``: open a simulated socket for ``sink``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            attempt = Attempt(len(self.attempts) + 1, url, loop.time())
            self.attempts.append(attempt)
            profile, draw = self.profile, self.rng.random()
            delay = self.latency()
            if draw < profile.hang_upgrade:
                delay = handshake_timeout + 1.0
            elif draw < profile.hang_upgrade + profile.slow_upgrade:
                delay += self.rng.uniform(1.0, 8.0)
            refused = self.rng.random() < profile.refuse
        self.handshake_timeouts.append(handshake_timeout)
        self.trace(f"attempt #{attempt.number} starts")
        try:
            if delay > handshake_timeout:
                await asyncio.sleep(handshake_timeout)
                raise TimeoutError("simulated handshake timeout")
            await asyncio.sleep(delay)
            if refused:
                raise ConnectionRefusedError("simulated refusal")
        except asyncio.CancelledError:
            self._end_attempt(attempt, AttemptStatus.CANCELLED, loop)
            if self.rng.random() < self.profile.late_handshake:
                loop.call_at(
                    loop.time() + self.rng.uniform(0.1, 3.0), self._open_late, sink, attempt, loop
                )
            raise
        except OSError:
            self._end_attempt(attempt, AttemptStatus.FAILED, loop)
            raise
        socket = SimSocket(self, sink, loop, attempt.number)
        attempt.socket = socket
        with self._lock:
            self.sockets.append(socket)
            greet = self.rng.random() >= profile.no_greeting
            silent_after = (
                self.rng.uniform(0.0, 60.0) if self.rng.random() < profile.silent_socket else None
            )
        self._end_attempt(attempt, AttemptStatus.OPENED, loop)
        sink.opened(socket)
        if greet:
            self.server.greet(socket)
        if silent_after is not None:
            loop.call_at(loop.time() + silent_after, socket.go_silent)
        return socket

    def _open_late(self, sink: Any, attempt: Attempt, loop: asyncio.AbstractEventLoop) -> None:
        """A cancelled attempt's handshake completes after all (see ``late_handshake``)."""
        socket = SimSocket(self, sink, loop, attempt.number)
        attempt.socket = socket
        with self._lock:
            self.sockets.append(socket)
        self.trace(f"attempt #{attempt.number} opens late, after its cancellation")
        sink.opened(socket)
        if socket.live:
            self.server.greet(socket)

    def _end_attempt(
        self, attempt: Attempt, status: AttemptStatus, loop: asyncio.AbstractEventLoop
    ) -> None:
        attempt.status = status
        attempt.ended_at = loop.time()
        self.trace(f"attempt #{attempt.number} {status.value}")

    # ------------------------------------------------------------- queries

    def latency(self) -> float:
        """One frame's one-way latency."""
        top = self.profile.latency
        return self.rng.uniform(0.0, top) if top > 0 else 0.0

    def live_sockets(self) -> list[SimSocket]:
        """Sockets the client could still use (opened, not closed, not aborted)."""
        return [socket for socket in list(self.sockets) if socket.live]

    def unfinished_sockets(self) -> list[SimSocket]:
        """Sockets neither closed nor aborted (live or closing)."""
        return [
            socket
            for socket in list(self.sockets)
            if socket.state in (SocketState.OPEN, SocketState.CLOSING)
        ]

    def pending_attempts(self) -> list[Attempt]:
        """Connector calls still under way."""
        return [a for a in list(self.attempts) if a.status is AttemptStatus.PENDING]

    def established_sockets(self) -> list[SimSocket]:
        """Live sockets whose ``connection_established`` reached the client."""
        return [s for s in self.live_sockets() if s.established_delivered]

    # --------------------------------------------------------- bookkeeping

    def violation(self, text: str) -> None:
        """Record something the client did that a real server would object to."""
        self.violations.append(text)
        self.trace(f"VIOLATION {text}")

    def trace(self, text: str) -> None:
        """Add a line to the simulation's trace."""
        if self._trace is not None:
            self._trace(text)

    def on_closed(self, socket: SimSocket) -> None:
        """A socket's close was reported to its sink."""

    # ------------------------------------------------- driver's injections

    def in_loop(self, socket: SimSocket, action: Callable[[], None]) -> None:
        """Run ``action`` on the socket's loop (now, if already on it)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is socket.loop:
            action()
        elif not socket.loop.is_closed():
            socket.loop.call_soon_threadsafe(action)
