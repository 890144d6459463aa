"""The invariants checked after every step of a simulation.

Each invariant is a small function of a :class:`Snapshot` that returns ``None`` when
it holds and a one-line description of what is wrong when it does not. Its name is
what a failure reports, so that a red seed says at once which promise broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pusher_channels._flow import STALL_TIMEOUT

from .observations import ConsumerView, Observations, Wait
from .sim_server import SimNetwork, SimSocket

__all__ = ["GRACE", "INVARIANTS", "Snapshot", "check_all", "library_timers"]

GRACE: Final = 10.0
"""Virtual seconds that work may take to wind down after ``disconnect()`` returns."""
DISCONNECT_BOUND: Final = 15.0
"""Virtual seconds within which ``disconnect()`` must return (the close timeout, the
callbacks still queued, and some room)."""
ATTEMPT_GRACE: Final = 1.0
"""Virtual seconds a cancelled connection attempt may take to notice it."""
_WAIT_ENDERS: Final = ("disconnect", "init")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The client and the simulated world at one instant, as the invariants see them."""

    now: float
    state: str
    socket_id: str | None
    network: SimNetwork
    observations: Observations
    library_tasks: tuple[str, ...]
    library_timers: tuple[str, ...]
    threads: int
    consumers: tuple[ConsumerView, ...] = ()
    """The bounded consumers that are full."""
    paused: bool | None = None
    """Whether the socket is paused, when CONNECTED on one live socket (else ``None``)."""
    quiet_socket: SimSocket | None = None
    """The socket, when CONNECTED on it with nothing under way (no frame in flight
    either way, no answer held back, not paused, not silent, no subscribe lost by the
    server: the client cannot tell whose the later answers are until it reconnects):
    client and server must agree."""
    client_subscribed: frozenset[str] = frozenset()
    """The channels the client reports subscribed."""


Invariant = Callable[[Snapshot], str | None]


def at_most_one_live_socket(snap: Snapshot) -> str | None:
    """The client holds at most one socket it could still use."""
    live = snap.network.live_sockets()
    if len(live) > 1:
        return f"{len(live)} live sockets: {live}"
    return None


def connected_means_established_socket(snap: Snapshot) -> str | None:
    """CONNECTED: exactly one live socket, established, with the reported socket id."""
    if snap.state != "CONNECTED":
        return None
    live = snap.network.live_sockets()
    if len(live) != 1:
        return f"CONNECTED with {len(live)} live sockets"
    socket: SimSocket = live[0]
    if not socket.established_delivered:
        return f"CONNECTED on {socket!r}, which never sent connection_established"
    if snap.socket_id != socket.socket_id:
        return f"CONNECTED reports socket id {snap.socket_id!r}, the live socket is {socket!r}"
    return None


def disconnected_means_no_socket(snap: Snapshot) -> str | None:
    """DISCONNECTED: no socket the client could use, and soon no attempt under way."""
    if snap.state != "DISCONNECTED":
        return None
    live = snap.network.live_sockets()
    if live:
        return f"DISCONNECTED, yet {live} still open"
    since = snap.observations.disconnected_since
    pending = snap.network.pending_attempts()
    if pending and since is not None and snap.now - since > ATTEMPT_GRACE:
        numbers = [attempt.number for attempt in pending]
        return f"DISCONNECTED for {snap.now - since:.1f} s, attempts {numbers} still under way"
    return None


def one_success_per_subscribe(snap: Snapshot) -> str | None:
    """No subscription success is heard of more often than the server sent it."""
    sent = snap.network.server.successes_sent
    for (consumer, channel, socket_id), count in snap.observations.successes.items():
        if socket_id == "?":
            continue
        if count > sent[(channel, socket_id)]:
            return (
                f"{consumer} heard {count} successes for {channel!r} on socket {socket_id}, "
                f"the server sent {sent[(channel, socket_id)]}"
            )
    return None


def events_in_order(snap: Snapshot) -> str | None:
    """Every consumer sees each channel's events at most once, in the server's order."""
    errors = snap.observations.order_errors
    return errors[0] if errors else None


def connect_says_what_happens(snap: Snapshot) -> str | None:
    """When the last ``connect()`` raised, the client stays disconnected (until the
    next ``connect()``): it never says no and then connects anyway."""
    connects = [wait for wait in snap.observations.waits if wait.kind == "connect"]
    if not connects or any(wait.done_at is None for wait in connects):
        return None
    last = connects[-1]
    if last.outcome in ("ok", "cancelled") or snap.state == "DISCONNECTED":
        return None
    return (
        f"connect #{last.number} raised {last.outcome} at t={last.done_at:.4f}, "
        f"yet the state is {snap.state}"
    )


def callback_failures_reported(snap: Snapshot) -> str | None:
    """Every callback that raised (``CancelledError`` included) reached ``on_error``."""
    obs = snap.observations
    for (configuration, name), raised in obs.callback_failures.items():
        if configuration not in obs.reporting_configurations:
            continue
        reported = obs.callback_reports[(configuration, name)]
        if reported < raised:
            return (
                f"{name} of configuration {configuration} raised {raised} times, "
                f"on_error heard of {reported}"
            )
    return None


def client_speaks_protocol(snap: Snapshot) -> str | None:
    """The client sends nothing a server would object to."""
    violations = snap.network.violations
    return violations[0] if violations else None


def no_unhandled_errors(snap: Snapshot) -> str | None:
    """Nothing reaches the event loop's exception handler."""
    errors = snap.observations.loop_errors
    return errors[0] if errors else None


def documented_errors_only(snap: Snapshot) -> str | None:
    """Public calls raise only ``PusherError`` subclasses (or are cancelled)."""
    errors = snap.observations.api_errors
    return errors[0] if errors else None


def disconnect_returns_promptly(snap: Snapshot) -> str | None:
    """``disconnect()`` (and ``init()``, which disconnects) returns within a bound."""
    for wait in snap.observations.waits:
        if (
            wait.kind in _WAIT_ENDERS
            and wait.done_at is None
            and snap.now - wait.started_at > DISCONNECT_BOUND
        ):
            return f"{wait.kind} #{wait.number} called {snap.now - wait.started_at:.1f} s ago"
    return None


def _last_finished_disconnect(observations: Observations) -> Wait | None:
    finished = [w for w in observations.waits if w.kind in _WAIT_ENDERS and w.done_at is not None]
    return max(finished, key=lambda w: (w.done_at, w.number)) if finished else None


def waits_end_after_disconnect(snap: Snapshot) -> str | None:
    """Every wait begun before a ``disconnect()`` ends soon after it returns."""
    for ender in snap.observations.waits:
        if ender.kind not in _WAIT_ENDERS or ender.done_at is None:
            continue
        if snap.now < ender.done_at + GRACE:
            continue
        for wait in snap.observations.waits:
            if wait.kind in _WAIT_ENDERS or wait.done_at is not None:
                continue
            if wait.number > ender.number:
                continue  # called after the disconnect
            if wait.kind == "iterator" and (
                wait.blocked_since is None or snap.now - wait.blocked_since <= GRACE
            ):
                continue
            return (
                f"{wait.kind} #{wait.number} (from t={wait.started_at:.2f}) still waits "
                f"{snap.now - ender.done_at:.1f} s after {ender.kind} #{ender.number} returned"
            )
    return None


def nothing_outlives_disconnect(snap: Snapshot) -> str | None:
    """After ``disconnect()`` and a grace period: no task, timer, socket or thread left."""
    obs = snap.observations
    ender = _last_finished_disconnect(obs)
    if ender is None or ender.done_at is None or snap.state != "DISCONNECTED":
        return None
    if obs.last_activity_mark >= ender.number or snap.now < ender.done_at + GRACE:
        return None
    leftovers: list[str] = []
    leftovers += [f"task {name}" for name in snap.library_tasks]
    leftovers += [f"timer {name}" for name in snap.library_timers]
    leftovers += [f"socket {socket!r}" for socket in snap.network.unfinished_sockets()]
    leftovers += [f"attempt #{a.number}" for a in snap.network.pending_attempts()]
    if snap.threads > obs.baseline_threads:
        leftovers.append(f"{snap.threads - obs.baseline_threads} thread(s)")
    if leftovers:
        return f"{snap.now - ender.done_at:.1f} s after {ender.kind} #{ender.number}: " + ", ".join(
            leftovers[:4]
        )
    return None


def paused_exactly_when_a_consumer_is_full(snap: Snapshot) -> str | None:
    """The socket is paused exactly while some bounded consumer (an ``events()``
    buffer, an async callback's queue) is full, but for a consumer taken for stalled:
    one that made no progress for the stall timeout may stop holding (and must have,
    once it has made none for twice that)."""
    if snap.paused is None:
        return None
    full = snap.consumers
    if not snap.paused:
        for consumer in full:
            if consumer.longest_quiet < STALL_TIMEOUT:
                return (
                    f"{consumer.name} is full and took something at least every "
                    f"{consumer.longest_quiet:.2f} s, yet the socket is read"
                )
        return None
    if not full:
        return "the socket is paused, yet no consumer is full"
    if all(consumer.quiet_now > 2 * STALL_TIMEOUT + 0.01 for consumer in full):
        quiet = min(consumer.quiet_now for consumer in full)
        return (
            f"the socket is paused, yet every full consumer has taken nothing for "
            f"{quiet:.1f} s: {', '.join(consumer.name for consumer in full)}"
        )
    return None


def subscribed_sets_agree(snap: Snapshot) -> str | None:
    """With nothing under way, the client's subscribed channels are the server's."""
    socket = snap.quiet_socket
    if socket is None:
        return None
    server = frozenset(channel for channel in socket.channels if not channel.startswith("#"))
    client = snap.client_subscribed
    if server == client:
        return None
    return (
        f"nothing under way on {socket!r}, yet the client alone has "
        f"{sorted(client - server)} subscribed, the server alone {sorted(server - client)}"
    )


def answers_reach_their_incarnation(snap: Snapshot) -> str | None:
    """An answer (subscribe or authorization) for one ``subscribe()`` of a channel is
    never applied to a later one, and each incarnation hears one success per socket."""
    errors = snap.observations.incarnation_errors or snap.network.mismatches
    return errors[0] if errors else None


def cancelled_callbacks_reported(snap: Snapshot) -> str | None:
    """Every callback the library cancels is reported, and none is cancelled while
    its configuration is connected."""
    obs = snap.observations
    if obs.cancelled_while_connected:
        return obs.cancelled_while_connected[0]
    for (configuration, name), count in obs.cancelled.items():
        if configuration not in obs.reporting_configurations:
            continue
        reported = obs.cancel_reports[(configuration, name)]
        if reported < count:
            return (
                f"{name} of configuration {configuration} was cancelled {count} times, "
                f"on_error heard of {reported}"
            )
    return None


def wanted_channels_subscribed_after_healing(snap: Snapshot) -> str | None:
    """Liveness: after a healed period (server and auth healthy for longer than the
    longest reconnection wait and authorization backoff), the client is connected and
    every channel it wants is subscribed."""
    return snap.observations.liveness or None


INVARIANTS: Final[tuple[Invariant, ...]] = (
    no_unhandled_errors,
    callback_failures_reported,
    connect_says_what_happens,
    documented_errors_only,
    client_speaks_protocol,
    at_most_one_live_socket,
    connected_means_established_socket,
    disconnected_means_no_socket,
    one_success_per_subscribe,
    events_in_order,
    disconnect_returns_promptly,
    waits_end_after_disconnect,
    nothing_outlives_disconnect,
    paused_exactly_when_a_consumer_is_full,
    subscribed_sets_agree,
    answers_reach_their_incarnation,
    cancelled_callbacks_reported,
    wanted_channels_subscribed_after_healing,
)


def check_all(snap: Snapshot) -> tuple[str, str] | None:
    """The first invariant that does not hold, as (name, description), or ``None``."""
    for invariant in INVARIANTS:
        problem = invariant(snap)
        if problem is not None:
            return invariant.__name__, problem
    return None


def library_timers(
    loop: asyncio.AbstractEventLoop, driver_tasks: set[asyncio.Task[Any]]
) -> tuple[str, ...]:
    """Timer handles still armed that belong neither to the driver nor to the network."""
    awaited = {getattr(task, "_fut_waiter", None) for task in driver_tasks}
    names: list[str] = []
    for handle in getattr(loop, "_scheduled", ()):
        if handle.cancelled():
            continue
        callback = handle._callback
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, SimSocket | SimNetwork):
            continue
        if isinstance(owner, asyncio.Timeout) and owner._task in driver_tasks:  # type: ignore[attr-defined]
            continue
        args = handle._args
        if args and isinstance(args[0], asyncio.Future) and args[0] in awaited:
            continue  # asyncio.sleep() of a driver task
        names.append(getattr(callback, "__qualname__", repr(callback)))
    return tuple(names)
