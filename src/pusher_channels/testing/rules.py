"""The rules a Pusher server applies to names and payloads, as pure functions.

Each check returns the error message the server sends, or ``None`` when the input
is fine; parsers raise :class:`RuleError` with that message. The messages follow
the hosted service's where they are known (``Invalid signature: ...``,
``Existing subscription to channel ...``, the client-event refusals).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from ..protocol.channels import ChannelKind, channel_kind
from .settings import Limits

__all__ = [
    "SERVER_TO_USER_PREFIX",
    "RuleError",
    "channel_name_problem",
    "data_size",
    "data_to_string",
    "invalid_signature_message",
    "is_cache_channel",
    "kind_of",
    "parse_presence_member",
    "parse_user_data",
    "socket_id_problem",
    "user_id_of_server_channel",
]

SERVER_TO_USER_PREFIX: Final = "#server-to-user-"
_NAME: Final = re.compile(r"[-A-Za-z0-9_=@,.;]+")
_SOCKET_ID: Final = re.compile(r"[0-9]+\.[0-9]+")
_CACHE_PREFIXES: Final = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")


class RuleError(Exception):
    """An input the server refuses; ``message`` is what it tells the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def kind_of(channel: str) -> ChannelKind:
    """The channel's kind by its prefix (cache channels count as their base kind)."""
    return channel_kind(channel)


def is_cache_channel(channel: str) -> bool:
    """Whether the channel keeps its last event (``cache-`` and its variants)."""
    return channel.startswith(_CACHE_PREFIXES)


def user_id_of_server_channel(channel: str) -> str | None:
    """The user id of a ``#server-to-user-<id>`` channel, else ``None``."""
    if channel.startswith(SERVER_TO_USER_PREFIX):
        return channel[len(SERVER_TO_USER_PREFIX) :]
    return None


def channel_name_problem(channel: object, limits: Limits) -> str | None:
    """Why ``channel`` is not a valid channel name, or ``None``."""
    if not isinstance(channel, str) or not channel:
        return "Channel name must be a non-empty string"
    if len(channel) > limits.max_channel_name_length:
        return (
            f"Invalid channel name '{channel}': longer than "
            f"{limits.max_channel_name_length} characters"
        )
    user_id = user_id_of_server_channel(channel)
    checked = channel if user_id is None else user_id
    if _NAME.fullmatch(checked) is None:
        return (
            f"Invalid channel name '{channel}': only A-Z a-z 0-9 _ - = @ , . ; are allowed"
            " ('#' is reserved)"
        )
    return None


def socket_id_problem(socket_id: object) -> str | None:
    """Why ``socket_id`` is not a socket id (``digits.digits``), or ``None``."""
    if isinstance(socket_id, str) and _SOCKET_ID.fullmatch(socket_id):
        return None
    return f"Invalid socket id: {socket_id!r}"


def invalid_signature_message(expected_of: str, given: object) -> str:
    """The hosted service's message for a subscription or sign-in it refuses."""
    return f"Invalid signature: Expected HMAC SHA256 hex digest of {expected_of}, but got {given}"


def data_to_string(data: Any) -> str:
    """An event's data as sent on the wire: strings as they are, anything else as JSON."""
    if isinstance(data, str):
        return data
    try:
        return orjson.dumps(data).decode("utf-8")
    except TypeError as exc:
        raise RuleError(f"Event data is not JSON serializable: {exc}") from None


def data_size(data: Any) -> int:
    """The UTF-8 size of data as it would be sent."""
    return len(data_to_string(data).encode("utf-8"))


def parse_presence_member(channel_data: object, limits: Limits) -> tuple[str, Any]:
    """``(user_id, user_info)`` from a presence subscription's ``channel_data`` string.

    Raises:
        RuleError: not a JSON object with a ``user_id``, or over the limits.
    """
    if not isinstance(channel_data, str):
        raise RuleError("Presence subscription needs channel_data, a JSON string")
    try:
        decoded = orjson.loads(channel_data)
    except orjson.JSONDecodeError:
        raise RuleError("Presence channel_data is not valid JSON") from None
    if not isinstance(decoded, dict) or "user_id" not in decoded:
        raise RuleError("Presence channel_data must be an object with a user_id")
    raw_id = decoded["user_id"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise RuleError("Presence user_id must be a non-empty string or an integer")
    user_id = str(raw_id)
    if len(user_id) > limits.max_user_id_length:
        raise RuleError(f"Presence user_id is longer than {limits.max_user_id_length} characters")
    user_info = decoded.get("user_info")
    if user_info is not None and data_size(user_info) > limits.max_user_info_bytes:
        raise RuleError(f"Presence user_info is larger than {limits.max_user_info_bytes} bytes")
    return user_id, user_info


def parse_user_data(user_data: object) -> dict[str, Any]:
    """The user object of a ``pusher:signin``: a JSON object with a non-empty ``id``.

    Raises:
        RuleError: anything else.
    """
    if not isinstance(user_data, str):
        raise RuleError("pusher:signin needs user_data, a JSON string")
    try:
        decoded = orjson.loads(user_data)
    except orjson.JSONDecodeError:
        raise RuleError("user_data is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise RuleError("user_data must be a JSON object")
    user_id = decoded.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise RuleError("user_data must contain an 'id' field, a non-empty string")
    return decoded
