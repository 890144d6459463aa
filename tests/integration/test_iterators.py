"""``events()`` async iterators against PusherTestServer: order, bounds, and how they end."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import pusher
import pytest

from pusher_channels import (
    PusherChannelsClient,
    PusherEvent,
    SlowConsumerError,
    SubscriptionError,
)
from pusher_channels.testing import PusherTestServer
from tests.support.collection import only_explicit_collections, record_stream_closes
from tests.support.recorder import Recorder, wait_until
from tests.support.scripted_server import ScriptedServer

_names = itertools.count()


def unique() -> str:
    return f"stream-{next(_names)}"


async def trigger_many(server: PusherTestServer, channel: str, count: int) -> None:
    """Trigger ``count`` numbered events in one batch call per ten."""
    sdk = pusher.Pusher(**server.sdk_kwargs())
    for start in range(0, count, 10):
        batch = [
            {"channel": channel, "name": "seq", "data": {"n": n}}
            for n in range(start, min(count, start + 10))
        ]
        await asyncio.to_thread(sdk.trigger_batch, batch)


async def test_iterators_and_callbacks_see_the_same_events_in_order(
    pusher_server: PusherTestServer,
) -> None:
    name = unique()
    by_callback: list[int] = []
    async with PusherChannelsClient(**pusher_server.client_kwargs()) as client:
        channel = await client.subscribe(name, on_event=lambda e: by_callback.append(e.json()["n"]))
        everything = client.events()
        only_this = channel.events()
        await wait_until(lambda: channel.subscribed)
        await trigger_many(pusher_server, name, 30)
        from_channel = [(await anext(only_this)).json()["n"] for _ in range(30)]
        from_client = [(await anext(everything)).json()["n"] for _ in range(30)]
    assert from_channel == list(range(30))
    assert from_client == from_channel
    assert by_callback == from_channel


async def test_a_full_buffer_pauses_reading_and_loses_nothing(
    pusher_server: PusherTestServer,
) -> None:
    """Backpressure: past max_buffer the socket is not read until the consumer catches up."""
    name = unique()
    recorder = Recorder()
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed)
        events = channel.events(max_buffer=5)
        await trigger_many(pusher_server, name, 40)
        await asyncio.sleep(0.5)
        assert len(recorder.events) < 40, "the socket was paused while the buffer was full"
        received = [(await asyncio.wait_for(anext(events), 5)).json()["n"] for _ in range(40)]
        assert received == list(range(40))
        assert events.dropped == 0
        await wait_until(lambda: len(recorder.events) == 40, what="callbacks caught up too")
    assert not any(isinstance(e, SlowConsumerError) for _, _, e in recorder.errors)


async def test_a_burst_beyond_the_hard_limit_is_dropped_and_reported_once(
    scripted_server: ScriptedServer,
) -> None:
    """Socket reads bringing more than 10 x max_buffer events: the excess is dropped."""
    recorder = Recorder()
    async with PusherChannelsClient(
        **scripted_server.client_options(), **recorder.callbacks()
    ) as client:
        channel = await client.subscribe("burst")
        await wait_until(lambda: channel.subscribed)
        events = channel.events(max_buffer=1)
        for n in range(50):
            scripted_server.broadcast(
                {"event": "seq", "channel": "burst", "data": json.dumps({"n": n})}
            )
        await wait_until(lambda: events.dropped > 0, what="drops")
        kept = [(await asyncio.wait_for(anext(events), 5)).json()["n"] for _ in range(10)]
        assert kept == list(range(10)), "the buffered events stay, in order"
        slow = [e for _, _, e in recorder.errors if isinstance(e, SlowConsumerError)]
        assert 1 <= len(slow) < events.dropped, "reported once per overflow, not per event"


async def test_iteration_ends_on_unsubscribe_after_the_buffered_events(
    pusher_server: PusherTestServer,
) -> None:
    name = unique()
    seen: list[PusherEvent] = []
    async with PusherChannelsClient(
        **pusher_server.client_kwargs(), on_event=seen.append
    ) as client:
        channel = await client.subscribe(name)
        events = channel.events()
        await wait_until(lambda: channel.subscribed)
        await trigger_many(pusher_server, name, 3)
        await wait_until(lambda: len(seen) == 3, what="the three events")
        await channel.unsubscribe()
        received = [event.json()["n"] async for event in events]
    assert received == [0, 1, 2]


async def test_iteration_ends_on_disconnect(pusher_server: PusherTestServer) -> None:
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    await client.connect(timeout=10)
    await client.subscribe(unique())
    received: list[PusherEvent] = []

    async def consume() -> None:
        async for event in client.events():
            received.append(event)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await client.disconnect()
    await asyncio.wait_for(consumer, 5)
    assert received == []


async def test_iteration_raises_when_the_subscription_fails(
    pusher_server: PusherTestServer,
) -> None:
    async with PusherChannelsClient(**pusher_server.client_kwargs()) as client:
        channel = await client.subscribe("private-no-authorizer")
        with pytest.raises(SubscriptionError) as raised:
            async for _ in channel.events():
                pass
    assert raised.value.channel_name == "private-no-authorizer"


async def test_leaving_the_loop_closes_the_stream(pusher_server: PusherTestServer) -> None:
    name = unique()
    async with PusherChannelsClient(**pusher_server.client_kwargs()) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed)
        events = channel.events()
        await trigger_many(pusher_server, name, 2)
        async for event in events:
            assert event.json() == {"n": 0}
            break
        del events
        gc.collect()
        delivery = client._live.bind_loop().delivery
        assert delivery._streams == {}


# ----------------------------------------- an iterator the garbage collector finds


@pytest.fixture
def closed_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads on which a delivery closed a stream, in order."""
    return record_stream_closes(monkeypatch)


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """The garbage collector runs where the test runs it, and nowhere else."""
    with only_explicit_collections():
        yield


@pytest.mark.usefixtures("no_automatic_collection")
async def test_an_iterator_collected_on_another_thread_is_closed_on_the_loop(
    closed_on: list[str],
) -> None:
    """Item 14 (a): the garbage collector runs finalizers on whichever thread it runs
    on; an iterator in a reference cycle, collected on another thread, must still
    have its stream closed on the loop, which alone owns the delivery's state."""
    client = PusherChannelsClient(api_key="k", host="127.0.0.1", use_tls=False)
    delivery = client._live.bind_loop().delivery
    cycle: list[Any] = [client.events()]
    cycle.append(cycle)
    del cycle
    collector = threading.Thread(target=gc.collect, name="test collector")
    collector.start()
    collector.join()
    await wait_until(lambda: bool(closed_on))
    assert closed_on == [threading.current_thread().name]
    assert delivery._streams == {}
