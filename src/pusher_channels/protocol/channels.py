"""The channel registry: which channels the user wants, and where each one stands.

A channel stays in the registry from ``subscribe()`` until ``unsubscribe()``; every
(re)connection subscribes again each channel in it, so a channel is never lost to a
reconnect and never resubscribed after the user let it go.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..exceptions import PusherConfigError, SubscriptionError
from .messages import PusherMember

__all__ = [
    "MAX_CHANNEL_NAME_LENGTH",
    "ChannelKind",
    "ChannelRecord",
    "ChannelRegistry",
    "ChannelStatus",
    "channel_kind",
    "validate_channel_name",
]

MAX_CHANNEL_NAME_LENGTH: Final = 164
"""The hosted service's limit (prefix included); soketi accepts up to 200."""

_CHANNEL_NAME = re.compile(r"[-A-Za-z0-9_=@,.;]+")
_SERVER_TO_USER_PREFIX: Final = "#server-to-user-"


class ChannelKind(enum.Enum):
    """The type of a channel, told by its name's prefix."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRIVATE_ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"

    @property
    def needs_authorization(self) -> bool:
        """Whether subscribing needs a signature from an authorizer."""
        return self is not ChannelKind.PUBLIC


def channel_kind(name: str) -> ChannelKind:
    """Tell a channel's kind from its name.

    Cache channels count as their base kind: ``private-encrypted-cache-`` starts
    with ``private-encrypted-``, ``private-cache-`` with ``private-``,
    ``presence-cache-`` with ``presence-`` (and ``cache-`` is public).
    """
    if name.startswith("private-encrypted-"):
        return ChannelKind.PRIVATE_ENCRYPTED
    if name.startswith("private-"):
        return ChannelKind.PRIVATE
    if name.startswith("presence-"):
        return ChannelKind.PRESENCE
    return ChannelKind.PUBLIC


def validate_channel_name(name: object) -> str:
    """Check a channel name before anything is sent, and return it.

    Raises:
        PusherConfigError: not a string, empty, longer than 164 characters, or with
            characters outside ``A-Z a-z 0-9 _ - = @ , . ;`` (``#`` is reserved).
    """
    if not isinstance(name, str) or not name:
        raise PusherConfigError(f"channel name must be a non-empty string, got {name!r}")
    if len(name) > MAX_CHANNEL_NAME_LENGTH:
        raise PusherConfigError(
            f"channel name is {len(name)} characters long; the limit is "
            f"{MAX_CHANNEL_NAME_LENGTH}: {name[:40]!r}..."
        )
    if name.startswith(_SERVER_TO_USER_PREFIX):
        raise PusherConfigError(
            f"{_SERVER_TO_USER_PREFIX!r} channels are subscribed by signin(), not by subscribe()"
        )
    if _CHANNEL_NAME.fullmatch(name) is None:
        raise PusherConfigError(
            f"channel name {name!r} has characters outside A-Z a-z 0-9 _ - = @ , . ;"
        )
    return name


class ChannelStatus(enum.Enum):
    """Where one channel stands on the current connection."""

    UNSUBSCRIBED = "unsubscribed"
    """Not yet sent on this connection (or no connection)."""
    AUTHORIZING = "authorizing"
    """Waiting for the authorizer before the subscribe can be sent."""
    SUBSCRIBING = "subscribing"
    """``pusher:subscribe`` sent, waiting for the server's answer."""
    SUBSCRIBED = "subscribed"
    """The server confirmed the subscription."""
    FAILED = "failed"
    """Authorization or subscription failed; ``subscribe()`` again retries."""


_NO_MEMBERS: Final[dict[str, PusherMember]] = {}
"""The members of every channel that is not a presence channel: one empty dict, never
written (only presence records get, and write, their own)."""
_NO_HELD_EVENTS: Final[list[tuple[str, Any, str | None]]] = []
"""Likewise the held events of every channel that is not encrypted."""


def _no_members() -> dict[str, PusherMember]:
    return _NO_MEMBERS


def _no_held_events() -> list[tuple[str, Any, str | None]]:
    return _NO_HELD_EVENTS


@dataclass(slots=True, eq=False)
class ChannelRecord:
    """The core's state for one channel.

    Only presence records have a members dict of their own and only encrypted ones a
    list of held events: the others share an empty one, so that 100,000 channels do
    not cost 200,000 containers (nor the cyclic garbage collector's time to walk
    them).
    """

    name: str
    kind: ChannelKind
    incarnation: int = 0
    """Which ``subscribe()`` of this name the record is (a channel unsubscribed and
    subscribed again is a new incarnation): requests carry it, so answers meant for
    an earlier incarnation are told apart."""
    status: ChannelStatus = ChannelStatus.UNSUBSCRIBED
    subscription_count: int | None = None
    members: dict[str, PusherMember] = field(default_factory=_no_members)
    my_user_id: str | None = None
    shared_secret: bytes | None = None
    failure: SubscriptionError | None = None
    """Why the last attempt failed, while the status is ``FAILED``."""
    retry_at: float | None = None
    """When a failed authorization is tried again, if it will be."""
    authorization_retries: int = 0
    reauthorizing: bool = False
    """An encrypted channel fetching a new shared secret after a failed decryption."""
    held_events: list[tuple[str, Any, str | None]] = field(default_factory=_no_held_events)
    """Encrypted events (name, data, user_id) held, in order, while reauthorizing."""

    def __post_init__(self) -> None:
        if self.kind is ChannelKind.PRESENCE:
            self.members = {}
        elif self.kind is ChannelKind.PRIVATE_ENCRYPTED:
            self.held_events = []

    @property
    def me(self) -> PusherMember | None:
        """This connection's own presence member, once subscribed."""
        if self.my_user_id is None:
            return None
        return self.members.get(self.my_user_id)

    def reset(self) -> None:
        """Forget what belonged to the previous connection."""
        self.status = ChannelStatus.UNSUBSCRIBED
        self.failure = None
        self.retry_at = None
        self.authorization_retries = 0
        if self.members:  # the shared empty one is never touched
            self.members.clear()
        self.my_user_id = None
        self.shared_secret = None
        self.reauthorizing = False
        if self.held_events:
            self.held_events.clear()


class ChannelRegistry:
    """The channels the user wants, by name, in subscription order."""

    __slots__ = ("_incarnations", "_records")

    def __init__(self) -> None:
        self._records: dict[str, ChannelRecord] = {}
        self._incarnations = 0
        """The incarnations given so far (a plain number, not an object to collect)."""

    @property
    def records(self) -> dict[str, ChannelRecord]:
        """The records by name (the live dict, for lookups on the hot path)."""
        return self._records

    def add(self, name: str) -> tuple[ChannelRecord, bool]:
        """Return the record for ``name``, and whether it was created now."""
        record = self._records.get(name)
        if record is not None:
            return record, False
        self._incarnations += 1
        record = ChannelRecord(name, channel_kind(name), self._incarnations)
        self._records[name] = record
        return record, True

    def remove(self, name: str) -> ChannelRecord | None:
        """Drop ``name``; return its record if it was there."""
        return self._records.pop(name, None)

    def get(self, name: str) -> ChannelRecord | None:
        """The record for ``name``, if the user wants that channel."""
        return self._records.get(name)

    def reset_all(self) -> None:
        """Mark every channel unsubscribed: the connection is gone."""
        for record in self._records.values():
            record.reset()

    def __iter__(self) -> Iterator[ChannelRecord]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records
