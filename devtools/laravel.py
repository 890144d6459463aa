r"""A stand-in for a Laravel application's broadcasting, on the official ``pusher`` SDK.

It does what Laravel does for Pusher and for Reverb (``BroadcastController`` and
``PusherBroadcaster``, whose signing is ``pusher/pusher-php-server``), with the routes
protected by Sanctum as in ``Broadcast::routes(['middleware' => ['auth:sanctum']])``:

``POST /broadcasting/auth``
    A form with ``socket_id`` and ``channel_name``. The user is the owner of the
    ``Authorization: Bearer <token>``; without a valid token the answer is 401
    ``{"message": "Unauthenticated."}`` when the request expects JSON (``Accept:
    application/json``, or ``X-Requested-With: XMLHttpRequest``) and otherwise a 302 to
    the login page, as Laravel's ``Authenticate`` middleware answers. The channel name,
    without its ``private-``/``private-encrypted-``/``presence-`` prefix, is matched
    against the channel routes (``routes/channels.php``): the first pattern that matches
    and answers truthy authorizes; ``False``, no answer or no pattern is a 403. A
    private channel gets ``{"auth": ...}``; a presence channel gets ``channel_data``
    too, ``{"user_id": <the user's id>, "user_info": <the route's answer>}``, encoded
    as PHP's ``json_encode`` does (compact, ``/`` escaped as ``\/``): clients must send
    it back byte for byte.

:meth:`LaravelApp.broadcast`
    ``broadcast(new OrderShipped($order))``: the SDK's ``trigger`` with the event's
    name, its full class name (``App\Events\OrderShipped``) unless it defines
    ``broadcastAs()``, and its public properties as the payload; ``socket_id`` is
    ``->toOthers()`` (the ``X-Socket-ID`` of the request that caused it).

It listens on 127.0.0.1, runs in a thread of its own and records every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from devtools.http_server import PostServer

ChannelRoute = Callable[..., Any]
"""``(user, *parameters) -> bool | dict | None``, as a ``Broadcast::channel`` closure."""

GUARDED_PREFIXES = ("private-encrypted-", "private-", "presence-")


class PhpJsonEncoder(json.JSONEncoder):
    """``json.dumps`` as PHP's ``json_encode`` writes: compact, ``/`` and non-ASCII escaped."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["separators"] = (",", ":")
        kwargs["ensure_ascii"] = True
        super().__init__(**kwargs)

    def encode(self, o: Any) -> str:
        # A "/" can only occur inside a JSON string, where "\/" is a valid escape.
        return super().encode(o).replace("/", "\\/")


def laravel_sdk(**options: Any) -> Any:
    """The ``pusher`` server SDK encoding JSON as a PHP application would."""
    import pusher

    return pusher.Pusher(json_encoder=PhpJsonEncoder, **options)


@dataclass
class LaravelUser:
    """An authenticated user: ``id`` as Laravel's ``getAuthIdentifier()`` (an integer)."""

    id: int
    name: str
    token: str
    """The Sanctum personal access token that identifies the user."""
    avatar: str = ""


@dataclass
class RecordedRequest:
    """One request the endpoint received, and the status it answered."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]
    status: int = 0


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """``orders.{orderId}`` into a regex with one group per parameter, as Laravel matches."""
    parts = re.split(r"(\{[^}]+\})", pattern)
    regex = "".join("([^.]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


@dataclass
class LaravelApp:
    """``/broadcasting/auth`` and ``broadcast()``; ``sdk`` is from :func:`laravel_sdk`."""

    sdk: Any
    users: list[LaravelUser] = field(default_factory=list)
    channels: dict[str, ChannelRoute] = field(default_factory=dict)
    """The channel routes: pattern (``orders.{orderId}``) to closure."""
    requests: list[RecordedRequest] = field(default_factory=list)
    _http: PostServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._http is not None
        return self._http.port

    @property
    def auth_url(self) -> str:
        """Laravel's broadcasting authorization route."""
        return f"http://127.0.0.1:{self.port}/broadcasting/auth"

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._http = PostServer(self._handle, "laravel-app")

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        if self._http is not None:
            self._http.stop()
            self._http = None

    def requests_for(self, channel_name: str) -> list[RecordedRequest]:
        """The authorization requests for ``channel_name``, in order."""
        with self._lock:
            return [r for r in self.requests if r.form.get("channel_name") == channel_name]

    def broadcast(
        self,
        channels: list[str],
        event: str,
        payload: dict[str, Any],
        socket_id: str | None = None,
    ) -> None:
        """``broadcast(new Event(...))`` (``->toOthers()`` with ``socket_id``)."""
        self.sdk.trigger(channels, event, payload, socket_id)

    # ------------------------------------------------------------------ the route

    def _user(self, headers: dict[str, str]) -> LaravelUser | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return next((user for user in self.users if user.token == token.strip()), None)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        raw = request.rfile.read(length).decode("utf-8")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded = RecordedRequest(request.path, form, headers)
        with self._lock:
            self.requests.append(recorded)
        status, body, extra = self._answer(request.path, form, headers)
        recorded.status = status
        data = body.encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json" if body else "text/html")
        for name, value in extra.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _answer(
        self, path: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, str, dict[str, str]]:
        if path.split("?", maxsplit=1)[0] != "/broadcasting/auth":
            return 404, json.dumps({"message": "Not Found"}), {}
        user = self._user(headers)
        if user is None:
            expects_json = "json" in headers.get("accept", "") or (
                headers.get("x-requested-with") == "XMLHttpRequest"
            )
            if expects_json:
                return 401, json.dumps({"message": "Unauthenticated."}), {}
            return 302, "", {"Location": f"http://127.0.0.1:{self.port}/login"}
        channel_name = form.get("channel_name", "")
        socket_id = form.get("socket_id", "")
        if not channel_name or not socket_id:
            return 403, json.dumps({"message": "Forbidden"}), {}
        result = self._route(user, channel_name)
        if not result:
            return 403, json.dumps({"message": "Forbidden"}), {}
        if channel_name.startswith("presence-"):
            user_data: dict[str, Any] = {"user_id": user.id}
            if isinstance(result, dict | list) and result:
                user_data["user_info"] = result
            answer = self.sdk.authenticate(channel_name, socket_id, user_data)
        else:
            answer = self.sdk.authenticate(channel_name, socket_id)
        if isinstance(answer.get("shared_secret"), bytes):
            answer["shared_secret"] = answer["shared_secret"].decode("ascii")
        return 200, json.dumps(answer), {}

    def _route(self, user: LaravelUser, channel_name: str) -> Any:
        name = channel_name
        for prefix in GUARDED_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        for pattern, closure in self.channels.items():
            match = _pattern_regex(pattern).match(name)
            if match is None:
                continue
            result = closure(user, *match.groups())
            if result is False:
                return None
            if result:
                return result
        return None
