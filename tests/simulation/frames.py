"""Malformed frames, drawn by a generator: what no well-behaved server sends.

:func:`hostile_frame` draws one frame from a seeded generator: random JSON values of
every type and depth, frames shaped like the protocol's with fields of the wrong
type, valid frames cut short, bytes that are not UTF-8, nesting deeper than any
parser allows, huge frames and binary frames. A frame is either
``("text", bytes)`` or ``("binary", size)``.

What it never draws is a frame the client is right to act on as the server's word
(a subscription answer of the right shape on a channel of the run, or an event
whose data carries a ``seq``): the simulation compares the client with the server,
and a server that lies well enough cannot be told from an honest one.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any, Final

__all__ = ["hostile_frame"]

SYSTEM_EVENTS: Final = (
    "pusher:connection_established",
    "pusher:error",
    "pusher:ping",
    "pusher:pong",
    "pusher:signin_success",
    "pusher:cache_miss",
    "pusher:subscription_error",
    "pusher_internal:subscription_succeeded",
    "pusher_internal:member_added",
    "pusher_internal:member_removed",
    "pusher_internal:subscription_count",
    "pusher_internal:watchlist_events",
)
_SUBSCRIBE_ANSWERS: Final = frozenset(
    {"pusher:subscription_error", "pusher_internal:subscription_succeeded"}
)
_KEYS: Final = (
    "event",
    "channel",
    "data",
    "user_id",
    "socket_id",
    "activity_timeout",
    "presence",
    "ids",
    "hash",
    "count",
    "code",
    "message",
    "error",
    "status",
    "subscription_count",
    "user_info",
    "user_data",
    "events",
    "name",
    "x",
)
_TEXT_ALPHABET: Final = string.ascii_letters + string.digits + " -_:#{}[]\"\\'é✓\u0000\u2028"


def _scalar(rng: random.Random) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randrange(-(10**6), 10**6)
    if kind == 3:
        return rng.choice((0, -1, 2**53 + 1, 10**30, -(10**30)))
    if kind == 4:
        return rng.uniform(-1e6, 1e6)
    if kind == 5:
        return ""
    if kind == 6:
        return rng.choice(SYSTEM_EVENTS)
    return "".join(rng.choice(_TEXT_ALPHABET) for _ in range(rng.randrange(1, 12)))


def _value(rng: random.Random, depth: int) -> Any:
    """A random JSON value, at most ``depth`` containers deep."""
    if depth <= 0 or rng.random() < 0.45:
        return _scalar(rng)
    if rng.random() < 0.5:
        return [_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_KEYS): _value(rng, depth - 1) for _ in range(rng.randrange(5))}


def _maybe_encoded(rng: random.Random, value: Any) -> Any:
    """The value, or its JSON text (servers double-encode ``data``), or broken text."""
    draw = rng.random()
    if draw < 0.4:
        return value
    text = json.dumps(value)
    if draw < 0.8:
        return text
    return text[: rng.randrange(len(text) + 1)] + rng.choice(("", "}", "]", '"', "\\"))


def _shaped(rng: random.Random, channels: list[str]) -> dict[str, Any]:
    """A frame shaped like the protocol's, with some field of the wrong kind."""
    frame: dict[str, Any] = {}
    event = rng.choice((*SYSTEM_EVENTS, "sim-event", "client-x", "", rng.randrange(99)))
    if rng.random() < 0.9:
        frame["event"] = event
    if rng.random() < 0.7:
        frame["channel"] = (
            rng.choice(channels)
            if channels and rng.random() < 0.6
            else _value(rng, 1)
            if rng.random() < 0.5
            else "#server-to-user-me"
        )
    if rng.random() < 0.85:
        frame["data"] = _maybe_encoded(rng, _value(rng, 3))
    if rng.random() < 0.3:
        frame["user_id"] = _value(rng, 1)
    for _ in range(rng.randrange(3)):
        frame[rng.choice(_KEYS)] = _value(rng, 2)
    return frame


def _acceptable(frame: Any, channels: list[str]) -> bool:
    """Whether the client would be right to act on ``frame`` as the server's word."""
    if not isinstance(frame, dict):
        return False  # the client acts on objects only
    event = frame.get("event")
    if not isinstance(event, str):
        return False  # nor on an event without a name
    if event in _SUBSCRIBE_ANSWERS and frame.get("channel") in channels:
        return True
    if event == "pusher:connection_established":
        data = frame.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        if isinstance(data, dict) and isinstance(data.get("socket_id"), str):
            return True
    return '"seq"' in json.dumps(frame)


def hostile_frame(rng: random.Random, channels: list[str]) -> tuple[str, Any]:
    """One malformed frame, as ``("text", bytes)`` or ``("binary", size)``.

    ``channels`` are every channel name the run uses (for frames that name one).
    """
    kind = rng.random()
    if kind < 0.08:
        return "binary", rng.choice((0, 1, rng.randrange(2, 70_000)))
    if kind < 0.18:
        # A valid frame cut short.
        text = json.dumps(
            {
                "event": "sim-event",
                "channel": rng.choice(channels) if channels else "news",
                "data": json.dumps({"n": rng.randrange(100)}),
            }
        )
        return "text", text[: rng.randrange(1, len(text))].encode()
    if kind < 0.24:
        # Not UTF-8.
        raw = bytearray(json.dumps(_shaped(rng, channels)).encode())
        for _ in range(rng.randrange(1, 4)):
            raw.insert(rng.randrange(len(raw) + 1), rng.choice((0xFF, 0xC3, 0xED, 0x80)))
        return "text", bytes(raw)
    if kind < 0.28:
        depth = rng.choice((200, 1_500, 50_000))
        opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
        return "text", (opener * depth + "1" + closer * depth).encode()
    if kind < 0.31:
        size = rng.choice((70_000, 300_000))
        frame = {
            "event": "sim-huge",
            "channel": rng.choice(channels or ["news"]),
            "data": "x" * size,
        }
        return "text", json.dumps(frame).encode()
    if kind < 0.36:
        return "text", rng.choice((b"", b" ", b"null", b"NaN", b"{}", b"[]", b'"event"', b"1e999"))
    if kind < 0.5:
        value = _value(rng, 4)
        if _acceptable(value, channels):
            value = [value]
        return "text", json.dumps(value).encode()
    shaped = _shaped(rng, channels)
    if _acceptable(shaped, channels):
        shaped["event"] = 7  # the same frame, with an event no client takes
    return "text", json.dumps(shaped).encode()
