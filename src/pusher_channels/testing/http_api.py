"""The HTTP API the official server SDKs call, sans I/O, with Pusher's signature checks.

Routes (https://pusher.com/docs/channels/library_auth_reference/rest-api):

======  ===============================================  ============================
method  path                                             what
======  ===============================================  ============================
POST    ``/apps/<id>/events``                            trigger on up to 100 channels
POST    ``/apps/<id>/batch_events``                      up to 10 triggers
GET     ``/apps/<id>/channels``                          occupied channels
GET     ``/apps/<id>/channels/<channel>``                one channel's info
GET     ``/apps/<id>/channels/<channel>/users``          a presence channel's users
POST    ``/apps/<id>/users/<user>/terminate_connections``  close a user's connections
GET     ``/`` and ``/ready``                             ``OK`` (readiness)
======  ===============================================  ============================

``POST /users/<user>/terminate_connections`` (no ``/apps/<id>`` prefix) is also
accepted: it is the path pusher-http-python 3.3 calls. Every ``/apps`` request must
carry ``auth_key``, ``auth_timestamp`` (within 600 s), ``auth_version=1.0``,
``body_md5`` when it has a body, and ``auth_signature``; errors are plain text, as
on Pusher, with the documented statuses (400, 401, 404, 413).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..protocol.channels import ChannelKind
from ..protocol.signatures import hex_signature, http_string_to_sign, signatures_match
from .core import ServerCore
from .outputs import Output
from .rules import (
    RuleError,
    channel_name_problem,
    data_to_string,
    kind_of,
    socket_id_problem,
)

__all__ = ["HttpApi", "HttpRequest", "HttpResponse"]

TIMESTAMP_WINDOW: Final = 600.0
"""Seconds an ``auth_timestamp`` may be away from the server's clock."""
_WHOLE_SECONDS: Final = re.compile(r"[0-9]{1,20}")
"""An ``auth_timestamp`` as every SDK sends it: ASCII digits (and not so many that
``int`` would refuse them)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request: ``path`` percent-decoded, ``raw_path`` as sent, ``query`` decoded."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw_path: str | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """The answer: a status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> HttpResponse:
        """A JSON answer."""
        return cls(status, orjson.dumps(value))

    @classmethod
    def text(cls, status: int, message: str) -> HttpResponse:
        """A plain-text answer (Pusher's errors are plain text)."""
        return cls(status, message.encode("utf-8"), "text/plain; charset=utf-8")


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = HttpResponse.text(status, message)


Handler = Callable[[HttpRequest, list[str], float], tuple[HttpResponse, list[Output]]]


class HttpApi:
    """Answers HTTP API requests from the state of a :class:`ServerCore`."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self._limits = core.settings.limits

    def handle(
        self, request: HttpRequest, wall_time: float, now: float
    ) -> tuple[HttpResponse, list[Output]]:
        """Answer ``request``; ``wall_time`` is Unix time, ``now`` the core's clock."""
        parts = [part for part in request.path.split("/") if part]
        if request.method in ("GET", "HEAD") and parts in ([], ["ready"]):
            return HttpResponse.text(200, "OK"), []
        try:
            handler, args = self._route(request.method, parts)
            self._authenticate(request, wall_time)
            return handler(request, args, now)
        except _RefusedError as refused:
            return refused.response, []

    # -------------------------------------------------------------------- routing

    def _route(self, method: str, parts: list[str]) -> tuple[Handler, list[str]]:
        routes: dict[tuple[str, ...], tuple[str, Handler]] = {
            ("events",): ("POST", self._events),
            ("batch_events",): ("POST", self._batch_events),
            ("channels",): ("GET", self._channels),
            ("channels", "*"): ("GET", self._channel),
            ("channels", "*", "users"): ("GET", self._users),
            ("users", "*", "terminate_connections"): ("POST", self._terminate),
        }
        if parts[:1] == ["users"]:
            rest = parts  # pusher-http-python's path for terminate_user_connections
        elif parts[:1] == ["apps"] and len(parts) >= 3:
            if parts[1] != self.core.settings.app_id:
                raise _RefusedError(404, f"Unknown app id {parts[1]}")
            rest = parts[2:]
        else:
            raise _RefusedError(404, "Not found")
        shape = tuple("*" if index % 2 else part for index, part in enumerate(rest))
        route = routes.get(shape)
        if route is None:
            raise _RefusedError(404, "Not found")
        wanted, handler = route
        if method != wanted:
            raise _RefusedError(405, f"Method {method} not allowed here; use {wanted}")
        return handler, [part for index, part in enumerate(rest) if index % 2]

    def _authenticate(self, request: HttpRequest, wall_time: float) -> None:
        params = dict(request.query)
        settings = self.core.settings
        if params.get("auth_key") != settings.key:
            raise _RefusedError(401, f"Unknown auth_key {params.get('auth_key')!r}")
        if params.get("auth_version") != "1.0":
            raise _RefusedError(401, "auth_version must be 1.0")
        timestamp = _whole_seconds(params.get("auth_timestamp"))
        if abs(timestamp - wall_time) > TIMESTAMP_WINDOW:
            raise _RefusedError(
                401,
                f"Timestamp expired: given timestamp ({timestamp}) not within "
                f"{TIMESTAMP_WINDOW:.0f}s of server time ({wall_time:.0f})",
            )
        if request.body:
            digest = hashlib.md5(request.body, usedforsecurity=False).hexdigest()
            if params.get("body_md5") != digest:
                raise _RefusedError(401, "body_md5 does not match the body's MD5 hex digest")
        paths = {request.path, request.raw_path or request.path}
        given = params.get("auth_signature")
        for path in sorted(paths):
            to_sign = http_string_to_sign(request.method, path, request.query)
            if signatures_match(hex_signature(settings.secret, to_sign), given):
                return
        to_sign = http_string_to_sign(
            request.method, request.raw_path or request.path, request.query
        )
        raise _RefusedError(
            401, f"Invalid signature: you should have sent HmacSHA256Hex({to_sign!r}, your_secret)"
        )

    # -------------------------------------------------------------------- events

    def _events(
        self, request: HttpRequest, _args: list[str], now: float
    ) -> tuple[HttpResponse, list[Output]]:
        body = self._json_body(request)
        channels = body.get("channels")
        if channels is None and isinstance(body.get("channel"), str):
            channels = [body["channel"]]
        event = self._check_event(body, channels)
        names: list[str] = event["channels"]
        if len(names) > self._limits.max_trigger_channels:
            raise _RefusedError(
                400, f"Cannot trigger on more than {self._limits.max_trigger_channels} channels"
            )
        encrypted = [n for n in names if kind_of(n) is ChannelKind.PRIVATE_ENCRYPTED]
        if encrypted and len(names) > 1:
            raise _RefusedError(400, "Cannot trigger on several channels when one is encrypted")
        outputs = self.core.publish(
            names, event["name"], event["data"], now, exclude=event["socket_id"]
        )
        info = self._info(body)
        if info is None:
            return HttpResponse.json({}), outputs
        unique = list(dict.fromkeys(names))
        answer = {"channels": {name: self._attributes(name, info) for name in unique}}
        return HttpResponse.json(answer), outputs

    def _batch_events(
        self, request: HttpRequest, _args: list[str], now: float
    ) -> tuple[HttpResponse, list[Output]]:
        body = self._json_body(request)
        batch = body.get("batch")
        if not isinstance(batch, list) or not batch:
            raise _RefusedError(400, "batch must be a non-empty list of events")
        if len(batch) > self._limits.max_batch_events:
            raise _RefusedError(
                400, f"Cannot batch more than {self._limits.max_batch_events} events at once"
            )
        events = []
        for item in batch:
            if not isinstance(item, dict):
                raise _RefusedError(400, "each batch entry must be an event object")
            channel = item.get("channel")
            if not isinstance(channel, str):
                raise _RefusedError(400, "each batch event needs a 'channel' string")
            events.append((self._check_event(item, [channel]), self._info(item)))
        outputs: list[Output] = []
        for event, _ in events:
            outputs += self.core.publish(
                event["channels"], event["name"], event["data"], now, exclude=event["socket_id"]
            )
        if all(info is None for _, info in events):
            return HttpResponse.json({}), outputs
        attributes = [
            self._attributes(event["channels"][0], info) if info is not None else {}
            for event, info in events
        ]
        return HttpResponse.json({"batch": attributes}), outputs

    def _check_event(self, body: dict[str, Any], channels: object) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise _RefusedError(400, "The event needs a 'name' string")
        if len(name) > self._limits.max_event_name_length:
            raise _RefusedError(
                400, f"Event name is longer than {self._limits.max_event_name_length} characters"
            )
        if "data" not in body or body["data"] is None:
            raise _RefusedError(400, "The event needs 'data'")
        try:
            data = data_to_string(body["data"])
        except RuleError as exc:
            raise _RefusedError(400, exc.message) from None
        if len(data.encode("utf-8")) > self._limits.max_event_data_bytes:
            raise _RefusedError(
                413, f"The event data is larger than {self._limits.max_event_data_bytes} bytes"
            )
        if not isinstance(channels, list) or not channels:
            raise _RefusedError(400, "The event needs 'channels' (a list) or 'channel'")
        for channel in channels:
            problem = channel_name_problem(channel, self._limits)
            if problem is not None:
                raise _RefusedError(400, problem)
        socket_id = body.get("socket_id")
        if socket_id is not None and socket_id_problem(socket_id) is not None:
            raise _RefusedError(400, f"Invalid socket_id {socket_id!r}")
        return {"name": name, "data": data, "channels": channels, "socket_id": socket_id}

    def _info(self, body: dict[str, Any]) -> list[str] | None:
        info = body.get("info")
        if info is None:
            return None
        if not isinstance(info, str):
            raise _RefusedError(400, "info must be a comma-separated string")
        attributes = [a for a in info.split(",") if a]
        unknown = set(attributes) - {"user_count", "subscription_count"}
        if unknown:
            raise _RefusedError(400, f"Unknown info attributes: {sorted(unknown)}")
        return attributes

    def _attributes(self, channel: str, info: list[str]) -> dict[str, int]:
        """The requested counts that apply to ``channel`` (the others are left out)."""
        record = self.core.channel(channel)
        presence = kind_of(channel) is ChannelKind.PRESENCE
        attributes: dict[str, int] = {}
        if "user_count" in info and presence:
            attributes["user_count"] = record.user_count if record else 0
        if "subscription_count" in info and not presence:
            attributes["subscription_count"] = record.subscription_count if record else 0
        return attributes

    # ------------------------------------------------------------------ channels

    def _channels(
        self, request: HttpRequest, _args: list[str], _now: float
    ) -> tuple[HttpResponse, list[Output]]:
        params = dict(request.query)
        prefix = params.get("filter_by_prefix", "")
        info = [a for a in params.get("info", "").split(",") if a]
        if set(info) - {"user_count"}:
            raise _RefusedError(400, "Only the user_count attribute is available for channel lists")
        if info and not prefix.startswith("presence-"):
            raise _RefusedError(400, "user_count needs filter_by_prefix=presence-")
        channels = {
            name: ({"user_count": record.user_count} if info else {})
            for name, record in self.core.channels().items()
            if name.startswith(prefix)
        }
        return HttpResponse.json({"channels": channels}), []

    def _channel(
        self, request: HttpRequest, args: list[str], _now: float
    ) -> tuple[HttpResponse, list[Output]]:
        name = self._channel_name(args[0])
        info = [a for a in dict(request.query).get("info", "").split(",") if a]
        presence = kind_of(name) is ChannelKind.PRESENCE
        for attribute in info:
            if attribute == "user_count" and not presence:
                raise _RefusedError(400, "user_count is only available for presence channels")
            if attribute == "subscription_count" and presence:
                raise _RefusedError(
                    400, "subscription_count is not available for presence channels"
                )
            if attribute not in ("user_count", "subscription_count"):
                raise _RefusedError(400, f"Unknown info attribute {attribute!r}")
        record = self.core.channel(name)
        answer: dict[str, Any] = {"occupied": record is not None}
        answer.update(self._attributes(name, info))
        return HttpResponse.json(answer), []

    def _users(
        self, _request: HttpRequest, args: list[str], _now: float
    ) -> tuple[HttpResponse, list[Output]]:
        name = self._channel_name(args[0])
        if kind_of(name) is not ChannelKind.PRESENCE:
            raise _RefusedError(400, "Users can only be listed for presence channels")
        record = self.core.channel(name)
        users = [{"id": user_id} for user_id in (record.members if record else {})]
        return HttpResponse.json({"users": users}), []

    def _terminate(
        self, _request: HttpRequest, args: list[str], _now: float
    ) -> tuple[HttpResponse, list[Output]]:
        return HttpResponse.json({}), self.core.terminate_user(args[0])

    # ------------------------------------------------------------------- helpers

    def _channel_name(self, name: str) -> str:
        problem = channel_name_problem(name, self._limits)
        if problem is not None:
            raise _RefusedError(400, problem)
        return name

    @staticmethod
    def _json_body(request: HttpRequest) -> dict[str, Any]:
        try:
            body = orjson.loads(request.body) if request.body else None
        except orjson.JSONDecodeError:
            raise _RefusedError(400, "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _RefusedError(400, "The body must be a JSON object")
        return body


def _whole_seconds(given: str | None) -> int:
    """An ``auth_timestamp``: the time in whole seconds since the epoch.

    The SDKs send ASCII digits; anything else is refused with 401, as a timestamp
    the server cannot use: ``nan``, ``inf``, a negative or fractional number,
    ``1e9``, ``1_000``, other digits than ASCII ones, surrounding spaces (``float``
    took them all, and ``nan`` passed every comparison with the clock).

    Raises:
        _RefusedError: 401, saying what was given.
    """
    if given is None:
        raise _RefusedError(401, "auth_timestamp is missing")
    if _WHOLE_SECONDS.fullmatch(given) is None:
        raise _RefusedError(
            401,
            f"auth_timestamp must be the time in whole seconds since the epoch, got {given!r}",
        )
    return int(given)
