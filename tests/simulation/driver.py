"""The seeded driver: random public API calls, server faults and virtual time.

One :class:`Simulation` is one seed: it builds a :class:`PusherChannelsClient` with
randomly misbehaving callbacks and authorizers (the ``on_authorizer`` callback or
the real endpoint authorizer over HTTP, :mod:`.sim_auth`), then takes ``steps``
random steps (a public call, a server-side injection or fault, an auth backend
outage, or time passing), each followed by a random advance of virtual time and a
check of every invariant (:mod:`.invariants`). It ends with a heal (no more faults
anywhere, the application connected) long enough for every wanted channel to be
subscribed (the liveness check), then ``disconnect()``, a grace period and a last
check.

Everything random comes from generators seeded by the seed (the global ``random``
too, which the protocol core uses for backoff jitter), and time is virtual
(:mod:`.virtual_loop`), so a seed always replays the same run: its trace digest is
the same bit for bit, and a failure reproduces with one command.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import random
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from pusher_channels import PusherChannelsClient, PusherError, PusherEvent
from pusher_channels._dispatch import DEFAULT_LANE_CAPACITY, SHUTDOWN_GRACE
from pusher_channels.exceptions import AuthorizationError, CallbackError

from .invariants import GRACE, Snapshot, check_all, library_timers
from .observations import AUTHORIZATION_TAG, INCARNATION_TAG, FlowWatch, Observations, Wait
from .seam import (
    lane_capacity,
    note_full_queues,
    note_full_stream,
    simulated_http,
    simulated_network,
)
from .sim_auth import AUTH_ENDPOINT, USER_AUTH_ENDPOINT, SimAuthBackend, shared_ssl_context
from .sim_server import (
    APP_KEY,
    BACKOFF_CODES,
    FATAL_CODES,
    OTHER_CLOSE_CODES,
    RECONNECT_CODES,
    FaultProfile,
    SimNetwork,
    SimSocket,
)
from .virtual_loop import SimulationStalledError, VirtualEventLoop, run_virtual

__all__ = ["Failure", "Simulation", "SimulationResult", "reproduction_command"]

CHANNELS: Final = (
    "news",
    "sports",
    "private-a",
    "private-b",
    "presence-room",
    "presence-lobby",
)
TRACE_TAIL: Final = 40
SETTLE: Final = 15.0
"""Virtual seconds, once healed, for what was under way to end (answers held back,
authorizations timing out, a ``connect(timeout=...)`` expiring)."""
SETTLE_MORE: Final = 180.0
"""At most this long more for the answers to what was asked before the heal (a
paused socket holds them back until its consumer catches up, or the heartbeat
drops it): a refusal among them is final, and the application asks again."""
HEAL: Final = 300.0
"""Virtual seconds of health after which every wanted channel must be subscribed:
more than a subscribe the server lost takes to be noticed (up to twice the activity
timeout plus the pong timeout: 270 s) plus the longest reconnection wait (30 s), or
than a stalled consumer's release (10 s) plus the longest authorization backoff
(30 s) and timeout (10 s)."""
_FAILURE_REPORT: Final = re.compile(r"callback sim(\d+)\.(\w+) raised ")
"""How a report names the simulation's callback that failed (``sim<configuration>.<name>``)."""
_CANCEL_REPORT: Final = re.compile(r"callback sim(\d+)\.(\w+) still running .*cancelled")
"""How a report names a callback the library cancelled."""
CALLBACK_BEHAVIOURS: Final = (
    ("plain", 30),
    ("async", 15),
    ("slow", 8),
    ("crawl", 3),
    ("raise", 6),
    ("raise_async", 4),
    ("cancel", 2),
    ("cancel_async", 2),
    ("stall", 2),
    ("hang", 1),
    ("reenter", 3),
)


def reproduction_command(seed: int, steps: int, without: frozenset[str] = frozenset()) -> str:
    """The command that replays one seed."""
    command = (
        ".venv/bin/pytest tests/simulation/test_simulation.py::test_seed "
        f"--sim-seed {seed} --sim-steps {steps}"
    )
    if without:
        command += f" --sim-without {','.join(sorted(without))}"
    return command


@dataclass(frozen=True, slots=True)
class Failure:
    """The first invariant a run broke."""

    invariant: str
    description: str
    step: int


@dataclass(slots=True)
class SimulationResult:
    """How one seed's run went."""

    seed: int
    steps: int
    steps_done: int
    failure: Failure | None
    trace_tail: list[str]
    digest: str
    events_seen: int = 0
    without: frozenset[str] = frozenset()

    def report(self) -> str:
        """One line to reproduce the failure, then the last steps of the trace."""
        if self.failure is None:
            return f"seed {self.seed}: {self.steps_done} steps, no failure"
        failure = self.failure
        lines = [
            f"seed {self.seed} broke {failure.invariant} at step {failure.step}: "
            f"{failure.description} -- reproduce: "
            f"{reproduction_command(self.seed, self.steps, self.without)}",
            "last steps:",
            *(f"  {line}" for line in self.trace_tail),
        ]
        return "\n".join(lines)


class InvariantBrokenError(Exception):
    def __init__(self, name: str, description: str) -> None:
        super().__init__(f"{name}: {description}")
        self.name = name
        self.description = description


@dataclass(slots=True, eq=False)
class _Consumer:
    """An iterator and the driver task reading it."""

    iterator: Any
    wait: Wait
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Config:
    """Per-``init`` choices: callback behaviours and option values."""

    behaviours: dict[str, str] = field(default_factory=dict)
    hung: set[str] = field(default_factory=set)
    auth: str = "callback"


class Simulation:
    """One seeded run of the real client against the simulated network."""

    def __init__(self, seed: int, steps: int, without: frozenset[str] = frozenset()) -> None:
        """``without`` names actions and callback behaviours to leave out (they keep
        their draws from the generator, so the rest of the run changes little)."""
        self.seed = seed
        self.steps = steps
        self.without = without
        self.rng = random.Random(f"driver-{seed}")
        self.user_rng = random.Random(f"user-{seed}")
        network_rng = random.Random(f"network-{seed}")
        self.network = SimNetwork(network_rng, FaultProfile.draw(network_rng), self._trace)
        self.incarnations: collections.Counter[str] = collections.Counter()
        """Per channel, the number of its latest incarnation: each ``subscribe()`` of a
        channel that is not registered (anew, or after ``unsubscribe()`` or
        ``init()``) is the next one."""
        self.auth = SimAuthBackend(
            random.Random(f"auth-{seed}"), seed, self._incarnation_now, self._trace
        )
        self.network.incarnation_of = self._incarnation_now
        self.network.authorization_label = self.auth.label
        self.lane_capacity = random.Random(f"lanes-{seed}").choice((4, 16, DEFAULT_LANE_CAPACITY))
        self.obs = Observations(self.network)
        self.flow = FlowWatch()
        self._streams: list[tuple[Any, str, int]] = []
        """The driver's iterators' buffers still open: (stream, name, configuration)."""
        self._runtimes: dict[int, Any] = {}
        """Each configuration's runtime, for the state its callbacks run in."""
        self._healing = False
        self._healed_at = 0.0
        self._authorizing = 0
        """``on_authorizer`` calls under way."""
        self._tail: collections.deque[str] = collections.deque(maxlen=TRACE_TAIL)
        self._digest = hashlib.blake2b(digest_size=16)
        self._loop: VirtualEventLoop | None = None
        self._client: PusherChannelsClient | None = None
        self._config = _Config()
        self._step = 0
        self._consumers: list[_Consumer] = []
        self._held: list[Any] = []
        self._connects: list[asyncio.Task[None]] = []
        self._bindings = 0
        self._generation = 0

    # ------------------------------------------------------------------ running

    def run(self) -> SimulationResult:
        """Run the seed on a fresh virtual loop; never raises for a broken invariant."""
        failure: Failure | None = None
        loop = VirtualEventLoop()
        self._loop = loop
        loop.set_exception_handler(self._loop_error)
        self.obs.baseline_threads = threading.active_count()
        with (
            _seeded_global_random(self.seed),
            _quiet_logging(),
            simulated_network(self.network),
            simulated_http(self.auth.transport),
            lane_capacity(self.lane_capacity),
        ):
            try:
                run_virtual(self._main(), loop)
            except InvariantBrokenError as broken:
                failure = Failure(broken.name, broken.description, self._step)
            except SimulationStalledError as stalled:
                failure = Failure("no_deadlock", str(stalled), self._step)
                self._trace(f"FAILED no_deadlock: {stalled}")
        return SimulationResult(
            self.seed,
            self.steps,
            self._step,
            failure,
            list(self._tail),
            self._digest.hexdigest(),
            self.obs.events_seen,
            self.without,
        )

    async def _main(self) -> None:
        main = asyncio.current_task()
        assert main is not None
        self.obs.driver_tasks.add(main)
        self._client = PusherChannelsClient(**self._options())
        self._runtimes[self._generation] = self._client._runtime
        actions = self._actions()
        names = [name for name, _, _ in actions]
        weights = [0.0 if name in self.without else weight for name, weight, _ in actions]
        table = {name: action for name, _, action in actions}
        for step in range(1, self.steps + 1):
            self._step = step
            name = self.rng.choices(names, weights)[0]
            self._trace(f"step {step}: {name}")
            await table[name]()
            await self._advance(self.rng.choice((0.0, 0.001, 0.05, 0.3, 1.0, 3.0)))
            await self._check()
        self._step = self.steps + 1
        await self._heal()
        self._step = self.steps + 2
        self._trace("final: disconnect, then the grace period")
        self._spawn_wait("disconnect", self._client.disconnect())
        await self._advance(GRACE + 6.0, checking=True)
        await self._advance(GRACE, checking=True)
        self.obs.running = False

    async def _heal(self) -> None:
        """The end of every seed: server and auth backend healthy, the application
        connected, then long enough for every wanted channel to be subscribed."""
        self._healing = True
        self._healed_at = self._now()
        self._trace("heal: the network, the server and the auth backend are healthy")
        self.network.heal()
        self.auth.heal()
        await self._advance(SETTLE, checking=True, every=3.0)
        client = self.client
        self._trace("heal: connect(), and once every answer from before has come ...")
        self.obs.last_activity_mark = len(self.obs.waits)
        self._spawn_wait("connect", client.connect())
        for _ in range(int(SETTLE_MORE / 3.0)):
            if self._settled():
                break
            if str(client.connection_state.value) == "DISCONNECTED":
                # A close for good sent before the heal, held back by a paused
                # socket until now: final, and the application connects again.
                self._trace("heal: closed for good by the server before the heal; connect()")
                self._spawn_wait("connect", client.connect())
            await self._advance(3.0, checking=True, every=3.0)
        self._trace("heal: ... subscribe() again each channel refused for good")
        core = client._runtime._core if client._runtime is not None else None
        for name in sorted(client.channels):
            record = core.channels.get(name) if core is not None else None
            failure = getattr(record, "failure", None)
            if failure is not None and not getattr(failure, "retryable", False):
                self._trace(f"subscribe({name!r}) again: {failure}")
                await self._public(self._subscribe(name, {}))
        await self._advance(HEAL, checking=True, every=10.0)
        self.obs.liveness = self._liveness()
        await self._check()
        self.obs.liveness = None

    def _settled(self) -> bool:
        """Whether every answer asked for before the heal has come: connected, no
        frame in flight nor held back, no authorization under way."""
        live = self.network.live_sockets()
        return (
            str(self.client.connection_state.value) == "CONNECTED"
            and len(live) == 1
            and not (live[0].paused or live[0].in_flight)
            and self.auth.in_flight == 0
            and self._authorizing == 0
        )

    def _liveness(self) -> str:
        """What is not as it must be after the healed period ("" if all is)."""
        client = self.client
        state = str(client.connection_state.value)
        healthy_for = self._now() - self._healed_at
        if state != "CONNECTED":
            return f"{state} after {healthy_for:.0f} s of health"
        core = client._runtime._core if client._runtime is not None else None
        missing = []
        for name, channel in sorted(client.channels.items()):
            if channel.subscribed:
                continue
            record = core.channels.get(name) if core is not None else None
            status = getattr(getattr(record, "status", None), "value", "?")
            failure = getattr(record, "failure", None)
            missing.append(f"{name!r} {status}" + (f" ({failure})" if failure else ""))
        if not missing:
            return ""
        return f"after {healthy_for:.0f} s of health, not subscribed: " + "; ".join(missing)

    async def _advance(self, seconds: float, checking: bool = False, every: float = 1.0) -> None:
        """Let ``seconds`` of virtual time pass (checking every ``every`` s if asked)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            for _ in range(3):
                await asyncio.sleep(0)
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, every) if checking else remaining)
            if checking:
                await self._check()

    async def _check(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._client
        assert client is not None
        for _ in range(3):
            await asyncio.sleep(0)
        state = str(client.connection_state.value)
        if state == "DISCONNECTED":
            if self.obs.disconnected_since is None:
                self.obs.disconnected_since = loop.time()
        else:
            self.obs.disconnected_since = None
        # get_socket_id() is a coroutine today; it may become a plain method.
        socket_id: Any = client.get_socket_id()
        if isinstance(socket_id, Awaitable):
            socket_id = await socket_id
        current = asyncio.current_task()
        tasks = tuple(
            sorted(
                task.get_name()
                for task in asyncio.all_tasks(loop)
                if task not in self.obs.driver_tasks and task is not current
            )
        )
        now = loop.time()
        paused: bool | None = None
        quiet_socket: SimSocket | None = None
        live = self.network.live_sockets()
        if state == "CONNECTED" and len(live) == 1 and live[0].established_delivered:
            paused = live[0].paused
            socket = live[0]
            if not (paused or socket.in_flight or socket.silent or socket.lost_answers):
                quiet_socket = socket
        snapshot = Snapshot(
            now=now,
            state=state,
            socket_id=socket_id,
            network=self.network,
            observations=self.obs,
            library_tasks=tasks,
            library_timers=library_timers(loop, self.obs.driver_tasks),
            threads=threading.active_count(),
            consumers=tuple(self.flow.observe(self._consumers_now(), now)),
            paused=paused,
            quiet_socket=quiet_socket,
            client_subscribed=frozenset(
                name for name, channel in client.channels.items() if channel.subscribed
            ),
        )
        broken = check_all(snapshot)
        if broken is not None:
            self._trace(f"FAILED {broken[0]}: {broken[1]}")
            raise InvariantBrokenError(*broken)

    def _consumers_now(self) -> list[tuple[object, str, bool]]:
        """The current configuration's bounded consumers: (key, name, full)."""
        generation = self._generation
        self._streams = [entry for entry in self._streams if not entry[0]._finished]
        consumers: list[tuple[object, str, bool]] = [
            (stream, name, stream.full)
            for stream, name, configuration in self._streams
            if configuration == generation
        ]
        parts = self._parts(generation)
        if parts is not None:
            note_full_queues(parts.delivery.dispatcher, self._became_full)
            for lane in parts.delivery.dispatcher.lanes.values():
                name = getattr(lane.callback, "__qualname__", "?")
                consumers.append((lane, f"callback {name}", lane.full))
        return consumers

    def _became_full(self, consumer: object) -> None:
        self.flow.became_full(consumer, self._now())

    def _parts(self, generation: int) -> Any:
        """The loop parts (delivery, flow, sockets) of a configuration's runtime."""
        runtime = self._runtimes.get(generation)
        return runtime._parts if runtime is not None else None

    def _incarnation_now(self, channel: str) -> int:
        """The incarnation of ``channel`` the client has now (0: not registered)."""
        runtime = self._client._runtime if self._client is not None else None
        if runtime is None or runtime._core.channels.get(channel) is None:
            return 0  # (the client registers a channel before it lists it)
        return self.incarnations[channel]

    async def _subscribe(self, channel: str, kwargs: dict[str, Any]) -> Any:
        """``client.subscribe(channel)``, with callbacks of that incarnation that check
        every answer they hear is for it."""
        client = self.client
        if channel not in client.channels:
            self.incarnations[channel] += 1
        incarnation = self.incarnations[channel]
        obs = self.obs

        def succeeded(data: Any) -> None:
            obs.success("channel", channel, data)
            obs.incarnation_success(channel, incarnation, data)

        def failed(message: str, error: Any) -> None:
            asked: int | None = None
            found = INCARNATION_TAG.search(message)
            if found is not None:
                asked = None if found.group(1) == "None" else int(found.group(1))
            else:
                found = AUTHORIZATION_TAG.search(message)
                if found is not None:
                    asked = self.auth.label(int(found.group(1)))
            obs.incarnation_failure(channel, incarnation, asked, message)

        return await client.subscribe(
            channel, on_subscription_succeeded=succeeded, on_subscription_error=failed, **kwargs
        )

    # ---------------------------------------------------------------- tracing

    def _trace(self, text: str) -> None:
        loop = self._loop
        now = loop.time() if loop is not None else 0.0
        line = f"t={now:.4f} {text}"
        self._tail.append(line)
        self._digest.update(line.encode())

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        message = str(context.get("message"))
        text = f"{message}: {exception!r}"
        if message.startswith("pusher_channels: callback") and isinstance(exception, Exception):
            self._count_report(message)
            # The client's own report of a callback that raised where nothing else
            # can hear of it (on_error itself): deliberate, not a loose error.
            self._trace(f"reported to the loop: {text}")
            return
        self.obs.loop_errors.append(text)
        self._trace(f"LOOP ERROR {text}")

    # --------------------------------------------------------- configuration

    def _options(self) -> dict[str, Any]:
        """Options and callbacks for a new configuration (constructor or init())."""
        rng = self.rng
        self._generation += 1
        self._config = _Config()
        options: dict[str, Any] = {
            "api_key": APP_KEY,
            "host": "sim.invalid",
            "use_tls": False,
            "ws_port": 6001,
            "activity_timeout": rng.choice((2.0, 10.0, 30.0, 120.0)),
            "pong_timeout": rng.choice((1.0, 5.0, 30.0)),
            "max_reconnection_attempts": rng.choice((None, None, 2, 6)),
            "max_reconnect_gap_in_seconds": rng.choice((1.0, 5.0, 30.0)),
            "auth_timeout": rng.choice((1.0, 3.0, 10.0)),
            "trust_env": False,
            "ssl_context": shared_ssl_context(),
        }
        # Channel authorization: the on_authorizer callback, or the real endpoint
        # authorizer over HTTP, one channel a request or batched.
        auth = self._config.auth = rng.choice(("callback", "endpoint", "batching"))
        if auth == "callback":
            options["on_authorizer"] = self._authorizer
        else:
            options["auth_endpoint"] = AUTH_ENDPOINT
            options["auth_params"] = {"headers": self._app_headers(rng.random() < 0.3)}
            if auth == "batching":
                options["auth_batching"] = True
                options["auth_batch_delay"] = rng.choice((0.005, 0.05))
                options["auth_batch_size"] = rng.choice((1, 3, 100))
            hook = rng.choice((None, "refresh", "refresh_async", "decline", "raise"))
            if hook is not None:
                options["on_auth_failure"] = self._auth_failure_hook(hook)
            self._config.auth += f"/{hook}"
        if rng.random() < 0.5:
            options["on_user_authenticator"] = self._user_authenticator
        else:
            options["user_auth_endpoint"] = USER_AUTH_ENDPOINT
            options["user_auth_params"] = {"headers": self._app_headers(False)}
        # One consumer per configuration: after init(), the previous configuration's
        # callbacks may still be given what its socket received before it closed,
        # while the new configuration's already hear the server's later events.
        consumer = f"global{self._generation}"
        recorders: dict[str, Callable[..., None]] = {
            "on_connection_state_change": lambda current, previous: None,
            "on_subscription_succeeded": lambda channel, data: self.obs.success(
                consumer, channel, data
            ),
            "on_subscription_error": lambda message, error: None,
            "on_event": lambda event: self.obs.event(consumer, event.channel_name, event.data),
            "on_member_added": lambda channel, member: None,
            "on_member_removed": lambda channel, member: None,
            "on_error": self._error_recorder(self._generation),
            "on_signin_succeeded": lambda user_data: None,
        }
        for name, record in recorders.items():
            options[name] = self._callback(name, record)
        if self._config.behaviours["on_error"] in ("plain", "raise", "cancel"):
            self.obs.reporting_configurations.add(self._generation)
        self._trace(
            f"configuration {self._generation}: auth {self._config.auth}, {self._config.behaviours}"
        )
        return options

    def _app_headers(self, fresh: bool) -> Callable[[], dict[str, str]]:
        """The application's ``headers`` callable: the token it holds, or (``fresh``)
        the current one, fetched for every request."""
        auth = self.auth

        def headers() -> dict[str, str]:
            if fresh:
                auth.fetch_token()
            return auth.headers()

        return headers

    def _auth_failure_hook(self, kind: str) -> Callable[[Any], Any]:
        """``on_auth_failure``: fetches a new token (at once or not), declines, raises."""
        auth, rng = self.auth, self.user_rng
        if kind == "refresh_async":

            async def refresh_later(error: Any) -> bool:
                await asyncio.sleep(rng.uniform(0.01, 0.5))
                auth.fetch_token()
                return True

            return refresh_later

        def hook(error: Any) -> bool:
            if kind == "raise":
                raise ValueError("on_auth_failure raises on purpose")
            if kind == "refresh":
                auth.fetch_token()
            return kind == "refresh"

        return hook

    def _callback(self, name: str, record: Callable[..., None]) -> Callable[..., Any]:
        """A callback that records what it gets, then behaves as drawn for it."""
        names = [b for b, _ in CALLBACK_BEHAVIOURS]
        weights = [0 if b in self.without else w for b, w in CALLBACK_BEHAVIOURS]
        behaviour = self.rng.choices(names, weights)[0]
        self._config.behaviours[name] = behaviour
        config = self._config
        if behaviour == "hang":
            self.obs.hang_configured = True

        generation = self._generation
        failures = self.obs.callback_failures

        if behaviour in ("plain", "raise", "cancel"):

            def plain(*args: Any) -> None:
                record(*args)
                if behaviour == "raise":
                    failures[(generation, name)] += 1
                    raise ValueError(f"{name} raises on purpose")
                if behaviour == "cancel":
                    failures[(generation, name)] += 1
                    raise asyncio.CancelledError

            plain.__qualname__ = f"sim{generation}.{name}"
            return plain

        async def coroutine(*args: Any) -> None:
            record(*args)
            parts = self._parts(generation)
            lane = parts.delivery.dispatcher.lanes.get(coroutine) if parts is not None else None
            if lane is not None:
                self.flow.progress(lane, self._now())
            try:
                await self._behave(behaviour, name, config)
            except asyncio.CancelledError:
                self._cancelled(generation, name)
                raise
            if behaviour == "raise_async":
                failures[(generation, name)] += 1
                raise ValueError(f"{name} raises on purpose")
            if behaviour == "cancel_async":
                failures[(generation, name)] += 1
                raise asyncio.CancelledError

        coroutine.__qualname__ = f"sim{generation}.{name}"
        return coroutine

    async def _behave(self, behaviour: str, name: str, config: _Config) -> None:
        """What an async callback does once it has recorded its call."""
        rng = self.user_rng
        if behaviour == "slow":
            await asyncio.sleep(rng.uniform(0.001, 0.02))
        elif behaviour == "crawl":  # slow, yet never stalled
            await asyncio.sleep(rng.uniform(0.3, 2.0))
        elif behaviour in ("raise_async", "cancel_async"):
            await asyncio.sleep(0)
        elif behaviour == "stall" and name not in config.hung:
            config.hung.add(name)
            await asyncio.sleep(rng.uniform(1.0, 8.0))
        elif behaviour == "hang" and name not in config.hung:
            config.hung.add(name)
            await self._forever()
        elif behaviour == "reenter":
            await self._reenter(name)

    def _cancelled(self, generation: int, name: str) -> None:
        """A callback of ``generation`` was cancelled while it ran."""
        if not self.obs.running:
            return  # the loop is being torn down
        self.obs.cancelled[(generation, name)] += 1
        runtime = self._runtimes.get(generation)
        state = str(runtime.state.value) if runtime is not None else "?"
        self._trace(f"callback sim{generation}.{name} cancelled ({state})")
        if state == "CONNECTED":
            self.obs.cancelled_while_connected.append(
                f"callback sim{generation}.{name} cancelled while its configuration is CONNECTED"
            )

    async def _forever(self) -> None:
        """Hang until cancelled: on a future of its own (cancelling a task cancels
        the future it awaits, which would wake every other waiter of a shared one)."""
        await asyncio.get_running_loop().create_future()

    def _error_recorder(self, generation: int) -> Callable[..., None]:
        """``on_error``'s record: counts the reports of callback failures."""

        def record(message: str, code: int | None, error: Any) -> None:
            if isinstance(error, CallbackError):
                self._count_report(message)

        return record

    def _count_report(self, message: str) -> None:
        """A report of a failed callback (to ``on_error`` or the loop's handler)."""
        found = _FAILURE_REPORT.search(message)
        if found is not None:
            key = (int(found.group(1)), found.group(2))
            self.obs.callback_reports[key] += 1
        found = _CANCEL_REPORT.search(message)
        if found is not None:
            key = (int(found.group(1)), found.group(2))
            self.obs.cancel_reports[key] += 1

    async def _reenter(self, name: str) -> None:
        """A callback calling back into the client."""
        client = self._client
        assert client is not None
        draw = self.user_rng.random()
        if self._healing:
            await asyncio.sleep(0)  # the application is done misbehaving
        elif draw < 0.1:
            self._trace(f"{name} calls disconnect()")
            wait = self.obs.new_wait("disconnect", self._now())
            try:
                await client.disconnect()
            finally:
                wait.done_at = self._now()
        elif draw < 0.15:
            # As in the field: a bounded wait in a task of its own (wait_for). The
            # bound leaves room for the grace that disconnect() gives the *other*
            # callbacks (one of them may hang); waiting on itself would never end.
            bound = SHUTDOWN_GRACE + 3
            self._trace(f"{name} awaits asyncio.wait_for(disconnect(), {bound:g})")
            wait = self.obs.new_wait("disconnect", self._now())
            try:
                await asyncio.wait_for(client.disconnect(), bound)
            except TimeoutError:
                self.obs.api_errors.append(f"disconnect() awaited by {name} did not return")
            finally:
                wait.done_at = self._now()
        elif draw < 0.5:
            channel = self.user_rng.choice(CHANNELS)
            await self._subscribe(channel, {})
        else:
            await asyncio.sleep(0)

    async def _authorizer(
        self, channel_name: str, socket_id: str, options: Any = None
    ) -> dict[str, Any]:
        """``on_authorizer``: mostly right, sometimes slow, wrong, failing or silent;
        failing as the auth backend does during its outages."""
        self._authorizing += 1
        try:
            return await self._authorize(channel_name, socket_id)
        finally:
            self._authorizing -= 1

    async def _authorize(self, channel_name: str, socket_id: str) -> dict[str, Any]:
        rng, auth = self.user_rng, self.auth
        call = auth.new_call(channel_name)
        tag = f"[auth {call}]"
        draw = rng.random()
        if auth.healed:
            await asyncio.sleep(rng.uniform(0.0, 0.05))
        elif auth.in_outage():
            kind = rng.choice(("unreachable", "timeout", "silent"))
            await asyncio.sleep(rng.uniform(0.0, 0.1))
            if kind == "unreachable":
                raise ConnectionError(f"auth server unreachable {tag}")
            if kind == "timeout":
                raise TimeoutError(f"auth server timed out {tag}")
            await asyncio.sleep(3600)  # auth_timeout ends it
        elif draw < 0.12:
            await asyncio.sleep(rng.uniform(0.1, 4.0))
        elif draw < 0.16:
            raise AuthorizationError(f"denied {channel_name} {tag}", channel_name)
        elif draw < 0.19:
            raise ConnectionError(f"auth server unreachable {tag}")
        elif draw < 0.21:
            raise ValueError(f"authorizer bug {tag}")
        elif draw < 0.24:
            return {"auth": f"{APP_KEY}:{'0' * 64}"}
        elif draw < 0.26:
            return {"nope": True}
        elif draw < 0.28:
            await self._forever()
        elif draw < 0.29:
            raise asyncio.CancelledError
        return auth.authorization(channel_name, socket_id, call)

    async def _user_authenticator(self, socket_id: str, options: Any = None) -> dict[str, str]:
        """``on_user_authenticator``: mostly right, sometimes slow or failing."""
        rng = self.user_rng
        draw = rng.random()
        if self.auth.healed:
            pass
        elif draw < 0.15:
            await asyncio.sleep(rng.uniform(0.1, 3.0))
        elif draw < 0.2:
            raise ValueError("user authenticator bug")
        elif draw < 0.22:
            await self._forever()
        return self.auth.user_authentication(socket_id)

    # ----------------------------------------------------------------- tasks

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(coroutine, name=f"driver {name}")
        self.obs.driver_tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.obs.api_errors.append(f"{task.get_name()} raised {task.exception()!r}")

    def _spawn_wait(
        self, kind: str, call: Awaitable[Any], after: Callable[[], None] | None = None
    ) -> asyncio.Task[None]:
        """Run a public call as a task, recording it as a wait."""
        wait = self.obs.new_wait(kind, self._now())

        async def run() -> None:
            try:
                result = await call
                wait.outcome = "ok" if result is None else "returned"
            except PusherError as exc:
                wait.outcome = type(exc).__name__
            except asyncio.CancelledError:
                wait.outcome = "cancelled"
                raise
            except Exception as exc:
                wait.outcome = repr(exc)
                self.obs.api_errors.append(f"{kind} #{wait.number} raised {exc!r}")
            finally:
                wait.done_at = self._now()
                self._trace(f"{kind} #{wait.number} ended: {wait.outcome}")
                if after is not None:
                    after()

        return self._spawn(run(), f"{kind} #{wait.number}")

    # ------------------------------------------------------------- actions

    def _actions(self) -> list[tuple[str, float, Callable[[], Awaitable[None]]]]:
        return [
            ("connect", 12, self._do_connect),
            ("cancel_connect", 3, self._do_cancel_connect),
            ("disconnect", 5, self._do_disconnect),
            ("subscribe", 10, self._do_subscribe),
            ("unsubscribe", 4, self._do_unsubscribe),
            ("resubscribe", 4, self._do_resubscribe),
            ("bind", 3, self._do_bind),
            ("wait_subscribed", 4, self._do_wait_subscribed),
            ("trigger", 6, self._do_trigger),
            ("open_iterator", 5, self._do_open_iterator),
            ("close_iterator", 2, self._do_close_iterator),
            ("init_again", 1.5, self._do_init),
            ("signin", 2, self._do_signin),
            ("server_events", 20, self._do_server_events),
            ("server_members", 3, self._do_server_members),
            ("server_close", 3, self._do_server_close),
            ("server_drop", 2, self._do_server_drop),
            ("server_silence", 1, self._do_server_silence),
            ("server_hostile", 3, self._do_server_hostile),
            ("auth_outage", 1.5, self._do_auth_outage),
            ("auth_slow", 1, self._do_auth_slow),
            ("auth_rotate", 1, self._do_auth_rotate),
            ("time_passes", 10, self._do_time_passes),
            ("quiesce", 2, self._do_quiesce),
        ]

    @property
    def client(self) -> PusherChannelsClient:
        assert self._client is not None
        return self._client

    async def _do_connect(self) -> None:
        timeout = self.rng.choice((None, None, 0.5, 3.0, 15.0))
        self._trace(f"connect(timeout={timeout})")
        self.obs.last_activity_mark = len(self.obs.waits)
        task = self._spawn_wait("connect", self.client.connect(timeout=timeout))
        self._connects.append(task)

    async def _do_cancel_connect(self) -> None:
        pending = [task for task in self._connects if not task.done()]
        self._connects = pending
        if pending:
            task = self.rng.choice(pending)
            self._trace(f"cancel {task.get_name()}")
            task.cancel()

    async def _do_disconnect(self) -> None:
        self._spawn_wait("disconnect", self.client.disconnect())

    async def _do_quiesce(self) -> None:
        """disconnect(), then nothing but time: everything must wind down."""
        self._spawn_wait("disconnect", self.client.disconnect())
        await self._advance(GRACE + 2.0, checking=True)

    async def _do_init(self) -> None:
        self.obs.last_activity_mark = len(self.obs.waits)
        self._spawn_wait("init", self.client.init(**self._options()))
        await asyncio.sleep(0)  # init() installs the new runtime in its first step
        self._runtimes[self._generation] = self.client._runtime

    async def _do_signin(self) -> None:
        self.obs.last_activity_mark = len(self.obs.waits)
        self._spawn_wait("signin", self.client.signin())

    async def _do_subscribe(self) -> None:
        channel = self.rng.choice(CHANNELS)
        self.obs.last_activity_mark = len(self.obs.waits)
        kwargs: dict[str, Any] = {}
        if self.rng.random() < 0.5:
            kwargs["on_event"] = lambda event: self.obs.event(
                "channel", event.channel_name, event.data
            )
        self._trace(f"subscribe({channel!r})")
        await self._public(self._subscribe(channel, kwargs))

    async def _do_bind(self) -> None:
        """Bind a recording handler to a channel (all its events, or its events by a
        glob), or unbind every handler of a channel."""
        channels = sorted(self.client.channels)
        if not channels:
            return
        channel = self.client.channels[self.rng.choice(channels)]
        draw = self.rng.random()
        if draw < 0.2:
            self._trace(f"unbind_all on {channel.channel_name!r}")
            channel.unbind_all()
            return
        self._bindings += 1
        consumer = f"bound_{self._bindings}"
        handler = self._callback(
            consumer, lambda event: self.obs.event(consumer, event.channel_name, event.data)
        )
        if draw < 0.6:
            self._trace(f"bind_global {consumer} on {channel.channel_name!r}")
            channel.bind_global(handler)
        else:
            self._trace(f"bind('*') {consumer} on {channel.channel_name!r}")
            channel.bind("*", handler)

    async def _do_wait_subscribed(self) -> None:
        """Wait for a channel's subscription: it must end, and say the truth.

        Returning means the channel was subscribed at that moment; by the time the
        waiting task runs, the connection may have dropped again, so what is checked
        is that a success was heard of (or the channel was subscribed already).
        """
        channels = sorted(self.client.channels)
        if not channels:
            return
        client = self.client
        channel = client.channels[self.rng.choice(channels)]
        name = channel.channel_name
        timeout = self.rng.choice((None, None, 1.0, 5.0))
        self._trace(f"wait_subscribed({name!r}, timeout={timeout})")
        heard: list[PusherEvent] = []

        def success(event: PusherEvent) -> None:
            if event.channel_name == name:
                heard.append(event)

        was_subscribed = channel.subscribed
        client.bind("pusher:subscription_succeeded", success)

        async def wait_then_check() -> None:
            try:
                await channel.wait_subscribed(timeout=timeout)
                if not (was_subscribed or heard or channel.subscribed):
                    self.obs.api_errors.append(
                        f"wait_subscribed returned but {name!r} was never subscribed"
                    )
            finally:
                client.unbind("pusher:subscription_succeeded", success)

        self._spawn_wait("wait_subscribed", wait_then_check())

    async def _do_unsubscribe(self) -> None:
        channels = sorted(self.client.channels)
        if channels:
            channel = self.rng.choice(channels)
            self._trace(f"unsubscribe({channel!r})")
            await self._public(self.client.unsubscribe(channel))

    async def _do_resubscribe(self) -> None:
        """Leave a channel and join it again (a new incarnation), at once or soon,
        often while its authorization or subscription is still under way (one not
        subscribed is joined first)."""
        channel = self.rng.choice(CHANNELS)
        pause = self.rng.choice((0.0, 0.0, 0.01, 0.3))
        self.obs.last_activity_mark = len(self.obs.waits)
        if channel not in self.client.channels:
            joined = self.rng.choice((0.0, 0.01, 0.2))
            self._trace(f"subscribe({channel!r}), and again after {joined:g} s:")
            await self._public(self._subscribe(channel, {}))
            if joined:
                await asyncio.sleep(joined)
        self._trace(f"unsubscribe({channel!r}), then subscribe() again after {pause:g} s")
        await self._public(self.client.unsubscribe(channel))
        if pause:
            await asyncio.sleep(pause)
        await self._public(self._subscribe(channel, {}))

    async def _do_trigger(self) -> None:
        channels = [name for name in sorted(self.client.channels) if "-" in name]
        if not channels:
            return
        channel = self.client.channels[self.rng.choice(channels)]
        self.obs.last_activity_mark = len(self.obs.waits)
        self._trace(f"trigger on {channel.channel_name!r}")
        await self._public(channel.trigger(event_name="client-hello", data={"n": self._step}))

    async def _public(self, call: Awaitable[Any]) -> None:
        """Await a quick public call; a ``PusherError`` is an acceptable answer."""
        try:
            await call
        except PusherError as exc:
            self._trace(f"  -> {type(exc).__name__}")
        except Exception as exc:
            self.obs.api_errors.append(f"step {self._step} raised {exc!r}")

    async def _do_open_iterator(self) -> None:
        channels = sorted(self.client.channels)
        max_buffer = self.rng.choice((2, 8, 20, 100))
        if channels and self.rng.random() < 0.5:
            channel = self.client.channels[self.rng.choice(channels)]
            name = f"iterator:{channel.channel_name}"
            iterator = channel.events(max_buffer=max_buffer)
        else:
            name = "iterator:client"
            iterator = self.client.events(max_buffer=max_buffer)
        mode = self.rng.choice(
            ("fast", "fast", "slow", "crawl", "crawl", "abandon", "hold", "drop", "stall")
        )
        self._trace(f"open {name} (max_buffer={max_buffer}, {mode})")
        if mode == "drop":
            del iterator  # closed by its finalizer
            return
        wait = self.obs.new_wait("iterator", self._now())
        stream = iterator._stream
        self.flow.started(stream, self._now())
        note_full_stream(stream, self._became_full)
        self._streams.append((stream, f"{name}#{wait.number} ({mode})", self._generation))
        consumer = _Consumer(iterator, wait)
        consumer.task = self._spawn(
            self._consume(consumer, f"{name}#{wait.number}", mode), f"iterator #{wait.number}"
        )
        self._consumers.append(consumer)

    async def _consume(self, consumer: _Consumer, name: str, mode: str) -> None:
        """Read an iterator as a user would: fast, slowly, stalled, or giving up."""
        rng = random.Random(f"{self.seed}-{name}")
        wait, iterator = consumer.wait, consumer.iterator
        limit = rng.randrange(1, 20)
        count = 0
        try:
            while True:
                wait.blocked_since = self._now()
                try:
                    event = await anext(iterator)
                except StopAsyncIteration:
                    wait.outcome = "ended"
                    break
                finally:
                    wait.blocked_since = None
                self.flow.progress(iterator._stream, self._now())
                self.obs.event(name, event.channel_name, event.data)
                count += 1
                if mode == "slow":
                    await asyncio.sleep(rng.uniform(0.001, 0.05))
                elif mode == "crawl":  # slow, yet never stalled
                    await asyncio.sleep(rng.uniform(0.5, 4.0))
                elif mode == "stall" and count == 1:
                    await asyncio.sleep(rng.uniform(5.0, 60.0))
                elif mode in ("abandon", "hold") and count >= limit:
                    wait.outcome = f"left after {count}"
                    if mode == "abandon":
                        await iterator.aclose()
                    else:
                        self._held.append(iterator)  # still referenced, never read again
                    break
        except PusherError as exc:
            wait.outcome = type(exc).__name__
        finally:
            wait.done_at = self._now()

    async def _do_close_iterator(self) -> None:
        open_ = [c for c in self._consumers if c.task is not None and not c.task.done()]
        if open_:
            consumer = self.rng.choice(open_)
            self._trace(f"close iterator #{consumer.wait.number}")
            await consumer.iterator.aclose()

    # ---------------------------------------------------------- the server

    def _target(self) -> SimSocket | None:
        sockets = self.network.established_sockets() or self.network.live_sockets()
        return sockets[-1] if sockets else None

    async def _do_server_events(self) -> None:
        socket = self._target()
        channels = socket.event_channels() if socket is not None else []
        if socket is None or not channels:
            return
        # Mostly a few, sometimes a flood that fills every small buffer for a while.
        count = (
            self.rng.randrange(1, 25) if self.rng.random() < 0.85 else self.rng.randrange(40, 150)
        )
        self._trace(f"server sends {count} events on {socket!r}")
        for _ in range(count):
            channel = self.rng.choice(channels)
            client_event = channel.startswith(("private-", "presence-")) and self.rng.random() < 0.2
            self.network.server.channel_event(socket, channel, client_event)

    async def _do_server_members(self) -> None:
        socket = self._target()
        if socket is None:
            return
        presence = sorted(c for c in socket.channels if c.startswith("presence-"))
        if presence:
            added = self.rng.random() < 0.6
            self.network.server.member_change(socket, self.rng.choice(presence), added)

    async def _do_server_close(self) -> None:
        socket = self._target()
        if socket is None:
            return
        codes = self.rng.choice((FATAL_CODES, BACKOFF_CODES, RECONNECT_CODES, OTHER_CLOSE_CODES))
        code = self.rng.choice(codes)
        if self.rng.random() < 0.5:
            socket.push({"event": "pusher:error", "data": {"code": code, "message": "closing"}})
        socket.server_close(code, f"simulated {code}")

    async def _do_server_drop(self) -> None:
        socket = self._target()
        if socket is not None:
            socket.server_close(None)

    async def _do_server_silence(self) -> None:
        socket = self._target()
        if socket is not None:
            socket.go_silent()

    async def _do_server_hostile(self) -> None:
        socket = self._target()
        if socket is None:
            return
        shown = self.network.server.hostile(socket, list(CHANNELS))
        self._trace(f"server sends a malformed frame on {socket!r}: {shown}")
        if self.rng.random() < 0.2:
            socket.push({"event": "pusher:error", "data": {"code": 4301, "message": "rate"}})

    async def _do_auth_outage(self) -> None:
        seconds = self.rng.choice((3.0, 15.0, 60.0, 150.0, 400.0))
        self._trace(f"the auth backend fails for {seconds:g} s")
        self.auth.outage(seconds)

    async def _do_auth_slow(self) -> None:
        seconds = self.rng.choice((5.0, 30.0))
        self._trace(f"the auth backend is slow for {seconds:g} s")
        self.auth.slow_period(seconds)

    async def _do_auth_rotate(self) -> None:
        self._trace("the auth backend takes a new token")
        self.auth.rotate_token()

    async def _do_time_passes(self) -> None:
        seconds = self.rng.choice((1.0, 5.0, 20.0, 60.0))
        self._trace(f"{seconds:g} s pass")
        await self._advance(seconds, checking=True)


@contextlib.contextmanager
def _seeded_global_random(seed: int) -> Iterator[None]:
    """Seed the global ``random`` (backoff jitter) for the run, then restore it."""
    state = random.getstate()
    random.seed(f"global-{seed}")
    try:
        yield
    finally:
        random.setstate(state)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """The client logs every misbehaving callback; the simulation makes many."""
    logger = logging.getLogger("pusher_channels")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


def run_seed(seed: int, steps: int, without: frozenset[str] = frozenset()) -> SimulationResult:
    """Run one seed (leaving out the actions and behaviours named in ``without``)."""
    return Simulation(seed, steps, without).run()
