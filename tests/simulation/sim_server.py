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
  ``private-``/``presence-`` authorizations, or refused in soketi's form
  (``pusher:subscription_error`` on the channel) or the hosted service's
  (``pusher:error`` whose message names the channel); answers may come late, out of
  order between channels (never between two answers for one channel: a server
  answers one channel's subscribes in order), or never;
- ``pusher:unsubscribe``, applied at once or late (the channel's events keep coming
  for a while), client events (recorded as relayed), ``pusher:signin``.

Every frame travels with a seeded latency, in order (one FIFO per direction), and the
client's ``pause_reading()`` holds frames back until ``resume_reading()``.

Faults, drawn from the network's seeded random generator or asked for by the driver:
refused attempts, slow or never-finishing upgrades, sockets dropped without a close
frame, closed with a code from each range (1000, 4000-4099, 4100-4199, 4200-4299),
silent servers (nothing more is sent or answered), malformed frames drawn by
:func:`.frames.hostile_frame` (random JSON, wrong types, cut short, not UTF-8, too
deep, huge, binary).

Every subscribe answer says which incarnation of the channel asked for it: the
driver tells the network (:attr:`SimNetwork.incarnation_of`) which ``subscribe()``
of a channel is current when the client sends ``pusher:subscribe``, and the server
puts that number in its answer (``sim_incarnation`` in a success, ``[incarnation
n]`` in a refusal's message), so that an answer applied to the wrong incarnation
can be seen.

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

from .frames import hostile_frame

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
        late_answer: a subscribe answer is held back for seconds (after the later
            answers of other channels: out of order).
        lost_answer: a subscribe is lost: never answered, never applied.
        late_unsubscribe: after ``pusher:unsubscribe`` the channel's events keep
            coming for a while.
        hosted_refusals: refusals take the hosted service's form (``pusher:error``
            naming the channel in its message) instead of soketi's.
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
    late_answer: float = 0.0
    lost_answer: float = 0.0
    late_unsubscribe: float = 0.0
    hosted_refusals: bool = False

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
            late_answer=min(0.5, 0.05 * scale),
            lost_answer=min(0.04, 0.01 * scale),
            late_unsubscribe=min(0.8, 0.2 * scale),
            hosted_refusals=rng.random() < 0.5,
        )

    def healed(self) -> FaultProfile:
        """The same network with every fault gone, and a latency well under the
        shortest pong timeout drawn (1 s): a healthy network."""
        return FaultProfile(
            refuse=0.0,
            slow_upgrade=0.0,
            hang_upgrade=0.0,
            no_greeting=0.0,
            silent_socket=0.0,
            reject_subscription=0.0,
            latency=min(self.latency, 0.05),
            activity_timeout=self.activity_timeout,
            late_handshake=0.0,
            hosted_refusals=self.hosted_refusals,
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


# What the server sends to the client: ("text", payload) | ("raw", payload: a drawn
# frame) | ("binary", size) | ("close", (code, reason)) | ("drop", None).
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
        """The channels the server has subscribed this socket to."""
        self.leaving: dict[str, float] = {}
        """Channels unsubscribed whose events keep coming until the given time."""
        self.user_ids: dict[str, str] = {}
        self.closed_by_server: tuple[int | None, str] | None = None
        self.subscribes_sent: dict[str, collections.deque[int | None]] = {}
        """Per channel, the incarnation of each ``pusher:subscribe`` the client sent
        and the server has not taken yet (in order)."""
        self.answers_due = 0
        """Subscribe answers the server holds back (late answers)."""
        self.lost_answers = 0
        """Subscribes the server lost (never answered): the client cannot tell, on
        this socket, which of the later answers are whose."""
        self._answer_after: dict[str, float] = {}
        """Per channel, when its last held-back answer goes out (keeps them in order)."""
        self._to_client = _Direction()
        self._to_server = _Direction()

    def __repr__(self) -> str:
        return f"<SimSocket #{self.number} {self.socket_id} {self.state.value}>"

    @property
    def live(self) -> bool:
        """Whether the client could still use this socket."""
        return self.state is SocketState.OPEN

    @property
    def in_flight(self) -> bool:
        """Whether frames travel either way, or answers are held back."""
        return bool(self._to_client.queue or self._to_server.queue or self.answers_due)

    def event_channels(self) -> list[str]:
        """The channels the server sends events of on this socket (subscribed, or
        unsubscribed but not let go of yet)."""
        now = self.loop.time()
        for channel, until in list(self.leaving.items()):
            if until <= now:
                del self.leaving[channel]
        return sorted(self.channels | set(self.leaving))

    # ------------------------------------------------------------ the Transport

    def send(self, payload: bytes) -> None:
        """The client sends one text frame."""
        if self.state is not SocketState.OPEN:
            if self.state is not SocketState.CLOSING:
                self.network.violation(f"{self!r}: send() after {self.state.value}")
            return
        payload = bytes(payload)
        if b'"pusher:subscribe"' in payload:
            self._subscribe_sent(payload)
        self._schedule(self._to_server, payload, self._server_receive)

    def _subscribe_sent(self, payload: bytes) -> None:
        """Note which incarnation of the channel this ``pusher:subscribe`` is for."""
        try:
            channel = json.loads(payload)["data"]["channel"]
        except (ValueError, KeyError, TypeError):
            return
        if not isinstance(channel, str):
            return
        lookup = self.network.incarnation_of
        incarnation = lookup(channel) if lookup is not None else None
        if incarnation == 0 and not channel.startswith("#"):
            self.network.violation(f"{self!r}: subscribe to {channel!r}, which nobody wants")
        self.subscribes_sent.setdefault(channel, collections.deque()).append(incarnation)

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

    def push_raw(self, kind: str, value: Any) -> None:
        """The server sends a drawn frame: ``("raw", text bytes)`` or ``("binary", size)``."""
        if self.silent or self.closed_by_server is not None:
            return
        self._schedule(self._to_client, (kind, value), self._client_receive)

    def push_answer(self, channel: str, message: dict[str, Any], delay: float) -> None:
        """A subscribe answer, now or ``delay`` seconds late (after the channel's
        earlier answers still held back)."""
        if delay <= 0 and channel not in self._answer_after:
            self.push(message)
            return
        # Strictly after the channel's previous answer: timers due at the same
        # instant may run in either order.
        due = max(self.loop.time() + delay, self._answer_after.get(channel, -1.0) + 1e-6)
        self._answer_after[channel] = due
        self.answers_due += 1
        self.loop.call_at(due, self._release_answer, channel, message, due)

    def _release_answer(self, channel: str, message: dict[str, Any], due: float) -> None:
        self.answers_due -= 1
        if self._answer_after.get(channel) == due:
            del self._answer_after[channel]
        if self.state in (SocketState.OPEN, SocketState.CLOSING):
            self.push(message)

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
        elif kind == "raw":
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
            self._unsubscribe(socket, str(data.get("channel")))
        elif event == "pusher:signin" and isinstance(data, dict):
            self._signin(socket, data)
        elif event.startswith("client-"):
            self._client_event(socket, event, message.get("channel"))
        else:
            socket.push(
                {"event": "pusher:error", "data": {"code": None, "message": f"unknown {event}"}}
            )

    def _unsubscribe(self, socket: SimSocket, channel: str) -> None:
        socket.channels.discard(channel)
        network = self.network
        if (
            network.profile.late_unsubscribe
            and network.rng.random() < network.profile.late_unsubscribe
        ):
            # Applied late: the channel's events keep coming for a while.
            socket.leaving[channel] = socket.loop.time() + network.rng.uniform(0.1, 4.0)

    def _subscribe(self, socket: SimSocket, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if not isinstance(channel, str):
            self.network.violation(f"{socket!r}: subscribe without a channel name")
            return
        sent = socket.subscribes_sent.get(channel)
        incarnation = sent.popleft() if sent else None
        network, profile, rng = self.network, self.network.profile, self.network.rng
        socket.leaving.pop(channel, None)
        # (No draw for a fault the profile does not have: a calm run draws as before.)
        if profile.lost_answer and rng.random() < profile.lost_answer:
            network.trace(f"server loses the subscribe to {channel!r} on {socket!r}")
            socket.lost_answers += 1
            return
        delay = 0.0
        if profile.late_answer and rng.random() < profile.late_answer:
            delay = rng.uniform(0.2, 6.0)
        # Which incarnation asked, for the driver (when it tells the network).
        tag = f" [incarnation {incarnation}]" if network.incarnation_of is not None else ""
        refusal = None
        channel_data = data.get("channel_data")
        text = f"{socket.socket_id}:{channel}"
        if channel.startswith(("private-", "presence-")):
            if channel.startswith("presence-") or channel_data is not None:
                text += f":{channel_data}"  # (a private channel's custom data, if any)
                self._check_authorization_label(socket, channel, channel_data, incarnation)
            if data.get("auth") != sign(text):
                refusal = "The connection is unauthorized."
        hosted = profile.hosted_refusals
        if refusal is None and rng.random() < profile.reject_subscription:
            refusal = "Simulated refusal."
            if hosted and rng.random() < 0.5 and channel not in socket.channels:
                # The hosted service's other refusal, here for a channel the socket
                # has not (a server with a stale view of it).
                socket.push_answer(
                    channel,
                    _hosted_error(f"Existing subscription to channel {channel}{tag}"),
                    delay,
                )
                return
        if refusal is not None:
            if hosted:
                message = (
                    f"Invalid signature: Expected HMAC SHA256 hex digest of {text}, "
                    f"but got {data.get('auth')}{tag}"
                )
                socket.push_answer(channel, _hosted_error(message), delay)
            else:
                error = {"type": "AuthError", "error": f"{refusal}{tag}", "status": 401}
                socket.push_answer(
                    channel,
                    {"event": "pusher:subscription_error", "channel": channel, "data": error},
                    delay,
                )
            return
        if channel in socket.channels:
            network.violation(f"{socket!r}: subscribed to {channel!r} twice")
        socket.channels.add(channel)
        self.successes_sent[(channel, socket.socket_id)] += 1
        answer: dict[str, Any] = {"sim_socket": socket.socket_id, "sim_incarnation": incarnation}
        if channel.startswith("presence-"):
            user_id = str(json.loads(str(channel_data)).get("user_id"))
            socket.user_ids[channel] = user_id
            members = {**self.peers.get(channel, {}), user_id: {"name": "me"}}
            answer["presence"] = {"ids": list(members), "hash": members, "count": len(members)}
        socket.push_answer(
            channel,
            {
                "event": "pusher_internal:subscription_succeeded",
                "channel": channel,
                "data": json.dumps(answer),
            },
            delay,
        )

    def _check_authorization_label(
        self, socket: SimSocket, channel: str, channel_data: Any, incarnation: int | None
    ) -> None:
        """A subscribe carries the authorization it was given (numbered in its
        ``channel_data``): it must be one asked for by the same incarnation (see
        :attr:`SimNetwork.authorization_label`)."""
        lookup = self.network.authorization_label
        if lookup is None or incarnation is None or not isinstance(channel_data, str):
            return
        try:
            decoded = json.loads(channel_data)
            call = decoded.get("auth_call", (decoded.get("user_info") or {}).get("auth_call"))
        except (ValueError, AttributeError):
            return
        if not isinstance(call, int):
            return
        label = lookup(call)
        if label is not None and label != incarnation:
            self.network.mismatches.append(
                f"the subscribe of incarnation {incarnation} of {channel!r} on {socket!r} "
                f"used authorization #{call}, asked for by incarnation {label}"
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

    def hostile(self, socket: SimSocket, channels: list[str]) -> str:
        """Send a frame no well-behaved server sends (drawn by the generator);
        return a short description of it for the trace."""
        kind, value = hostile_frame(self.network.rng, channels)
        socket.push_raw("raw" if kind == "text" else kind, value)
        if kind == "binary":
            return f"binary frame of {value} bytes"
        return f"{len(value)} bytes: {value[:60]!r}"


def _hosted_error(message: str) -> dict[str, Any]:
    """A refusal as the hosted service words it: a ``pusher:error``, no channel field."""
    return {"event": "pusher:error", "data": {"code": None, "message": message}}


class SimNetwork:
    """The fake connector, the sockets it opened, and the server behind them."""

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
        self.mismatches: list[str] = []
        """Answers the server saw applied to an incarnation that did not ask for them."""
        self.handshake_timeouts: list[float] = []
        self.incarnation_of: Callable[[str], int | None] | None = None
        """Which incarnation of a channel the client wants now (0: none), from the
        driver; ``None``: not told."""
        self.authorization_label: Callable[[int], int | None] | None = None
        """For an authorization's number (``auth_call`` in presence ``user_info``), the
        incarnation that asked for it, from the driver."""
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

    def heal(self) -> None:
        """No fault from now on; a half-dead (silent) connection is reset, as the
        network that healed would."""
        self.profile = self.profile.healed()
        for socket in self.live_sockets():
            if socket.silent:
                socket.server_close(None)

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
