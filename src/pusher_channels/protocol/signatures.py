"""Pusher signatures: HMAC-SHA256 with the app secret, as both ends compute them.

The same formulas sign a channel authorization on the application's server and
check it on the Pusher server (https://pusher.com/docs/channels/library_auth_reference/auth-signatures):

==========================  ==================================================
what is signed              string to sign
==========================  ==================================================
private / encrypted channel ``<socket_id>:<channel_name>``
presence channel            ``<socket_id>:<channel_name>:<channel_data>``
user sign-in                ``<socket_id>::user::<user_data>``
HTTP API request            ``<METHOD>\\n<path>\\n<sorted query>`` (see :func:`http_string_to_sign`)
==========================  ==================================================

An authorization is ``<app_key>:<lower-case hex digest>``. An encrypted channel's
shared secret is ``SHA256(channel_name || master_key)``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = [
    "authorization",
    "channel_string_to_sign",
    "hex_signature",
    "http_string_to_sign",
    "shared_secret",
    "signatures_match",
    "user_string_to_sign",
]


def hex_signature(secret: str, text: str) -> str:
    """``hex(HMAC-SHA256(secret, text))``, lower case."""
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(key: str, secret: str, text: str) -> str:
    """``<key>:<hex signature of text>``: the ``auth`` of a subscription or sign-in."""
    return f"{key}:{hex_signature(secret, text)}"


def signatures_match(expected: str, given: object) -> bool:
    """Whether ``given`` is exactly ``expected``, compared in constant time."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def channel_string_to_sign(socket_id: str, channel_name: str, channel_data: str | None) -> str:
    """What a channel authorization signs (``channel_data`` for presence channels)."""
    if channel_data is None:
        return f"{socket_id}:{channel_name}"
    return f"{socket_id}:{channel_name}:{channel_data}"


def user_string_to_sign(socket_id: str, user_data: str) -> str:
    """What a user authentication (``pusher:signin``) signs."""
    return f"{socket_id}::user::{user_data}"


def http_string_to_sign(method: str, path: str, query: Iterable[tuple[str, str]]) -> str:
    """What an HTTP API request signs: method, path and the query without ``auth_signature``.

    The parameters are sorted by key, keys in lower case, joined as in a query
    string but without URL escaping (``auth_key=foo&name=Something else``).
    """
    pairs = sorted((key.lower(), value) for key, value in query if key.lower() != "auth_signature")
    joined = "&".join(f"{key}={value}" for key, value in pairs)
    return f"{method.upper()}\n{path}\n{joined}"


def shared_secret(channel_name: str, master_key: bytes) -> bytes:
    """The 32-byte key of a ``private-encrypted-`` channel: ``SHA256(name || master)``."""
    return hashlib.sha256(channel_name.encode("utf-8") + master_key).digest()
