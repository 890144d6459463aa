"""Delivery on its own: what a channel's events go to is decided once per channel,
and decided again whenever a stream, a callback or a bound handler changes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pusher_channels import CallbackError
from pusher_channels._delivery import ChannelCallbacks, Delivery
from pusher_channels._flow import FlowControl
from pusher_channels.protocol.messages import PusherEvent

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


def make_delivery(
    on_event: Callable[..., Any] | None = None,
    channel_on_event: Callable[..., Any] | None = None,
    **callbacks: Callable[..., Any],
) -> Delivery:
    loop = asyncio.get_running_loop()
    if on_event is not None:
        callbacks["on_event"] = on_event
    channels = {CHANNEL: ChannelCallbacks(on_event=channel_on_event)}
    return Delivery(loop, callbacks, channels, FlowControl(loop, lambda: None, lambda: None))


def event(name: str = "ev", channel: str = CHANNEL) -> PusherEvent:
    return PusherEvent(channel, name, "{}")


async def lanes_done(delivery: Delivery) -> None:
    """Wait until every async callback's lane has worked through its calls."""
    tasks = [lane.task for lane in delivery.dispatcher.lanes.values() if lane.task is not None]
    if tasks:
        await asyncio.wait(tasks)
    assert not delivery.dispatcher.busy


async def test_handlers_bound_and_unbound_after_the_first_event_are_seen_at_once() -> None:
    calls = Calls()
    delivery = make_delivery(on_event=calls.callback("global"))
    delivery.deliver(event())
    assert calls.take() == [("global", "ev")]
    channel = delivery.channel_callbacks[CHANNEL]
    channel.bound().bind("ev", calls.callback("bound"))
    delivery.deliver(event())
    delivery.deliver(event("other"))
    assert calls.take() == [("global", "ev"), ("bound", "ev"), ("global", "other")]
    channel.bound().unbind()
    delivery.deliver(event())
    assert calls.take() == [("global", "ev")]


async def test_a_client_handler_bound_later_is_called_before_the_channels_own() -> None:
    calls = Calls()
    delivery = make_delivery(channel_on_event=calls.callback("channel"))
    delivery.deliver(event())
    assert calls.take() == [("channel", "ev")]
    delivery._bindings.bind_global(calls.callback("client"))
    delivery.deliver(event())
    assert calls.take() == [("client", "ev"), ("channel", "ev")]
    delivery._bindings.unbind_global()
    delivery.deliver(event())
    assert calls.take() == [("channel", "ev")]


async def test_the_global_and_the_channels_on_event_are_both_called_in_order() -> None:
    calls = Calls()
    delivery = make_delivery(on_event=calls.callback("global"))
    delivery.deliver(event())
    delivery.channel_callbacks[CHANNEL].on_event = calls.callback("channel")
    delivery.forget_plans()  # what the runtime does when subscribe() gives callbacks
    delivery.deliver(event())
    assert calls.take() == [("global", "ev"), ("global", "ev"), ("channel", "ev")]


async def test_a_stream_opened_later_gets_the_events_and_closing_it_changes_nothing_else() -> None:
    calls = Calls()
    delivery = make_delivery(on_event=calls.callback("global"))
    delivery.deliver(event("first"))
    stream = delivery.open_stream(CHANNEL, 10)
    delivery.deliver(event("second"))
    assert [e.event_name for e in stream.buffer] == ["second"]
    delivery.close_stream(stream)
    delivery.deliver(event("third"))
    assert [e.event_name for e in stream.buffer] == ["second"]
    assert calls.take() == [("global", "first"), ("global", "second"), ("global", "third")]


async def test_an_event_of_an_unknown_channel_reaches_no_channel_callback() -> None:
    calls = Calls()
    delivery = make_delivery(channel_on_event=calls.callback("channel"))
    delivery.deliver(event(channel="elsewhere"))
    assert calls.take() == []


async def test_an_async_on_event_runs_each_event_in_order_with_a_lane() -> None:
    seen: list[int] = []
    release = asyncio.Event()

    async def slow(event: PusherEvent) -> None:
        await release.wait()
        seen.append(int(event.event_name))

    delivery = make_delivery(on_event=slow)
    for number in range(5):
        delivery.deliver(event(str(number)))
    assert delivery.dispatcher.busy
    release.set()
    await lanes_done(delivery)
    assert seen == [0, 1, 2, 3, 4]
    delivery.deliver(event("5"))  # the lane has closed: called directly again
    await lanes_done(delivery)
    assert seen == [0, 1, 2, 3, 4, 5]


async def test_a_callback_that_raises_is_reported_and_the_next_event_still_delivered() -> None:
    errors: list[CallbackError] = []
    calls = Calls()
    record = calls.callback("ok")

    def flaky(event: PusherEvent) -> None:
        if event.event_name == "bad":
            raise ValueError("no")
        record(event)

    delivery = make_delivery(
        on_event=flaky, on_error=lambda message, code, error: errors.append(error)
    )
    delivery.deliver(event("bad"))
    delivery.deliver(event("good"))
    assert calls.take() == [("ok", "good")]
    assert len(errors) == 1
    assert isinstance(errors[0], CallbackError)
    assert isinstance(errors[0].__cause__, ValueError)


@pytest.mark.parametrize("level", ["client", "channel"])
async def test_a_handler_bound_from_another_thread_is_seen_by_the_next_event(level: str) -> None:
    calls = Calls()
    delivery = make_delivery(on_event=calls.callback("global"))
    delivery.deliver(event())
    registry = (
        delivery._bindings if level == "client" else delivery.channel_callbacks[CHANNEL].bound()
    )
    thread = threading.Thread(target=registry.bind, args=("ev", calls.callback("bound")))
    thread.start()
    thread.join()
    delivery.deliver(event())
    assert calls.take() == [("global", "ev"), ("global", "ev"), ("bound", "ev")]
