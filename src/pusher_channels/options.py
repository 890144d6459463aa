"""Client options: parsing, validation, defaults, and the WebSocket URL.

Every option of the Flutter client's configuration table is accepted under its
snake_case name. Those that only make sense in a browser are accepted so that code
ported from other clients runs unchanged; their description below says exactly
what they do in a Python process.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict
from urllib.parse import SplitResult, quote, urlencode, urlsplit

from ._proxies import ProxyRoute, check_proxy, normalize_proxy, proxy_route
from ._redaction import redact_headers, redact_url
from ._version import __version__
from .callbacks import CallbackKeywords
from .exceptions import PusherConfigError
from .protocol.backoff import Backoff
from .protocol.connection import MIN_ACTIVITY_TIMEOUT, ConnectionSettings
from .protocol.messages import MAX_CLIENT_EVENT_BYTES

__all__ = [
    "CALLBACK_NAMES",
    "CLIENT_NAME",
    "PROTOCOL_VERSION",
    "AuthParams",
    "ClientKeywords",
    "ClientOptions",
    "OptionKeywords",
    "build_url",
    "parse_options",
]

PROTOCOL_VERSION: Final = 7
RECEIVE_BUFFER_BYTES: Final = 65_536
"""The default ``receive_buffer_bytes``."""
QUICK_RECONNECT_ATTEMPTS: Final = 10
"""Retries about every 0.2 s for the first two seconds of an outage, then back off."""
CLIENT_NAME: Final = "pusher-channels-python"

_TRANSPORTS: Final = frozenset({"ws", "wss"})
_BROWSER_TRANSPORTS: Final = frozenset({"xhr_streaming", "xhr_polling", "sockjs", "xdr"})
_FLAGS: Final = (
    "use_tls",
    "enable_stats",
    "ignore_null_origin",
    "log_to_console",
    "auth_batching",
    "trust_env",
)
_CLUSTER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_NOT_IN_HOST: Final = re.compile(r"[/?#@\s]")
_HOST_NAME: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
"""A host name once IDNA-encoded: labels of letters, digits, ``-`` and ``_``."""
_NOT_IN_PATH: Final = re.compile(r"[?#\s\x00-\x1f\x7f]")

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
    "on_auth_failure",
)

Callback = Callable[..., Any | Awaitable[Any]]

AuthParams = Mapping[str, Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None]
"""``{"params": {...}, "headers": {...}}``: each a mapping, or a function returning one
(called for every request)."""


class OptionKeywords(TypedDict, total=False):
    """The options of ``init()`` and of the constructors, typed (no callbacks): what a
    configuration dict holds. Each is described under :class:`ClientOptions`.

    ``api_key`` and one of ``cluster`` or ``host`` are required: ``init()`` refuses
    their absence at run time (the constructor may also be called with no keywords at
    all, and ``init()`` later). ``None`` is the same as leaving a keyword out::

        options: OptionKeywords = {"api_key": "KEY", "cluster": "eu"}
        pusher = PusherChannelsClient(**options, on_event=print)
    """

    api_key: str
    cluster: str | None
    host: str | None
    use_tls: bool
    ws_port: int
    wss_port: int
    path: str
    ssl_context: ssl.SSLContext | None
    activity_timeout: float
    pong_timeout: float
    max_reconnection_attempts: int | None
    max_reconnect_gap_in_seconds: float
    auth_endpoint: str | None
    auth_params: AuthParams | None
    auth_transport: Literal["ajax", "jsonp"]
    auth_timeout: float
    auth_batching: bool
    auth_batch_delay: float
    auth_batch_size: int
    max_auth_response_bytes: int
    secret: str | None
    user_auth_endpoint: str | None
    user_auth_params: AuthParams | None
    user_data: Mapping[str, Any] | None
    presence_channel_data: Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None
    encryption_master_key_base64: str | None
    enabled_transports: Sequence[str] | None
    disabled_transports: Sequence[str] | None
    enable_stats: bool
    ignore_null_origin: bool
    log_to_console: bool
    proxy: str | None
    max_client_event_bytes: int
    trust_env: bool
    max_handshake_redirects: int
    receive_buffer_bytes: int


class ClientKeywords(OptionKeywords, CallbackKeywords, total=False):
    """Every keyword of ``init()`` and of the constructors, typed: the options
    (:class:`OptionKeywords`) and the callbacks
    (:class:`~pusher_channels.callbacks.CallbackKeywords`).

    ``PusherChannelsClient(**options: Unpack[ClientKeywords])``: an IDE completes the
    keywords, and a type checker refuses a misspelt one, a value of the wrong type or
    a callback with the wrong arguments.
    """


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """The validated configuration of one client.

    Attributes:
        api_key: the application key, sent in the URL path.
        cluster: the cluster name (``eu``, ``mt1``, ...) of Pusher's hosted service:
            the host is ``ws-{cluster}.pusher.com``. Give ``cluster`` or ``host``,
            not both.
        use_tls: ``True`` (default) connects with ``wss`` on ``wss_port``; ``False``
            with ``ws`` on ``ws_port``.
        host: the WebSocket host, for self-hosted servers (soketi, Laravel Reverb): a
            host name or IP address only (the port goes in ``ws_port``/``wss_port``).
        ws_port: the port for ``ws`` (default 80).
        wss_port: the port for ``wss`` (default 443).
        path: a path prefix placed before ``/app/{key}``, starting with ``/``.
        ssl_context: the TLS context (custom CA, client certificates); the default
            verifies certificates against the system store.
        activity_timeout: seconds of silence before the client pings, at least 1;
            the server's ``activity_timeout`` lowers it, down to 1 s (default 120).
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
        auth_batching: ``True`` asks ``auth_endpoint`` for the authorizations of
            several channels in one request, in the wire format of the pusher-js-auth
            plugin (``channel_name[0]``, ``channel_name[1]``, ... in the form; a JSON
            object keyed by channel name in the answer). Default ``False``.
        auth_batch_delay: with ``auth_batching``, seconds to collect the channels
            of one batch after the first one asks (default 0.005: the channels of a
            reconnection, or of subscribe() calls in a row, ask within it).
        auth_batch_size: with ``auth_batching``, the most channels in one request
            (default 100).
        max_auth_response_bytes: the largest answer an auth endpoint may give, per
            channel (default 65,536); a larger one fails that authorization.
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
            ``http://``, ``https://``, ``socks4://`` or ``socks5://`` (SOCKS with a
            port; ``socks5h://`` is taken as ``socks5://``, which lets the proxy
            resolve names). Auth endpoints use it too, which a ``socks4`` proxy
            cannot carry. Given, it always wins over the environment.
        max_client_event_bytes: the most data a client event may carry, in UTF-8
            bytes of its JSON text, as servers count it (default 10,240: Pusher's
            10 KB). ``trigger()`` refuses more. Raise it for a server that accepts
            more (soketi's default is 100 KB).
        trust_env: ``True`` (default) honours the proxy environment variables when
            ``proxy`` is not given, for the WebSocket and the auth endpoints alike:
            ``HTTPS_PROXY`` for ``wss://`` and ``https://``, ``HTTP_PROXY`` for
            ``ws://`` and ``http://``, then ``ALL_PROXY``; ``NO_PROXY`` lists hosts
            reached directly (lower-case names too). They are read when the client
            is configured. ``False`` ignores them.
        max_handshake_redirects: how many HTTP redirects the WebSocket handshake may
            follow (default 0: a redirect fails the attempt, which is retried like
            any failed attempt). A redirect never goes from ``wss`` to ``ws``.
        receive_buffer_bytes: the TCP receive buffer of the connection to the server
            (default 65,536). It bounds what one read of the socket hands over, so
            that a flood of events keeps the event loop busy for at most a few
            milliseconds at a time; it also caps the throughput at about this much
            per round trip (650 KB/s at 100 ms, some 5,000 events/s of 100 bytes).
            ``0`` leaves the system's autotuning (bigger reads, longer stalls).
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
    auth_batching: bool = False
    auth_batch_delay: float = 0.005
    auth_batch_size: int = 100
    max_auth_response_bytes: int = 65_536
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
    max_client_event_bytes: int = MAX_CLIENT_EVENT_BYTES
    trust_env: bool = True
    max_handshake_redirects: int = 0
    receive_buffer_bytes: int = RECEIVE_BUFFER_BYTES
    callbacks: Mapping[str, Callback] = field(default_factory=dict)

    def __repr__(self) -> str:
        """The options, with nothing that may be a secret: the secret and master key
        are left out, header and param values, URL query strings and proxy passwords
        are shown as ``***``, callbacks by name only."""
        shown: list[str] = []
        for name, spec in self.__dataclass_fields__.items():
            if not spec.repr:
                continue
            value = getattr(self, name)
            if value == spec.default:
                continue
            if name in ("auth_params", "user_auth_params") and isinstance(value, Mapping):
                value = {key: redact_headers(part) for key, part in value.items()}
            elif name in ("auth_endpoint", "user_auth_endpoint"):
                value = redact_url(value)
            elif name == "proxy":
                value = redact_url(self.proxy_url)
            elif name == "callbacks":
                value = sorted(value)
            shown.append(f"{name}={value!r}")
        return f"ClientOptions({', '.join(shown)})"

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
            backoff=_backoff(self.max_reconnect_gap_in_seconds),
            max_reconnection_attempts=self.max_reconnection_attempts,
        )

    @property
    def proxy_url(self) -> str | None:
        """The ``proxy`` option as a URL, or ``None`` (the environment not consulted)."""
        return normalize_proxy(self.proxy) if self.proxy is not None else None

    def proxy_route(self, url: str, *, for_http_client: bool = False) -> ProxyRoute:
        """The proxy for a connection to ``url``: ``proxy``, else the environment
        unless ``trust_env`` is ``False`` (see :mod:`pusher_channels._proxies`).

        Raises:
            PusherConfigError: the environment names a proxy that cannot be used.
        """
        return proxy_route(
            url, proxy=self.proxy, trust_env=self.trust_env, for_http_client=for_http_client
        )


@functools.lru_cache(maxsize=16)
def _backoff(maximum: float) -> Backoff:
    """The reconnection policy for a maximum gap: one (immutable) for every client
    with that maximum, rather than one object each."""
    return Backoff(maximum=maximum, quick_attempts=QUICK_RECONNECT_ATTEMPTS)


_URL_QUERY: Final = urlencode(
    {"protocol": PROTOCOL_VERSION, "client": CLIENT_NAME, "version": __version__}
)


def build_url(options: ClientOptions) -> str:
    """The WebSocket URL: ``{scheme}://{host}:{port}{path}/app/{key}?protocol=7&...``."""
    scheme = options.scheme
    host = options.host or f"ws-{options.cluster}.pusher.com"
    port = options.wss_port if scheme == "wss" else options.ws_port
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    path = options.path.rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}/app/{quote(options.api_key, safe='')}?{_URL_QUERY}"


def _seconds(name: str, value: Any, minimum: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise PusherConfigError(
            f"{name} must be a positive, finite number of seconds, got {value!r}"
        )
    if minimum is not None and value < minimum:
        raise PusherConfigError(f"{name} must be at least {minimum:g} s, got {value!r}")
    return float(value)


def _port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise PusherConfigError(f"{name} must be a port number, got {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PusherConfigError(f"{name} must be True or False, got {value!r}")
    return value


def _url_port(parts: SplitResult) -> int | None:
    """The port of a split URL; ``ValueError`` when it is not a number in 1..65535."""
    port = parts.port  # raises ValueError for text or out of 0..65535
    if port == 0:
        raise ValueError("port 0")
    return port


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PusherConfigError(f"host must be a non-empty string, got {value!r}")
    if "://" in value:
        raise PusherConfigError(
            f"host must be a host name, not a URL ({value!r}): the scheme comes from "
            "use_tls, the port from ws_port/wss_port and a path prefix from path"
        )
    if _NOT_IN_HOST.search(value):
        raise PusherConfigError(
            f"host must be a bare host name or IP address (no path, query, user or "
            f"spaces), got {value!r}"
        )
    bracketed = value.startswith("[") and value.endswith("]")
    address = value[1:-1] if bracketed else value
    if ":" in address or bracketed:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise PusherConfigError(
                f"host {value!r} is neither a host name nor an IPv6 address; "
                "give a port as ws_port/wss_port"
            ) from None
        return value
    # What is connected to is the name as IDNA encodes it (NFKC first, so that a
    # full-width "@" or "/" becomes one): check that, not only what was typed.
    try:
        encoded = value.encode("idna").decode("ascii")
    except UnicodeError:
        encoded = ""
    if _HOST_NAME.fullmatch(encoded) is None:
        raise PusherConfigError(
            f"host must be a host name (letters, digits, '-', '_' and dots) or an IP "
            f"address, got {value!r}"
        )
    return value


def _cluster(value: Any) -> str:
    if not isinstance(value, str) or _CLUSTER_NAME.fullmatch(value) is None:
        raise PusherConfigError(
            f"cluster must be a cluster name such as 'eu' or 'mt1', got {value!r} "
            "(for another server, give host=)"
        )
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str):
        raise PusherConfigError(f"path must be a string such as '/ws', got {value!r}")
    if value and not value.startswith("/"):
        raise PusherConfigError(f"path must start with '/' (such as '/ws'), got {value!r}")
    if _NOT_IN_PATH.search(value) or value.startswith("//"):
        raise PusherConfigError(
            f"path must be a plain path prefix such as '/ws' (no query, fragment, spaces, "
            f"control characters or leading '//'), got {value!r}"
        )
    return value


def _http_url(name: str, value: Any) -> str:
    """An absolute ``http://`` or ``https://`` URL with a host."""
    problem = f"{name} must be an absolute http:// or https:// URL, got {value!r}"
    if not isinstance(value, str):
        raise PusherConfigError(problem)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PusherConfigError(problem)
    try:
        _url_port(parts)
    except ValueError:
        raise PusherConfigError(f"{name} has an invalid port: {value!r}") from None
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

    Everything that can be known to be wrong before connecting is refused here, so
    that a mistake is not retried forever as a failing connection or authorization.

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
    _check_server(settings)
    _check_timing(settings)
    _check_authorization(settings)
    for name in _FLAGS:
        if name in settings:
            _flag(name, settings[name])
    ssl_context = settings.get("ssl_context")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise PusherConfigError("ssl_context must be an ssl.SSLContext")
    options = ClientOptions(**settings, callbacks=callbacks)
    options.scheme  # noqa: B018 - validates the transports against use_tls now
    _check_proxy_routes(options)
    return options


def _check_proxy_routes(options: ClientOptions) -> None:
    """A proxy named by the environment must be usable by the connections it serves:
    connecting directly instead would leave the network's proxy out."""
    options.proxy_route(build_url(options))
    for endpoint in (options.auth_endpoint, options.user_auth_endpoint):
        if endpoint is not None:
            options.proxy_route(endpoint, for_http_client=True)


def _check_server(settings: dict[str, Any]) -> None:
    """Where to connect: host or cluster, ports, path, transports and proxy."""
    if "host" in settings and "cluster" in settings:
        raise PusherConfigError(
            "give cluster= or host=, not both: cluster= names a Pusher cluster, host= "
            "a self-hosted server"
        )
    if "host" in settings:
        _host(settings["host"])
    elif "cluster" in settings:
        _cluster(settings["cluster"])
    else:
        raise PusherConfigError("give cluster= (Pusher's hosted service) or host= (self-hosted)")
    for name in ("ws_port", "wss_port"):
        if name in settings:
            settings[name] = _port(name, settings[name])
    if "path" in settings:
        _path(settings["path"])
    for name in ("enabled_transports", "disabled_transports"):
        settings[name] = _transports(name, settings.get(name))
    endpoints = [
        settings[name] for name in ("auth_endpoint", "user_auth_endpoint") if name in settings
    ]
    if "proxy" in settings:
        check_proxy(settings["proxy"], for_http_client=bool(endpoints))
    redirects = settings.get("max_handshake_redirects", 0)
    if isinstance(redirects, bool) or not isinstance(redirects, int) or redirects < 0:
        raise PusherConfigError(
            f"max_handshake_redirects must be a non-negative int, got {redirects!r}"
        )
    buffer = settings.get("receive_buffer_bytes", RECEIVE_BUFFER_BYTES)
    if (
        isinstance(buffer, bool)
        or not isinstance(buffer, int)
        or not (buffer == 0 or 4096 <= buffer <= 2**30)
    ):
        raise PusherConfigError(
            "receive_buffer_bytes must be 0 (the system's autotuning) or a number of "
            f"bytes from 4096, got {buffer!r}"
        )


def _check_timing(settings: dict[str, Any]) -> None:
    """Timeouts and the reconnection policy."""
    for name in ("pong_timeout", "max_reconnect_gap_in_seconds", "auth_timeout"):
        if name in settings:
            settings[name] = _seconds(name, settings[name])
    if "activity_timeout" in settings:
        settings["activity_timeout"] = _seconds(
            "activity_timeout", settings["activity_timeout"], MIN_ACTIVITY_TIMEOUT
        )
    limit = settings.get("max_client_event_bytes")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise PusherConfigError(
            f"max_client_event_bytes must be a positive number of bytes, got {limit!r}"
        )
    attempts = settings.get("max_reconnection_attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0
    ):
        raise PusherConfigError(
            f"max_reconnection_attempts must be None or a non-negative int, got {attempts!r}"
        )


def _check_authorization(settings: dict[str, Any]) -> None:
    """Endpoints, their parameters, and what local signing needs."""
    for name in ("auth_endpoint", "user_auth_endpoint"):
        if name in settings:
            _http_url(name, settings[name])
    _check_auth_params("auth_params", settings.get("auth_params"))
    _check_auth_params("user_auth_params", settings.get("user_auth_params"))
    if settings.get("auth_transport", "ajax") not in ("ajax", "jsonp"):
        raise PusherConfigError("auth_transport must be 'ajax' or 'jsonp'")
    if "auth_batch_delay" in settings:
        settings["auth_batch_delay"] = _seconds("auth_batch_delay", settings["auth_batch_delay"])
    for name in ("auth_batch_size", "max_auth_response_bytes"):
        value = settings.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise PusherConfigError(f"{name} must be a positive int, got {value!r}")
    if settings.get("auth_batching") and "auth_endpoint" not in settings:
        raise PusherConfigError("auth_batching needs auth_endpoint= (it batches its requests)")
    secret = settings.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise PusherConfigError("secret must be the app secret, a non-empty string")
    user_data = settings.get("user_data")
    if user_data is not None and (
        not isinstance(user_data, Mapping)
        or not isinstance(user_data.get("id"), str)
        or not user_data["id"]
    ):
        raise PusherConfigError("user_data must be a mapping with an 'id' string: {'id': ...}")
    channel_data = settings.get("presence_channel_data")
    if not (
        channel_data is None
        or callable(channel_data)
        or (isinstance(channel_data, Mapping) and "user_id" in channel_data)
    ):
        raise PusherConfigError(
            "presence_channel_data must be {'user_id': ..., 'user_info': ...} "
            "or a callable (channel_name) returning it"
        )
    master_key = settings.get("encryption_master_key_base64")
    if master_key is not None:
        try:
            decoded = base64.b64decode(master_key, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise PusherConfigError("encryption_master_key_base64 is not base64") from None
        if len(decoded) != 32:
            raise PusherConfigError("encryption_master_key_base64 must decode to 32 bytes")
