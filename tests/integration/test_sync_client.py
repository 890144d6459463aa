"""The blocking facade against PusherTestServer: threads, callbacks, nesting, shutdown.

The server runs on a thread of its own (the ``pusher_server`` fixture), named
``PusherTestServer``: it exists before and after each client, so the thread
accounting below is the client's alone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pusher
import pytest
from devtools.auth_server import AuthServer

from pusher_channels import (
    CallbackError,
    ConnectionState,
    PusherConfigError,
    PusherConnectionError,
    PusherEvent,
    SubscriptionError,
)
from pusher_channels.sync import PusherChannelsClient
from pusher_channels.testing import PusherTestServer


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` from this thread, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def trigger(server: PusherTestServer, channel: str, event: str, data: Any) -> None:
    pusher.Pusher(**server.sdk_kwargs()).trigger(channel, event, data)


def client_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("pusher-channels-")}


# These tests are plain functions: the blocking client must not need an event loop.


def test_callbacks_run_on_one_callback_thread_in_order(pusher_server: PusherTestServer) -> None:
    seen: list[tuple[str, int]] = []
    states: list[ConnectionState] = []
    with PusherChannelsClient(
        **pusher_server.client_kwargs(),
        on_event=lambda e: seen.append((threading.current_thread().name, e.json()["n"])),
        on_connection_state_change=lambda current, previous: states.append(current),
    ) as client:
        channel = client.subscribe("sync-order")
        wait_for(lambda: channel.subscribed, what="subscription")
        for n in range(10):
            trigger(pusher_server, "sync-order", "seq", {"n": n})
        wait_for(lambda: len(seen) == 10, what="ten events")
        assert client.connection_state is ConnectionState.CONNECTED
        assert client.get_socket_id() is not None
    assert [n for _, n in seen] == list(range(10))
    names = {name for name, _ in seen}
    assert len(names) == 1
    assert names.pop().endswith("callbacks")
    assert states == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTING,
        ConnectionState.DISCONNECTED,
    ]


def test_no_thread_is_left_after_disconnect(pusher_server: PusherTestServer) -> None:
    before = set(threading.enumerate())
    client = PusherChannelsClient(**pusher_server.client_kwargs(), on_event=lambda e: None)
    client.subscribe("sync-threads")
    client.connect(timeout=10)
    assert client_threads(), "the client runs its loop in a thread of its own"
    client.disconnect()
    assert set(threading.enumerate()) == before
    client.connect(timeout=10)  # and it starts again
    assert client.connection_state is ConnectionState.CONNECTED
    client.disconnect()
    assert set(threading.enumerate()) == before


def test_callbacks_may_call_the_client(
    pusher_server: PusherTestServer, auth_for_pusher_server: AuthServer
) -> None:
    """subscribe, trigger and disconnect from inside callbacks: no deadlock."""
    done = threading.Event()
    log: list[str] = []
    client: PusherChannelsClient

    def on_subscription_succeeded(channel_name: str, data: Any) -> None:
        log.append(f"subscribed {channel_name}")
        if channel_name == "sync-nested":
            client.subscribe("private-sync-nested")
        else:
            client.trigger(PusherEvent("private-sync-nested", "client-hello", {"from": "callback"}))
            trigger(pusher_server, "sync-nested", "bye", {})

    def on_event(event: PusherEvent) -> None:
        log.append(f"event {event.event_name}")
        client.disconnect()
        log.append(f"state {client.connection_state}")
        done.set()

    before = set(threading.enumerate())
    client = PusherChannelsClient(
        **pusher_server.client_kwargs(),
        auth_endpoint=auth_for_pusher_server.url,
        on_subscription_succeeded=on_subscription_succeeded,
        on_event=on_event,
    )
    client.subscribe("sync-nested")
    client.connect(timeout=10)
    assert done.wait(10)
    assert log == [
        "subscribed sync-nested",
        "subscribed private-sync-nested",
        "event bye",
        "state DISCONNECTED",
    ]
    wait_for(lambda: set(threading.enumerate()) == before, what="the callback thread to end")


def test_refused_connection_raises_and_leaves_no_thread(pusher_server: PusherTestServer) -> None:
    before = set(threading.enumerate())
    client = PusherChannelsClient(**(pusher_server.client_kwargs() | {"api_key": "wrong"}))
    with pytest.raises(PusherConnectionError) as raised:
        client.connect(timeout=10)
    assert raised.value.code == 4001
    assert set(threading.enumerate()) == before


def test_a_channel_callback_that_is_not_callable_is_refused_at_subscribe(
    pusher_server: PusherTestServer,
) -> None:
    """As with the asyncio client: not later, on the callback thread, at each event."""
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    try:
        with pytest.raises(PusherConfigError, match="on_event must be callable"):
            client.subscribe("news", on_event="print")  # type: ignore[arg-type]
        assert client.get_channel("news") is None
    finally:
        client.disconnect()


def test_raising_callback_is_reported_to_on_error(pusher_server: PusherTestServer) -> None:
    errors: list[Any] = []

    def fragile(event: PusherEvent) -> None:
        raise ValueError("bad callback")

    with PusherChannelsClient(
        **pusher_server.client_kwargs(),
        on_event=fragile,
        on_error=lambda message, code, error: errors.append(error),
    ) as client:
        channel = client.subscribe("sync-fragile")
        wait_for(lambda: channel.subscribed)
        trigger(pusher_server, "sync-fragile", "x", {})
        trigger(pusher_server, "sync-fragile", "y", {})
        wait_for(lambda: len(errors) == 2, what="two reports")
        assert client.connection_state is ConnectionState.CONNECTED
    assert all(isinstance(e, CallbackError) for e in errors)


def test_blocking_iterators_and_on_authorizer(pusher_server: PusherTestServer) -> None:
    sdk = pusher.Pusher(**pusher_server.sdk_kwargs())
    authorizer_threads: list[str] = []

    def on_authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        authorizer_threads.append(threading.current_thread().name)
        if channel_name == "private-sync-refused":
            raise PermissionError("not for you")
        answer: dict[str, Any] = sdk.authenticate(channel_name, socket_id)
        return answer

    with PusherChannelsClient(
        **pusher_server.client_kwargs(), on_authorizer=on_authorizer
    ) as client:
        channel = client.subscribe("private-sync-iter")
        everything = client.events(timeout=5)
        events = channel.events(timeout=0.5)
        wait_for(lambda: channel.subscribed)
        for n in range(3):
            trigger(pusher_server, "private-sync-iter", "seq", {"n": n})
        assert [event.json()["n"] for event in events] == [0, 1, 2]  # ends after 0.5 s idle
        assert [next(everything).json()["n"] for _ in range(3)] == [0, 1, 2]
        failing = client.subscribe("private-sync-refused")
        with pytest.raises(SubscriptionError, match="not for you"):
            list(failing.events(timeout=5))
    assert list(everything) == [], "iteration ends on disconnect"
    assert authorizer_threads
    assert not any(name.endswith("loop") for name in authorizer_threads)


async def test_the_blocking_client_can_be_used_from_inside_async_code(
    pusher_server: PusherTestServer,
) -> None:
    """It owns its loop, so even code running another loop may call it in a thread."""
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    await asyncio.to_thread(client.connect, 10)
    assert client.connection_state is ConnectionState.CONNECTED
    await asyncio.to_thread(client.disconnect)


# ------------------------------------- an event arriving as the iterator times out

RACE_TIMEOUT = 0.02
RACE_REPETITIONS = 20


class TimeoutRace:
    """Makes an event arrive exactly as a blocking iterator's wait times out.

    The client's loop is given a ``call_at`` that recognises the timer of the
    iterator's timeout (due ``RACE_TIMEOUT`` from now). When that timer is due, the
    event is put in the iterator's stream and the timer's own callback runs
    ``steps`` loop iterations later (``event_first``), as if the event had come
    that many steps before the deadline; or the callback runs at once and the event
    comes ``steps`` iterations after it. A timer cancelled meanwhile (the wait ended)
    does not run, as a real one would not have.
    """

    def __init__(self, client: PusherChannelsClient) -> None:
        loop = client._loop_thread._loop
        assert loop is not None
        self.loop = loop
        self._call_at = loop.call_at
        self.armed: tuple[Any, bool, int] | None = None
        loop.call_at = self.call_at  # type: ignore[method-assign,assignment]

    def arm(self, stream: Any, event_first: bool, steps: int) -> None:
        self.armed = (stream, event_first, steps)

    def call_at(self, when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        armed = self.armed
        due_in = when - self.loop.time()
        if armed is None or abs(due_in - RACE_TIMEOUT) > RACE_TIMEOUT / 2:
            return self._call_at(when, callback, *args, **kwargs)
        self.armed = None
        stream, event_first, steps = armed
        event = PusherEvent(channel_name="race", event_name="arrived", data="{}")

        def timer_fires() -> None:
            if not handle.cancelled():
                callback(*args)

        def due() -> None:
            if event_first:
                stream.put(event)
                self.later(steps, timer_fires)
            else:
                timer_fires()
                self.later(steps, lambda: stream.put(event))

        handle = self._call_at(when, due, **kwargs)
        return handle

    def later(self, steps: int, function: Callable[[], None]) -> None:
        if steps == 0:
            function()
        else:
            self.loop.call_soon(self.later, steps - 1, function)


def test_an_event_arriving_as_the_timeout_fires_is_returned_or_left_never_lost() -> None:
    """Item 14 (b), a pin: ``next()`` on a blocking iterator whose timeout expires just
    as an event arrives either returns that event or stops without having taken it;
    it never takes the event and then reports a timeout (which would lose it).

    Every order of the two, up to 3 loop steps apart, many times over. The wait is
    ``asyncio.wait_for(anext(iterator), timeout)``: on Python 3.11 it runs the
    ``anext`` in a task of its own and, when its timer fires, returns that task's
    result if it is done, and otherwise cancels it, which leaves an event it has not
    taken yet in the buffer; from 3.12 it awaits ``anext`` in the caller's task,
    where the take and the return are one step. Found not to lose an event: event
    first, it is returned (3.12 and later: left, when both come in the same step);
    timeout first, it is left.
    """
    client = PusherChannelsClient(api_key="k", host="127.0.0.1", use_tls=False)
    outcomes: dict[tuple[bool, int], list[str]] = {}
    try:
        client.events(timeout=RACE_TIMEOUT).close()  # the loop thread is up
        race = TimeoutRace(client)
        deadline = time.monotonic() + 30
        for event_first in (True, False):
            for steps in range(4):
                seen = outcomes.setdefault((event_first, steps), [])
                for _ in range(RACE_REPETITIONS):
                    assert time.monotonic() < deadline, outcomes
                    iterator = client.events(timeout=RACE_TIMEOUT)
                    assert iterator._iterator is not None
                    stream = iterator._iterator._stream
                    race.arm(stream, event_first, steps)
                    returned = next(iterator, None)
                    taken = stream.progress
                    if returned is not None:
                        seen.append("returned")
                    else:
                        seen.append("lost" if taken else "left")
    finally:
        client.disconnect()
    lost = {variant: seen.count("lost") for variant, seen in outcomes.items() if "lost" in seen}
    assert lost == {}, outcomes
    summary = {v: (seen.count("returned"), seen.count("left")) for v, seen in outcomes.items()}
    print("(event first, steps apart): (returned, left)", summary)
