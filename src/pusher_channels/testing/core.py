"""The server side of Pusher protocol 7, sans I/O: connections, channels, members, rules.

:class:`ServerCore` is fed what happened (a connection opened, a text frame
arrived, a connection closed, time passed, the HTTP API asked to publish) and
answers with :mod:`~pusher_channels.testing.outputs` for its shell to perform. It
has no socket, no event loop and no clock: time comes in as ``now`` (monotonic
seconds) and :meth:`ServerCore.next_deadline` says when to call
:meth:`ServerCore.handle_timer`.

Where the hosted service and soketi differ, this follows Pusher's documentation
(and, where the documentation is silent, the hosted service's known messages):

- a refused subscription (bad signature, existing subscription, bad name, full
  presence channel) is a ``pusher:error`` with code ``null``, as on Pusher, not
  soketi's ``pusher:subscription_error``;
- ``pusher_internal:subscription_succeeded`` carries ``"data": "{}"`` outside
  presence channels (soketi leaves ``data`` out);
- client events must be on a private or presence channel the sender is subscribed
  to, and their data is relayed as a string (soketi relays any channel and keeps
  objects as objects);
- a refused ``pusher:signin`` is a ``pusher:error`` and the connection stays open
  (soketi closes it with 4009).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from ..protocol.channels import ChannelKind
from ..protocol.messages import CLIENT_EVENT_PREFIX, INTERNAL_PREFIX, PUBLIC_PREFIX, decode_data
from ..protocol.signatures import (
    authorization,
    channel_string_to_sign,
    signatures_match,
    user_string_to_sign,
)
from .inspection import ChannelInfo, ConnectionInfo
from .outputs import CloseConnection, Output, PingConnection, SendFrame
from .rules import (
    RuleError,
    channel_name_problem,
    data_size,
    data_to_string,
    invalid_signature_message,
    is_cache_channel,
    kind_of,
    parse_presence_member,
    parse_user_data,
    user_id_of_server_channel,
)
from .settings import AppSettings
from .state import ChannelRecord, ConnectionRecord, MemberRecord
from .users import Users

__all__ = ["ServerCore"]

CLOSED_HISTORY: Final = 1000
"""Closed connections kept for inspection."""
SUPPORTED_PROTOCOLS: Final = range(4, 8)
"""Protocols 1-3 are no longer supported (protocol doc); 7 is the current one."""
_PONG: Final = {"event": "pusher:pong", "data": "{}"}
_CLIENT_EVENTS_DISABLED: Final = (
    "To send client events, you must enable this feature in the Settings page of your dashboard."
)


def _error(message: str, code: int | None = None) -> dict[str, Any]:
    return {"event": "pusher:error", "data": {"code": code, "message": message}}


def _encode(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps(message)


class ServerCore:
    """The state of one Pusher app's server, driven by its shell."""

    def __init__(self, settings: AppSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._limits = settings.limits
        self._rng = rng if rng is not None else random.Random()
        self._connections: dict[str, ConnectionRecord] = {}
        self._closed: deque[ConnectionRecord] = deque(maxlen=CLOSED_HISTORY)
        self._channels: dict[str, ChannelRecord] = {}
        self._cache: dict[str, tuple[str, str, float]] = {}
        self._users = Users()

    # ------------------------------------------------------------------ connections

    def refusal(self, app_key: str, query: Mapping[str, str]) -> tuple[int, str] | None:
        """The close code and reason for a WebSocket that must not be accepted, or None."""
        if app_key != self.settings.key:
            return 4001, f"App key {app_key} does not exist"
        protocol = query.get("protocol")
        if protocol is None or protocol == "":
            return 4008, "No protocol version supplied"
        if not protocol.isdigit() or int(protocol) not in SUPPORTED_PROTOCOLS:
            return 4007, f"Unsupported protocol version {protocol}"
        return None

    def open_connection(self, query: Mapping[str, str], now: float) -> tuple[str, list[Output]]:
        """Accept a connection: its socket id and the ``pusher:connection_established``."""
        socket_id = self._new_socket_id()
        record = ConnectionRecord(socket_id, dict(query), now, self._limits.frame_log)
        timeout = self.settings.authorized_connections_timeout
        if timeout is not None:
            record.authorize_by = now + timeout
        self._connections[socket_id] = record
        established = {
            "event": "pusher:connection_established",
            "data": orjson.dumps(
                {"socket_id": socket_id, "activity_timeout": self._activity_timeout_value()}
            ).decode("utf-8"),
        }
        return socket_id, [self._send(record, established)]

    def connection_closed(self, socket_id: str, code: int | None = None) -> list[Output]:
        """The connection went away (close frame or dropped socket): forget it."""
        record = self._connections.get(socket_id)
        if record is None:
            return []
        return self._forget(record, code)

    def close(self, socket_id: str, code: int, reason: str) -> list[Output]:
        """Close a connection from the server's side (its members leave first)."""
        record = self._connections.get(socket_id)
        if record is None:
            return []
        outputs = self._forget(record, code)
        outputs.append(CloseConnection(socket_id, code, reason))
        return outputs

    def heard(self, socket_id: str, now: float) -> None:
        """The connection sent something (any frame, a pong too): it is alive."""
        record = self._connections.get(socket_id)
        if record is not None:
            record.last_heard = now
            record.ping_sent_at = None

    def log_sent(self, socket_id: str, payload: Any) -> None:
        """Record a frame the shell sent on its own (a raw frame of a test)."""
        record = self._connections.get(socket_id)
        if record is not None:
            record.sent.append(payload)

    # ----------------------------------------------------------------------- timers

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next, or None."""
        timeout, pong = self.settings.activity_timeout, self.settings.pong_timeout
        deadlines = [r.deadline(timeout, pong) for r in self._connections.values()]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Output]:
        """Ping silent connections, close those that did not answer or authorize."""
        outputs: list[Output] = []
        for record in list(self._connections.values()):
            if record.authorize_by is not None and now >= record.authorize_by:
                outputs += self.close(
                    record.socket_id, 4009, "Connection not authorized within timeout"
                )
            elif record.ping_sent_at is not None:
                if now >= record.ping_sent_at + self.settings.pong_timeout:
                    outputs += self.close(record.socket_id, 4201, "Pong reply not received")
            elif now >= record.last_heard + self.settings.activity_timeout:
                record.ping_sent_at = now
                outputs.append(PingConnection(record.socket_id))
        return outputs

    # ----------------------------------------------------------------- client frames

    def receive(self, socket_id: str, text: str, now: float) -> list[Output]:
        """A text frame from the client."""
        record = self._connections.get(socket_id)
        if record is None:
            return []
        self.heard(socket_id, now)
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            record.received.append(text)
            return [self._send(record, _error("Invalid message: not JSON"))]
        record.received.append(frame)
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            return [self._send(record, _error("Invalid message: no 'event' name"))]
        event: str = frame["event"]
        if event == "pusher:ping":
            return [self._send(record, dict(_PONG))]
        if event == "pusher:subscribe":
            return self._subscribe(record, decode_data(frame.get("data")), now)
        if event == "pusher:unsubscribe":
            data = decode_data(frame.get("data"))
            channel = data.get("channel") if isinstance(data, dict) else None
            return self._leave(record, channel) if isinstance(channel, str) else []
        if event == "pusher:signin":
            return self._signin(record, decode_data(frame.get("data")))
        if event.startswith(CLIENT_EVENT_PREFIX):
            return self._client_event(record, frame, now)
        if event.startswith((PUBLIC_PREFIX, INTERNAL_PREFIX)):
            return []  # pusher:pong and unknown system events: nothing to answer
        return [
            self._send(
                record,
                _error("Client event rejected - client events must be prefixed by 'client-'"),
            )
        ]

    # ---------------------------------------------------------------- subscriptions

    def _subscribe(self, record: ConnectionRecord, data: Any, now: float) -> list[Output]:
        if not isinstance(data, dict):
            return [self._send(record, _error("pusher:subscribe needs a data object"))]
        channel = data.get("channel")
        problem = channel_name_problem(channel, self._limits)
        if problem is not None or not isinstance(channel, str):
            return [self._send(record, _error(problem or "Invalid channel name"))]
        if channel in record.channels:
            return [self._send(record, _error(f"Existing subscription to channel {channel}"))]
        try:
            member = self._authorize(record, channel, data)
        except RuleError as refused:
            return [self._send(record, _error(refused.message))]
        return self._join(record, channel, member, now)

    def _authorize(
        self, record: ConnectionRecord, channel: str, data: dict[str, Any]
    ) -> tuple[str, Any] | None:
        """Check the subscription's right to ``channel``; the presence member if any.

        Raises:
            RuleError: the subscription is refused.
        """
        server_user = user_id_of_server_channel(channel)
        if server_user is not None:
            if record.user_id != server_user:
                raise RuleError(
                    f"Cannot subscribe to {channel}: the connection is not signed in as "
                    f"user {server_user}"
                )
            return None
        kind = kind_of(channel)
        if kind is ChannelKind.PUBLIC:
            return None
        if kind is not ChannelKind.PRESENCE:
            self._check_signature(data.get("auth"), f"{record.socket_id}:{channel}")
            return None
        channel_data = data.get("channel_data")
        if channel_data is None:
            # Authorized by a signed-in user (pusher-js 7.4+): the member is that user.
            self._check_signature(data.get("auth"), f"{record.socket_id}:{channel}")
            if record.user_id is None:
                raise RuleError(
                    f"Presence channel {channel} needs channel_data or a signed-in user"
                )
            return record.user_id, (record.user_data or {}).get("user_info")
        if not isinstance(channel_data, str):
            raise RuleError("Presence channel_data must be a JSON string")
        self._check_signature(
            data.get("auth"), channel_string_to_sign(record.socket_id, channel, channel_data)
        )
        user_id, user_info = parse_presence_member(channel_data, self._limits)
        existing = self._channels.get(channel)
        if (
            existing is not None
            and user_id not in existing.members
            and len(existing.members) >= self._limits.max_presence_members
        ):
            raise RuleError(
                f"Cannot join presence channel {channel}: it already has "
                f"{self._limits.max_presence_members} members"
            )
        return user_id, user_info

    def _check_signature(self, auth: object, to_sign: str) -> None:
        key = self.settings.key
        if isinstance(auth, str) and ":" in auth and auth.split(":", 1)[0] != key:
            raise RuleError(f"Invalid key in auth data: '{auth.split(':', 1)[0]}'")
        expected = authorization(key, self.settings.secret, to_sign)
        if not signatures_match(expected, auth):
            given = auth.split(":", 1)[-1] if isinstance(auth, str) else auth
            raise RuleError(invalid_signature_message(to_sign, given))

    def _join(
        self, record: ConnectionRecord, channel: str, member: tuple[str, Any] | None, now: float
    ) -> list[Output]:
        outputs: list[Output] = []
        channel_record = self._channels.get(channel)
        if channel_record is None:
            channel_record = self._channels[channel] = ChannelRecord(channel)
        channel_record.subscribers[record.socket_id] = None
        record.channels[channel] = None
        kind = kind_of(channel)
        if kind is not ChannelKind.PUBLIC:
            record.authorize_by = None
        succeeded: dict[str, Any] = {"event": "pusher_internal:subscription_succeeded"}
        if member is not None:
            user_id, user_info = member
            record.presence[channel] = user_id
            existing = channel_record.members.get(user_id)
            if existing is None:
                channel_record.members[user_id] = MemberRecord(user_info, {record.socket_id: None})
                added = {
                    "event": "pusher_internal:member_added",
                    "channel": channel,
                    "data": data_to_string({"user_id": user_id, "user_info": user_info}),
                }
                outputs += self._broadcast(channel_record, added, exclude=record.socket_id)
            else:
                existing.sockets[record.socket_id] = None
            succeeded["data"] = data_to_string(channel_record.presence_data())
        else:
            succeeded["data"] = "{}"
        succeeded["channel"] = channel
        outputs.append(self._send(record, succeeded))
        if is_cache_channel(channel):
            outputs.append(self._send(record, self._cached_or_miss(channel, now)))
        outputs += self._subscription_count(channel_record)
        return outputs

    def _cached_or_miss(self, channel: str, now: float) -> dict[str, Any]:
        cached = self._cache.get(channel)
        if cached is not None and cached[2] > now:
            return {"event": cached[0], "channel": channel, "data": cached[1]}
        self._cache.pop(channel, None)
        return {"event": "pusher:cache_miss", "channel": channel}

    def _leave(self, record: ConnectionRecord, channel: str) -> list[Output]:
        if channel not in record.channels:
            return []
        del record.channels[channel]
        channel_record = self._channels[channel]
        del channel_record.subscribers[record.socket_id]
        outputs: list[Output] = []
        user_id = record.presence.pop(channel, None)
        if user_id is not None:
            member = channel_record.members[user_id]
            del member.sockets[record.socket_id]
            if not member.sockets:
                del channel_record.members[user_id]
                removed = {
                    "event": "pusher_internal:member_removed",
                    "channel": channel,
                    "data": data_to_string({"user_id": user_id}),
                }
                outputs += self._broadcast(channel_record, removed)
        if not channel_record.subscribers:
            del self._channels[channel]
        else:
            outputs += self._subscription_count(channel_record)
        return outputs

    def _subscription_count(self, channel_record: ChannelRecord) -> list[Output]:
        if not self.settings.subscription_count:
            return []
        name = channel_record.name
        if kind_of(name) is ChannelKind.PRESENCE or user_id_of_server_channel(name) is not None:
            return []  # not sent on presence channels (the members are the count)
        count = {
            "event": "pusher_internal:subscription_count",
            "channel": channel_record.name,
            "data": data_to_string({"subscription_count": len(channel_record.subscribers)}),
        }
        return self._broadcast(channel_record, count)

    # ----------------------------------------------------------------- client events

    def _client_event(
        self, record: ConnectionRecord, frame: dict[str, Any], now: float
    ) -> list[Output]:
        channel, event = frame.get("channel"), frame["event"]
        refusal: dict[str, Any] | None = None
        if not self.settings.client_events:
            refusal = _error(_CLIENT_EVENTS_DISABLED)
        elif not isinstance(channel, str) or channel not in record.channels:
            refusal = _error(f"Client event rejected - not subscribed to channel {channel}")
        elif kind_of(channel) is ChannelKind.PUBLIC:
            refusal = _error(
                "Client event rejected - only supported on private and presence channels"
            )
        elif len(event) > self._limits.max_event_name_length:
            refusal = _error(
                "Client event rejected - event name longer than "
                f"{self._limits.max_event_name_length} characters"
            )
        elif data_size(frame.get("data")) > self._limits.max_event_data_bytes:
            refusal = _error(
                f"Client event rejected - data larger than {self._limits.max_event_data_bytes}"
                " bytes"
            )
        elif not self._within_rate(record, now):
            refusal = _error("Client event rejected due to rate limit", 4301)
        if refusal is not None:
            if isinstance(channel, str):
                refusal["channel"] = channel
            return [self._send(record, refusal)]
        assert isinstance(channel, str)
        message: dict[str, Any] = {
            "event": event,
            "channel": channel,
            "data": data_to_string(frame.get("data")),
        }
        user_id = record.presence.get(channel)
        if user_id is not None:
            message["user_id"] = user_id
        return self._broadcast(self._channels[channel], message, exclude=record.socket_id)

    def _within_rate(self, record: ConnectionRecord, now: float) -> bool:
        times = record.client_event_times
        while times and times[0] <= now - 1.0:
            times.popleft()
        if len(times) >= self._limits.client_events_per_second:
            return False
        times.append(now)
        return True

    # ---------------------------------------------------------------------- sign-in

    def _signin(self, record: ConnectionRecord, data: Any) -> list[Output]:
        if not isinstance(data, dict):
            return [self._send(record, _error("pusher:signin needs a data object"))]
        user_data_text = data.get("user_data")
        try:
            user = parse_user_data(user_data_text)
            self._check_signature(
                data.get("auth"), user_string_to_sign(record.socket_id, str(user_data_text))
            )
        except RuleError as refused:
            return [self._send(record, _error(refused.message))]
        user_id: str = user["id"]
        if record.user_id is not None and record.user_id != user_id:
            message = f"The connection is already signed in as user {record.user_id}"
            return [self._send(record, _error(message))]
        outputs: list[Output] = []
        raw_watchlist = user.get("watchlist")
        watchlist = (
            tuple(str(w) for w in raw_watchlist if isinstance(w, str | int))
            if isinstance(raw_watchlist, list)
            else ()
        )
        limit = self._limits.max_watchlist
        if len(watchlist) > limit:
            watchlist = watchlist[:limit]
            message = f"Watchlist limit exceeded: only the first {limit} user ids are watched"
            outputs.append(self._send(record, _error(message, 4302)))
        first_time = record.user_id is None
        record.user_id, record.user_data, record.authorize_by = user_id, user, None
        outputs.append(
            self._send(
                record, {"event": "pusher:signin_success", "data": {"user_data": user_data_text}}
            )
        )
        if first_time:
            record.watchlist = watchlist if self.settings.watchlist_events else ()
            notices = self._users.sign_in(record.socket_id, user_id, record.watchlist)
            outputs += [self._send(self._connections[sid], msg) for sid, msg in notices]
        return outputs

    # ---------------------------------------------------------------- server events

    def publish(
        self,
        channels: Iterable[str],
        event: str,
        data: str,
        now: float,
        exclude: str | None = None,
    ) -> list[Output]:
        """Send an event (already checked and encoded) to each channel's subscribers.

        Cache channels keep it as their last event. ``exclude`` is the socket id
        that must not get it (the HTTP API's ``socket_id``).
        """
        outputs: list[Output] = []
        for channel in channels:
            if is_cache_channel(channel):
                self._cache[channel] = (event, data, now + self._limits.cache_ttl)
            record = self._channels.get(channel)
            if record is not None:
                message = {"event": event, "channel": channel, "data": data}
                outputs += self._broadcast(record, message, exclude=exclude)
        return outputs

    def terminate_user(self, user_id: str) -> list[Output]:
        """Close every connection signed in as ``user_id`` (4009)."""
        outputs: list[Output] = []
        for socket_id in self._users.sockets_of(user_id):
            outputs += self.close(socket_id, 4009, "You got disconnected by the app")
        return outputs

    # -------------------------------------------------------------------- inspection

    def connection_ids(self) -> list[str]:
        """The socket ids of the open connections, oldest first."""
        return list(self._connections)

    def connections(self, include_closed: bool = False) -> list[ConnectionInfo]:
        """Snapshots of the open (and, if asked, the recently closed) connections."""
        records = list(self._closed) if include_closed else []
        records += self._connections.values()
        return [record.info() for record in records]

    def channel(self, name: str) -> ChannelInfo | None:
        """A snapshot of an occupied channel, or None."""
        record = self._channels.get(name)
        return record.info() if record is not None else None

    def channels(self) -> dict[str, ChannelInfo]:
        """Snapshots of every occupied channel."""
        return {name: record.info() for name, record in self._channels.items()}

    def is_open(self, socket_id: str) -> bool:
        """Whether ``socket_id`` is an open connection."""
        return socket_id in self._connections

    # ----------------------------------------------------------------------- helpers

    def _new_socket_id(self) -> str:
        for _ in range(100):  # 10**18 ids: a collision is already unlikely once
            socket_id = f"{self._rng.randrange(1, 10**9)}.{self._rng.randrange(1, 10**9)}"
            if socket_id not in self._connections:
                return socket_id
        raise RuntimeError("no free socket id after 100 draws")

    def _activity_timeout_value(self) -> int | float:
        timeout = self.settings.activity_timeout
        return int(timeout) if float(timeout).is_integer() else timeout

    def _send(self, record: ConnectionRecord, message: dict[str, Any]) -> SendFrame:
        record.sent.append(message)
        return SendFrame(record.socket_id, _encode(message))

    def _broadcast(
        self, channel_record: ChannelRecord, message: dict[str, Any], exclude: str | None = None
    ) -> list[Output]:
        payload = _encode(message)
        outputs: list[Output] = []
        for socket_id in channel_record.subscribers:
            if socket_id == exclude:
                continue
            self._connections[socket_id].sent.append(message)
            outputs.append(SendFrame(socket_id, payload))
        return outputs

    def _forget(self, record: ConnectionRecord, code: int | None) -> list[Output]:
        del self._connections[record.socket_id]
        record.open = False
        record.close_code = code
        self._closed.append(record)
        outputs: list[Output] = []
        for channel in list(record.channels):
            outputs += self._leave(record, channel)
        if record.user_id is not None:
            notices = self._users.sign_out(record.socket_id, record.user_id, record.watchlist)
            outputs += [self._send(self._connections[sid], msg) for sid, msg in notices]
        return outputs
