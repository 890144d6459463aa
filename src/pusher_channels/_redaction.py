"""Redaction: what may carry a secret is shown without it, in every repr, log line and
exception message.

Four things can: a URL's user information (a proxy's ``user:password@``), a URL's
query string (an auth endpoint's ``?token=...``), HTTP headers (a bearer token), and
the frames logged at DEBUG (a channel's ``auth`` signature, the sign-in's ``auth`` and
``user_data``). Anything shown to a person goes through these functions first.

Log records are redacted by filters, so that no line can forget to: the library's
own loggers show every URL without its query string and password, and httpx's log
(which shows every request's URL at INFO) shows the auth endpoints' URLs without
theirs. A URL is recognised by where it points (scheme, host, port and path, as an
HTTP client normalises them), never by its spelling: httpx writes the host in lower
case, drops a default port and percent-encodes the query.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "LIBRARY_LOGGERS",
    "REDACTED",
    "UrlRedaction",
    "hide_from_http_logs",
    "redact_frame",
    "redact_headers",
    "redact_url",
    "redact_urls",
]

REDACTED: Final = "***"

_HARMLESS_HEADERS: Final = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent"}
)
"""Headers shown as they are; any other header's value is redacted."""


def redact_url(url: str | None) -> str:
    """The URL with any password and query string replaced by ``***``.

    ``http://user:pw@proxy:3128`` becomes ``http://user:***@proxy:3128`` and
    ``https://api.example.com/auth?token=abc`` becomes
    ``https://api.example.com/auth?***``. A URL that cannot be parsed is redacted
    whole.
    """
    if url is None:
        return "None"
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
        query = REDACTED if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return REDACTED


def redact_headers(headers: Any) -> Any:
    """Headers with every value but a few harmless ones replaced by ``***``.

    A callable (headers made per request) is shown as it is: it holds no value yet.
    """
    if not isinstance(headers, Mapping):
        return headers
    return {
        name: value if str(name).lower() in _HARMLESS_HEADERS else REDACTED
        for name, value in headers.items()
    }


# ------------------------------------------------------------- URLs in log lines

_URL_IN_TEXT: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")
_DEFAULT_PORTS: Final = {"http": 80, "ws": 80, "https": 443, "wss": 443}

Location = tuple[str, str, int | None, str]
"""Where a URL points: scheme, host, port (``None`` for the scheme's default), path."""


def location(url: str) -> Location | None:
    """Where ``url`` points, however it is spelled (``None`` if it cannot be parsed).

    Case does not matter in the scheme and the host, a non-ASCII host is taken in its
    IDNA form, a default port is no port, and the path is compared percent-decoded,
    with its dot segments resolved (``""`` is ``"/"``).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")  # in lower case
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    path = _without_dot_segments(unquote(parts.path))
    return scheme, host, None if port == _DEFAULT_PORTS.get(scheme) else port, path


def _without_dot_segments(path: str) -> str:
    """``path`` with its ``.`` and ``..`` segments resolved (RFC 3986, 5.2.4)."""
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    return "/".join(kept) or "/"


def redact_urls(text: str, hides: Callable[[str], bool] | None = None) -> str:
    """``text`` with each URL that has a query string or user information redacted
    (see :func:`redact_url`); only those ``hides(url)`` is true of, if given."""

    def shown(match: re.Match[str]) -> str:
        url = match[0]
        if ("?" in url or "@" in url) and (hides is None or hides(url)):
            return redact_url(url)
        return url

    return _URL_IN_TEXT.sub(shown, text) if "://" in text else text


class UrlRedaction(logging.Filter):
    """Shows a record's URLs without their query strings and passwords: every URL,
    or those ``hides(url)`` is true of.

    The record's message is formatted here and kept in its redacted form (with no
    arguments left), so that every handler shows that form.
    """

    def __init__(self, hides: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self._hides = hides

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: logging reports it itself
            return True
        shown = redact_urls(message, self._hides)
        if shown != message:
            record.msg, record.args = shown, ()
        return True


_hidden_locations: frozenset[Location] = frozenset()
"""Where the auth endpoints whose URLs carry a secret point."""
_lock = threading.Lock()


def _is_hidden(url: str) -> bool:
    return location(url) in _hidden_locations


_http_log_redaction: Final = UrlRedaction(_is_hidden)
"""On httpx's logger once an endpoint's URL carries a secret (it is the application's
logger too: its other URLs are left as they are)."""


def hide_from_http_logs(url: str) -> None:
    """Have the HTTP client's log lines show ``url`` redacted (if it needs to be),
    however the client spells it."""
    global _hidden_locations
    where = location(url)
    if where is None or ("?" not in url and "@" not in url):
        return
    with _lock:
        if not _hidden_locations:
            logging.getLogger("httpx").addFilter(_http_log_redaction)
        _hidden_locations = _hidden_locations | {where}


LIBRARY_LOGGERS: Final = ("pusher_channels", "pusher_channels.frames", "pusher_channels.websocket")
"""Every logger the library logs to: each shows no URL's query string nor password."""

_library_log_redaction: Final = UrlRedaction()
for _name in LIBRARY_LOGGERS:
    logging.getLogger(_name).addFilter(_library_log_redaction)
del _name


# ------------------------------------------------------------ frames at DEBUG

_SECRET_KEY: Final = re.compile(rb'(?<!\\)(\\*)"(auth|user_data|shared_secret)\1"\s*:\s*\1"')
"""A key whose string value is a secret, at any depth of JSON in a JSON string:
each depth escapes the quotes of the one within (``"``, ``\\"``, ``\\\\\\"``...)."""
_SHOWN_SECRET: Final = REDACTED.encode("ascii")


def redact_frame(frame: bytes) -> bytes:
    """A frame (or its first bytes) as it may be logged: the values of ``auth``,
    ``user_data`` and ``shared_secret`` replaced by ``***``, the rest as it is.

    ``{"auth":"app-key:5f0c...","channel":"private-a"}`` is shown as
    ``{"auth":"app-key:***","channel":"private-a"}``, also where the frame's data is
    a JSON string (``"{\\"user_data\\":\\"***\\"}"``). A value cut short by the
    end of ``frame`` is hidden to the end.
    """
    if b"auth" not in frame and b"user_data" not in frame and b"shared_secret" not in frame:
        return frame
    shown: list[bytes] = []
    position = 0
    while (match := _SECRET_KEY.search(frame, position)) is not None:
        start = match.end()
        escapes = len(match[1])
        if escapes & (escapes + 1):  # not 2**depth - 1 backslashes: not a JSON string
            shown.append(frame[position:start])
            position = start
            continue
        end = _string_end(frame, start, escapes)
        value = frame[start:end]
        key_id = value[: value.index(b":") + 1] if match[2] == b"auth" and b":" in value else b""
        shown.append(frame[position:start] + key_id + _SHOWN_SECRET)
        position = end
    shown.append(frame[position:])
    return b"".join(shown)


def _string_end(frame: bytes, start: int, escapes: int) -> int:
    """Where the string that starts at ``start``, ``escapes`` backslashes deep, ends:
    the backslashes of its closing quote (or the end of ``frame``).

    At depth ``d`` (``escapes == 2**d - 1``), a quote closes the string when the
    backslashes before it number ``escapes`` modulo ``2**(d + 1)``: the others
    are escaped backslashes of the string itself.
    """
    period = 2 * (escapes + 1)
    index = start
    while (quote := frame.find(b'"', index)) != -1:
        run = 0
        while quote - run - 1 >= start and frame[quote - run - 1] == 0x5C:  # backslash
            run += 1
        if run % period == escapes:
            return quote - escapes
        index = quote + 1
    return len(frame)
