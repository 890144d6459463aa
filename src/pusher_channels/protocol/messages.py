"""Pusher protocol messages: the event and member types, decoding and encoding.

Every frame is a JSON object with ``event`` and optionally ``channel``, ``data`` and
``user_id``. Servers usually send ``data`` as a string holding JSON ("double
encoding"), but soketi and the hosted service send some system events with an
object, and Laravel Reverb with a string, so :func:`decode_data` accepts both, as
well as a missing or non-JSON ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..exceptions import PusherProtocolError

__all__ = [
    "CLIENT_EVENT_PREFIX",
    "INTERNAL_PREFIX",
    "PUBLIC_PREFIX",
    "Frame",
    "PusherEvent",
    "PusherMember",
    "decode_data",
    "decode_frame",
    "encode_message",
    "public_event_name",
]

INTERNAL_PREFIX: Final = "pusher_internal:"
PUBLIC_PREFIX: Final = "pusher:"
CLIENT_EVENT_PREFIX: Final = "client-"
"""The prefix every client event's name must have."""

Frame = dict[str, Any]
"""A decoded frame: the JSON object as the server sent it."""


@dataclass(slots=True)
class PusherEvent:
    """One event on a channel, as delivered to callbacks and iterators.

    Attributes:
        channel_name: the channel the event arrived on.
        event_name: the event's name; ``pusher_internal:*`` names are given as
            ``pusher:*``, as in the Flutter client.
        data: what the server sent, unchanged: usually a JSON string (for encrypted
            channels, the decrypted text); an object or ``None`` if the server sent
            that instead.
        user_id: the sender's user id, set on client events received on presence
            channels (the server adds it, so it can be trusted).
    """

    channel_name: str
    event_name: str
    data: Any = None
    user_id: str | None = None

    def json(self) -> Any:
        """Return ``data`` decoded from JSON.

        A string is parsed as JSON; anything else (an object the server sent
        already decoded, or ``None``) is returned as it is.

        Raises:
            ValueError: ``data`` is a string that is not valid JSON.
        """
        data = self.data
        if type(data) is str or isinstance(data, bytes):
            return orjson.loads(data)
        return data


@dataclass(slots=True)
class PusherMember:
    """One member of a presence channel.

    Attributes:
        user_id: the member's id, always a string (numeric ids are converted).
        user_info: the ``user_info`` object the authorization server gave, if any.
    """

    user_id: str
    user_info: Any = None


def decode_frame(text: str | bytes | bytearray | memoryview) -> Frame:
    """Decode one text frame into a :data:`Frame` with a string ``event``.

    Raises:
        PusherProtocolError: the frame is not JSON, not an object, or has no string
            ``event``.
    """
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PusherProtocolError(f"frame is not valid JSON: {exc}") from None
    if type(frame) is not dict:
        raise PusherProtocolError(f"frame is not a JSON object but {type(frame).__name__}")
    if type(frame.get("event")) is not str:
        raise PusherProtocolError("frame has no string 'event' field")
    return frame


def decode_data(data: Any) -> Any:
    """Decode a ``data`` field: JSON text is parsed, anything else returned unchanged.

    A string that is not JSON is returned as the string, as pusher-js does.
    """
    if isinstance(data, str):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
    return data


def encode_message(event: str, data: Any = None, channel: str | None = None) -> bytes:
    """Encode a message for the server as UTF-8 JSON bytes.

    ``data`` is sent as the JSON value it is (objects stay objects, strings stay
    strings), as pusher-js does. It is left out when ``None``.

    Raises:
        TypeError: ``data`` cannot be serialized to JSON.
    """
    message: dict[str, Any] = {"event": event}
    if data is not None:
        message["data"] = data
    if channel is not None:
        message["channel"] = channel
    try:
        return orjson.dumps(message)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"event data is not JSON serializable: {exc}") from None


def public_event_name(name: str) -> str:
    """Give an internal ``pusher_internal:x`` name as ``pusher:x``; others unchanged."""
    if name.startswith(INTERNAL_PREFIX):
        return PUBLIC_PREFIX + name[len(INTERNAL_PREFIX) :]
    return name
