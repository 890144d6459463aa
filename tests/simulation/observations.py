"""What a simulation run has seen: the record the invariants are checked against.

The driver writes here (public calls started and ended, callbacks called, events
taken from iterators, loop errors); :mod:`.invariants` only reads. Keeping the record
apart from both makes each invariant a small pure function of it.
"""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from typing import Any

from .sim_server import SimNetwork

__all__ = ["Observations", "Wait", "parse_seq", "subscription_socket"]


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
