"""What a simulation run has seen: the record the invariants are checked against.

The driver writes here (public calls started and ended, callbacks called, events
taken from iterators, loop errors); :mod:`.invariants` only reads. Keeping the record
apart from both makes each invariant a small pure function of it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from .sim_server import SimNetwork

__all__ = [
    "ConsumerView",
    "FlowWatch",
    "Observations",
    "Wait",
    "parse_seq",
    "subscription_socket",
]


@dataclass(slots=True, eq=False)
class Wait:
    """One public call that waits: connect(), disconnect(), init(), signin(), an iterator.

    Attributes:
        kind: ``"connect"``, ``"disconnect"``, ``"init"``, ``"signin"`` or ``"iterator"``.
        started_at: virtual time of the call (the iterator's creation).
        done_at: when it returned or raised (the iterator's loop ended), else ``None``.
        blocked_since: for iterators, since when the consumer waits in ``__anext__``
            (``None`` while it runs its own code).
        outcome: what it returned or raised, for the trace.
    """

    kind: str
    number: int
    started_at: float
    done_at: float | None = None
    blocked_since: float | None = None
    outcome: str = ""


@dataclass(slots=True)
class Observations:
    """Everything a run observed of the client, in the order it happened."""

    network: SimNetwork
    waits: list[Wait] = field(default_factory=list)
    successes: collections.Counter[tuple[str, str, str]] = field(
        default_factory=collections.Counter
    )
    """Subscription successes delivered, by (consumer, channel, socket id)."""
    last_seq: dict[tuple[str, str], int] = field(default_factory=dict)
    """The last event sequence number each consumer saw, by (consumer, channel)."""
    order_errors: list[str] = field(default_factory=list)
    loop_errors: list[str] = field(default_factory=list)
    api_errors: list[str] = field(default_factory=list)
    """Public calls that raised something other than a documented ``PusherError``."""
    driver_tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    last_activity_mark: int = 0
    """How many waits had begun when the driver last called something that may start
    work (connect, init, subscribe, signin, trigger)."""
    disconnected_since: float | None = None
    """Since when the client reports DISCONNECTED, per the driver's checks."""
    hang_configured: bool = False
    """Whether some callback of the current configuration hangs forever."""
    baseline_threads: int = 0
    events_seen: int = 0
    callback_failures: collections.Counter[tuple[int, str]] = field(
        default_factory=collections.Counter
    )
    """Times each callback raised on purpose, by (configuration, callback name)."""
    callback_reports: collections.Counter[tuple[int, str]] = field(
        default_factory=collections.Counter
    )
    """Times ``on_error`` heard of such a failure, by (configuration, callback name)."""
    reporting_configurations: set[int] = field(default_factory=set)
    """Configurations whose ``on_error`` takes each report at once (a plain function),
    so that every failure must have been reported by the next check."""
    running: bool = True
    """Whether the run is under way (``False`` once the loop is being torn down)."""
    cancelled: collections.Counter[tuple[int, str]] = field(default_factory=collections.Counter)
    """Times a callback was cancelled while it ran (not by itself), by (configuration,
    callback name)."""
    cancel_reports: collections.Counter[tuple[int, str]] = field(
        default_factory=collections.Counter
    )
    """Times ``on_error`` heard that the library cancelled a callback."""
    cancelled_while_connected: list[str] = field(default_factory=list)
    incarnation_errors: list[str] = field(default_factory=list)
    """Answers a channel's callbacks got that were meant for another incarnation."""
    incarnation_successes: collections.Counter[tuple[str, int, str]] = field(
        default_factory=collections.Counter
    )
    """Successes heard by an incarnation's own callback, by (channel, incarnation,
    socket id)."""
    liveness: str | None = None
    """Set at the end of the healed period: what is not subscribed ("" if all is)."""

    def new_wait(self, kind: str, now: float) -> Wait:
        """Record the start of a public wait."""
        wait = Wait(kind, len(self.waits) + 1, now)
        self.waits.append(wait)
        return wait

    def event(self, consumer: str, channel: str, data: Any) -> None:
        """A consumer saw a channel event: check its sequence number."""
        seq = parse_seq(data)
        if seq is None:
            return
        self.events_seen += 1
        key = (consumer, channel)
        last = self.last_seq.get(key)
        if last is not None and seq <= last:
            kind = "twice" if seq == last else "out of order"
            self.order_errors.append(
                f"{consumer} saw event {seq} of {channel!r} {kind} (after {last})"
            )
        self.last_seq[key] = seq if last is None else max(seq, last)

    def success(self, consumer: str, channel: str, data: Any) -> None:
        """A consumer heard of a subscription success."""
        socket_id = subscription_socket(data)
        self.successes[(consumer, channel, socket_id or "?")] += 1

    def incarnation_success(self, channel: str, incarnation: int, data: Any) -> None:
        """The callback of one incarnation of ``channel`` heard of a success."""
        decoded = _decoded(data)
        socket_id = subscription_socket(decoded) or "?"
        asked = decoded.get("sim_incarnation") if isinstance(decoded, dict) else None
        if isinstance(asked, int) and asked != incarnation:
            self.incarnation_errors.append(
                f"incarnation {incarnation} of {channel!r} got the success of incarnation "
                f"{asked}'s subscribe (socket {socket_id})"
            )
        if socket_id == "?":
            return
        key = (channel, incarnation, socket_id)
        self.incarnation_successes[key] += 1
        if self.incarnation_successes[key] > 1:
            self.incarnation_errors.append(
                f"incarnation {incarnation} of {channel!r} heard "
                f"{self.incarnation_successes[key]} successes on socket {socket_id}"
            )

    def incarnation_failure(
        self, channel: str, incarnation: int, asked: int | None, message: str
    ) -> None:
        """The callback of one incarnation of ``channel`` heard of a failure, answering
        a request of incarnation ``asked`` (``None``: not known)."""
        if asked is not None and asked != incarnation:
            self.incarnation_errors.append(
                f"incarnation {incarnation} of {channel!r} got a failure meant for "
                f"incarnation {asked}: {message[:160]}"
            )


def _decoded(data: Any) -> Any:
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return None
    return data


INCARNATION_TAG: Final = re.compile(r"\[incarnation (\d+|None)\]")
AUTHORIZATION_TAG: Final = re.compile(r"\[auth (\d+)\]")


@dataclass(frozen=True, slots=True)
class ConsumerView:
    """One bounded consumer (an ``events()`` buffer, an async callback's queue) as the
    flow invariant sees it.

    Attributes:
        name: for the report.
        full: at capacity (and not drained to half since).
        longest_quiet: an upper bound of the longest time without progress in its
            current full spell, up to now: below the stall timeout, it cannot have
            been taken for stalled, and must hold the socket.
        quiet_now: a lower bound of the time since its last progress or since it
            became full, whichever is later: the time it has certainly been stalled.
    """

    name: str
    full: bool
    longest_quiet: float
    quiet_now: float


@dataclass(slots=True, eq=False)
class _Spell:
    key: object
    not_full_at: float
    """When the consumer was last seen not full (its full spell began after)."""
    last_mark: float
    """The latest of ``not_full_at`` and its progress times."""
    full_seen_at: float | None = None
    """When it was first seen full in this spell."""
    longest_gap: float = 0.0
    last_progress: float = float("-inf")


class FlowWatch:
    """Bounds, from the outside, how long each consumer has gone without progress.

    Progress times are exact (the driver notes each event its iterators take and
    each call its callbacks get, which is when a buffer or a queue shrinks), and so
    is the moment a consumer becomes full when it says so (:meth:`became_full`, from
    what a stream and a callback's queue tell flow control); otherwise whether a
    consumer is full is seen at each check. The bounds are therefore safe both ways:
    ``longest_quiet`` never under-estimates, ``quiet_now`` never over-estimates.
    """

    def __init__(self) -> None:
        self._spells: dict[int, _Spell] = {}

    def _spell(self, key: object, now: float) -> _Spell:
        spell = self._spells.get(id(key))
        if spell is None or spell.key is not key:
            spell = self._spells[id(key)] = _Spell(key, now, now)
        return spell

    def started(self, key: object, now: float) -> None:
        """``key`` (a stream) exists from ``now``: it cannot have been full before."""
        self._spell(key, now)

    def became_full(self, key: object, now: float) -> None:
        """``key`` reported itself full at ``now`` (as it tells flow control): its
        full spell begins exactly then."""
        spell = self._spell(key, now)
        spell.not_full_at = spell.last_mark = now
        spell.full_seen_at = now
        spell.longest_gap = 0.0

    def progress(self, key: object, now: float) -> None:
        """``key`` (a stream or a callback's lane) took something at ``now``."""
        spell = self._spell(key, now)
        spell.longest_gap = max(spell.longest_gap, now - spell.last_mark)
        spell.last_mark = now
        spell.last_progress = now

    def observe(self, consumers: list[tuple[object, str, bool]], now: float) -> list[ConsumerView]:
        """Take the consumers seen now, as (key, name, full); return the full ones."""
        views: list[ConsumerView] = []
        seen: set[int] = set()
        spells = self._spells
        for key, name, full in consumers:
            seen.add(id(key))
            spell = spells.get(id(key))
            if spell is None or spell.key is not key:
                # First seen now: if full already, nothing is known of its spell.
                start = float("-inf") if full else now
                spell = spells[id(key)] = _Spell(key, start, start)
            if not full:
                spell.not_full_at = spell.last_mark = now
                spell.full_seen_at = None
                spell.longest_gap = 0.0
                continue
            if spell.full_seen_at is None:
                spell.full_seen_at = now
            longest = max(spell.longest_gap, now - spell.last_mark)
            quiet = now - max(spell.full_seen_at, spell.last_progress)
            views.append(ConsumerView(name, True, longest, quiet))
        if len(spells) > len(seen):
            for gone in [key for key in spells if key not in seen]:
                del spells[gone]
        return views


def parse_seq(data: Any) -> int | None:
    """The server's sequence number in an event's data, if it carries one."""
    if not isinstance(data, str) or '"seq"' not in data:
        return None
    try:
        decoded = json.loads(data)
    except ValueError:
        return None
    seq = decoded.get("seq") if isinstance(decoded, dict) else None
    return seq if isinstance(seq, int) else None


def subscription_socket(data: Any) -> str | None:
    """The socket id the simulated server put in a subscription success."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if isinstance(data, dict):
        value = data.get("sim_socket")
        return value if isinstance(value, str) else None
    return None
