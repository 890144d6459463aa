"""soketi restarted again and again under 30 channels of every kind.

After each restart (SIGKILL and graceful SIGTERM in turn) every channel must be
subscribed exactly once on the new connection, the presence members must be exactly
the two clients, no callback may fire twice, and events published after the
recovery must all arrive, in order. The time to recover is measured per restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import ConnectionState, PusherChannelsClient
from tests.faults.helpers import (
    CONNECTED,
    RECONNECTING,
    USERS,
    Timeline,
    as_user,
    check_connections,
    check_in_order,
    new_connection,
    publish_round,
    report,
    summary,
)
from tests.support.recorder import wait_until

PUBLIC = [f"restart-public-{i}" for i in range(10)]
PRIVATE = [f"private-restart-{i}" for i in range(10)]
PRESENCE = [f"presence-restart-{i}" for i in range(5)]
ENCRYPTED = [f"private-encrypted-restart-{i}" for i in range(5)]
CHANNELS = PUBLIC + PRIVATE + PRESENCE + ENCRYPTED
EVENTS_PER_CHANNEL = 3
RECOVERY_TIMEOUT = 20.0
"""Seconds one restart may take, server start included, before the test fails."""


@dataclass
class Figures:
    """Seconds per restart."""

    outage: list[float] = field(default_factory=list)
    """From stopping soketi to every channel subscribed again (restart included)."""
    after_ready: list[float] = field(default_factory=list)
    """From soketi answering again to every channel subscribed again."""
    presence_exact: list[float] = field(default_factory=list)
    """From soketi answering again to both clients seeing exactly both members."""
    graceful: list[bool] = field(default_factory=list)
    """Whether each restart was a SIGTERM (else a SIGKILL)."""

    def outage_by_kind(self, graceful: bool) -> list[float]:
        """:attr:`outage` of the SIGTERM (``graceful``) or SIGKILL restarts."""
        return [t for t, g in zip(self.outage, self.graceful, strict=True) if g is graceful]


def members_exact(client: PusherChannelsClient, me: str) -> bool:
    """Every presence channel is subscribed with exactly alice and bob, ``me`` mine."""
    for name in PRESENCE:
        channel = client.get_channel(name)
        if channel is None or not channel.subscribed:
            return False
        if set(channel.members) != {"alice", "bob"}:
            return False
        if channel.me is None or channel.me.user_id != me:
            return False
    return True


async def check_round(
    soketi: SoketiServer,
    number: int,
    alice: Timeline,
    bob: Timeline,
) -> None:
    """Publish this round's events and check both clients got each once, in order."""
    name = f"round-{number}"
    await publish_round(soketi, CHANNELS, name, EVENTS_PER_CHANNEL)
    await wait_until(
        lambda: (
            len(alice.round_events(name)) >= len(CHANNELS) * EVENTS_PER_CHANNEL
            and len(bob.round_events(name)) >= len(PRESENCE) * EVENTS_PER_CHANNEL
        ),
        timeout=10,
        what=f"the events of {name}",
    )
    check_in_order(alice.round_events(name), CHANNELS, EVENTS_PER_CHANNEL)
    check_in_order(bob.round_events(name), PRESENCE, EVENTS_PER_CHANNEL)
    per_channel = [
        e for kind, _, e in alice.log if kind == "channel_event" and e.event_name == name
    ]
    check_in_order(per_channel, CHANNELS, EVENTS_PER_CHANNEL)


@dataclass
class Clients:
    """Alice (every channel) and Bob (the presence channels), with their timelines."""

    soketi: SoketiServer
    alice: PusherChannelsClient
    bob: PusherChannelsClient
    alice_log: Timeline
    bob_log: Timeline

    def recovered(self) -> bool:
        """Both clients see exactly both members on every presence channel."""
        return members_exact(self.alice, "alice") and members_exact(self.bob, "bob")

    async def restart(self, number: int, figures: Figures) -> None:
        """Stop soketi (SIGKILL, or SIGTERM on even rounds), start it, wait, check."""
        alice, bob = self.alice_log, self.bob_log
        lost = (alice.count_state(RECONNECTING), bob.count_state(RECONNECTING))
        connections = (len(alice.connections()), len(bob.connections()))
        started = time.monotonic()
        if number % 2 == 0:
            await asyncio.to_thread(self.soketi.stop)
        else:
            self.soketi.kill()
        await wait_until(
            lambda: (
                alice.count_state(RECONNECTING) > lost[0]
                and bob.count_state(RECONNECTING) > lost[1]
            ),
            timeout=10,
            what="both clients to notice the restart",
        )
        await asyncio.to_thread(self.soketi.start)
        ready = time.monotonic()
        try:
            await wait_until(
                lambda: (
                    len(alice.connections()) > connections[0]
                    and alice.subscribed_on_last_connection() == set(CHANNELS)
                ),
                timeout=RECOVERY_TIMEOUT,
                what=f"every channel subscribed again after restart {number}",
            )
        except AssertionError as exc:
            missing = set(CHANNELS) - alice.subscribed_on_last_connection()
            errors = [message for message, _ in alice.subscription_errors]
            raise AssertionError(f"{exc}; missing {sorted(missing)}; errors {errors}") from exc
        recovered = time.monotonic()
        await wait_until(
            self.recovered,
            timeout=RECOVERY_TIMEOUT,
            what=f"exact presence members after restart {number}",
        )
        figures.outage.append(recovered - started)
        figures.after_ready.append(recovered - ready)
        figures.presence_exact.append(time.monotonic() - ready)
        figures.graceful.append(number % 2 == 0)
        await check_round(self.soketi, number, alice, bob)
        assert len(alice.connections()) == connections[0] + 1, "exactly one reconnection"
        assert len(bob.connections()) == connections[1] + 1, "exactly one reconnection"


async def restart_under_load(soketi: SoketiServer, restarts: int) -> Figures:
    """Run ``restarts`` restarts with two clients; check everything; return timings."""
    figures = Figures()
    auth = AuthServer(soketi.server_sdk(), users=dict(USERS))
    auth.start()
    alice, bob = Timeline(), Timeline()
    options: dict[str, Any] = {**soketi.client_options(), "auth_endpoint": auth.url}
    try:
        async with (
            PusherChannelsClient(
                **options, auth_params=as_user("alice"), **alice.callbacks()
            ) as alice_client,
            PusherChannelsClient(
                **options, auth_params=as_user("bob"), **bob.callbacks()
            ) as bob_client,
        ):
            clients = Clients(soketi, alice_client, bob_client, alice, bob)
            for name in CHANNELS:
                await alice_client.subscribe(name, **alice.channel_callbacks(name))
            for name in PRESENCE:
                await bob_client.subscribe(name)
            # Every channel, not only the presence ones that recovered() checks: the
            # private and encrypted channels' authorizations may still be answering.
            await wait_until(
                lambda: (
                    clients.recovered() and alice.subscribed_on_last_connection() == set(CHANNELS)
                ),
                timeout=RECOVERY_TIMEOUT,
                what="the first subscriptions",
            )
            await check_round(soketi, 0, alice, bob)

            for number in range(1, restarts + 1):
                await clients.restart(number, figures)

            await asyncio.sleep(0.3)  # anything late or doubled would arrive now
            check_connections(alice, CHANNELS, own_user="alice")
            check_connections(bob, PRESENCE, own_user="bob")
            for number in range(restarts + 1):
                name = f"round-{number}"
                assert len(alice.round_events(name)) == len(CHANNELS) * EVENTS_PER_CHANNEL
                assert len(bob.round_events(name)) == len(PRESENCE) * EVENTS_PER_CHANNEL
            assert alice.subscription_errors == []
            assert bob.subscription_errors == []
            assert alice.decryption_failures == []
            used = {r.form["socket_id"] for r in auth.requests if r.form.get("user") == "alice"}
            assert len(used) == restarts + 1, "every connection authorized on its own socket"
    finally:
        auth.stop()
    return figures


async def kills_during_resubscription(soketi: SoketiServer, kills: int) -> list[float]:
    """Kill soketi 0-150 ms after each reconnection, while 30 channels authorize and
    subscribe; then let it recover and check that nothing was subscribed twice on any
    connection. Returns the seconds from the last start to full recovery."""
    auth = AuthServer(soketi.server_sdk(), users=dict(USERS))
    auth.start()
    alice, bob = Timeline(), Timeline()
    rng = random.Random(11)
    options: dict[str, Any] = {**soketi.client_options(), "auth_endpoint": auth.url}
    try:
        async with (
            PusherChannelsClient(
                **options, auth_params=as_user("alice"), **alice.callbacks()
            ) as alice_client,
            PusherChannelsClient(
                **options, auth_params=as_user("bob"), **bob.callbacks()
            ) as bob_client,
        ):
            clients = Clients(soketi, alice_client, bob_client, alice, bob)
            for name in CHANNELS:
                await alice_client.subscribe(name, **alice.channel_callbacks(name))
            for name in PRESENCE:
                await bob_client.subscribe(name)
            await wait_until(clients.recovered, timeout=RECOVERY_TIMEOUT, what="subscribed")
            for number in range(kills):
                soketi.kill()
                await asyncio.to_thread(soketi.start)
                await wait_until(
                    new_connection(alice, number + 1), timeout=RECOVERY_TIMEOUT, what="reconnected"
                )
                await asyncio.sleep(rng.uniform(0.0, 0.15))
            soketi.kill()
            await asyncio.to_thread(soketi.start)
            ready = time.monotonic()
            await wait_until(
                lambda: (
                    len(alice.connections()) == kills + 2
                    and alice.subscribed_on_last_connection() == set(CHANNELS)
                    and clients.recovered()
                ),
                timeout=RECOVERY_TIMEOUT,
                what="recovery after the last kill",
            )
            took = time.monotonic() - ready
            await check_round(soketi, 1, alice, bob)
            await asyncio.sleep(0.3)
            check_connections(alice, CHANNELS, own_user="alice")
            check_connections(bob, PRESENCE, own_user="bob")
            assert alice.subscription_errors == []
            assert alice.decryption_failures == []
    finally:
        auth.stop()
    return [took]


def report_figures(restarts: int, figures: Figures) -> None:
    report(
        f"soketi restarted {restarts}x, 30 channels + a second client",
        f"SIGKILL -> all subscribed: {summary(figures.outage_by_kind(False))}; "
        f"SIGTERM -> all subscribed: {summary(figures.outage_by_kind(True))}; "
        f"server ready -> all subscribed: {summary(figures.after_ready)}; "
        f"server ready -> presence exact on both clients: {summary(figures.presence_exact)}",
    )


async def test_three_restarts_keep_every_channel_exactly_once(
    loop_errors: list[dict[str, Any]], own_soketi: SoketiServer
) -> None:
    figures = await restart_under_load(own_soketi, restarts=3)
    report_figures(3, figures)


@pytest.mark.soak
@pytest.mark.timeout(1200)
async def test_fifty_restarts_keep_every_channel_exactly_once(
    loop_errors: list[dict[str, Any]], own_soketi: SoketiServer
) -> None:
    figures = await restart_under_load(own_soketi, restarts=50)
    report_figures(50, figures)
    assert max(figures.after_ready) < 10.0


@pytest.mark.soak
@pytest.mark.timeout(600)
async def test_kills_during_resubscription_never_subscribe_twice(
    loop_errors: list[dict[str, Any]], own_soketi: SoketiServer
) -> None:
    took = await kills_during_resubscription(own_soketi, kills=20)
    report(
        "soketi killed 20x, each 0-150 ms into a resubscription of 30 channels",
        f"server ready -> all subscribed after the last kill: {summary(took)}",
    )


INCIDENT_CHANNELS = ["incident-public", "private-incident", "presence-incident"]
SHUTDOWN_GRACE_MS = 3000
"""soketi's default ``SOKETI_SHUTDOWN_GRACE_PERIOD``: how long it keeps closing every
new socket with 4200 after a SIGTERM (the other tests' soketi uses 0)."""


@pytest.fixture
def production_soketi(tmp_path: Path) -> Iterator[SoketiServer]:
    """A soketi of the test's own with its default shutdown grace period."""
    server = SoketiServer(
        log_path=tmp_path / "soketi.log",
        extra_env={"SOKETI_SHUTDOWN_GRACE_PERIOD": str(SHUTDOWN_GRACE_MS)},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_graceful_restart_is_one_incident(
    loop_errors: list[dict[str, Any]],
    production_soketi: SoketiServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One graceful restart (SIGTERM, then start on the same port) is one incident.

    For its shutdown grace period (3 s by default) soketi closes every new socket
    with 4200, so the client's immediate reconnection (the protocol's rule for 42xx)
    meets such a socket, and so would every quick retry after it. The client
    reconnects once at once, then backs off: ``on_error`` hears of the restart once
    (twice at most), a handful of attempts are made, no 4200 is logged at WARNING,
    and every channel is subscribed again afterwards.
    """
    soketi = production_soketi
    timeline = Timeline()
    auth = AuthServer(soketi.server_sdk(), users=dict(USERS))
    auth.start()
    try:
        async with PusherChannelsClient(
            **soketi.client_options(),
            auth_endpoint=auth.url,
            auth_params=as_user("alice"),
            **timeline.callbacks(),
        ) as client:
            for name in INCIDENT_CHANNELS:
                await client.subscribe(name)
            await wait_until(
                lambda: timeline.subscribed_on_last_connection() == set(INCIDENT_CHANNELS),
                what="the first subscriptions",
            )
            errors_before = len(timeline.errors)
            states_before = len(timeline.states)
            caplog.clear()
            caplog.set_level(logging.DEBUG, logger="pusher_channels")
            started = time.monotonic()

            await asyncio.to_thread(soketi.stop)
            stopped = time.monotonic() - started
            await asyncio.to_thread(soketi.start)
            await wait_until(
                lambda: (
                    len(timeline.connections()) == 2
                    and timeline.subscribed_on_last_connection() == set(INCIDENT_CHANNELS)
                ),
                timeout=RECOVERY_TIMEOUT,
                what="every channel subscribed again after the restart",
            )
            took = time.monotonic() - started
            await asyncio.sleep(0.5)  # anything late would show now
            assert client.connection_state is CONNECTED
            health = client.health()
    finally:
        auth.stop()

    changes = [current for current, _ in timeline.states[states_before:]]
    ended = changes.index(CONNECTED) + 1  # the restart's changes, up to CONNECTED again
    attempts = changes[:ended].count(ConnectionState.CONNECTING)
    errors = [f"{code}: {message}" for message, code, _ in timeline.errors[errors_before:]]
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and "4200" in record.getMessage()
    ]
    repeats = [r for r in caplog.records if r.getMessage().startswith("error again")]
    report(
        f"one graceful soketi restart ({SHUTDOWN_GRACE_MS} ms grace period)",
        f"{len(errors)} on_error, {attempts} attempts, {changes.count(RECONNECTING)} "
        f"RECONNECTING, {len(warnings)} WARNING lines about 4200; stopped after "
        f"{stopped:.2f} s, all subscribed again after {took:.2f} s",
    )
    assert len(errors) <= 2, f"on_error called {len(errors)} times: {sorted(set(errors))}"
    assert attempts <= 8, f"{attempts} connection attempts in {took:.2f} s"
    assert warnings == [], f"{len(warnings)} WARNING lines about 4200: {warnings[:3]}"
    assert repeats, "the 4200s after the first go to the log"
    assert {r.levelno for r in repeats} == {logging.DEBUG}
    assert repeats[-1].getMessage().endswith(f"{len(repeats)} repeats in this outage")
    assert health.healthy, health.problems
    assert (health.reconnections, health.repeated_errors) == (1, len(repeats))
    check_connections(timeline, INCIDENT_CHANNELS, own_user="alice")
