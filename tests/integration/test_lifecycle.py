"""Lifecycle edges of the asyncio client, each found by review and reproduced here.

Every test names the scenario of the lifecycle review it pins down. They run against
a real soketi (through the fault proxy where a slow or broken path is needed), or
the scripted server where soketi cannot be made to misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import subprocess
import sys
import time
import warnings
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import (
    CallbackError,
    ConnectionState,
    PusherChannelsClient,
    PusherEvent,
    PusherTimeoutError,
    SigninError,
    _dispatch,
)
from pusher_channels.testing import PusherTestServer
from tests.support.fault_proxy import FaultProxy
from tests.support.recorder import wait_until

_names = itertools.count()


def unique(prefix: str = "life") -> str:
    return f"{prefix}-{next(_names)}"


async def trigger_many(
    server: SoketiServer, channel: str, count: int, *, start: int = 0, pad: int = 0
) -> None:
    """Trigger ``count`` numbered events (with ``pad`` bytes of padding) in batches of ten."""
    sdk = server.server_sdk()
    for first in range(start, start + count, 10):
        batch = [
            {"channel": channel, "name": "seq", "data": {"n": n, "pad": "x" * pad}}
            for n in range(first, min(start + count, first + 10))
        ]
        await asyncio.to_thread(sdk.trigger_batch, batch)


def state_of(client: PusherChannelsClient) -> ConnectionState:
    """The state now (a call, so that type checkers do not narrow it across awaits)."""
    return client.connection_state


async def wait_for_connections(proxy: FaultProxy, count: int, timeout: float = 5.0) -> None:
    await wait_until(lambda: proxy.active_connections == count, timeout=timeout)


# ------------------------------------------------------- 1. abandoned attempts


async def test_an_attempt_abandoned_by_connect_timeout_is_closed_not_adopted(
    soketi: SoketiServer,
) -> None:
    """Scenario 1: the upgrade answers after the timeout; that socket must not live on."""
    async with FaultProxy(soketi.port) as proxy:
        proxy.latency = 1.0  # each way: the upgrade's answer comes after 2 s
        client = PusherChannelsClient(
            api_key=soketi.key, host="127.0.0.1", ws_port=proxy.port, use_tls=False
        )
        with pytest.raises(PusherTimeoutError):
            await client.connect(timeout=0.5)
        assert client.connection_state is ConnectionState.DISCONNECTED
        await asyncio.sleep(3.0)  # the late answer has arrived by now
        assert client.connection_state is ConnectionState.DISCONNECTED
        assert await client.get_socket_id() is None
        assert proxy.active_connections == 0, "the abandoned TCP connection is still open"


async def test_a_stale_attempt_never_replaces_the_live_socket(soketi: SoketiServer) -> None:
    """Scenario 1, reconnect path: a slow attempt given up must not take over later."""
    states: list[ConnectionState] = []
    async with FaultProxy(soketi.port) as proxy:
        client = PusherChannelsClient(
            api_key=soketi.key,
            host="127.0.0.1",
            ws_port=proxy.port,
            use_tls=False,
            on_connection_state_change=lambda current, previous: states.append(current),
        )
        proxy.latency = 1.0
        slow = asyncio.create_task(client.connect())
        await wait_for_connections(proxy, 1)
        slow.cancel()  # gives that attempt up
        with pytest.raises(asyncio.CancelledError):
            await slow
        proxy.latency = 0.0
        await client.connect(timeout=5)
        socket_id = await client.get_socket_id()
        await asyncio.sleep(3.0)  # the slow attempt's handshake would have finished
        assert client.connection_state is ConnectionState.CONNECTED
        assert await client.get_socket_id() == socket_id
        assert proxy.active_connections == 1, "the stale attempt's socket is still open"
        channel = await client.subscribe(unique())
        await wait_until(lambda: channel.subscribed, timeout=5)
        await client.disconnect()
        await wait_for_connections(proxy, 0)
    assert states.count(ConnectionState.CONNECTED) == 1


# ----------------------------------------------------------- 3. backpressure


async def test_backpressure_holds_across_a_reconnection(
    soketi: SoketiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 3: a full buffer keeps the *new* socket paused too; nothing overflows.

    A paused socket answers no ping, so with a short heartbeat the client reconnects
    while the consumer is still behind: the new socket must not be read at full speed.
    """
    monkeypatch.setattr("pusher_channels._flow.STALL_TIMEOUT", 30.0)
    name = unique()
    states: list[ConnectionState] = []
    async with PusherChannelsClient(
        **soketi.client_options(),
        activity_timeout=1,
        pong_timeout=1,
        on_connection_state_change=lambda current, previous: states.append(current),
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed)
        events = channel.events(max_buffer=50)
        await trigger_many(soketi, name, 60, pad=4000)
        await wait_until(lambda: states.count(ConnectionState.CONNECTED) >= 2)
        await asyncio.sleep(0.3)  # the resubscription reaches the server
        triggering = asyncio.create_task(trigger_many(soketi, name, 1000, start=1000, pad=4000))
        seen: list[int] = []
        with contextlib.suppress(TimeoutError):
            while not seen or seen[-1] != 1999:
                event = await asyncio.wait_for(anext(events), 5)
                seen.append(event.json()["n"])
                await asyncio.sleep(0.005)  # much slower than the stream
        await triggering
        second = [n for n in seen if n >= 1000]
        assert events.dropped == 0, f"{events.dropped} events overflowed"
        assert second == sorted(set(second))
        assert len(second) > 500, f"only {len(second)} of the second batch arrived"


async def test_an_abandoned_iterator_stops_stalling_the_callbacks(
    soketi: SoketiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 3: ``break`` with the iterator still referenced must not stall everyone."""
    monkeypatch.setattr("pusher_channels._flow.STALL_TIMEOUT", 1.0)
    name = unique()
    received: list[int] = []
    async with PusherChannelsClient(
        **soketi.client_options(), on_event=lambda e: received.append(e.json()["n"])
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed)
        left = channel.events(max_buffer=10)
        await trigger_many(soketi, name, 1)
        async for _ in left:
            break  # left behind, still referenced
        await trigger_many(soketi, name, 2000, start=1, pad=200)
        await wait_until(lambda: len(received) == 2001, timeout=20)
        assert received == list(range(2001))
        assert left.dropped > 0  # it takes nothing: past its limit it drops


# --------------------------------------------------------- 4. async callbacks


async def test_a_slow_async_callback_holds_the_socket_instead_of_queueing_forever(
    soketi: SoketiServer,
) -> None:
    """Scenario 4: the callback path has the iterators' flow control."""
    name = unique()
    gate = asyncio.Event()
    received: list[int] = []

    async def slow(event: PusherEvent) -> None:
        await gate.wait()
        received.append(event.json()["n"])

    async with PusherChannelsClient(**soketi.client_options()) as client:
        channel = await client.subscribe(name, on_event=slow)
        await wait_until(lambda: channel.subscribed)
        delivery = client._live.bind_loop().delivery
        delivery.dispatcher.capacity = 50
        await trigger_many(soketi, name, 1000, pad=4000)
        await wait_until(lambda: delivery.flow.held)
        await asyncio.sleep(1.0)
        lanes = delivery.dispatcher.lanes
        queued = sum(len(lane.queue) for lane in lanes.values())
        assert queued < 50 * _dispatch.OVERFLOW_FACTOR, f"{queued} calls queued"
        gate.set()
        await wait_until(lambda: len(received) == 1000, timeout=20)
    assert received == list(range(1000))


# ------------------------------------------------- 5, 6. hung and cancelled callbacks


async def test_a_hung_callback_stalls_no_other_and_disconnect_ends_it(
    soketi: SoketiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 5: a callback that never returns holds back only itself."""
    monkeypatch.setattr(_dispatch, "SHUTDOWN_GRACE", 0.5, raising=False)
    hung, free = unique(), unique()
    others: list[str] = []
    states: list[ConnectionState] = []
    errors: list[Any] = []

    async def never_returns(event: PusherEvent) -> None:
        await asyncio.Event().wait()

    client = PusherChannelsClient(
        **soketi.client_options(),
        on_connection_state_change=lambda current, previous: states.append(current),
        on_error=lambda message, code, error: errors.append(error),
    )
    await client.connect()
    a = await client.subscribe(hung, on_event=never_returns)
    b = await client.subscribe(free, on_event=lambda e: others.append(e.event_name))
    await wait_until(lambda: a.subscribed and b.subscribed)
    await trigger_many(soketi, hung, 3)
    await trigger_many(soketi, free, 3)
    await wait_until(lambda: len(others) == 3)
    started = time.monotonic()
    await asyncio.wait_for(client.disconnect(), 5)
    assert time.monotonic() - started < 3
    assert states[-1] is ConnectionState.DISCONNECTED
    cancelled = [e for e in errors if isinstance(e, CallbackError) and "cancelled" in str(e)]
    assert cancelled, errors
    leftover = [t for t in asyncio.all_tasks() if "pusher_channels" in t.get_name()]
    assert leftover == []


async def test_a_callback_ending_in_cancelled_error_is_reported_and_order_kept(
    soketi: SoketiServer,
) -> None:
    """Scenario 5: CancelledError from a callback is a failure like any other."""
    name = unique()
    seen: list[int] = []
    errors: list[Any] = []

    async def on_event(event: PusherEvent) -> None:
        n = event.json()["n"]
        if n == 0:
            raise asyncio.CancelledError
        await asyncio.sleep(0.01)
        seen.append(n)

    async with PusherChannelsClient(
        **soketi.client_options(), on_error=lambda message, code, error: errors.append(error)
    ) as client:
        channel = await client.subscribe(name, on_event=on_event)
        await wait_until(lambda: channel.subscribed)
        await trigger_many(soketi, name, 6)
        await wait_until(lambda: len(seen) == 5)
        await trigger_many(soketi, name, 1, start=6)
        await wait_until(lambda: len(seen) == 6)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert any(isinstance(e, CallbackError) and "CancelledError" in str(e) for e in errors)


async def test_disconnect_awaited_from_an_async_callback_returns(soketi: SoketiServer) -> None:
    """Scenario 6: a callback awaiting ``disconnect()`` must not wait on itself."""
    name = unique()
    outcome: list[str] = []

    async with PusherChannelsClient(**soketi.client_options()) as client:

        async def on_event(event: PusherEvent) -> None:
            try:
                await asyncio.wait_for(client.disconnect(), 3)
            except TimeoutError:
                outcome.append("timed out")
            else:
                outcome.append("returned")

        channel = await client.subscribe(name, on_event=on_event)
        await wait_until(lambda: channel.subscribed)
        await trigger_many(soketi, name, 1)
        await wait_until(lambda: bool(outcome), timeout=6)
        assert outcome == ["returned"]
        assert client.connection_state is ConnectionState.DISCONNECTED


# ------------------------------------------------------------- 7, 8. waits


async def test_signin_waiting_ends_when_the_client_disconnects(
    signin_soketi: SoketiServer,
) -> None:
    """Scenario 7: every public wait ends on ``disconnect()``."""

    async def never_answers(socket_id: str, options: Any) -> dict[str, str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    client = PusherChannelsClient(
        **signin_soketi.client_options(), on_user_authenticator=never_answers
    )
    await client.connect()
    signin = asyncio.create_task(client.signin())
    await asyncio.sleep(0.2)
    assert not signin.done()  # waits for the authenticator
    await client.disconnect()
    started = time.monotonic()
    with pytest.raises(SigninError):
        await asyncio.wait_for(signin, 2)
    assert time.monotonic() - started < 1


async def test_connect_during_disconnecting_says_what_the_state_becomes(
    soketi: SoketiServer,
) -> None:
    """Scenario 8: connect() while DISCONNECTING returns connected (it waits its turn)."""
    client = PusherChannelsClient(**soketi.client_options())
    await client.connect()
    closing = asyncio.create_task(client.disconnect())
    await asyncio.sleep(0)
    assert state_of(client) is ConnectionState.DISCONNECTING
    try:
        await asyncio.wait_for(client.connect(), 5)
    except Exception:
        await asyncio.sleep(1.0)
        assert state_of(client) is ConnectionState.DISCONNECTED, "it said no, yet connects"
        raise
    await closing
    assert state_of(client) is ConnectionState.CONNECTED
    await asyncio.sleep(0.5)
    assert state_of(client) is ConnectionState.CONNECTED
    await client.disconnect()


# ------------------------------------------------ 10. earlier incarnations


async def test_an_earlier_incarnations_authorization_is_not_used(soketi: SoketiServer) -> None:
    """Scenario 10: subscribe, unsubscribe, subscribe while the first authorization is
    under way: only the second subscription's answer is used (here, its user info)."""
    sdk = soketi.server_sdk()
    name = unique("presence-incarnation")
    calls: list[int] = []
    succeeded: list[Any] = []

    async def authorize(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        calls.append(len(calls) + 1)
        call = calls[-1]
        await asyncio.sleep(0.3 * call)  # the first answer comes first
        answer: dict[str, Any] = sdk.authenticate(
            channel_name, socket_id, {"user_id": "u", "user_info": {"call": call}}
        )
        return answer

    async with PusherChannelsClient(
        **soketi.client_options(),
        on_authorizer=authorize,
        on_subscription_succeeded=lambda channel, data: succeeded.append(data),
    ) as client:
        await client.subscribe(name)
        await asyncio.sleep(0.05)
        await client.unsubscribe(name)
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed)
        await asyncio.sleep(0.8)  # both answers are in
        assert calls == [1, 2]
        assert channel.me is not None
        assert channel.me.user_info == {"call": 2}
        assert len(succeeded) == 1


# ------------------------------ issue 20, item 7. connect() during disconnect()'s grace


async def test_a_connect_during_disconnects_grace_is_never_touched_by_it(
    soketi: SoketiServer, auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 7: ``disconnect()`` gives a slow callback its grace; a ``connect()`` made
    meanwhile starts a connection that the old ``disconnect()`` never touches: its
    events reach callbacks that are never cancelled (also one whose lane opened
    during the grace), nothing is reported while connected, and its authorizations
    work once the old grace is over."""
    monkeypatch.setattr(_dispatch, "SHUTDOWN_GRACE", 1.0, raising=False)
    public = unique()
    started: list[int] = []
    received: list[int] = []
    succeeded: list[str] = []
    errors: list[tuple[ConnectionState, str]] = []
    state = [ConnectionState.DISCONNECTED]

    def on_state_change(current: ConnectionState, previous: ConnectionState) -> None:
        state[0] = current

    async def on_event(event: PusherEvent) -> None:
        n = event.json()["n"]
        started.append(n)
        if n == 0:
            await asyncio.sleep(2.0)  # the old connection's call: longer than the grace
        received.append(n)

    async def on_subscription_succeeded(channel_name: str, data: Any) -> None:
        await asyncio.sleep(1.5)  # the new connection's lane outlives the old grace
        succeeded.append(channel_name)

    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        on_subscription_succeeded=on_subscription_succeeded,
        on_connection_state_change=on_state_change,
        on_error=lambda message, code, error: errors.append((state[0], message)),
    )
    await client.connect()
    channel = await client.subscribe(public, on_event=on_event)
    await wait_until(lambda: succeeded == [public], timeout=5)
    await trigger_many(soketi, public, 1)
    await wait_until(lambda: started == [0])

    closing = asyncio.create_task(client.disconnect())
    await wait_until(lambda: state_of(client) is ConnectionState.DISCONNECTED)
    await client.connect(timeout=5)  # at once: the old grace has just begun
    await wait_until(lambda: channel.subscribed, timeout=5)
    await trigger_many(soketi, public, 5, start=1)
    await asyncio.wait_for(closing, 5)
    await asyncio.sleep(1.5)  # the old grace is over
    assert state_of(client) is ConnectionState.CONNECTED
    private = await client.subscribe(unique("private-after-grace"))
    await private.wait_subscribed(timeout=5)
    with contextlib.suppress(AssertionError):  # the assertions below say what is missing
        await wait_until(lambda: len(received) == 6 and len(succeeded) == 3, timeout=5)
    reported = list(errors)
    await client.disconnect()

    assert reported == [], "reported while connected"
    assert received == [0, 1, 2, 3, 4, 5], "a call of the new connection was dropped"
    assert succeeded == [public, public, private.channel_name]


async def test_a_disconnect_closing_the_auth_pool_spares_a_new_connections_batch(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Item 7, authorizations: ``disconnect()`` cancels the authorizations under way
    (here a user authentication that takes 1 s to wind down), then closes the auth
    endpoints' HTTP pools and batches. A ``connect()`` made meanwhile authorizes its
    channels through them: the old ``disconnect()`` must neither cancel its batch
    nor close the pool under its request."""
    private = unique("private-new-batch")
    winding_down = asyncio.Event()

    async def slow_to_cancel(socket_id: str, options: Any) -> dict[str, str]:
        try:
            await asyncio.Event().wait()
        finally:
            winding_down.set()
            await asyncio.sleep(1.0)  # e.g. a rollback awaited on cancellation
        raise AssertionError("unreachable")

    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        auth_batch_delay=1.5,  # the new connection's batch is still open 1 s on
        on_user_authenticator=slow_to_cancel,
    )
    await client.connect()
    channel = await client.subscribe(private)
    await channel.wait_subscribed(timeout=5)  # the HTTP pool is open
    signin = asyncio.create_task(client.signin())
    await asyncio.sleep(0.2)
    closing = asyncio.create_task(client.disconnect())
    await asyncio.wait_for(winding_down.wait(), 5)
    await client.connect(timeout=5)  # while the old disconnect() waits for the sign-in
    try:
        await channel.wait_subscribed(timeout=5)
    finally:
        await asyncio.wait_for(closing, 5)
        with contextlib.suppress(SigninError):
            await signin
        await client.disconnect()
    assert len(auth_server.requests_for(private)) == 2


# -------------------------------------------------- 9, 11, 12. loops and init


@pytest.mark.parametrize("ending", ["asyncio.run", "closed by hand"])
def test_a_client_outlives_the_event_loop_it_was_connected_on(
    soketi: SoketiServer, ending: str
) -> None:
    """Scenario 9: ``asyncio.run`` twice (scripts, notebooks, tests) with one client;
    or a loop run and closed by hand, which tells the client nothing as it ends."""
    client = PusherChannelsClient(**soketi.client_options())

    async def connect_and_leave() -> None:
        await client.connect()
        await client.subscribe("left-behind")

    async def use_again() -> str | None:
        await client.connect(timeout=5)
        channel = client.get_channel("left-behind")
        assert channel is not None
        await wait_until(lambda: channel.subscribed)
        socket_id = await client.get_socket_id()
        await client.disconnect()
        return socket_id

    if ending == "asyncio.run":
        asyncio.run(connect_and_leave())
    else:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(connect_and_leave())
        loop.close()
    with warnings.catch_warnings():
        # The hand-closed loop's socket is left to the garbage collector (documented).
        warnings.simplefilter("ignore", ResourceWarning)
        assert asyncio.run(use_again()) is not None
    assert client.connection_state is ConnectionState.DISCONNECTED


def test_a_client_outliving_its_event_loop_leaves_no_socket_open(
    pusher_server: PusherTestServer, auth_for_pusher_server: AuthServer
) -> None:
    """Item 12: the socket of a loop that ended is closed as the loop ends, not left
    open on the server until the process exits (and warned about when collected).

    With a private channel, so that authorizations were under way on that loop."""
    client = PusherChannelsClient(
        **pusher_server.client_kwargs(), auth_endpoint=auth_for_pusher_server.url
    )

    async def connect() -> str | None:
        await client.connect(timeout=5)
        channel = await client.subscribe("private-outliving")
        await channel.wait_subscribed(timeout=5)  # the HTTP pool is open
        return await client.get_socket_id()

    def open_sockets() -> list[str]:
        return [connection.socket_id for connection in pusher_server.connections]

    async def use_again() -> None:
        second = await connect()
        assert open_sockets() == [second]
        await client.disconnect()

    gc.collect()  # what earlier tests left for the collector is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        first = asyncio.run(connect())
        deadline = time.monotonic() + 5
        while first in open_sockets() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first not in open_sockets(), "the ended loop's socket is still open"
        assert client.connection_state is ConnectionState.DISCONNECTED
        asyncio.run(use_again())
        gc.collect()
    ours = (f", {pusher_server.port})>", f", {urlsplit(auth_for_pusher_server.url).port})>")
    unclosed = [
        message
        for message in (str(w.message) for w in caught if issubclass(w.category, ResourceWarning))
        if "raddr" not in message or message.endswith(ours)
    ]
    assert unclosed == []


async def test_init_ends_the_previous_configurations_iterators_and_pools(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Scenario 11: ``init()`` while disconnected leaves nothing of the old one running."""
    client = PusherChannelsClient()
    await client.init(**soketi.client_options(), auth_endpoint=auth_server.url)
    channel = await client.subscribe(unique())
    everything = client.events()
    only_channel = channel.events()
    consumers = [
        asyncio.create_task(anext(everything, None)),
        asyncio.create_task(anext(only_channel, None)),
    ]
    old = client._live
    assert old.authorizer is not None
    await old.authorizer("private-pool", "1.2")  # opens the HTTP pool
    assert getattr(old.authorizer, "_http", None) is not None
    await client.init(**soketi.client_options())
    done, pending = await asyncio.wait(consumers, timeout=2)
    assert not pending, "an iterator of the previous configuration never ends"
    assert [task.result() for task in done] == [None, None]
    assert getattr(old.authorizer, "_http", None) is None


async def test_events_of_a_disconnected_client_end_on_disconnect() -> None:
    """Scenario 12: an iterator opened while disconnected waits for connect(), and
    ends on ``disconnect()`` even when the client was never connected."""
    client = PusherChannelsClient(api_key="k", host="127.0.0.1", use_tls=False)
    everything = client.events()
    consumer = asyncio.create_task(anext(everything, None))
    await asyncio.sleep(0.1)
    assert not consumer.done()  # waits for connect()
    await client.disconnect()
    assert await asyncio.wait_for(consumer, 2) is None


# ------------------------------------------------- 15. failures are never silent


ASYNCIO_SCRIPT = """
import asyncio, json, sys
from pusher_channels import PusherChannelsClient

def on_event(event):
    event.json()  # a plain string, not JSON: raises

async def main():
    options = json.loads(sys.argv[1])
    async with PusherChannelsClient(**options, on_event=on_event) as client:
        channel = await client.subscribe("plain-strings")
        while not channel.subscribed:
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await asyncio.sleep(3)

asyncio.run(main())
"""

BLOCKING_SCRIPT = """
import json, sys, time
from pusher_channels.sync import PusherChannelsClient

def on_event(event):
    event.json()  # a plain string, not JSON: raises

with PusherChannelsClient(**json.loads(sys.argv[1]), on_event=on_event) as client:
    channel = client.subscribe("plain-strings")
    while not channel.subscribed:
        time.sleep(0.05)
    print("ready", flush=True)
    time.sleep(3)
"""


@pytest.mark.parametrize("script", [ASYNCIO_SCRIPT, BLOCKING_SCRIPT], ids=["asyncio", "blocking"])
def test_a_failing_callback_is_reported_without_any_configuration(
    soketi: SoketiServer, script: str
) -> None:
    """Scenario 15: no on_error, no logging set up: the failure still shows, the way
    Python shows an exception escaping a task or a thread."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(soketi.client_options())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        soketi.server_sdk().trigger("plain-strings", "text", "not json at all")
        _, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    text = stderr.decode()
    assert "on_event" in text, text
    assert "JSONDecodeError" in text, text
