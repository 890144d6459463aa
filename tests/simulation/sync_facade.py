"""Driving the blocking facade over the simulated network, in real (short) time.

``pusher_channels.sync.PusherChannelsClient`` runs its own event loop on a thread of
its own, so virtual time does not apply: this driver uses the same fake connector
(:class:`~.sim_server.SimNetwork`, whose sockets schedule onto the loop that opened
them) with real time and a low latency, for a few seeds.

What it checks, with every blocking call watched by a timer so that a hang is a
failure and not a stuck test run:

- ``disconnect()`` returns promptly from the main thread and from inside callbacks;
- ``connect()`` ends (value or error) within its timeout and some room;
- after the final ``disconnect()`` no thread of the client is left, and no socket.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pusher_channels import PusherError
from pusher_channels.sync import PusherChannelsClient

from .seam import simulated_network
from .sim_server import APP_KEY, FaultProfile, SimNetwork, SimSocket, sign

__all__ = ["SyncRun", "run_sync_seed"]

PROMPT: Final = 3.0
"""Real seconds within which a blocking call must return."""
CHANNELS: Final = ("news", "private-a", "presence-room")
_THREAD_PREFIX: Final = "pusher-channels-"


@dataclass(slots=True)
class SyncRun:
    """What one seed of the facade run saw."""

    seed: int
    failures: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The failures, the reproduction command and the trace."""
        return "\n".join(
            [
                f"sync seed {self.seed}: {'; '.join(self.failures)} -- reproduce: "
                ".venv/bin/pytest tests/simulation/test_sync_facade.py::test_sync_seed "
                f"--sim-seed {self.seed}",
                *(f"  {line}" for line in self.trace[-30:]),
            ]
        )


def _watched(run: SyncRun, what: str, call: Callable[[], Any], limit: float = PROMPT) -> None:
    """Make a blocking call in a helper thread; a failure if it outlasts ``limit``."""
    outcome: list[str] = []

    def target() -> None:
        try:
            call()
            outcome.append("ok")
        except PusherError as exc:
            outcome.append(type(exc).__name__)
        except Exception as exc:
            outcome.append(repr(exc))
            run.failures.append(f"{what} raised {exc!r}")
            run.trace.extend(traceback.format_exc().splitlines()[-8:])

    started = time.monotonic()
    helper = threading.Thread(target=target, name=f"sim {what}", daemon=True)
    helper.start()
    helper.join(limit)
    took = time.monotonic() - started
    if helper.is_alive():
        run.failures.append(f"{what} did not return within {limit:g} s")
    run.trace.append(f"{what}: {outcome[0] if outcome else 'still blocked'} ({took:.3f} s)")


def _client_threads(before: set[threading.Thread]) -> list[str]:
    """The client threads started since ``before`` that still run."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t not in before and t.name.startswith(_THREAD_PREFIX)
    )


def run_sync_seed(seed: int, steps: int = 20) -> SyncRun:
    """Drive one blocking client for ``steps`` random steps, then disconnect it."""
    rng = random.Random(f"sync-{seed}")
    run = SyncRun(seed)
    before = set(threading.enumerate())
    network = SimNetwork(
        random.Random(f"sync-network-{seed}"),
        FaultProfile(refuse=0.1, slow_upgrade=0.0, hang_upgrade=0.0, latency=0.005),
    )
    lock = threading.Lock()
    client_box: list[PusherChannelsClient] = []
    in_callback: list[str] = []

    def on_event(event: Any) -> None:
        draw = rng.random() if lock.acquire(timeout=1) else 1.0
        if lock.locked():
            lock.release()
        if draw < 0.05:
            # disconnect() from inside a callback, on the callback thread.
            started = time.monotonic()
            client_box[0].disconnect()
            in_callback.append(f"disconnect in on_event took {time.monotonic() - started:.3f} s")
        elif draw < 0.15:
            raise ValueError("on_event raises on purpose")
        elif draw < 0.3:
            time.sleep(0.01)

    def on_state(current: Any, previous: Any) -> None:
        if str(current) == "CONNECTED" and rng.random() < 0.1:
            client_box[0].subscribe("news")

    def authorizer(channel: str, socket_id: str, options: Any) -> dict[str, Any]:
        if channel.startswith("presence-"):
            data = '{"user_id": "me"}'
            return {"auth": sign(f"{socket_id}:{channel}:{data}"), "channel_data": data}
        return {"auth": sign(f"{socket_id}:{channel}")}

    with simulated_network(network):
        client = PusherChannelsClient(
            api_key=APP_KEY,
            host="sim.invalid",
            use_tls=False,
            on_event=on_event,
            on_connection_state_change=on_state,
            on_authorizer=authorizer,
            on_error=lambda message, code, error: None,
        )
        client_box.append(client)
        for step in range(steps):
            action = rng.choice(
                ("connect", "subscribe", "events", "events", "events", "disconnect", "drop")
            )
            run.trace.append(f"step {step}: {action}")
            if action == "connect":
                _watched(run, "connect", lambda: client.connect(timeout=1.0), 1.0 + PROMPT)
            elif action == "subscribe":
                channel = rng.choice(CHANNELS)
                subscribe = functools.partial(client.subscribe, channel)
                _watched(run, f"subscribe {channel}", subscribe)
            elif action == "disconnect":
                _watched(run, "disconnect", client.disconnect)
            else:
                _server_action(network, action, rng.randrange(1, 20))
            time.sleep(rng.choice((0.0, 0.005, 0.02)))
            if len(run.failures) > 0:
                break
        _watched(run, "final disconnect", client.disconnect)
        _check_nothing_left(run, network, before)
    run.trace.extend(in_callback)
    slow = [line for line in in_callback if float(line.split()[-2]) > PROMPT]
    if slow:
        run.failures.append(slow[0])
    return run


def _check_nothing_left(run: SyncRun, network: SimNetwork, before: set[threading.Thread]) -> None:
    """After the final disconnect: no client thread, no socket left (within a bound)."""
    deadline = time.monotonic() + PROMPT
    while _client_threads(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = _client_threads(before)
    if left:
        run.failures.append(f"threads left after disconnect: {left}")
    open_sockets = network.unfinished_sockets()
    if open_sockets:
        run.failures.append(f"sockets left after disconnect: {open_sockets}")


def _server_action(network: SimNetwork, action: str, count: int) -> None:
    sockets = network.established_sockets()
    if not sockets:
        return
    socket: SimSocket = sockets[-1]

    def act() -> None:
        if action == "drop":
            socket.server_close(None)
            return
        for channel in sorted(socket.channels):
            for _ in range(count):
                network.server.channel_event(socket, channel)

    network.in_loop(socket, act)
