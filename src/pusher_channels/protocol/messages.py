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
    "MAX_CLIENT_EVENT_BYTES",
    "PUBLIC_PREFIX",
    "Frame",
    "PusherEvent",
    "PusherMember",
    "decode_data",
    "decode_frame",
    "encode_message",
    "json_text",
    "public_event_name",
    "received_event",
]

INTERNAL_PREFIX: Final = "pusher_internal:"
PUBLIC_PREFIX: Final = "pusher:"
CLIENT_EVENT_PREFIX: Final = "client-"
"""The prefix every client event's name must have."""
MAX_CLIENT_EVENT_BYTES: Final = 10_240
"""Pusher's limit on an event's data: 10 KB, counted as the UTF-8 bytes of the
``data`` string (of its JSON when it is an object), as the servers count them."""

Frame = dict[str, Any]
"""A decoded frame: the JSON object as the server sent it."""


def json_text(data: Any) -> str:
    """``data`` as text: a string as it is, bytes decoded as UTF-8, anything else
    serialized to JSON.

    Raises:
        TypeError: ``data`` cannot be serialized to JSON.
        UnicodeDecodeError: ``data`` is bytes that are not UTF-8.
    """
    if type(data) is str:
        return data
    if isinstance(data, str):  # a str subclass: plain text too
        return str(data)
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8")
    try:
        return orjson.dumps(data).decode("utf-8")
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"event data is not JSON serializable: {exc}") from None


@dataclass(frozen=True, slots=True, init=False)
class PusherEvent:
    """One event on a channel, as delivered to callbacks and iterators (immutable).

    Attributes:
        channel_name: the channel the event arrived on.
        event_name: the event's name; ``pusher_internal:*`` names are given as
            ``pusher:*``, as in the Flutter client.
        data: the string representation of the data the sender passed: its JSON text
            when it was an object (client events from pusher-js are), the text itself
            when it was a string, the decrypted text on encrypted channels; ``None``
            when the event has no data. :meth:`json` decodes it.
        user_id: the sender's user id, set on client events received on presence
            channels (the server adds it, so it can be trusted).
    """

    channel_name: str
    event_name: str
    data: str | None
    user_id: str | None

    def __init__(
        self,
        channel_name: str,
        event_name: str,
        data: Any = None,
        user_id: str | None = None,
    ) -> None:
        """Make an event, e.g. to :meth:`~pusher_channels.PusherChannelsClient.trigger`.

        ``data`` may be a string (kept as it is) or any value that JSON can
        represent (a dict, a list, a number...), which is kept as its JSON text.

        Raises:
            TypeError: ``data`` cannot be serialized to JSON.
        """
        if data is not None and type(data) is not str:
            data = json_text(data)
        setter = object.__setattr__
        setter(self, "channel_name", channel_name)
        setter(self, "event_name", event_name)
        setter(self, "data", data)
        setter(self, "user_id", user_id)

    def json(self) -> Any:
        """Return ``data`` decoded from JSON (``None`` when there is no data).

        Raises:
            ValueError: ``data`` is not valid JSON (the sender passed plain text).
        """
        data = self.data
        if data is None:
            return None
        return orjson.loads(data)


@dataclass(slots=True)
class _WireEvent:
    """:class:`PusherEvent`'s layout without its frozen ``__setattr__``: what
    :func:`received_event` builds, then turns into a :class:`PusherEvent`."""

    channel_name: str
    event_name: str
    data: str | None
    user_id: str | None


def received_event(
    channel_name: str, event_name: str, data: Any, user_id: str | None
) -> PusherEvent:
    """The :class:`PusherEvent` of a frame from the server: the hot path.

    ``data`` is taken as it is when it is a string or ``None`` (the common case is
    not re-encoded); a JSON value (an object, as pusher-js sends client events) is
    given as its JSON text. The event is built as a plain slotted object, its slots
    stored one by one (no ``__init__`` call), then given the frozen class (the same
    slots): a frozen dataclass's ``__init__`` would cost twice the whole
    construction, per event.
    """
    if data is not None and type(data) is not str:
        data = json_text(data)
    event = _new_object(_WireEvent)
    event.channel_name = channel_name
    event.event_name = event_name
    event.data = data
    event.user_id = user_id
    event.__class__ = PusherEvent  # type: ignore[assignment]
    return event  # type: ignore[return-value]


_new_object: Final = object.__new__


@dataclass(frozen=True, slots=True)
class PusherMember:
    """One member of a presence channel (immutable).

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
