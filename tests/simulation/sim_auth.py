"""The application's auth backend: an HTTP endpoint on the virtual clock, and its state.

:class:`SimAuthBackend` is what a service's ``/pusher/auth`` route would be, behind
the real client's HTTP path: the library's endpoint authorizer (``auth_endpoint=``,
with or without ``auth_batching``) and user authenticator (``user_auth_endpoint=``)
post through httpx to :class:`SimHttpTransport`, an ``httpx.AsyncBaseTransport``
whose requests take virtual time (see :func:`.seam.simulated_http`). The driver's
``on_authorizer`` callback asks the same backend, so that an outage or a token
rotation hits both paths alike.

What the backend does, drawn from its own seeded generator:

- answers signed as the server checks them (``sign``), one channel or a batch in
  the pusher-js-auth plugin's format (``{name: {"status", "data"}}``);
- is slow (up to 1.5 times the request timeout), never answers (the request times
  out), refuses the connection, drops it without an answer, answers 500, 503 or
  429, refuses with 403, signs wrongly, answers something that is not JSON or
  leaves a channel out of a batch;
- checks a bearer token: after a rotation (:meth:`SimAuthBackend.rotate_token`) the
  application's token is stale and the endpoint answers 401 (sometimes 403) until
  ``on_auth_failure`` (or the application itself) fetches the new one;
- outages (:meth:`SimAuthBackend.outage`): for a while every answer is a retryable
  failure (503, 429, no answer, connection refused), and slow periods;
- :meth:`SimAuthBackend.heal`: from then on, every answer is right and prompt.

Every authorization it signs has a number, and the number says which incarnation of
the channel was current when it was asked for (:meth:`SimAuthBackend.label`):
answers carry it in their signed ``channel_data`` (``user_info.auth_call`` for
presence channels, ``auth_call`` as a private channel's custom data; the server
checks that the subscribe that uses it is that incarnation's), and failures in
their message (``[auth n]``), so that an answer applied to another incarnation can
be seen.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx

from .sim_server import APP_KEY, sign

__all__ = [
    "AUTH_ENDPOINT",
    "USER_AUTH_ENDPOINT",
    "AuthFaults",
    "SimAuthBackend",
    "SimHttpTransport",
    "shared_ssl_context",
]

AUTH_ENDPOINT: Final = "https://auth.sim.invalid/pusher/auth"
USER_AUTH_ENDPOINT: Final = "https://auth.sim.invalid/pusher/user-auth"
_WRONG_SIGNATURE: Final = f"{APP_KEY}:{'0' * 64}"
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every simulated client (making one reads the system's CA
    store, about 40 ms; nothing in the simulation uses it)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


@dataclass(frozen=True, slots=True)
class AuthFaults:
    """How often each fault hits a request (probabilities)."""

    slow: float = 0.0
    never: float = 0.0
    refuse_connection: float = 0.0
    drop_connection: float = 0.0
    server_error: float = 0.0
    too_many: float = 0.0
    forbidden: float = 0.0
    wrong_signature: float = 0.0
    not_json: float = 0.0
    missing_entry: float = 0.0

    @classmethod
    def draw(cls, rng: random.Random) -> AuthFaults:
        """From a healthy backend to a very unreliable one."""
        scale = rng.choice((0.0, 0.5, 1.0, 1.0, 2.0))
        return cls(
            slow=0.08 * scale,
            never=0.02 * scale,
            refuse_connection=0.02 * scale,
            drop_connection=0.01 * scale,
            server_error=0.04 * scale,
            too_many=0.01 * scale,
            forbidden=0.02 * scale,
            wrong_signature=0.01 * scale,
            not_json=0.01 * scale,
            missing_entry=0.02 * scale,
        )


class SimAuthBackend:
    """The application's auth backend (see the module)."""

    def __init__(
        self,
        rng: random.Random,
        seed: int,
        incarnation_of: Callable[[str], int | None],
        trace: Callable[[str], None],
    ) -> None:
        self.rng = rng
        self.faults = AuthFaults.draw(rng)
        self.user_id = f"me-{seed % 97}"
        self.token = 0
        """The token the endpoint takes now."""
        self.app_token = 0
        """The token the application holds (sends); stale after a rotation until
        fetched again."""
        self.outage_until = 0.0
        self.slow_until = 0.0
        self.healed = False
        self.requests = 0
        self.in_flight = 0
        self.labels: list[int | None] = []
        """Per authorization number, the incarnation current when it was asked for."""
        self._incarnation_of = incarnation_of
        self._trace = trace
        self.transport = SimHttpTransport(self)

    # ---------------------------------------------------------------- control

    def outage(self, seconds: float) -> None:
        """Every answer is a retryable failure for ``seconds``."""
        now = asyncio.get_running_loop().time()
        self.outage_until = max(self.outage_until, now + seconds)

    def slow_period(self, seconds: float) -> None:
        """Every answer is slow for ``seconds``."""
        now = asyncio.get_running_loop().time()
        self.slow_until = max(self.slow_until, now + seconds)

    def rotate_token(self) -> None:
        """The endpoint takes a new token; the application's is stale."""
        self.token += 1

    def fetch_token(self) -> None:
        """The application fetches the current token."""
        self.app_token = self.token

    def heal(self) -> None:
        """From now on every answer is right and prompt, and the application holds
        the current token."""
        self.healed = True
        self.faults = AuthFaults()
        self.outage_until = self.slow_until = 0.0
        self.fetch_token()

    def headers(self) -> dict[str, str]:
        """What the application sends (``auth_params["headers"]``, a callable)."""
        return {"Authorization": f"Bearer tok-{self.app_token}"}

    # ---------------------------------------------------------------- answers

    def new_call(self, channel: str) -> int:
        """Number an authorization of ``channel``, labelled with its incarnation now."""
        self.labels.append(self._incarnation_of(channel))
        return len(self.labels) - 1

    def label(self, call: int) -> int | None:
        """The incarnation that authorization ``call`` was asked for by."""
        return self.labels[call] if 0 <= call < len(self.labels) else None

    def authorization(self, channel: str, socket_id: str, call: int) -> dict[str, str]:
        """A right answer for ``channel`` on ``socket_id``."""
        if channel.startswith("presence-"):
            channel_data = json.dumps({"user_id": self.user_id, "user_info": {"auth_call": call}})
        else:
            # Custom data signed with a private channel, as the server SDKs allow
            # (authenticate(channel, socket_id, custom_data)): here, its number.
            channel_data = json.dumps({"auth_call": call})
        return {"auth": sign(f"{socket_id}:{channel}:{channel_data}"), "channel_data": channel_data}

    def user_authentication(self, socket_id: str) -> dict[str, str]:
        """A right answer for ``signin()``."""
        user_data = json.dumps({"id": "me", "user_info": {}})
        return {"auth": sign(f"{socket_id}::user::{user_data}"), "user_data": user_data}

    def in_outage(self) -> bool:
        """Whether an outage is under way."""
        return asyncio.get_running_loop().time() < self.outage_until

    def delay(self, timeout: float) -> float:
        """How long the next answer takes (``inf``: it never comes)."""
        rng = self.rng
        now = asyncio.get_running_loop().time()
        if now < self.slow_until or rng.random() < self.faults.slow:
            return rng.uniform(0.3, 1.5 * timeout)
        if rng.random() < self.faults.never:
            return float("inf")
        return rng.uniform(0.001, 0.05)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request, in virtual time."""
        self.requests += 1
        self.in_flight += 1
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        rng, faults = self.rng, self.faults
        form = dict(parse_qsl((await request.aread()).decode()))
        timeouts = request.extensions.get("timeout") or {}
        timeout = float(timeouts.get("read") or 10.0)
        socket_id = form.get("socket_id", "")
        user = request.url.path.endswith("user-auth")
        names = [form["channel_name"]] if "channel_name" in form else []
        index = 0
        while f"channel_name[{index}]" in form:
            names.append(form[f"channel_name[{index}]"])
            index += 1
        calls = {name: self.new_call(name) for name in names}
        tag = f"[auth {calls[names[0]]}]" if len(names) == 1 else ""
        # How it ends.
        if self.in_outage():
            failure = rng.choice(("503", "429", "never", "refuse"))
        elif rng.random() < faults.refuse_connection:
            failure = "refuse"
        elif rng.random() < faults.drop_connection:
            failure = "drop"
        else:
            failure = ""
        delay = float("inf") if failure == "never" else self.delay(timeout)
        if failure == "refuse":
            await asyncio.sleep(rng.uniform(0.0, 0.05))
            raise httpx.ConnectError("simulated: connection refused", request=request)
        if delay >= timeout:
            await asyncio.sleep(timeout)
            raise httpx.ReadTimeout("simulated: no answer in time", request=request)
        await asyncio.sleep(delay)
        if failure == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if failure in ("503", "429"):
            return _text(int(failure), f"{tag} try again later")
        if request.headers.get("authorization") != f"Bearer tok-{self.token}":
            return _text(401 if rng.random() < 0.7 else 403, f"{tag} token expired")
        if rng.random() < faults.server_error:
            return _text(rng.choice((500, 502, 503)), f"{tag} backend error")
        if rng.random() < faults.too_many:
            return _text(429, f"{tag} slow down")
        if rng.random() < faults.forbidden:
            return _text(403, f"{tag} forbidden")
        if rng.random() < faults.not_json:
            return httpx.Response(200, content=b"<html>proxy error</html>")
        if user:
            return _json(self.user_authentication(socket_id))
        if len(names) == 1 and "channel_name" in form:
            return _json(self._answer(names[0], socket_id, calls[names[0]]))
        batch: dict[str, Any] = {}
        for name in names:
            if rng.random() < faults.missing_entry:
                continue
            if rng.random() < faults.forbidden:
                batch[name] = {"status": 403, "data": {}}
            elif rng.random() < faults.server_error:
                batch[name] = {"status": 503}
            else:
                batch[name] = {"status": 200, "data": self._answer(name, socket_id, calls[name])}
        return _json(batch)

    def _answer(self, channel: str, socket_id: str, call: int) -> dict[str, str]:
        answer = self.authorization(channel, socket_id, call)
        if self.rng.random() < self.faults.wrong_signature:
            answer["auth"] = _WRONG_SIGNATURE
        return answer


class SimHttpTransport(httpx.AsyncBaseTransport):
    """httpx's way to the simulated backend: no socket, virtual time."""

    def __init__(self, backend: SimAuthBackend) -> None:
        self.backend = backend

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` as the backend does."""
        return await self.backend.handle(request)


def _text(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, content=text.encode())


def _json(value: Any) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(value).encode())
