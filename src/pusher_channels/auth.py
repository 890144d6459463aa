"""Channel authorization: the HTTP endpoint, the ``on_authorizer`` callback, local signing.

Each authorizer is an async callable ``(channel_name, socket_id) -> dict`` giving
``auth`` and, as the channel needs, ``channel_data`` (presence, the exact JSON string
that was signed) and ``shared_secret`` (encrypted channels, decoded to 32 bytes).
Every failure raises :class:`~pusher_channels.exceptions.AuthorizationError` naming
the channel and the cause (HTTP status, server message), never the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._proxies import BYPASSED
from ._redaction import redact_url
from .exceptions import AuthorizationError, PusherConfigError, SigninError
from .options import ClientOptions

if TYPE_CHECKING:
    import httpx

__all__ = [
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
_BODY_EXCERPT: Final = 200


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


class _FormPoster:
    """What both endpoints share: the HTTP client, params and headers.

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
    ) -> None:
        self.endpoint = endpoint
        self._params = params
        self._headers = headers
        self._proxy = proxy
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None

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
        """Close the HTTP connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _post(self, form: dict[str, str], what: str) -> Any:
        """POST ``form`` plus the params; return the decoded JSON answer.

        Raises:
            _EndpointError: no answer in time, unreachable, non-2xx, or not JSON.
        """
        import httpx

        form.update(_resolve(self._params))
        endpoint = self.endpoint
        try:
            response = await self._client().post(
                endpoint, data=form, headers=_resolve(self._headers)
            )
        except httpx.TimeoutException:
            raise _EndpointError(
                f"{what} timed out: no answer from {endpoint} within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise _EndpointError(
                f"{what} failed: cannot reach {endpoint}: {type(exc).__name__}: {exc}"
            ) from None
        status = response.status_code
        if not 200 <= status < 300:
            excerpt = response.text[:_BODY_EXCERPT].strip()
            raise _EndpointError(
                f"{what} failed: {endpoint} answered HTTP {status}"
                + (f": {excerpt}" if excerpt else ""),
                status,
            )
        try:
            return response.json()
        except ValueError:
            raise _EndpointError(
                f"{what} failed: {endpoint} answered HTTP {status} with a body that is not JSON",
                status,
            ) from None


class UserEndpointAuthenticator(_FormPoster):
    """POSTs ``socket_id`` to the user-authentication endpoint, for ``signin()``."""

    async def __call__(self, socket_id: str) -> UserAuthentication:
        try:
            answer = await self._post({"socket_id": socket_id}, "user authentication")
        except _EndpointError as exc:
            raise SigninError(exc.message, status=exc.status) from None
        return normalize_user_authentication(answer)


class EndpointAuthorizer(_FormPoster):
    """POSTs ``socket_id`` and ``channel_name`` (form-encoded) to an endpoint.

    ``params`` and ``headers`` may be mappings or callables returning mappings,
    evaluated for every request, for tokens that rotate.
    """

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        form = {"socket_id": socket_id, "channel_name": channel_name}
        try:
            answer = await self._post(form, f"authorization of {channel_name!r}")
        except _EndpointError as exc:
            retryable = exc.status is None or exc.status >= 500 or exc.status == 429
            raise AuthorizationError(
                exc.message, channel_name, status=exc.status, retryable=retryable
            ) from None
        return normalize_authorization(channel_name, answer)


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
        self._secret = secret.encode("utf-8")
        self._channel_data = channel_data
        self._master_key = (
            base64.b64decode(encryption_master_key_base64) if encryption_master_key_base64 else None
        )

    def __repr__(self) -> str:
        return f"<LocalSigner key={self._key!r}>"

    def sign(self, text: str) -> str:
        """``key:hex(HMAC-SHA256(secret, text))``."""
        digest = hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self._key}:{digest}"

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
            shared = hashlib.sha256(channel_name.encode("utf-8") + self._master_key).digest()
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


def build_authorizer(options: ClientOptions) -> Authorizer | None:
    """The authorizer the options ask for: callback, then endpoint, then secret."""
    callback = options.callbacks.get("on_authorizer")
    params = dict(options.auth_params or {})
    if callback is not None:
        return CallbackAuthorizer(callback, params)
    if options.auth_endpoint is not None:
        return EndpointAuthorizer(
            options.auth_endpoint,
            params=params.get("params"),
            headers=params.get("headers"),
            proxy=_endpoint_proxy(options, options.auth_endpoint),
            ssl_context=options.ssl_context,
            timeout=options.auth_timeout,
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
            params=params.get("params"),
            headers=params.get("headers"),
            proxy=_endpoint_proxy(options, options.user_auth_endpoint),
            ssl_context=options.ssl_context,
            timeout=options.auth_timeout,
        )
    if options.secret is not None:
        return LocalSigner(
            options.api_key, options.secret, user_data=options.user_data
        ).authenticate_user
    return None
