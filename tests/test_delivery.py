"""Delivery, from the socket's messages to the callbacks, without a network: what a
channel's events go to is decided once per channel, and decided again whenever a
stream, a callback or a bound handler changes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from pusher_channels import CallbackError, PusherChannelsClient, PusherEvent, _transport
from pusher_channels._bindings import CACHE_LIMIT

CHANNEL = "orders"


class Calls:
    """Records ``(label, event name)`` for each call of the callbacks it makes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def callback(self, label: str) -> Callable[[PusherEvent], None]:
        def call(event: PusherEvent) -> None:
            self.seen.append((label, event.event_name))

        return call

    def take(self) -> list[tuple[str, str]]:
        seen, self.seen = self.seen, []
        return seen


class _Transport:
    """A socket that goes nowhere: its messages are fed to its sink by hand."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def send(self, payload: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        asyncio.get_running_loop().call_soon(self.sink.closed, code, reason)

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Fed:
    """A client connected over a socket fed by hand, subscribed to :data:`CHANNEL`."""

    def __init__(self, client: PusherChannelsClient, sink: Any) -> None:
        self.client = client
        self.sink = sink

    def send(self, event_name: str, channel: str = CHANNEL) -> None:
        frame = {"event": event_name, "channel": channel, "data": "{}"}
        self.sink.text_received(orjson.dumps(frame))


@pytest.fixture
async def connect(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., Any]]:
    clients: list[PusherChannelsClient] = []

    async def make(channel_on_event: Callable[..., Any] | None = None, **options: Any) -> Fed:
        sinks: list[Any] = []
        opened = asyncio.Event()

        async def connect_websocket(sink: Any, url: str, **_: Any) -> _Transport:
            transport = _Transport(sink)
            sinks.append(sink)
            sink.opened(transport)
            opened.set()
            return transport

        monkeypatch.setattr(_transport, "connect_websocket", connect_websocket)
        client = PusherChannelsClient(api_key="k", host="127.0.0.1", use_tls=False, **options)
        clients.append(client)
        await client.subscribe(CHANNEL, on_event=channel_on_event)
        connecting = asyncio.ensure_future(client.connect())
        await opened.wait()
        established = orjson.dumps({"socket_id": "1.2", "activity_timeout": 120}).decode()
        sinks[0].text_received(
            orjson.dumps({"event": "pusher:connection_established", "data": established})
        )
        await connecting
        fed = Fed(client, sinks[0])
        fed.send("pusher_internal:subscription_succeeded")
        return fed

    yield make
    for client in clients:
        await client.disconnect()


async def lanes_done(client: PusherChannelsClient) -> None:
    """Wait until every async callback's lane has worked through its calls."""
    runtime = client._runtime
    assert runtime is not None
    delivery = runtime.bind_loop().delivery
    tasks = [lane.task for lane in delivery.dispatcher.lanes.values() if lane.task is not None]
    if tasks:
        await asyncio.wait(tasks)
    assert not delivery.dispatcher.busy


async def test_handlers_bound_and_unbound_after_the_first_event_are_seen_at_once(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect(on_event=calls.callback("global"))
    fed.send("ev")
    assert calls.take() == [("global", "ev")]
    channel = fed.client.get_channel(CHANNEL)
    channel.bind("ev", calls.callback("bound"))
    fed.send("ev")
    fed.send("other")
    assert calls.take() == [("global", "ev"), ("bound", "ev"), ("global", "other")]
    channel.unbind()
    fed.send("ev")
    assert calls.take() == [("global", "ev")]


async def test_a_client_handler_bound_later_is_called_before_the_channels_own(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect(channel_on_event=calls.callback("channel"))
    fed.send("ev")
    assert calls.take() == [("channel", "ev")]
    fed.client.bind_global(calls.callback("client"))
    fed.send("ev")
    assert calls.take() == [("client", "ev"), ("channel", "ev")]
    fed.client.unbind_global()
    fed.send("ev")
    assert calls.take() == [("channel", "ev")]


async def test_a_channel_on_event_given_later_is_called_after_the_global_one(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect(on_event=calls.callback("global"))
    fed.send("ev")
    await fed.client.subscribe(CHANNEL, on_event=calls.callback("channel"))
    fed.send("ev")
    assert calls.take() == [("global", "ev"), ("global", "ev"), ("channel", "ev")]


async def test_a_stream_opened_later_gets_the_events_and_closing_it_changes_nothing_else(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect(on_event=calls.callback("global"))
    fed.send("first")
    iterator = fed.client.get_channel(CHANNEL).events()
    fed.send("second")
    assert (await anext(iterator)).event_name == "second"
    await iterator.aclose()
    fed.send("third")
    assert calls.take() == [("global", "first"), ("global", "second"), ("global", "third")]


async def test_an_unsubscribed_channel_gets_nothing_more(connect: Callable[..., Any]) -> None:
    calls = Calls()
    fed = await connect(channel_on_event=calls.callback("channel"))
    fed.send("ev")
    await fed.client.unsubscribe(CHANNEL)
    fed.send("ev")
    assert calls.take() == [("channel", "ev")]


async def test_an_async_on_event_runs_each_event_in_order_with_a_lane(
    connect: Callable[..., Any],
) -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def slow(event: PusherEvent) -> None:
        await release.wait()
        seen.append(event.event_name)

    fed = await connect(on_event=slow)
    for number in range(5):
        fed.send(str(number))
    release.set()
    await lanes_done(fed.client)
    assert seen == ["0", "1", "2", "3", "4"]
    fed.send("5")  # the lane has closed: called directly again
    await lanes_done(fed.client)
    assert seen == ["0", "1", "2", "3", "4", "5"]


async def test_a_callback_that_raises_is_reported_and_the_next_event_still_delivered(
    connect: Callable[..., Any],
) -> None:
    errors: list[CallbackError] = []
    calls = Calls()
    record = calls.callback("ok")

    def flaky(event: PusherEvent) -> None:
        if event.event_name == "bad":
            raise ValueError("no")
        record(event)

    fed = await connect(on_event=flaky, on_error=lambda message, code, error: errors.append(error))
    fed.send("bad")
    fed.send("good")
    assert calls.take() == [("ok", "good")]
    assert len(errors) == 1
    assert isinstance(errors[0], CallbackError)
    assert isinstance(errors[0].__cause__, ValueError)


@pytest.mark.parametrize("level", ["client", "channel"])
async def test_a_handler_bound_from_another_thread_is_seen_by_the_next_event(
    connect: Callable[..., Any], level: str
) -> None:
    calls = Calls()
    fed = await connect(on_event=calls.callback("global"))
    fed.send("ev")
    where = fed.client if level == "client" else fed.client.get_channel(CHANNEL)
    thread = threading.Thread(target=where.bind, args=("ev", calls.callback("bound")))
    thread.start()
    thread.join()
    fed.send("ev")
    assert calls.take() == [("global", "ev"), ("global", "ev"), ("bound", "ev")]


async def test_an_iterator_alone_gets_every_event_and_then_shares_them_with_a_handler(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect()
    iterator = fed.client.get_channel(CHANNEL).events()
    fed.send("first")
    fed.client.get_channel(CHANNEL).bind("second", calls.callback("bound"))
    fed.send("second")
    assert [(await anext(iterator)).event_name for _ in range(2)] == ["first", "second"]
    assert calls.take() == [("bound", "second")]
    await iterator.aclose()


async def test_handlers_bound_on_the_client_alone_see_every_channels_events_by_name(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect()
    await fed.client.subscribe("other")
    fed.send("pusher_internal:subscription_succeeded", "other")
    fed.client.bind("ev-*", calls.callback("glob"))
    fed.client.bind("ev-1", calls.callback("name"))
    for channel in (CHANNEL, "other"):
        fed.send("ev-1", channel)
        fed.send("ev-2", channel)
        fed.send("nothing", channel)
    assert calls.take() == [("glob", "ev-1"), ("name", "ev-1"), ("glob", "ev-2")] * 2


async def test_handlers_by_name_are_still_found_once_more_names_came_than_are_kept(
    connect: Callable[..., Any],
) -> None:
    calls = Calls()
    fed = await connect()
    fed.client.get_channel(CHANNEL).bind("e-*", calls.callback("glob"))
    names = [f"e-{number}" for number in range(CACHE_LIMIT + 10)]
    for name in [*names, *names[:10]]:
        fed.send(name)
    assert calls.take() == [("glob", name) for name in [*names, *names[:10]]]
