"""Channel authorization: the HTTP endpoint, the ``on_authorizer`` callback, local signing.

Each authorizer is an async callable ``(channel_name, socket_id) -> dict`` giving
``auth`` and, as the channel needs, ``channel_data`` (presence, the exact JSON string
that was signed) and ``shared_secret`` (encrypted channels, decoded to 32 bytes).
Every failure raises :class:`~pusher_channels.exceptions.AuthorizationError` naming
the channel and the cause (HTTP status, server message), never the signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import logging
import ssl
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypedDict
from urllib.parse import urlsplit

from ._proxies import BYPASSED
from ._redaction import hide_from_http_logs, redact_url
from .exceptions import AuthorizationError, PusherConfigError, SigninError
from .options import ClientOptions
from .protocol.signatures import authorization, shared_secret

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BatchingEndpointAuthorizer",
    "CallbackAuthorizer",
    "EndpointAuthorizer",
    "LocalSigner",
    "build_authorizer",
    "build_user_authenticator",
    "normalize_authorization",
]

logger = logging.getLogger("pusher_channels")

Authorization = dict[str, Any]
UserAuthentication = dict[str, str]
"""``{"auth": "key:signature", "user_data": "<the JSON string that was signed>"}``."""
SHARED_SECRET_LENGTH: Final = 32
REQUEST_TIMEOUT: Final = 10.0
MAX_RESPONSE_BYTES: Final = 65_536
"""The largest answer an endpoint may give for one channel (``max_auth_response_bytes``)."""
_BODY_EXCERPT: Final = 200

logger = logging.getLogger("pusher_channels")


def _resolve(value: Any) -> dict[str, str]:
    """A mapping, or a callable returning one (evaluated for each request)."""
    if value is None:
        return {}
    if callable(value):
        value = value()
    if not isinstance(value, Mapping):
        raise PusherConfigError("auth_params 'params' and 'headers' must be mappings")
    return {str(k): str(v) for k, v in value.items()}


def normalize_authorization(channel_name: str, answer: Any) -> Authorization:
    """Check an authorizer's answer and decode ``shared_secret`` to bytes.

    Raises:
        AuthorizationError: ``auth`` is missing, ``channel_data`` is not a string, or
            the ``shared_secret`` of an encrypted channel is missing or malformed.
    """
    if not isinstance(answer, Mapping):
        raise AuthorizationError(
            f"authorization for {channel_name!r} is not an object", channel_name
        )
    auth = answer.get("auth")
    if not isinstance(auth, str) or not auth:
        raise AuthorizationError(
            f"authorization for {channel_name!r} has no 'auth' string", channel_name
        )
    result: Authorization = {"auth": auth}
    channel_data = answer.get("channel_data")
    if channel_data is not None:
        if not isinstance(channel_data, str):
            raise AuthorizationError(
                f"'channel_data' for {channel_name!r} must be the JSON string that was signed",
                channel_name,
            )
        result["channel_data"] = channel_data
    if channel_name.startswith("private-encrypted-"):
        result["shared_secret"] = _decode_shared_secret(channel_name, answer.get("shared_secret"))
    return result


def _decode_shared_secret(channel_name: str, value: Any) -> bytes:
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    if not isinstance(value, bytes):
        raise AuthorizationError(
            f"authorization for {channel_name!r} has no 'shared_secret'", channel_name
        )
    try:
        secret = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AuthorizationError(
            f"'shared_secret' for {channel_name!r} is not base64", channel_name
        ) from None
    if len(secret) != SHARED_SECRET_LENGTH:
        raise AuthorizationError(
            f"'shared_secret' for {channel_name!r} is not {SHARED_SECRET_LENGTH} bytes",
            channel_name,
        )
    return secret


class _EndpointError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


AuthFailureHook = Callable[[Any], Any]
"""``on_auth_failure(error) -> bool`` (or awaitable): retry once after a 401/403?"""
_CREDENTIAL_STATUSES: Final = frozenset({401, 403})
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class _FormPoster:
    """What both endpoints share: the HTTP client, params and headers, the size cap,
    and one retry after a 401/403 with fresh credentials.

    Params and headers may be callables, evaluated for every request. When the
    endpoint answers 401 or 403, the request is made once more if the app can have
    new credentials for it: ``on_auth_failure(error)`` decides (and may fetch a new
    token first); without it, the request is retried when the params or headers are
    callables (evaluated again), and not when they are fixed.

    ``proxy`` is the proxy already chosen for this endpoint (by the same rule as the
    WebSocket's, see ``ClientOptions.proxy_route``), or ``None`` for none: httpx is
    told not to read the environment itself, so that it cannot decide otherwise.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        params: Any = None,
        headers: Any = None,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = REQUEST_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        on_auth_failure: AuthFailureHook | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._shown_endpoint = redact_url(endpoint)
        hide_from_http_logs(endpoint)
        self._params = params
        self._headers = headers
        self._proxy = proxy
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._on_auth_failure = on_auth_failure
        self._http: httpx.AsyncClient | None = None
        self._plain_http_checked = urlsplit(endpoint).scheme.lower() != "http"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            # Imported on first use: httpx is a fifth of the package's import time,
            # and a client without an auth endpoint never needs it.
            import httpx

            # The WebSocket's trust: ssl_context, else the system's store (which
            # SSL_CERT_FILE and SSL_CERT_DIR extend), not httpx's own CA list.
            verify = self._ssl_context or ssl.create_default_context()
            self._http = httpx.AsyncClient(
                proxy=self._proxy, verify=verify, timeout=self._timeout, trust_env=False
            )
        return self._http

    def forget_pool(self) -> None:
        """Drop the HTTP pool of an event loop that has ended (it cannot be closed)."""
        self._http = None

    async def aclose(self) -> None:
        """Close the HTTP connection pool (a request made from now on opens a new one)."""
        http = self._take_pool()
        if http is not None:
            await http.aclose()

    def _take_pool(self) -> httpx.AsyncClient | None:
        """The pool, no longer this endpoint's: closing it cannot close a later one."""
        http, self._http = self._http, None
        return http

    async def _post(
        self,
        form: Mapping[str, str],
        what: str,
        make_error: Callable[[_EndpointError], Exception],
        size_limit: int | None = None,
    ) -> Any:
        """POST ``form`` plus the params; return the decoded JSON answer, retrying
        once after a 401/403 when new credentials may help (see the class).

        Raises:
            _EndpointError: no answer in time, no connection, no answer on the
                connection, non-2xx, too large, or not JSON.
        """
        try:
            return await self._post_once(form, what, size_limit)
        except _EndpointError as exc:
            if exc.status not in _CREDENTIAL_STATUSES or not await self._retry_after(
                make_error(exc)
            ):
                raise
        logger.info("%s: retrying once with fresh credentials", what)
        return await self._post_once(form, what, size_limit)

    async def _retry_after(self, error: Exception) -> bool:
        hook = self._on_auth_failure
        if hook is None:
            return callable(self._params) or callable(self._headers)
        try:
            decision = hook(error)
            if inspect.isawaitable(decision):
                decision = await decision
        except Exception as exc:
            logger.warning("on_auth_failure raised %s: not retrying", type(exc).__name__)
            return False
        return bool(decision)

    async def _post_once(self, form: Mapping[str, str], what: str, size_limit: int | None) -> Any:
        import httpx

        body = {**form, **_resolve(self._params)}
        headers = _resolve(self._headers)
        if not self._plain_http_checked:
            self._plain_http_checked = True
            _warn_if_credentials_in_the_clear(self.endpoint, self._shown_endpoint, headers)
        endpoint = self._shown_endpoint
        limit = size_limit if size_limit is not None else self._max_response_bytes
        try:
            async with self._client().stream(
                "POST", self.endpoint, data=body, headers=headers
            ) as response:
                status = response.status_code
                content = await _read_at_most(response, limit)
        except httpx.TimeoutException:
            raise _EndpointError(
                f"{what} timed out: no answer from {endpoint} within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise _EndpointError(
                f"{what} failed: {_what_went_wrong(exc, self.endpoint, endpoint)}"
            ) from None
        if content is None:
            raise _EndpointError(
                f"{what} failed: {endpoint} answered more than {limit:,} bytes "
                "(see max_auth_response_bytes)",
                status,
            )
        if not 200 <= status < 300:
            excerpt = content[:_BODY_EXCERPT].decode("utf-8", "replace").strip()
            raise _EndpointError(
                f"{what} failed: {endpoint} answered HTTP {status}"
                + (f": {excerpt}" if excerpt else ""),
                status,
            )
        try:
            return json.loads(content)
        except ValueError:
            raise _EndpointError(
                f"{what} failed: {endpoint} answered HTTP {status} with a body that is not JSON",
                status,
            ) from None


async def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it is known to exceed ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _warn_if_credentials_in_the_clear(
    endpoint: str, shown: str, headers: Mapping[str, str]
) -> None:
    """Warn (once per endpoint) when credentials would go over plain ``http://``."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if host in _LOCAL_HOSTS:
        return
    carries_credentials = any(
        name.lower() in ("authorization", "proxy-authorization", "cookie")
        or value.lower().startswith(("bearer ", "basic "))
        for name, value in headers.items()
    )
    if carries_credentials:
        message = (
            f"the auth endpoint {shown} is plain http:// and its requests carry "
            "credentials (an Authorization header): anyone on the path can read them; "
            "use https://"
        )
        logger.warning("%s", message)
        warnings.warn(message, UserWarning, stacklevel=2)


def _what_went_wrong(exc: httpx.HTTPError, endpoint: str, shown: str) -> str:
    """Say what happened to a request that got no HTTP answer: whether the endpoint
    was reached at all, and if so what it did. ``endpoint`` appears as ``shown``."""
    import httpx

    endpoint, detail = shown, _root_detail(exc).replace(endpoint, shown)
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy did not pass the request to {endpoint} on ({detail})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {endpoint} ({detail})"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending a response" in str(exc):
            return f"{endpoint} was reached but closed the connection without an answer"
        return f"{endpoint} answered with something that is not HTTP ({detail})"
    if isinstance(exc, httpx.NetworkError):  # read or write error on an open connection
        return f"the connection to {endpoint} broke before it answered ({detail})"
    return f"the request to {endpoint} failed ({detail})"


def _root_detail(exc: BaseException) -> str:
    """``Type: message`` of the deepest exception of the chain that has a message:
    httpx's own are often empty or vague, the ``OSError`` behind them is not."""
    detail = type(exc).__name__
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if str(seen):
            detail = f"{type(seen).__name__}: {seen}"
        seen = seen.__cause__ or seen.__context__
    return detail


class UserEndpointAuthenticator(_FormPoster):
    """POSTs ``socket_id`` to the user-authentication endpoint, for ``signin()``."""

    async def __call__(self, socket_id: str) -> UserAuthentication:
        try:
            answer = await self._post(
                {"socket_id": socket_id}, "user authentication", _signin_error
            )
        except _EndpointError as exc:
            raise _signin_error(exc) from None
        return normalize_user_authentication(answer)


def _signin_error(exc: _EndpointError) -> SigninError:
    return SigninError(exc.message, status=exc.status)


class EndpointAuthorizer(_FormPoster):
    """POSTs ``socket_id`` and ``channel_name`` (form-encoded) to an endpoint.

    ``params`` and ``headers`` may be mappings or callables returning mappings,
    evaluated for every request, for tokens that rotate.
    """

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        form = {"socket_id": socket_id, "channel_name": channel_name}

        def error(exc: _EndpointError) -> AuthorizationError:
            return _authorization_error(exc.message, channel_name, exc.status)

        try:
            answer = await self._post(form, f"authorization of {channel_name!r}", error)
        except _EndpointError as exc:
            raise error(exc) from None
        return normalize_authorization(channel_name, answer)


def _authorization_error(message: str, channel_name: str, status: int | None) -> AuthorizationError:
    retryable = status is None or status >= 500 or status == 429
    return AuthorizationError(message, channel_name, status=status, retryable=retryable)


def _asks_for_credentials(error: AuthorizationError) -> bool:
    """Whether the endpoint refused with 401 or 403 (new credentials may help)."""
    return error.status in _CREDENTIAL_STATUSES


class BatchingEndpointAuthorizer(EndpointAuthorizer):
    """Asks the endpoint for several channels in one request (``auth_batching=True``).

    The wire format is that of the pusher-js-auth plugin, which many backends
    already serve: the form has ``socket_id`` and ``channel_name[0]``,
    ``channel_name[1]``, ... (plus the params); the answer is a JSON object keyed by
    channel name, each ``{"status": <HTTP status, optional on success>, "data":
    {<the usual answer>}}``. A channel missing from the answer fails alone, as a 404;
    one refused with 401 or 403 is asked for once more as a single request would be.

    Each channel still asks on its own (and is timed out on its own): the first ask
    opens a batch for its socket, the asks of the next ``delay`` seconds join it, and
    a batch that reaches ``size`` channels is sent at once.
    """

    def __init__(self, endpoint: str, *, delay: float, size: int, **kwargs: Any) -> None:
        super().__init__(endpoint, **kwargs)
        self._delay = delay
        self._size = size
        self._open: dict[str, _Batch] = {}
        """The batch collecting channels, by socket id."""
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        batch = self._open.get(socket_id)
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._open[socket_id] = _Batch(socket_id)
            batch.timer = loop.call_later(self._delay, self._send, batch)
        future = batch.add(channel_name)
        if len(batch.waiters) >= self._size:
            self._send(batch)
        return await future

    def _send(self, batch: _Batch) -> None:
        if self._open.get(batch.socket_id) is batch:
            del self._open[batch.socket_id]
        if batch.timer is not None:
            batch.timer.cancel()
        if batch.abandoned:
            return
        task = asyncio.get_running_loop().create_task(self._request(batch))
        batch.task = task
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _request(self, batch: _Batch) -> None:
        """Ask for the batch's channels; every waiter gets an outcome, however the
        request ends: its authorization, its refusal, or the exception that stopped
        the request (a params or headers callable that raised, say), raised to each
        waiter as a single request raises it.

        Channels refused with 401 or 403 (by the whole answer or by their own
        entries) follow a single request's rule (see :class:`_FormPoster`): when
        ``on_auth_failure``, told of the first of them, or callable params or
        headers say new credentials may help, they are asked for once more, together.
        """
        names = list(batch.waiters)
        try:
            outcomes = await self._ask(batch.socket_id, names)
            refused: dict[str, AuthorizationError] = {}
            for name, outcome in outcomes.items():
                if isinstance(outcome, AuthorizationError) and _asks_for_credentials(outcome):
                    refused[name] = outcome
                else:
                    batch.settle(name, outcome)
            if refused and await self._retry_after(next(iter(refused.values()))):
                logger.info(
                    "authorization of %d channels: retrying once with fresh credentials",
                    len(refused),
                )
                outcomes.update(await self._ask(batch.socket_id, list(refused)))
            for name in refused:
                batch.settle(name, outcomes[name])
        except Exception as exc:
            for name in names:
                batch.settle(name, exc)  # (those settled already keep their outcome)

    async def _ask(
        self, socket_id: str, names: list[str]
    ) -> dict[str, Authorization | AuthorizationError]:
        """One request for ``names``: each channel's authorization or refusal.

        Raises:
            Exception: what a params or headers callable raised.
        """
        form = {"socket_id": socket_id}
        form.update({f"channel_name[{index}]": name for index, name in enumerate(names)})
        what = f"authorization of {len(names)} channels"
        try:
            answer = await self._post_once(form, what, self._max_response_bytes * len(names))
        except _EndpointError as exc:
            return {name: _authorization_error(exc.message, name, exc.status) for name in names}
        if not isinstance(answer, Mapping):
            return {
                name: AuthorizationError(
                    f"{what} failed: {self._shown_endpoint} answered something other "
                    "than an object keyed by channel name",
                    name,
                )
                for name in names
            }
        return {name: self._entry(name, answer.get(name)) for name in names}

    def _entry(self, name: str, entry: Any) -> Authorization | AuthorizationError:
        """One channel's part of a batch answer, as its authorization or its error."""
        shown = self._shown_endpoint
        if entry is None:
            return AuthorizationError(
                f"authorization of {name!r} failed: {shown} left it out of the batch "
                "answer (taken as HTTP 404)",
                name,
                status=404,
            )
        if not isinstance(entry, Mapping):
            return AuthorizationError(
                f"authorization of {name!r} failed: its batch entry is not an object", name
            )
        status = entry.get("status", 200)
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if isinstance(status, bool) or not isinstance(status, int):
            return AuthorizationError(
                f"authorization of {name!r} failed: its batch entry has no numeric status",
                name,
            )
        if not 200 <= status < 300:
            return _authorization_error(
                f"authorization of {name!r} failed: {shown} answered HTTP {status} for it",
                name,
                status,
            )
        try:
            return normalize_authorization(name, entry.get("data"))
        except AuthorizationError as exc:
            return exc

    async def aclose(self) -> None:
        """Stop the batches under way and close the HTTP pool: those of this moment,
        all taken before the first await (a batch begun later, and its pool, are new)."""
        http = self._take_pool()
        batches, sending = list(self._open.values()), list(self._sending)
        self._open.clear()
        for batch in batches:
            if batch.timer is not None:
                batch.timer.cancel()
            batch.cancel()
        for task in sending:
            task.cancel()
        if sending:
            await asyncio.wait(sending)
        if http is not None:
            await http.aclose()

    def forget_pool(self) -> None:
        """Drop what belonged to an event loop that has ended."""
        self._open.clear()
        self._sending.clear()
        super().forget_pool()


class _Batch:
    """The channels of one socket asked for together, and their waiters."""

    __slots__ = ("socket_id", "task", "timer", "waiters")

    def __init__(self, socket_id: str) -> None:
        self.socket_id = socket_id
        self.waiters: dict[str, list[asyncio.Future[Authorization]]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    def add(self, channel_name: str) -> asyncio.Future[Authorization]:
        future: asyncio.Future[Authorization] = asyncio.get_running_loop().create_future()
        future.add_done_callback(self._waiter_done)
        self.waiters.setdefault(channel_name, []).append(future)
        return future

    def settle(self, channel_name: str, outcome: Authorization | Exception) -> None:
        for future in self.waiters.get(channel_name, ()):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def cancel(self) -> None:
        for futures in self.waiters.values():
            for future in futures:
                future.cancel()

    def _waiter_done(self, _: asyncio.Future[Authorization]) -> None:
        """Nobody waits any more (timed out, disconnected): stop the request."""
        if self.task is not None and not self.task.done() and self.abandoned:
            self.task.cancel()

    @property
    def abandoned(self) -> bool:
        """Whether every waiter has its answer already, or gave up."""
        return all(f.done() for futures in self.waiters.values() for f in futures)


class CallbackAuthorizer:
    """Adapts ``on_authorizer(channel_name, socket_id, options)``, plain or async."""

    def __init__(self, callback: Callable[..., Any], options: Mapping[str, Any]) -> None:
        self._callback = callback
        self._options = options

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        answer = self._callback(channel_name, socket_id, self._options)
        if inspect.isawaitable(answer):
            answer = await answer
        return normalize_authorization(channel_name, answer)


class CallbackUserAuthenticator:
    """Adapts ``on_user_authenticator(socket_id, options)``, plain or async."""

    def __init__(self, callback: Callable[..., Any], options: Mapping[str, Any]) -> None:
        self._callback = callback
        self._options = options

    async def __call__(self, socket_id: str) -> UserAuthentication:
        answer = self._callback(socket_id, self._options)
        if inspect.isawaitable(answer):
            answer = await answer
        return normalize_user_authentication(answer)


def normalize_user_authentication(answer: Any) -> UserAuthentication:
    """Check a user authentication answer: ``auth`` and the ``user_data`` string.

    Raises:
        SigninError: ``auth`` or ``user_data`` is missing or not a string.
    """
    if not isinstance(answer, Mapping):
        raise SigninError("user authentication is not an object")
    auth, user_data = answer.get("auth"), answer.get("user_data")
    if not isinstance(auth, str) or not auth:
        raise SigninError("user authentication has no 'auth' string")
    if not isinstance(user_data, str) or not user_data:
        raise SigninError(
            "user authentication has no 'user_data' string (the JSON that was signed)"
        )
    return {"auth": auth, "user_data": user_data}


class LocalSigner:
    """Signs authorizations with the app secret, in this process.

    For internal tools and tests only: anyone holding the secret can impersonate
    any user and read every channel, so never ship it inside an application given
    to users. Presence channels need ``channel_data``: a mapping with ``user_id``
    (and optionally ``user_info``), or a callable ``(channel_name) -> mapping``.
    Encrypted channels need ``encryption_master_key_base64``.
    """

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        channel_data: Any = None,
        encryption_master_key_base64: str | None = None,
        user_data: Mapping[str, Any] | None = None,
    ) -> None:
        self._key = key
        self._user_data = user_data
        self._secret = secret
        self._channel_data = channel_data
        self._master_key = (
            base64.b64decode(encryption_master_key_base64) if encryption_master_key_base64 else None
        )

    def __repr__(self) -> str:
        return f"<LocalSigner key={self._key!r}>"

    def sign(self, text: str) -> str:
        """``key:hex(HMAC-SHA256(secret, text))``."""
        return authorization(self._key, self._secret, text)

    async def authenticate_user(self, socket_id: str) -> UserAuthentication:
        """Sign ``user_data`` for ``signin()``: ``socket_id::user::user_data``."""
        if not isinstance(self._user_data, Mapping) or "id" not in self._user_data:
            raise SigninError("signing in locally needs user_data={'id': ...}")
        user_data = json.dumps(dict(self._user_data), separators=(",", ":"))
        return {"auth": self.sign(f"{socket_id}::user::{user_data}"), "user_data": user_data}

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        answer: Authorization = {}
        to_sign = f"{socket_id}:{channel_name}"
        if channel_name.startswith("presence-"):
            data = self._channel_data
            if callable(data):
                data = data(channel_name)
            if not isinstance(data, Mapping) or "user_id" not in data:
                raise AuthorizationError(
                    f"signing presence channel {channel_name!r} locally needs "
                    "presence_channel_data={'user_id': ..., 'user_info': ...}",
                    channel_name,
                )
            channel_data = json.dumps(dict(data), separators=(",", ":"))
            answer["channel_data"] = channel_data
            to_sign = f"{to_sign}:{channel_data}"
        if channel_name.startswith("private-encrypted-"):
            if self._master_key is None:
                raise AuthorizationError(
                    f"signing encrypted channel {channel_name!r} locally needs "
                    "encryption_master_key_base64",
                    channel_name,
                )
            shared = shared_secret(channel_name, self._master_key)
            answer["shared_secret"] = base64.b64encode(shared).decode("ascii")
        answer["auth"] = self.sign(to_sign)
        return normalize_authorization(channel_name, answer)


Authorizer = Callable[[str, str], Awaitable[Authorization]]
UserAuthenticator = Callable[[str], Awaitable[UserAuthentication]]


def _endpoint_proxy(options: ClientOptions, endpoint: str) -> str | None:
    """The proxy for an endpoint's requests, by the WebSocket's rule."""
    route = options.proxy_route(endpoint, for_http_client=True)
    if route.url is not None or route.source == BYPASSED:
        logger.info("requests to %s go %s", redact_url(endpoint), route.describe())
    return route.url


class _EndpointKeywords(TypedDict):
    """What every authorization or sign-in endpoint takes from the options."""

    params: Any
    headers: Any
    proxy: str | None
    ssl_context: ssl.SSLContext | None
    timeout: float
    max_response_bytes: int
    on_auth_failure: AuthFailureHook | None


def _endpoint_keywords(
    options: ClientOptions, endpoint: str, params: dict[str, Any]
) -> _EndpointKeywords:
    return {
        "params": params.get("params"),
        "headers": params.get("headers"),
        "proxy": _endpoint_proxy(options, endpoint),
        "ssl_context": options.ssl_context,
        "timeout": options.auth_timeout,
        "max_response_bytes": options.max_auth_response_bytes,
        "on_auth_failure": options.callbacks.get("on_auth_failure"),
    }


def build_authorizer(options: ClientOptions) -> Authorizer | None:
    """The authorizer the options ask for: callback, then endpoint, then secret."""
    callback = options.callbacks.get("on_authorizer")
    params = dict(options.auth_params or {})
    if callback is not None:
        return CallbackAuthorizer(callback, params)
    if options.auth_endpoint is not None and options.auth_batching:
        return BatchingEndpointAuthorizer(
            options.auth_endpoint,
            delay=options.auth_batch_delay,
            size=options.auth_batch_size,
            **_endpoint_keywords(options, options.auth_endpoint, params),
        )
    if options.auth_endpoint is not None:
        return EndpointAuthorizer(
            options.auth_endpoint, **_endpoint_keywords(options, options.auth_endpoint, params)
        )
    if options.secret is not None:
        return LocalSigner(
            options.api_key,
            options.secret,
            channel_data=options.presence_channel_data,
            encryption_master_key_base64=options.encryption_master_key_base64,
            user_data=options.user_data,
        )
    return None


def build_user_authenticator(options: ClientOptions) -> UserAuthenticator | None:
    """The user authenticator for ``signin()``: callback, then endpoint, then secret."""
    params = dict(options.user_auth_params or options.auth_params or {})
    callback = options.callbacks.get("on_user_authenticator")
    if callback is not None:
        return CallbackUserAuthenticator(callback, params)
    if options.user_auth_endpoint is not None:
        return UserEndpointAuthenticator(
            options.user_auth_endpoint,
            **_endpoint_keywords(options, options.user_auth_endpoint, params),
        )
    if options.secret is not None:
        return LocalSigner(
            options.api_key, options.secret, user_data=options.user_data
        ).authenticate_user
    return None
