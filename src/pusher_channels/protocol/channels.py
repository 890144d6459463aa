"""The channel registry: which channels the user wants, and where each one stands.

A channel stays in the registry from ``subscribe()`` until ``unsubscribe()``; every
(re)connection subscribes again each channel in it, so a channel is never lost to a
reconnect and never resubscribed after the user let it go.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
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


class _Rarely:
    """What few records ever set (failures and retries, presence, encryption, the
    server's count): one object, made by the first of them to be set."""

    __slots__ = (
        "authorization_retries",
        "failure",
        "held_events",
        "my_user_id",
        "reauthorizing",
        "retry_at",
        "shared_secret",
        "subscription_count",
    )

    def __init__(self) -> None:
        self.subscription_count: int | None = None
        self.my_user_id: str | None = None
        self.shared_secret: bytes | None = None
        self.failure: SubscriptionError | None = None
        self.retry_at: float | None = None
        self.authorization_retries = 0
        self.reauthorizing = False
        self.held_events: list[tuple[str, Any, str | None]] = _NO_HELD_EVENTS


class ChannelRecord:
    """The core's state for one channel.

    Only presence records have a members dict of their own and only encrypted ones a
    list of held events: the others share an empty one. What few records ever set
    (everything but the name, kind, incarnation, status and members) is kept in one
    more object, made when the first of it is set. So 100,000 public channels are
    100,000 objects of six slots each for the cyclic garbage collector to walk, not
    300,000 containers nor thirteen slots each.
    """

    __slots__ = ("_rarely", "incarnation", "kind", "members", "name", "status")

    def __init__(self, name: str, kind: ChannelKind, incarnation: int = 0) -> None:
        self.name = name
        self.kind = kind
        self.incarnation = incarnation
        """Which ``subscribe()`` of this name the record is (a channel unsubscribed
        and subscribed again is a new incarnation): requests carry it, so answers
        meant for an earlier incarnation are told apart."""
        self.status = ChannelStatus.UNSUBSCRIBED
        self.members: dict[str, PusherMember] = _NO_MEMBERS
        self._rarely: _Rarely | None = None
        if kind is ChannelKind.PRESENCE:
            self.members = {}
        elif kind is ChannelKind.PRIVATE_ENCRYPTED:
            self._more().held_events = []

    def _more(self) -> _Rarely:
        rarely = self._rarely
        if rarely is None:
            rarely = self._rarely = _Rarely()
        return rarely

    @property
    def subscription_count(self) -> int | None:
        """The server's last count of the channel's subscriptions, if it sent one."""
        rarely = self._rarely
        return rarely.subscription_count if rarely is not None else None

    @subscription_count.setter
    def subscription_count(self, value: int | None) -> None:
        if value is not None or self._rarely is not None:
            self._more().subscription_count = value

    @property
    def my_user_id(self) -> str | None:
        """This connection's presence user id, once subscribed."""
        rarely = self._rarely
        return rarely.my_user_id if rarely is not None else None

    @my_user_id.setter
    def my_user_id(self, value: str | None) -> None:
        if value is not None or self._rarely is not None:
            self._more().my_user_id = value

    @property
    def shared_secret(self) -> bytes | None:
        """An encrypted channel's key, once authorized."""
        rarely = self._rarely
        return rarely.shared_secret if rarely is not None else None

    @shared_secret.setter
    def shared_secret(self, value: bytes | None) -> None:
        if value is not None or self._rarely is not None:
            self._more().shared_secret = value

    @property
    def failure(self) -> SubscriptionError | None:
        """Why the last attempt failed: set while the status is ``FAILED``, and kept
        while the channel is retried by itself (until it is subscribed, reset, or
        ``subscribe()`` tries it again)."""
        rarely = self._rarely
        return rarely.failure if rarely is not None else None

    @failure.setter
    def failure(self, value: SubscriptionError | None) -> None:
        if value is not None or self._rarely is not None:
            self._more().failure = value

    @property
    def refused(self) -> bool:
        """Whether the last attempt failed for good on this connection: ``FAILED``
        with no retry coming (a refusal, or a failure that waiting cannot mend)."""
        return self.status is ChannelStatus.FAILED and self.retry_at is None

    @property
    def retry_at(self) -> float | None:
        """When a failed authorization is tried again, if it will be."""
        rarely = self._rarely
        return rarely.retry_at if rarely is not None else None

    @retry_at.setter
    def retry_at(self, value: float | None) -> None:
        if value is not None or self._rarely is not None:
            self._more().retry_at = value

    @property
    def authorization_retries(self) -> int:
        """The authorization retries made since the last success or reset."""
        rarely = self._rarely
        return rarely.authorization_retries if rarely is not None else 0

    @authorization_retries.setter
    def authorization_retries(self, value: int) -> None:
        if value != 0 or self._rarely is not None:
            self._more().authorization_retries = value

    @property
    def reauthorizing(self) -> bool:
        """An encrypted channel fetching a new shared secret after a failed decryption."""
        rarely = self._rarely
        return rarely.reauthorizing if rarely is not None else False

    @reauthorizing.setter
    def reauthorizing(self, value: bool) -> None:
        if value or self._rarely is not None:
            self._more().reauthorizing = value

    @property
    def held_events(self) -> list[tuple[str, Any, str | None]]:
        """Encrypted events (name, data, user_id) held, in order, while reauthorizing
        (the shared empty list, never written, unless encrypted)."""
        rarely = self._rarely
        return rarely.held_events if rarely is not None else _NO_HELD_EVENTS

    @property
    def me(self) -> PusherMember | None:
        """This connection's own presence member, once subscribed."""
        my_user_id = self.my_user_id
        if my_user_id is None:
            return None
        return self.members.get(my_user_id)

    def reset(self) -> None:
        """Forget what belonged to the previous connection."""
        self.status = ChannelStatus.UNSUBSCRIBED
        if self.members:  # the shared empty one is never touched
            self.members.clear()
        rarely = self._rarely
        if rarely is not None:  # the server's count is kept
            rarely.failure = None
            rarely.retry_at = None
            rarely.authorization_retries = 0
            rarely.my_user_id = None
            rarely.shared_secret = None
            rarely.reauthorizing = False
            if rarely.held_events:
                rarely.held_events.clear()

    def __repr__(self) -> str:
        return f"<ChannelRecord {self.name!r} {self.status.value} #{self.incarnation}>"


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
