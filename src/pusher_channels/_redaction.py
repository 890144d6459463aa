"""Redaction: what may carry a secret is shown without it, in every repr, log line and
exception message.

Three things can: a URL's user information (a proxy's ``user:password@``), a URL's
query string (an auth endpoint's ``?token=...``), and HTTP headers (a bearer token).
Anything shown to a person goes through these functions first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_headers", "redact_url"]

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
