"""Records every callback of a client, and waits for conditions on what arrived."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from pusher_channels import ConnectionState, PusherError, PusherEvent, PusherMember
from pusher_channels.callbacks import (
    ConnectionStateChangeCallback,
    ErrorCallback,
    EventCallback,
    MemberCallback,
    SubscriptionErrorCallback,
    SubscriptionSucceededCallback,
)


class RecorderCallbacks(TypedDict):
    """The callbacks a :class:`Recorder` gives: each one set, so that a client's
    other callbacks can be given next to them."""

    on_connection_state_change: ConnectionStateChangeCallback
    on_event: EventCallback
    on_error: ErrorCallback
    on_subscription_succeeded: SubscriptionSucceededCallback
    on_subscription_error: SubscriptionErrorCallback
    on_member_added: MemberCallback
    on_member_removed: MemberCallback


@dataclass
class Recorder:
    """Global callbacks for a client, keeping what each received in order."""

    states: list[tuple[ConnectionState, ConnectionState]] = field(default_factory=list)
    events: list[PusherEvent] = field(default_factory=list)
    errors: list[tuple[str, int | None, PusherError]] = field(default_factory=list)
    succeeded: list[tuple[str, Any]] = field(default_factory=list)
    subscription_errors: list[tuple[str, PusherError]] = field(default_factory=list)
    members_added: list[tuple[str, PusherMember]] = field(default_factory=list)
    members_removed: list[tuple[str, PusherMember]] = field(default_factory=list)

    def callbacks(self) -> RecorderCallbacks:
        """The ``on_*`` keywords for ``init()`` / the constructor."""
        return {
            "on_connection_state_change": lambda cur, prev: self.states.append((cur, prev)),
            "on_event": self.events.append,
            "on_error": lambda message, code, error: self.errors.append((message, code, error)),
            "on_subscription_succeeded": lambda name, data: self.succeeded.append((name, data)),
            "on_subscription_error": lambda message, error: self.subscription_errors.append(
                (message, error)
            ),
            "on_member_added": lambda name, m: self.members_added.append((name, m)),
            "on_member_removed": lambda name, m: self.members_removed.append((name, m)),
        }

    @property
    def current_states(self) -> list[ConnectionState]:
        """The ``current`` of every state change, in order."""
        return [current for current, _ in self.states]

    def events_named(self, event_name: str) -> list[PusherEvent]:
        """The events received with ``event_name``."""
        return [e for e in self.events if e.event_name == event_name]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> float:
    """Wait until ``condition()`` holds; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start
