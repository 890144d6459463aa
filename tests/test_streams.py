"""The event stream behind ``events()``: its thresholds, taken one step at a time.

The integration tests (tests/integration/test_iterators.py) show the same policy
end to end on soketi; these pin the exact boundaries: when backpressure starts and
stops, when events are dropped, and that the fast paths agree with the slow ones.
"""

from __future__ import annotations

import asyncio

import pytest

from pusher_channels import PusherError, SlowConsumerError
from pusher_channels._streams import OVERFLOW_FACTOR, EventIterator, EventStream
from pusher_channels.protocol.messages import PusherEvent


def event(n: int) -> PusherEvent:
    return PusherEvent(channel_name="c", event_name="e", data=str(n))


class Watcher:
    """Records what the stream tells its runtime."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.overflows: list[SlowConsumerError] = []

    def stream(self, capacity: int) -> EventStream:
        return EventStream(
            "c",
            capacity,
            self.overflows.append,
            lambda _s: self.log.append("full"),
            lambda _s: self.log.append("drained"),
        )


def test_backpressure_starts_at_capacity_and_ends_at_half() -> None:
    watcher = Watcher()
    stream = watcher.stream(4)
    for n in range(4):
        stream.put(event(n))
    assert watcher.log == [], "exactly capacity events: not full yet"
    stream.put(event(4))
    assert watcher.log == ["full"]
    assert stream.full
    taken = [stream.take_nowait() for _ in range(2)]
    assert [e.data for e in taken if e] == ["0", "1"]
    assert watcher.log == ["full"], "3 left, more than half of 4"
    taken_event = stream.take_nowait()
    assert taken_event is not None
    assert taken_event.data == "2"
    assert watcher.log == ["full", "drained"]
    assert not stream.full


def test_past_the_overflow_limit_new_events_are_dropped_and_reported_once() -> None:
    watcher = Watcher()
    stream = watcher.stream(2)
    limit = 2 * OVERFLOW_FACTOR
    for n in range(limit + 5):
        stream.put(event(n))
    assert len(stream.buffer) == limit
    assert stream.dropped == 5
    assert len(watcher.overflows) == 1
    assert "20 events" in watcher.overflows[0].message
    # Buffered events are kept in order: the gap is at the end.
    assert [e.data for e in stream.buffer] == [str(n) for n in range(limit)]


def test_a_drained_stream_reports_a_new_overflow_again() -> None:
    watcher = Watcher()
    stream = watcher.stream(1)
    for n in range(OVERFLOW_FACTOR + 1):
        stream.put(event(n))
    while stream.take_nowait() is not None:
        pass
    for n in range(OVERFLOW_FACTOR + 1):
        stream.put(event(n))
    assert len(watcher.overflows) == 2
    assert stream.dropped == 2


def test_a_finished_stream_takes_no_more_events_but_keeps_the_buffered_ones() -> None:
    watcher = Watcher()
    stream = watcher.stream(10)
    stream.put(event(1))
    stream.finish()
    stream.put(event(2))
    assert [e.data for e in stream.buffer] == ["1"]
    assert stream.dropped == 0


def test_finishing_a_full_stream_releases_backpressure() -> None:
    watcher = Watcher()
    stream = watcher.stream(1)
    stream.put(event(1))
    stream.put(event(2))
    stream.finish()
    assert watcher.log == ["full", "drained"]
    stream.put(event(3))
    assert len(stream.buffer) == 2


async def test_the_iterator_yields_everything_in_order_across_full_and_drained() -> None:
    """The iterator's fast path and the stream's checks agree at every size."""
    watcher = Watcher()
    closed: list[EventStream] = []
    stream = watcher.stream(8)
    iterator = EventIterator(stream, closed.append)
    for n in range(50):
        stream.put(event(n))
    seen: list[str | None] = []
    async for item in iterator:
        seen.append(item.data)
        if len(seen) == 50:
            break
    assert seen == [str(n) for n in range(50)]
    assert watcher.log == ["full", "drained"]
    assert closed == []
    del iterator
    assert closed == [stream], "an iterator nobody holds closes its stream"


async def test_a_waiting_iterator_wakes_for_the_next_event() -> None:
    watcher = Watcher()
    stream = watcher.stream(8)
    iterator = EventIterator(stream, lambda _s: None)
    pending = asyncio.ensure_future(iterator.__anext__())
    await asyncio.sleep(0)
    assert not pending.done()
    stream.put(event(7))
    stream.put(event(8))
    first = await asyncio.wait_for(pending, 1)
    second = await asyncio.wait_for(iterator.__anext__(), 1)
    assert (first.data, second.data) == ("7", "8")


async def test_an_iterator_raises_the_error_its_stream_ended_with() -> None:
    watcher = Watcher()
    stream = watcher.stream(8)
    iterator = EventIterator(stream, lambda _s: None)
    stream.put(event(1))
    stream.finish(PusherError("subscription failed: 403"))
    assert (await iterator.__anext__()).data == "1"
    with pytest.raises(PusherError, match="403"):
        await iterator.__anext__()


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Watcher().stream(0)
