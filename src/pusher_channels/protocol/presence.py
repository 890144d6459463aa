"""Presence channels: reading member lists and member changes from server payloads.

User ids are always strings here: servers and authorization endpoints may send
numbers (``{"user_id": 10}``), and the same member must not appear twice as
``10`` and ``"10"``.
"""

from __future__ import annotations

from typing import Any, Final

from ..exceptions import PusherProtocolError
from .messages import PusherMember, decode_data

__all__ = [
    "MAX_PRESENCE_MEMBERS",
    "member_from_payload",
    "members_from_subscription",
    "user_id_from_channel_data",
    "with_string_ids",
]

MAX_PRESENCE_MEMBERS: Final = 10_000
"""A ceiling on members kept per channel (the hosted service allows 100), so that a
faulty server cannot make the member list grow without bound."""


def _user_id(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PusherProtocolError(f"presence user id must be a string or an integer, got {value!r}")


def members_from_subscription(data: Any) -> dict[str, PusherMember]:
    """Read ``{"presence": {"ids": [...], "hash": {id: info}}}`` into members.

    Raises:
        PusherProtocolError: the payload has no usable ``presence`` object.
    """
    payload = decode_data(data)
    presence = payload.get("presence") if isinstance(payload, dict) else None
    if not isinstance(presence, dict):
        raise PusherProtocolError("presence subscription payload has no 'presence' object")
    hash_ = presence.get("hash")
    ids = presence.get("ids")
    infos: dict[str, Any] = {}
    if isinstance(hash_, dict):
        for raw_id, info in hash_.items():
            infos[_user_id(raw_id)] = info
    ordered = [_user_id(raw_id) for raw_id in ids] if isinstance(ids, list) else list(infos)
    members: dict[str, PusherMember] = {}
    for user_id in ordered[:MAX_PRESENCE_MEMBERS]:
        members[user_id] = PusherMember(user_id, infos.get(user_id))
    return members


def with_string_ids(payload: Any) -> Any:
    """A presence subscription payload whose ``ids`` are strings, as ``members``' keys.

    ``{"presence": {"ids": [1, 2], ...}}`` becomes ``{"presence": {"ids": ["1", "2"],
    ...}}`` (a copy; the ``hash`` keys are JSON object keys, strings already). Call it
    once :func:`members_from_subscription` has accepted the payload.
    """
    payload = decode_data(payload)
    presence = payload.get("presence") if isinstance(payload, dict) else None
    if not isinstance(presence, dict) or not isinstance(presence.get("ids"), list):
        return payload
    ids = [_user_id(raw_id) for raw_id in presence["ids"]]
    return {**payload, "presence": {**presence, "ids": ids}}


def member_from_payload(data: Any) -> PusherMember:
    """Read a ``member_added`` / ``member_removed`` payload ``{user_id, user_info?}``.

    Raises:
        PusherProtocolError: the payload has no usable ``user_id``.
    """
    payload = decode_data(data)
    if not isinstance(payload, dict) or "user_id" not in payload:
        raise PusherProtocolError("presence member payload has no 'user_id'")
    return PusherMember(_user_id(payload["user_id"]), payload.get("user_info"))


def user_id_from_channel_data(channel_data: str) -> str:
    """The ``user_id`` inside the ``channel_data`` string of a presence authorization.

    Raises:
        PusherProtocolError: ``channel_data`` is not JSON with a ``user_id``.
    """
    payload = decode_data(channel_data)
    if not isinstance(payload, dict) or "user_id" not in payload:
        raise PusherProtocolError("presence channel_data has no 'user_id'")
    return _user_id(payload["user_id"])
