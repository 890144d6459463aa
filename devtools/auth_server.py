"""A local authorization endpoint that signs with the official ``pusher`` server SDK.

It is what an application's backend does: ``POST /pusher/auth`` answers with
``Pusher.authenticate`` and ``POST /pusher/user-auth`` with
``Pusher.authenticate_user``; ``POST /pusher/auth-batch`` answers several channels at
once in the pusher-js-auth plugin's format (``channel_name[0]``, ``channel_name[1]``,
... in; a JSON object keyed by channel name out), as backends serving that plugin do.
With ``bearer_token`` set, a request without ``Authorization: Bearer <token>`` gets
HTTP 401, as an expired token would. It records every request (form fields and headers), so
tests can check what arrived, and can be told to fail: an HTTP status, a delay, or a
body that is not JSON. It listens on 127.0.0.1 and runs in a thread of its own.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from devtools.http_server import PostServer


@dataclass
class RecordedRequest:
    """One request the endpoint received."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def channel_names(self) -> list[str]:
        """The channels asked for: one, or a batch's ``channel_name[i]`` in order."""
        if "channel_name" in self.form:
            return [self.form["channel_name"]]
        names: list[str] = []
        while f"channel_name[{len(names)}]" in self.form:
            names.append(self.form[f"channel_name[{len(names)}]"])
        return names


@dataclass
class Failure:
    """How the endpoint misbehaves: ``status`` with ``body``, after ``delay`` s; for
    the next ``times`` requests only, when set (then it answers normally again)."""

    status: int = 200
    body: str | None = None
    delay: float = 0.0
    times: int | None = None


@dataclass
class AuthServer:
    """The endpoint; ``sdk`` is a ``pusher.Pusher`` holding the app secret."""

    sdk: Any
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Presence ``channel_data`` / sign-in ``user_data`` by the ``user`` form field."""
    default_user: dict[str, Any] = field(
        default_factory=lambda: {"user_id": "guest", "user_info": {"name": "Guest"}}
    )
    delay: float = 0.0
    failure: Failure | None = None
    bearer_token: str | None = None
    """When set, the token every request must carry (else HTTP 401)."""
    batch_statuses: dict[str, int] = field(default_factory=dict)
    """Channels a batch answer refuses, with the status it gives each."""
    batch_omits: set[str] = field(default_factory=set)
    """Channels a batch answer leaves out."""
    requests: list[RecordedRequest] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    """A server-side TLS context: the endpoint then speaks HTTPS."""
    _http: PostServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._http is not None
        return self._http.port

    @property
    def url(self) -> str:
        """The channel authorization endpoint."""
        return f"{self._scheme}://127.0.0.1:{self.port}/pusher/auth"

    @property
    def batch_url(self) -> str:
        """The batched channel authorization endpoint (pusher-js-auth's format)."""
        return f"{self._scheme}://127.0.0.1:{self.port}/pusher/auth-batch"

    @property
    def user_auth_url(self) -> str:
        """The user authentication (sign-in) endpoint."""
        return f"{self._scheme}://127.0.0.1:{self.port}/pusher/user-auth"

    @property
    def _scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._http = PostServer(self._handle, "auth-server", self.tls)

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        if self._http is not None:
            self._http.stop()
            self._http = None

    def requests_for(self, channel_name: str) -> list[RecordedRequest]:
        """The requests that asked for ``channel_name``."""
        with self._lock:
            return [r for r in self.requests if channel_name in r.channel_names]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        raw = request.rfile.read(length).decode("utf-8")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        recorded = RecordedRequest(
            request.path, form, {k.lower(): v for k, v in request.headers.items()}
        )
        with self._lock:
            self.requests.append(recorded)
            failure = self.failure
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failure = None
        delay = self.delay + (failure.delay if failure else 0.0)
        if delay:
            time.sleep(delay)
        if failure is not None and (failure.status != 200 or failure.body is not None):
            self._reply(request, failure.status, failure.body or "")
            return
        token = self.bearer_token
        if token is not None and recorded.headers.get("authorization") != f"Bearer {token}":
            self._reply(request, 401, json.dumps({"error": "token expired"}))
            return
        try:
            if request.path.endswith("/auth-batch"):
                answer = self._sign_batch(recorded)
            else:
                answer = self._sign(recorded)
        except Exception as exc:
            self._reply(request, 400, json.dumps({"error": str(exc)}))
            return
        self._reply(request, 200, json.dumps(answer))

    def _sign(self, request: RecordedRequest) -> dict[str, Any]:
        form = request.form
        user = self.users.get(form.get("user", ""), self.default_user)
        if request.path.endswith("/user-auth"):
            user_data = {"id": str(user["user_id"])}
            if "user_info" in user:
                user_data["user_info"] = user["user_info"]
            if "watchlist" in user:
                user_data["watchlist"] = user["watchlist"]
            result: dict[str, Any] = self.sdk.authenticate_user(form["socket_id"], user_data)
            return result
        channel = form["channel_name"]
        custom = user if channel.startswith("presence-") else None
        answer: dict[str, Any] = self.sdk.authenticate(channel, form["socket_id"], custom)
        if isinstance(answer.get("shared_secret"), bytes):
            answer["shared_secret"] = answer["shared_secret"].decode("ascii")
        return answer

    def _sign_batch(self, request: RecordedRequest) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for name in request.channel_names:
            if name in self.batch_omits:
                continue
            status = self.batch_statuses.get(name)
            if status is not None:
                answers[name] = {"status": status, "data": {"error": "refused"}}
                continue
            single = RecordedRequest(request.path, {**request.form, "channel_name": name}, {})
            answers[name] = {"status": 200, "data": self._sign(single)}
        return answers

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = body.encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
