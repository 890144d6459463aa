"""Which proxy a connection goes through: one rule for the WebSocket and the auth requests.

In a proxied network both connections must take the same path, or one of them fails
while the other works. The rule, for a connection to ``url``:

1. ``proxy=`` was given: that proxy, always (the environment is not read).
2. ``trust_env=False``: no proxy.
3. Otherwise the environment, as Python's ``urllib`` and curl read it. ``NO_PROXY``
   lists the hosts reached directly; else a ``wss://`` or ``https://`` URL uses
   ``HTTPS_PROXY`` and a ``ws://`` or ``http://`` URL ``HTTP_PROXY``, either falling
   back to ``ALL_PROXY``. Lower-case names count too and win over upper-case ones,
   and a CGI program ignores ``HTTP_PROXY`` (``urllib.request.getproxies_environment``).

``NO_PROXY`` is a comma-separated list: ``*`` alone sends everything direct; an entry
matches the host itself and any host under it (``example.com`` and ``.example.com``
match ``ws.example.com``, not ``badexample.com``); ``*.example.com`` is read as
``.example.com``; ``host:port`` matches that port only; an IP address matches itself
and a network such as ``10.0.0.0/8`` the addresses in it. Case does not matter.

A proxy URL may hold a password: nothing here shows one (see ``_redaction``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit
from urllib.request import getproxies_environment

from ._redaction import redact_url
from .exceptions import PusherConfigError

__all__ = [
    "HTTP_CLIENT_PROXY_SCHEMES",
    "PROXY_SCHEMES",
    "ProxyRoute",
    "check_proxy",
    "no_proxy_matches",
    "normalize_proxy",
    "proxy_route",
]

PROXY_SCHEMES: Final = frozenset({"http", "https", "socks4", "socks5", "socks5h"})
"""What the WebSocket connection can go through (picows; SOCKS by python-socks)."""
HTTP_CLIENT_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})
"""What the auth endpoints' HTTP client (httpx) can go through."""
_SOCKS_SCHEMES: Final = frozenset({"socks4", "socks5", "socks5h"})
_VARIABLE_FOR_SCHEME: Final = {"wss": "https", "https": "https", "ws": "http", "http": "http"}
_DEFAULT_PORTS: Final = {"wss": 443, "https": 443, "ws": 80, "http": 80}

OPTION: Final = "the proxy option"
IGNORED: Final = "trust_env=False"
BYPASSED: Final = "NO_PROXY"
NO_VARIABLE: Final = "no proxy variable"


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """The way to one server: through ``url`` (a proxy URL) or direct (``None``).

    ``source`` says why: ``"the proxy option"``, a variable such as
    ``"HTTPS_PROXY"``, ``"NO_PROXY"``, ``"trust_env=False"`` or
    ``"no proxy variable"``.
    """

    url: str | None
    source: str

    def describe(self) -> str:
        """``through http://user:***@proxy:3128 (HTTPS_PROXY)`` or ``direct (NO_PROXY)``."""
        if self.url is None:
            return f"direct ({self.source})"
        return f"through {redact_url(self.url)} ({self.source})"

    def __repr__(self) -> str:
        return f"ProxyRoute({self.describe()})"

    __str__ = describe


def _proxy_environment() -> dict[str, str]:
    """``urllib.request.getproxies_environment()``, at once when no variable of the
    environment ends with ``_proxy`` (in any case).

    urllib decodes every variable of the environment, twice, for each call: about
    0.1 ms with a few dozen, for each client made (a process making 10,000 clients
    spent a second in it). The variables' names are looked at first, undecoded
    where the platform keeps them so (``os.environ._data``, CPython's own); with any
    proxy variable, urllib's own reading (and its rules) decides.
    """
    names = getattr(os.environ, "_data", os.environ)  # bytes on POSIX, str on Windows
    for name in names:
        if name[-6:].lower() == (b"_proxy" if type(name) is bytes else "_proxy"):
            return getproxies_environment()
    return {}


def proxy_route(
    url: str, *, proxy: str | None, trust_env: bool, for_http_client: bool = False
) -> ProxyRoute:
    """The route to ``url`` (a ``ws``, ``wss``, ``http`` or ``https`` URL).

    ``proxy`` is the ``proxy`` option as validated; ``for_http_client`` says the
    connection is an auth request, which a ``socks4`` proxy cannot carry.

    Raises:
        PusherConfigError: the environment names a proxy that cannot be used; the
            message names the variable, never its value.
    """
    if proxy is not None:
        return ProxyRoute(normalize_proxy(proxy), OPTION)
    if not trust_env:
        return _DIRECT_IGNORED
    environment = _proxy_environment()
    no_proxy = environment.get("no", "")
    if no_proxy and no_proxy_matches(url, no_proxy):
        return _DIRECT_BYPASSED
    scheme = urlsplit(url).scheme.lower()
    for key in (_VARIABLE_FOR_SCHEME.get(scheme, scheme), "all"):
        value = environment.get(key, "").strip()
        if value:
            variable = f"{key.upper()}_PROXY"
            checked = check_proxy(
                value, for_http_client=for_http_client, source=f"{variable} (environment)"
            )
            return ProxyRoute(normalize_proxy(checked), variable)
    return _DIRECT_NO_VARIABLE


# The direct routes, one each for every connection (a route is immutable).
_DIRECT_IGNORED: Final = ProxyRoute(None, IGNORED)
_DIRECT_BYPASSED: Final = ProxyRoute(None, BYPASSED)
_DIRECT_NO_VARIABLE: Final = ProxyRoute(None, NO_VARIABLE)


def check_proxy(value: object, *, for_http_client: bool, source: str = "proxy") -> str:
    """Check a proxy: ``"host:port"`` or a URL that the connections can use.

    ``for_http_client``: an auth endpoint will send its requests through it too.
    Messages name ``source`` and never show the URL, which may hold a password.

    Raises:
        PusherConfigError: what is wrong with it.
    """
    hint = (
        " (set trust_env=False to ignore the environment, or give proxy=)"
        if source != "proxy"
        else ""
    )
    if not isinstance(value, str) or not value.strip():
        shown = f"{type(value).__name__} {value!r}" if source == "proxy" else "an empty value"
        raise PusherConfigError(f"{source} must be 'host:port' or a proxy URL, got {shown}{hint}")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise PusherConfigError(
            f"{source} scheme {parts.scheme!r} is not supported: use http://, https://, "
            f"socks4:// or socks5://{hint}"
        )
    if not parts.hostname:
        raise PusherConfigError(f"{source} has no host (a {scheme}:// URL){hint}")
    try:
        port = _url_port(parts)
    except ValueError:
        raise PusherConfigError(
            f"{source} port must be a number from 1 to 65535 (proxy host {parts.hostname!r}){hint}"
        ) from None
    if port is None and scheme in _SOCKS_SCHEMES:
        raise PusherConfigError(
            f"a {scheme} proxy needs a port: {scheme}://host:port ({source}){hint}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PusherConfigError(
            f"{source} must be scheme://host:port, with no path or query (proxy host "
            f"{parts.hostname!r}){hint}"
        )
    if for_http_client and scheme not in HTTP_CLIENT_PROXY_SCHEMES:
        raise PusherConfigError(
            f"a {scheme} proxy ({source}) cannot carry the auth endpoint's HTTP requests "
            f"(httpx takes http, https and socks5 proxies): use a socks5:// proxy{hint}"
        )
    return value


def no_proxy_matches(url: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (its value, ``no_proxy``) sends ``url`` direct."""
    if no_proxy.strip() == "*":
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        port = None
    address = _ip_address(host)
    for entry in no_proxy.split(","):
        name, entry_port = _split_entry(entry.strip().lower())
        if not name or (entry_port is not None and entry_port != port):
            continue
        if address is not None and "/" in name:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    """A ``NO_PROXY`` entry as (host or network, port or ``None``)."""
    if entry.startswith("*."):
        entry = entry[1:]
    entry = entry.lstrip(".")
    if entry.startswith("["):  # [v6] or [v6]:port
        name, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        return name, int(port_text) if port_text.isdigit() else None
    if entry.count(":") == 1:  # host:port (a bare IPv6 address has more colons)
        name, _, port_text = entry.partition(":")
        return name, int(port_text) if port_text.isdigit() else None
    return entry, None


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalize_proxy(proxy: str) -> str:
    """The proxy as a URL that picows and httpx both take.

    ``host:port`` is an HTTP proxy, and ``socks5h`` (curl's name for SOCKS5 with the
    names resolved by the proxy) is ``socks5``: both python-socks and httpx already
    let the proxy resolve host names.
    """
    if "://" not in proxy:
        return f"http://{proxy}"
    scheme, rest = proxy.split("://", 1)
    if scheme.lower() == "socks5h":
        return f"socks5://{rest}"
    return proxy


def _url_port(parts: SplitResult) -> int | None:
    """The port of a split URL; ``ValueError`` when it is not a number in 1..65535."""
    port = parts.port  # raises ValueError for text or out of 0..65535
    if port == 0:
        raise ValueError("port 0")
    return port
