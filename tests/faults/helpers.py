"""What the fault tests share: a timeline of callbacks split per connection, publishing
rounds of numbered events, and the figures they print."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from devtools.soketi import SoketiServer

from pusher_channels import ConnectionState, PusherEvent, PusherMember
from pusher_channels.callbacks import ChannelCallbackKeywords, DecryptionFailureCallback
from tests.support.recorder import Recorder, RecorderCallbacks

CONNECTED = ConnectionState.CONNECTED
RECONNECTING = ConnectionState.RECONNECTING

BATCH_SIZE = 10
"""soketi's default limit of events per batch request."""

USERS: dict[str, dict[str, Any]] = {
    "alice": {"user_id": "alice", "user_info": {"name": "Alice"}},
    "bob": {"user_id": "bob", "user_info": {"name": "Bob"}},
}
"""Presence members by the ``user`` parameter each client sends to the endpoint."""


def as_user(user: str) -> dict[str, Any]:
    """``auth_params`` that make the endpoint sign ``user``'s presence member."""
    return {"params": {"user": user}}


Entry = tuple[str, str, Any]
"""``(kind, channel_name, payload)``: one callback, as :class:`Timeline` logs it."""


class TimelineCallbacks(RecorderCallbacks):
    """A recorder's callbacks, and ``on_decryption_failure``."""

    on_decryption_failure: DecryptionFailureCallback


@dataclass
class Timeline(Recorder):
    """A :class:`Recorder` that also logs every callback, in order, in one list.

    ``log`` holds ``("state", "", current)``, ``("succeeded", channel, data)``,
    ``("channel_succeeded", channel, data)`` and
    ``("channel_subscription_error", channel, error)`` (per-channel callbacks),
    ``("subscription_error", channel, error)``, ``("member_added", channel, user_id)``,
    ``("member_removed", channel, user_id)``, ``("event", channel, event)`` and
    ``("channel_event", channel, event)``. :meth:`connections` splits it at every
    ``CONNECTED``.
    """

    log: list[Entry] = field(default_factory=list)
    decryption_failures: list[tuple[str, str]] = field(default_factory=list)

    def callbacks(self) -> TimelineCallbacks:
        # The recorder's own callbacks, called before each logs its entry.
        recorded = super().callbacks()
        base = cast(Mapping[str, Callable[..., None]], recorded)

        def on_state(current: ConnectionState, previous: ConnectionState) -> None:
            base["on_connection_state_change"](current, previous)
            self.log.append(("state", "", current))

        def on_succeeded(name: str, data: Any) -> None:
            base["on_subscription_succeeded"](name, data)
            self.log.append(("succeeded", name, data))

        def on_subscription_error(message: str, error: Any) -> None:
            base["on_subscription_error"](message, error)
            self.log.append(("subscription_error", getattr(error, "channel_name", ""), error))

        def on_member_added(name: str, member: PusherMember) -> None:
            base["on_member_added"](name, member)
            self.log.append(("member_added", name, member.user_id))

        def on_member_removed(name: str, member: PusherMember) -> None:
            base["on_member_removed"](name, member)
            self.log.append(("member_removed", name, member.user_id))

        def on_event(event: PusherEvent) -> None:
            base["on_event"](event)
            self.log.append(("event", event.channel_name, event))

        return {
            **recorded,
            "on_connection_state_change": on_state,
            "on_subscription_succeeded": on_succeeded,
            "on_subscription_error": on_subscription_error,
            "on_member_added": on_member_added,
            "on_member_removed": on_member_removed,
            "on_event": on_event,
            "on_decryption_failure": lambda name, reason: self.decryption_failures.append(
                (name, reason)
            ),
        }

    def channel_callbacks(self, channel_name: str) -> ChannelCallbackKeywords:
        """Per-channel callbacks for ``subscribe()``, logged as ``channel_*``."""
        return {
            "on_subscription_succeeded": lambda data: self.log.append(
                ("channel_succeeded", channel_name, data)
            ),
            "on_event": lambda event: self.log.append(("channel_event", channel_name, event)),
            "on_subscription_error": lambda message, error: self.log.append(
                ("channel_subscription_error", channel_name, error)
            ),
        }

    def logged(self, kind: str) -> list[Entry]:
        """The log entries of one kind, in order."""
        return [entry for entry in self.log if entry[0] == kind]

    def count_state(self, state: ConnectionState) -> int:
        """How many times the state became ``state``."""
        return sum(1 for current in self.current_states if current is state)

    def connections(self) -> list[list[Entry]]:
        """The log after each ``CONNECTED``, one list per connection."""
        parts: list[list[Entry]] = []
        for entry in self.log:
            if entry[0] == "state" and entry[2] is CONNECTED:
                parts.append([])
            elif parts:
                parts[-1].append(entry)
        return parts

    def subscribed_on_last_connection(self) -> set[str]:
        """The channels whose global success callback fired on the latest connection."""
        parts = self.connections()
        if not parts:
            return set()
        return {name for kind, name, _ in parts[-1] if kind == "succeeded"}

    def round_events(self, event_name: str) -> list[PusherEvent]:
        """The events named ``event_name`` received by the global callback."""
        return [e for e in self.events if e.event_name == event_name]


def new_connection(timeline: Timeline, connections: int) -> Callable[[], bool]:
    """A condition: a connection newer than the first ``connections`` is up."""
    return lambda: len(timeline.connections()) > connections


def check_connections(
    timeline: Timeline, channels: Iterable[str], own_user: str | None = None
) -> None:
    """Per connection: no success callback (global or per-channel) twice for a channel,
    no event delivered twice, no member added or removed twice, never this client's
    own member; and on the last connection every channel succeeded exactly once."""
    check_states(timeline)
    wanted = set(channels)
    parts = timeline.connections()
    assert parts, "never connected"
    for number, part in enumerate(parts):
        counts = Counter((kind, name) for kind, name, _ in part)
        for kind in ("succeeded", "channel_succeeded"):
            twice = {name for (k, name), n in counts.items() if k == kind and n > 1}
            assert not twice, f"connection {number}: {kind} fired twice for {sorted(twice)}"
        events = Counter(
            (name, e.event_name, str(e.data)) for kind, name, e in part if kind == "event"
        )
        repeated = [key for key, n in events.items() if n > 1]
        assert not repeated, f"connection {number}: events delivered twice: {repeated[:5]}"
        members = Counter((kind, name, uid) for kind, name, uid in part if kind.startswith("mem"))
        assert all(n == 1 for n in members.values()), f"connection {number}: {members}"
        if own_user is not None:
            assert not any(uid == own_user for (_, _, uid) in members), (
                f"connection {number}: own member announced: {members}"
            )
    last = Counter((kind, name) for kind, name, _ in parts[-1])
    for name in wanted:
        assert last[("succeeded", name)] == 1, f"{name}: {last[('succeeded', name)]} successes"
    per_channel = [name for kind, name in last if kind == "channel_succeeded"]
    if per_channel:
        for name in wanted:
            assert last[("channel_succeeded", name)] == 1, f"{name}: per-channel callback"


def check_states(timeline: Timeline) -> None:
    """State changes are reported once per change, each ``previous`` being the last
    ``current``, starting from ``DISCONNECTED``."""
    last = ConnectionState.DISCONNECTED
    for number, (current, previous) in enumerate(timeline.states):
        assert previous is last, f"change {number}: previous {previous}, expected {last}"
        assert current is not previous, f"change {number}: {current} reported twice"
        last = current


def check_in_order(events: Sequence[PusherEvent], channels: Iterable[str], count: int) -> None:
    """Each channel received ``seq`` 0 .. count-1, each once, in order."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_channel[event.channel_name].append(int(event.json()["seq"]))
    for name in channels:
        assert by_channel[name] == list(range(count)), f"{name}: {by_channel[name]}"


async def publish_round(
    server: SoketiServer, channels: Sequence[str], event_name: str, count: int
) -> None:
    """Publish ``count`` events (``{"seq": i}``) on every channel, in order, by batches.

    Each batch holds at most one event per channel, and batches go one after the
    other, so every channel's events are published in ``seq`` order.
    """
    sdk = server.server_sdk()
    for seq in range(count):
        for start in range(0, len(channels), BATCH_SIZE):
            batch = [
                {"channel": name, "name": event_name, "data": {"seq": seq}}
                for name in channels[start : start + BATCH_SIZE]
            ]
            await asyncio.to_thread(sdk.trigger_batch, batch)


def summary(values: Sequence[float]) -> str:
    """``median X s, max Y s (n=N)``."""
    if not values:
        return "no values"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def report(scenario: str, text: str) -> None:
    """Print one figure line; ``-s`` shows them, ``docs/reliability.md`` quotes them."""
    print(f"\n[reliability] {scenario}: {text}")
