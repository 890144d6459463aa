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
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import httpx

from .exceptions import AuthorizationError, PusherConfigError
from .options import ClientOptions

__all__ = [
    "CallbackAuthorizer",
    "EndpointAuthorizer",
    "LocalSigner",
    "build_authorizer",
    "normalize_authorization",
]

Authorization = dict[str, Any]
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


class EndpointAuthorizer:
    """POSTs ``socket_id`` and ``channel_name`` (form-encoded) to an endpoint.

    ``params`` and ``headers`` may be mappings or callables returning mappings,
    evaluated for every request, for tokens that rotate.
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
        self._verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                proxy=self._proxy, verify=self._verify, timeout=self._timeout
            )
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __call__(self, channel_name: str, socket_id: str) -> Authorization:
        form = {"socket_id": socket_id, "channel_name": channel_name}
        form.update(_resolve(self._params))
        try:
            response = await self._client().post(
                self.endpoint, data=form, headers=_resolve(self._headers)
            )
        except httpx.TimeoutException:
            raise AuthorizationError(
                f"authorization of {channel_name!r} timed out: no answer from "
                f"{self.endpoint} within {self._timeout:g} s",
                channel_name,
            ) from None
        except httpx.HTTPError as exc:
            raise AuthorizationError(
                f"authorization of {channel_name!r} failed: cannot reach {self.endpoint}: "
                f"{type(exc).__name__}: {exc}",
                channel_name,
            ) from None
        if not 200 <= response.status_code < 300:
            excerpt = response.text[:_BODY_EXCERPT].strip()
            raise AuthorizationError(
                f"authorization of {channel_name!r} failed: {self.endpoint} answered "
                f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else ""),
                channel_name,
                status=response.status_code,
            )
        try:
            answer = response.json()
        except ValueError:
            raise AuthorizationError(
                f"authorization of {channel_name!r} failed: {self.endpoint} answered "
                f"HTTP {response.status_code} with a body that is not JSON",
                channel_name,
                status=response.status_code,
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
    ) -> None:
        self._key = key
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
            proxy=options.proxy_url,
            ssl_context=options.ssl_context,
        )
    if options.secret is not None:
        return LocalSigner(
            options.api_key,
            options.secret,
            channel_data=options.presence_channel_data,
            encryption_master_key_base64=options.encryption_master_key_base64,
        )
    return None
