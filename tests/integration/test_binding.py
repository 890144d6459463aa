"""Binding handlers by event name (as pusher-js does), connection listeners, awaiting a
subscription and the gaps before resubscriptions: on a real soketi, events triggered
with the official server SDK."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import (
    AuthorizationError,
    ConnectionState,
    PusherChannelsClient,
    PusherConfigError,
    PusherConnectionError,
    PusherEvent,
    PusherTimeoutError,
    SubscriptionError,
    SubscriptionGap,
)
from tests.support.recorder import wait_until

_names = itertools.count()


def channel_name(prefix: str = "bind") -> str:
    """A channel name no other test uses."""
    return f"{prefix}-{next(_names)}"


async def trigger(server: SoketiServer, channel: str, event: str, data: Any) -> None:
    """Trigger an event through the official server SDK (HTTP API)."""
    await asyncio.to_thread(server.server_sdk().trigger, channel, event, data)


async def test_handlers_bound_by_name_run_in_bind_order_and_unbind_one_by_one(
    soketi: SoketiServer,
) -> None:
    calls: list[tuple[str, str]] = []

    def first(event: PusherEvent) -> None:
        calls.append(("first", event.event_name))

    def second(event: PusherEvent) -> None:
        calls.append(("second", event.event_name))

    name = channel_name()
    async with PusherChannelsClient(**soketi.client_options()) as client:
        channel = await client.subscribe(name)
        assert channel.bind("price", first) is first
        channel.bind("price", second)
        channel.bind("price", first)  # the same pair again is one binding
        await channel.wait_subscribed(timeout=5)

        await trigger(soketi, name, "price", {"value": 1})
        await trigger(soketi, name, "other", {"value": 2})
        await wait_until(lambda: len(calls) == 2, what="both handlers")
        assert calls == [("first", "price"), ("second", "price")]

        channel.unbind("price", first)
        await trigger(soketi, name, "price", {"value": 3})
        await wait_until(lambda: len(calls) == 3, what="the remaining handler")
        assert calls[2] == ("second", "price")

        channel.unbind()  # every name-bound handler
        channel.bind("other", first)
        await trigger(soketi, name, "price", {"value": 4})
        await trigger(soketi, name, "other", {"value": 5})
        await wait_until(lambda: len(calls) == 4, what="the handler of 'other'")
        assert calls[3] == ("first", "other")


async def test_a_glob_a_decorator_and_a_callback_unbound_wherever_bound(
    soketi: SoketiServer,
) -> None:
    seen: list[str] = []
    name = channel_name()
    async with PusherChannelsClient(**soketi.client_options()) as client:
        channel = await client.subscribe(name)

        @channel.bind("order-*")
        def orders(event: PusherEvent) -> None:
            seen.append(event.event_name)

        channel.bind("refund", orders)
        await channel.wait_subscribed(timeout=5)
        for event_name in ("order-created", "invoice", "order-shipped", "refund"):
            await trigger(soketi, name, event_name, {})
        await wait_until(lambda: len(seen) == 3, what="three matching events")
        assert seen == ["order-created", "order-shipped", "refund"]

        channel.unbind(callback=orders)  # both of its bindings
        channel.bind("done", orders)
        await trigger(soketi, name, "order-paid", {})
        await trigger(soketi, name, "done", {})
        await wait_until(lambda: len(seen) == 4, what="the event after unbinding")
        assert seen[3] == "done"


async def test_client_handlers_see_every_channel_in_order_around_on_event(
    soketi: SoketiServer,
) -> None:
    order: list[str] = []
    names = [channel_name(), channel_name()]
    async with PusherChannelsClient(
        **soketi.client_options(), on_event=lambda e: order.append(f"on_event {e.channel_name}")
    ) as client:
        client.bind_global(lambda e: order.append(f"client global {e.channel_name}"))
        client.bind("tick", lambda e: order.append(f"client tick {e.channel_name}"))
        channels = [
            await client.subscribe(
                name, on_event=lambda e: order.append(f"channel on_event {e.channel_name}")
            )
            for name in names
        ]
        for channel in channels:
            channel.bind_global(lambda e: order.append(f"channel global {e.channel_name}"))
            channel.bind("tick", lambda e: order.append(f"channel tick {e.channel_name}"))
            await channel.wait_subscribed(timeout=5)
        # Global handlers saw each pusher:subscription_succeeded; now the events.
        assert order.count(f"client global {names[1]}") == 1
        del order[:]

        for name in names:
            await trigger(soketi, name, "tick", {})
        await wait_until(lambda: len(order) == 12, what=f"six calls per event: {order}")
        expected: list[str] = []
        for name in names:
            expected += [
                f"on_event {name}",
                f"client global {name}",
                f"client tick {name}",
                f"channel on_event {name}",
                f"channel global {name}",
                f"channel tick {name}",
            ]
        assert order == expected

        client.unbind_global()
        client.unbind("tick")
        channels[0].unbind_all()
        del order[:]
        await trigger(soketi, names[0], "tick", {})
        await trigger(soketi, names[1], "tick", {})
        await wait_until(lambda: len(order) == 6, what="what is still bound")
        await asyncio.sleep(0.2)
        assert order == [
            f"on_event {names[0]}",
            f"channel on_event {names[0]}",
            f"on_event {names[1]}",
            f"channel on_event {names[1]}",
            f"channel global {names[1]}",
            f"channel tick {names[1]}",
        ]


async def test_bound_handlers_see_the_notifications_as_pusher_events(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    seen: list[PusherEvent] = []
    on_event: list[PusherEvent] = []
    name = channel_name("presence-bind")
    auth_server.users["ann"] = {"user_id": 42, "user_info": {"name": "Ann"}}
    options: dict[str, Any] = {**soketi.client_options(), "auth_endpoint": auth_server.url}
    async with (
        PusherChannelsClient(**options, on_event=on_event.append) as watcher,
        PusherChannelsClient(**options, auth_params={"params": {"user": "ann"}}) as ann,
    ):
        room = await watcher.subscribe(name)
        room.bind("pusher:*", seen.append)
        await room.wait_subscribed(timeout=5)
        joined = await ann.subscribe(name)
        await joined.wait_subscribed(timeout=5)
        await wait_until(lambda: len(seen) == 2, what="succeeded and member_added")
        await ann.unsubscribe(name)
        await wait_until(lambda: len(seen) == 3, what="member_removed")

    assert [e.event_name for e in seen] == [
        "pusher:subscription_succeeded",
        "pusher:member_added",
        "pusher:member_removed",
    ]
    assert all(isinstance(e.data, str) and e.channel_name == name for e in seen)
    assert seen[1].data is not None
    assert json.loads(seen[1].data) == {"user_id": "42", "user_info": {"name": "Ann"}}
    assert seen[2].json()["user_id"] == "42"
    assert "presence" in seen[0].json()
    assert on_event == [], "on_event stays as in the seed: no notifications"


async def test_async_handlers_and_a_failing_handler_follow_the_callback_rules(
    soketi: SoketiServer,
) -> None:
    received: list[Any] = []
    errors: list[Any] = []
    name = channel_name()

    async def slow(event: PusherEvent) -> None:
        await asyncio.sleep(0.01)
        received.append(event.json()["n"])

    def broken(event: PusherEvent) -> None:
        raise ValueError("handler bug")

    async with PusherChannelsClient(
        **soketi.client_options(), on_error=lambda m, c, e: errors.append(e)
    ) as client:
        channel = await client.subscribe(name)
        channel.bind("n", broken)
        channel.bind("n", slow)
        await channel.wait_subscribed(timeout=5)
        for n in range(5):
            await trigger(soketi, name, "n", {"n": n})
        await wait_until(lambda: len(received) == 5, what="five events, in order")
    assert received == [0, 1, 2, 3, 4]
    assert len(errors) == 5
    assert all("ValueError" in error.message for error in errors)


async def test_connection_listeners_are_added_and_removed(soketi: SoketiServer) -> None:
    changes: list[tuple[ConnectionState, ConnectionState]] = []
    connected: list[bool] = []
    client = PusherChannelsClient(**soketi.client_options())

    def on_change(current: ConnectionState, previous: ConnectionState) -> None:
        changes.append((current, previous))

    client.connection.bind("state_change", on_change)

    @client.connection.bind("connected")
    def now_connected() -> None:
        connected.append(True)

    with pytest.raises(PusherConfigError, match="unknown connection event"):
        client.connection.bind("conected", print)

    await client.connect()
    assert client.connection.state is ConnectionState.CONNECTED
    assert client.connection.socket_id == await client.get_socket_id()
    await client.disconnect()
    await wait_until(lambda: len(changes) == 4, what="four state changes")
    assert changes == [
        (ConnectionState.CONNECTING, ConnectionState.DISCONNECTED),
        (ConnectionState.CONNECTED, ConnectionState.CONNECTING),
        (ConnectionState.DISCONNECTING, ConnectionState.CONNECTED),
        (ConnectionState.DISCONNECTED, ConnectionState.DISCONNECTING),
    ]
    assert connected == [True]

    client.connection.unbind("state_change", on_change)
    await client.connect()
    await client.disconnect()
    await asyncio.sleep(0.1)
    assert len(changes) == 4
    assert connected == [True, True]
    client.connection.unbind()
    await client.connect()
    await client.disconnect()
    assert connected == [True, True]


async def test_error_listeners_hear_callback_failures_without_on_error(
    soketi: SoketiServer,
) -> None:
    heard: list[str] = []
    name = channel_name()
    async with PusherChannelsClient(**soketi.client_options()) as client:
        client.connection.bind("error", lambda message, code, error: heard.append(message))
        channel = await client.subscribe(name)
        channel.bind("boom", lambda event: 1 / 0)
        await channel.wait_subscribed(timeout=5)
        await trigger(soketi, name, "boom", {})
        await wait_until(lambda: len(heard) == 1, what="the error listener")
    assert "ZeroDivisionError" in heard[0]


async def test_wait_subscribed_returns_raises_and_ends(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    options: dict[str, Any] = {**soketi.client_options(), "auth_endpoint": auth_server.url}
    async with PusherChannelsClient(**options) as client:
        public = await client.subscribe(channel_name())
        assert not public.subscribed
        await public.wait_subscribed(timeout=5)
        assert public.subscribed
        await public.wait_subscribed(timeout=0.001)  # at once when subscribed

        auth_server.failure = Failure(status=403, body='{"error": "no"}')
        refused = await client.subscribe(channel_name("private-bind"))
        with pytest.raises(AuthorizationError) as refusal:
            await refused.wait_subscribed(timeout=5)
        assert refusal.value.status == 403
        with pytest.raises(AuthorizationError):  # the failure stays until retried
            await refused.wait_subscribed(timeout=5)

        auth_server.failure = Failure(delay=2.0)
        slow = await client.subscribe(channel_name("private-bind"))
        with pytest.raises(PusherTimeoutError, match="not subscribed within"):
            await slow.wait_subscribed(timeout=0.2)

        pending = await client.subscribe(channel_name("private-bind"))
        waiting = asyncio.create_task(pending.wait_subscribed())
        await asyncio.sleep(0.1)
        await pending.unsubscribe()
        with pytest.raises(SubscriptionError, match="unsubscribed"):
            await waiting

        pending = await client.subscribe(channel_name("private-bind"))
        waiting = asyncio.create_task(pending.wait_subscribed())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await client.disconnect()
        with pytest.raises(PusherConnectionError):
            await waiting
        assert time.monotonic() - started < 1.0
        auth_server.failure = None

        with pytest.raises(PusherConnectionError, match="call connect"):
            await pending.wait_subscribed()


async def test_a_resubscription_tells_its_gap_three_ways(own_soketi: SoketiServer) -> None:
    gaps: list[SubscriptionGap] = []
    bound: list[PusherEvent] = []
    name = channel_name()
    async with PusherChannelsClient(**own_soketi.client_options()) as client:
        channel = await client.subscribe(name, on_resubscribed=gaps.append)
        channel.bind("pusher:resubscribed", bound.append)
        await channel.wait_subscribed(timeout=5)
        assert channel.last_gap is None

        own_soketi.kill()
        lost_at = time.time()
        await wait_until(lambda: not channel.subscribed, what="the drop")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_soketi.start)
        await channel.wait_subscribed(timeout=20)
        await wait_until(lambda: len(bound) == 1 and len(gaps) == 1, what="the gap")

    gap = gaps[0]
    assert channel.last_gap == gap
    assert gap.resubscription == 1
    assert gap.duration >= 0.5
    assert abs(gap.started_at - lost_at) < 1.0
    assert gap.ended_at == pytest.approx(gap.started_at + gap.duration)
    data = bound[0].json()
    assert data["resubscription"] == 1
    assert data["gap_seconds"] == pytest.approx(gap.duration)
    assert bound[0].event_name == "pusher:resubscribed"


async def test_handlers_survive_a_reconnection_and_a_disconnect_connect(
    own_soketi: SoketiServer,
) -> None:
    seen: list[int] = []
    name = channel_name()
    async with PusherChannelsClient(**own_soketi.client_options()) as client:
        channel = await client.subscribe(name)
        channel.bind("n", lambda e: seen.append(e.json()["n"]))
        client.bind("n", lambda e: seen.append(-e.json()["n"]))
        await channel.wait_subscribed(timeout=5)
        await trigger(own_soketi, name, "n", {"n": 1})
        await wait_until(lambda: len(seen) == 2, what="first event")

        own_soketi.kill()
        await wait_until(lambda: not channel.subscribed, what="the drop")
        await asyncio.to_thread(own_soketi.start)
        await channel.wait_subscribed(timeout=20)
        await trigger(own_soketi, name, "n", {"n": 2})
        await wait_until(lambda: len(seen) == 4, what="after the restart")

        await client.disconnect()
        await client.connect()
        await channel.wait_subscribed(timeout=5)
        await trigger(own_soketi, name, "n", {"n": 3})
        await wait_until(lambda: len(seen) == 6, what="after disconnect and connect")
        assert channel.last_gap is not None
        assert channel.last_gap.resubscription == 2
    assert seen == [-1, 1, -2, 2, -3, 3]


def test_binding_needs_a_callable_and_a_name() -> None:
    client = PusherChannelsClient()
    with pytest.raises(PusherConfigError, match="callable"):
        client.bind("x", "not a function")  # type: ignore[call-overload]
    with pytest.raises(PusherConfigError, match="non-empty"):
        client.bind("", print)
