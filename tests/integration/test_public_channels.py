"""Public channels on PusherTestServer, with events triggered by the official server SDK."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pusher
import pytest

from pusher_channels import (
    CallbackError,
    PusherChannelsClient,
    PusherConfigError,
    PusherEvent,
    SubscriptionError,
)
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import Recorder, wait_until

_names = itertools.count()


def channel_name(prefix: str = "public") -> str:
    """A channel name no other test uses, so tests sharing a server stay apart."""
    return f"{prefix}-{next(_names)}"


async def trigger(server: PusherTestServer, channel: str, event: str, data: Any) -> None:
    """Trigger an event through the official server SDK (HTTP API)."""
    sdk = pusher.Pusher(**server.sdk_kwargs())
    await asyncio.to_thread(sdk.trigger, channel, event, data)


async def test_events_reach_global_and_channel_callbacks(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    per_channel: list[PusherEvent] = []
    channel_data: list[Any] = []
    name = channel_name()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(
            name, on_event=per_channel.append, on_subscription_succeeded=channel_data.append
        )
        await wait_until(lambda: channel.subscribed, what="subscription")
        # The server sends "data": "{}" as Pusher does; the client passes it on.
        assert recorder.succeeded == [(name, {})]
        assert channel_data == [{}]
        assert client.get_channel(name) is channel
        assert dict(client.channels) == {name: channel}

        await trigger(pusher_server, name, "price", {"symbol": "ACME", "value": 1.5})
        await trigger(pusher_server, name, "note", "plain text")
        await wait_until(lambda: len(per_channel) == 2, what="two events")

    assert recorder.events == per_channel
    first, second = per_channel
    assert first.channel_name == name
    assert first.event_name == "price"
    assert isinstance(first.data, str)
    assert first.json() == {"symbol": "ACME", "value": 1.5}
    assert first.user_id is None
    assert second.event_name == "note"
    assert second.data == "plain text"


async def test_subscribe_before_connect(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    name = channel_name()
    client = PusherChannelsClient(**pusher_server.client_kwargs(), **recorder.callbacks())
    channel = await client.subscribe(name)
    assert not channel.subscribed
    await client.connect(timeout=10)
    try:
        await wait_until(lambda: channel.subscribed, what="subscription")
        await trigger(pusher_server, name, "ev", {"n": 1})
        await wait_until(lambda: len(recorder.events) == 1, what="the event")
        assert recorder.events[0].json() == {"n": 1}
    finally:
        await client.disconnect()


async def test_events_arrive_in_order_to_async_callbacks(pusher_server: PusherTestServer) -> None:
    received: list[int] = []

    async def slow_then_fast(event: PusherEvent) -> None:
        if event.json()["n"] % 3 == 0:
            await asyncio.sleep(0.02)
        received.append(event.json()["n"])

    name = channel_name()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), on_event=slow_then_fast
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="subscription")
        for n in range(20):
            await trigger(pusher_server, name, "seq", {"n": n})
        await wait_until(lambda: len(received) == 20, what="20 events")
    assert received == list(range(20))


async def test_raising_callback_is_reported_and_delivery_goes_on(
    pusher_server: PusherTestServer,
) -> None:
    recorder = Recorder()
    callbacks = recorder.callbacks()
    delivered: list[int] = []

    def fragile(event: PusherEvent) -> None:
        number = event.json()["n"]
        if number == 1:
            raise RuntimeError("boom in user code")
        delivered.append(number)

    callbacks["on_event"] = fragile
    name = channel_name()
    async with PusherChannelsClient(**pusher_server.client_kwargs(), **callbacks) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="subscription")
        for n in range(3):
            await trigger(pusher_server, name, "seq", {"n": n})
        await wait_until(lambda: len(delivered) == 2, what="the events after the failure")
        assert client.connection_state == "CONNECTED"
    assert delivered == [0, 2]
    assert len(recorder.errors) == 1
    message, code, error = recorder.errors[0]
    assert isinstance(error, CallbackError)
    assert isinstance(error.__cause__, RuntimeError)
    assert "boom in user code" in message
    assert code is None


async def test_unsubscribe_stops_delivery_at_once(pusher_server: PusherTestServer) -> None:
    recorder = Recorder()
    kept, dropped = channel_name(), channel_name()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        await client.subscribe(kept)
        gone = await client.subscribe(dropped)
        await wait_until(lambda: len(recorder.succeeded) == 2, what="two subscriptions")
        await gone.unsubscribe()
        assert client.get_channel(dropped) is None
        await trigger(pusher_server, dropped, "late", {"n": 1})
        await trigger(pusher_server, kept, "marker", {"n": 2})
        await wait_until(lambda: len(recorder.events) >= 1, what="the marker")
        await asyncio.sleep(0.2)
    assert [e.channel_name for e in recorder.events] == [kept]


async def test_invalid_channel_names_are_refused_before_sending(
    pusher_server: PusherTestServer,
) -> None:
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    for bad in ("", "has space", "x" * 165, "#server-to-user-1", "é"):
        with pytest.raises(PusherConfigError):
            await client.subscribe(bad)
    assert dict(client.channels) == {}


async def test_private_channel_without_authorizer_reports_subscription_error(
    pusher_server: PusherTestServer,
) -> None:
    recorder = Recorder()
    per_channel: list[tuple[str, Any]] = []
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(
            "private-needs-auth",
            on_subscription_error=lambda message, error: per_channel.append((message, error)),
        )
        await wait_until(lambda: len(recorder.subscription_errors) == 1, what="the error")
        assert not channel.subscribed
        assert client.connection_state == "CONNECTED"
    message, error = recorder.subscription_errors[0]
    assert isinstance(error, SubscriptionError)
    assert error.channel_name == "private-needs-auth"
    assert "auth_endpoint" in message
    assert per_channel == [(message, error)]


async def test_frames_are_logged_only_at_debug(
    pusher_server: PusherTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    name = channel_name()

    async def session() -> None:
        recorder = Recorder()
        async with PusherChannelsClient(
            **pusher_server.client_kwargs(), **recorder.callbacks()
        ) as client:
            channel = await client.subscribe(name)
            await wait_until(lambda: channel.subscribed, what="subscription")
            await trigger(pusher_server, name, "logged-event", {"secret-ish": "payload"})
            await wait_until(lambda: len(recorder.events) == 1, what="the event")

    with caplog.at_level(logging.INFO, logger="pusher_channels"):
        await session()
    info_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "connection state" in info_text
    assert "logged-event" not in info_text

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="pusher_channels"):
        await session()
    debug_frames = [r for r in caplog.records if "logged-event" in r.getMessage()]
    assert debug_frames
    assert all(r.levelno == logging.DEBUG for r in debug_frames)
