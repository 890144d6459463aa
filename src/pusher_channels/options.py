"""Client options: parsing, validation, defaults, and the WebSocket URL.

Every option of the Flutter client's configuration table is accepted under its
snake_case name. Those that only make sense in a browser are accepted so that code
ported from other clients runs unchanged; their description below says exactly
what they do in a Python process.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

from ._version import __version__
from .exceptions import PusherConfigError
from .protocol.backoff import Backoff
from .protocol.connection import ConnectionSettings

__all__ = [
    "CALLBACK_NAMES",
    "CLIENT_NAME",
    "PROTOCOL_VERSION",
    "ClientOptions",
    "build_url",
    "parse_options",
]

PROTOCOL_VERSION: Final = 7
QUICK_RECONNECT_ATTEMPTS: Final = 10
"""Retries about every 0.2 s for the first two seconds of an outage, then back off."""
CLIENT_NAME: Final = "pusher-channels-python"

_TRANSPORTS: Final = frozenset({"ws", "wss"})
_BROWSER_TRANSPORTS: Final = frozenset({"xhr_streaming", "xhr_polling", "sockjs", "xdr"})

CALLBACK_NAMES: Final = (
    "on_connection_state_change",
    "on_subscription_succeeded",
    "on_subscription_error",
    "on_decryption_failure",
    "on_event",
    "on_member_added",
    "on_member_removed",
    "on_authorizer",
    "on_error",
    "on_subscription_count",
    "on_user_authenticator",
    "on_signin_succeeded",
    "on_user_event",
    "on_watchlist_event",
)

Callback = Callable[..., Any | Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """The validated configuration of one client.

    Attributes:
        api_key: the application key, sent in the URL path.
        cluster: the cluster name (``eu``, ``mt1``, ...); the host is
            ``ws-{cluster}.pusher.com`` unless ``host`` is given.
        use_tls: ``True`` (default) connects with ``wss`` on ``wss_port``; ``False``
            with ``ws`` on ``ws_port``.
        host: the WebSocket host, for self-hosted servers (soketi, Laravel Reverb).
        ws_port: the port for ``ws`` (default 80).
        wss_port: the port for ``wss`` (default 443).
        path: a path prefix placed before ``/app/{key}``.
        ssl_context: the TLS context (custom CA, client certificates); the default
            verifies certificates against the system store.
        activity_timeout: seconds of silence before the client pings; the server's
            ``activity_timeout`` lowers it (default 120).
        pong_timeout: seconds to wait for the answer to a ping before reconnecting
            (default 30).
        max_reconnection_attempts: consecutive failed attempts before giving up and
            staying ``DISCONNECTED``. ``None`` (default) retries forever, so that a
            long-running service stays connected through any outage.
        max_reconnect_gap_in_seconds: the longest wait between two attempts
            (default 30).
        auth_endpoint: URL that authorizes private, presence and encrypted channels.
        auth_params: ``{"params": {...}, "headers": {...}}`` sent to the endpoint.
        auth_transport: ``"ajax"`` (an HTTP POST, the only way in Python).
            ``"jsonp"`` is a browser technique: it is accepted and the POST is used.
        auth_timeout: seconds an authorization (endpoint or callback, channel or
            user) may take before it counts as failed (default 10).
        secret: the app secret, to sign channel authorizations locally. For internal
            tools only: never ship a secret inside an application given to users.
        user_auth_endpoint: URL that authenticates the user for ``signin()``
            (pusher-js's ``userAuthentication.endpoint``); it gets ``socket_id`` and
            answers ``{"auth": ..., "user_data": "<JSON string>"}``.
        user_auth_params: ``{"params": ..., "headers": ...}`` for that endpoint;
            defaults to ``auth_params``.
        user_data: with ``secret``, the user to sign in locally: ``{"id": ...}``.
        presence_channel_data: with ``secret``, the presence member to sign:
            ``{"user_id": ..., "user_info": ...}`` or a callable ``(channel_name)``
            returning it.
        encryption_master_key_base64: with ``secret``, the master key from which
            encrypted channels' shared secrets are derived (as on the server).
        enabled_transports: the transports that may be used, of ``"ws"`` and
            ``"wss"`` (default: both). The browser fallbacks (``xhr_streaming``,
            ``xhr_polling``, ``sockjs``, ``xdr``) do not exist in Python: they are
            accepted and ignored, so a list naming only them leaves no transport
            and is refused.
        disabled_transports: transports that must not be used (same names).
        enable_stats: pusher-js sends connection metrics to Pusher's stats service;
            this client never sends metrics, whatever the value.
        ignore_null_origin: a browser-only check for the HTTP fallbacks; no effect.
        log_to_console: add a console handler to the ``pusher_channels`` logger and
            log at DEBUG level, frames included.
        proxy: an HTTP proxy as ``"host:port"`` (as in the Java client), or a URL
            ``http://``, ``https://``, ``socks4://`` or ``socks5://``.
        callbacks: the ``on_*`` callbacks, by name.
    """

    api_key: str
    cluster: str | None = None
    use_tls: bool = True
    host: str | None = None
    ws_port: int = 80
    wss_port: int = 443
    path: str = ""
    ssl_context: ssl.SSLContext | None = None
    activity_timeout: float = 120.0
    pong_timeout: float = 30.0
    max_reconnection_attempts: int | None = None
    max_reconnect_gap_in_seconds: float = 30.0
    auth_endpoint: str | None = None
    auth_params: Mapping[str, Any] | None = None
    auth_transport: str = "ajax"
    auth_timeout: float = 10.0
    secret: str | None = field(default=None, repr=False)
    user_auth_endpoint: str | None = None
    user_auth_params: Mapping[str, Any] | None = None
    user_data: Mapping[str, Any] | None = None
    presence_channel_data: Any = None
    encryption_master_key_base64: str | None = field(default=None, repr=False)
    enabled_transports: tuple[str, ...] | None = None
    disabled_transports: tuple[str, ...] | None = None
    enable_stats: bool = False
    ignore_null_origin: bool = False
    log_to_console: bool = False
    proxy: str | None = None
    callbacks: Mapping[str, Callback] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        """``"wss"`` or ``"ws"``: the use_tls choice, within the allowed transports."""
        allowed = set(_TRANSPORTS)
        if self.enabled_transports is not None:
            allowed &= set(self.enabled_transports)
        if self.disabled_transports is not None:
            allowed -= set(self.disabled_transports)
        preferred = "wss" if self.use_tls else "ws"
        if preferred in allowed:
            return preferred
        if not self.use_tls and "wss" in allowed:
            return "wss"
        if self.use_tls and "ws" in allowed:
            raise PusherConfigError(
                "use_tls=True but the 'wss' transport is not allowed; "
                "set use_tls=False to connect without TLS"
            )
        raise PusherConfigError(
            "enabled_transports/disabled_transports leave neither 'ws' nor 'wss'"
        )

    def connection_settings(self) -> ConnectionSettings:
        """The settings of the protocol core for these options."""
        return ConnectionSettings(
            url=build_url(self),
            activity_timeout=self.activity_timeout,
            pong_timeout=self.pong_timeout,
            backoff=Backoff(
                maximum=self.max_reconnect_gap_in_seconds,
                quick_attempts=QUICK_RECONNECT_ATTEMPTS,
            ),
            max_reconnection_attempts=self.max_reconnection_attempts,
        )

    @property
    def proxy_url(self) -> str | None:
        """The proxy as a URL, or ``None``."""
        if self.proxy is None:
            return None
        return self.proxy if "://" in self.proxy else f"http://{self.proxy}"


def build_url(options: ClientOptions) -> str:
    """The WebSocket URL: ``{scheme}://{host}:{port}{path}/app/{key}?protocol=7&...``."""
    scheme = options.scheme
    host = options.host or f"ws-{options.cluster}.pusher.com"
    port = options.wss_port if scheme == "wss" else options.ws_port
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    query = urlencode({"protocol": PROTOCOL_VERSION, "client": CLIENT_NAME, "version": __version__})
    path = options.path.rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}/app/{quote(options.api_key, safe='')}?{query}"


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PusherConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise PusherConfigError(f"{name} must be a port number, got {value!r}")
    return value


def _transports(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PusherConfigError(f"{name} must be a list of transport names, got {value!r}")
    unknown = [t for t in value if t not in _TRANSPORTS | _BROWSER_TRANSPORTS]
    if unknown:
        raise PusherConfigError(f"{name}: unknown transports {unknown!r}")
    return tuple(value)


def _check_auth_params(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise PusherConfigError(f"{name} must be {{'params': ..., 'headers': ...}}")
    unknown = set(value) - {"params", "headers"}
    if unknown:
        raise PusherConfigError(
            f"{name} takes 'params' and 'headers', not {', '.join(sorted(map(str, unknown)))}"
        )
    for key, part in value.items():
        if part is not None and not isinstance(part, Mapping) and not callable(part):
            raise PusherConfigError(f"{name}[{key!r}] must be a mapping or a callable")


_OPTION_NAMES: Final = frozenset(
    name for name in ClientOptions.__dataclass_fields__ if name != "callbacks"
)


def parse_options(values: Mapping[str, Any]) -> ClientOptions:
    """Validate the keywords of ``init()`` / the constructor into :class:`ClientOptions`.

    Raises:
        PusherConfigError: an unknown keyword, a missing key or cluster, or a value
            of the wrong type or range.
    """
    unknown = set(values) - _OPTION_NAMES - set(CALLBACK_NAMES)
    if unknown:
        raise PusherConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
    callbacks = {name: values[name] for name in CALLBACK_NAMES if values.get(name) is not None}
    for name, callback in callbacks.items():
        if not callable(callback):
            raise PusherConfigError(f"{name} must be callable, got {callback!r}")
    settings = {k: v for k, v in values.items() if k in _OPTION_NAMES and v is not None}
    api_key = settings.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise PusherConfigError("api_key is required: the application key")
    if not settings.get("cluster") and not settings.get("host"):
        raise PusherConfigError("give cluster= (Pusher's hosted service) or host= (self-hosted)")
    for name in (
        "activity_timeout",
        "pong_timeout",
        "max_reconnect_gap_in_seconds",
        "auth_timeout",
    ):
        if name in settings:
            settings[name] = _positive(name, settings[name])
    for name in ("ws_port", "wss_port"):
        if name in settings:
            settings[name] = _port(name, settings[name])
    attempts = settings.get("max_reconnection_attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0
    ):
        raise PusherConfigError(
            f"max_reconnection_attempts must be None or a non-negative int, got {attempts!r}"
        )
    for name in ("enabled_transports", "disabled_transports"):
        settings[name] = _transports(name, settings.get(name))
    _check_auth_params("auth_params", settings.get("auth_params"))
    _check_auth_params("user_auth_params", settings.get("user_auth_params"))
    master_key = settings.get("encryption_master_key_base64")
    if master_key is not None:
        try:
            decoded = base64.b64decode(master_key, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise PusherConfigError("encryption_master_key_base64 is not base64") from None
        if len(decoded) != 32:
            raise PusherConfigError("encryption_master_key_base64 must decode to 32 bytes")
    if settings.get("auth_transport", "ajax") not in ("ajax", "jsonp"):
        raise PusherConfigError("auth_transport must be 'ajax' or 'jsonp'")
    ssl_context = settings.get("ssl_context")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise PusherConfigError("ssl_context must be an ssl.SSLContext")
    options = ClientOptions(**settings, callbacks=callbacks)
    options.scheme  # noqa: B018 - validates the transports against use_tls now
    return options
