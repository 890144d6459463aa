"""Channel lifecycles at scale and across incarnations, driven on the core by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pusher_channels.exceptions import AuthorizationError
from pusher_channels.protocol import channels as channels_module
from pusher_channels.protocol.actions import AuthorizeChannel
from pusher_channels.protocol.channels import ChannelRecord
from pusher_channels.protocol.connection import Connection

from .helpers import connected, of_type, take

# ----------------------------------------------------------------- work per action


class RecordTouches:
    """Which channel records the core reads or writes, counted per action."""

    def __init__(self) -> None:
        self.touched: set[int] = set()

    def per_action(self, action: Iterator[None]) -> list[int]:
        """Run each step of ``action``; return how many records each step touched."""
        counts: list[int] = []
        while True:
            self.touched.clear()
            try:
                next(action)
            except StopIteration:
                return counts
            counts.append(len(self.touched))


@pytest.fixture
def touches(monkeypatch: pytest.MonkeyPatch) -> RecordTouches:
    """Records created from now on report every attribute read and write."""
    counter = RecordTouches()
    touched = counter.touched

    class TouchCountingRecord(ChannelRecord):
        __slots__ = ()

        def __getattribute__(self, name: str) -> object:
            touched.add(id(self))
            return super().__getattribute__(name)

        def __setattr__(self, name: str, value: object) -> None:
            touched.add(id(self))
            super().__setattr__(name, value)

    monkeypatch.setattr(channels_module, "ChannelRecord", TouchCountingRecord)
    return counter


def act_like_the_runtime(conn: Connection, now: float) -> None:
    """What the runtime does after every input: take outputs, re-arm the timer."""
    take(conn)
    deadline = conn.next_deadline()
    if deadline is not None and deadline <= now:
        conn.handle_timer(now)
        take(conn)


CHANNEL_COUNT = 3000


def test_subscribing_touches_a_bounded_number_of_records_whatever_the_count(
    touches: RecordTouches,
) -> None:
    """Scenario 13: every subscribe used to scan every channel (16,000 took 1 s)."""
    conn = connected(now=0.0, socket_id="1.2")
    now = 1.0

    def subscribe_many() -> Iterator[None]:
        for index in range(CHANNEL_COUNT):
            # Every tenth channel waits for a retry of its authorization.
            name = f"private-{index}" if index % 10 == 0 else f"public-{index}"
            conn.subscribe(name)
            if index % 10 == 0:
                error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
                conn.channel_authorization_failed(name, "1.2", error, now)
            act_like_the_runtime(conn, now)
            yield

    counts = touches.per_action(subscribe_many())
    assert len(counts) == CHANNEL_COUNT
    assert max(counts) <= 2, f"the last subscribe touched {counts[-1]} records"


def test_due_retries_touch_only_the_due_channels(touches: RecordTouches) -> None:
    conn = connected(now=0.0, socket_id="1.2")
    for index in range(CHANNEL_COUNT):
        conn.subscribe(f"private-{index}")
    take(conn)
    for index in range(CHANNEL_COUNT):
        name = f"private-{index}"
        error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
        # Failures spread over time (before the first ping): retries fall due one by one.
        conn.channel_authorization_failed(name, "1.2", error, index / 1000)
    take(conn)

    def fire_each_retry() -> Iterator[None]:
        for _ in range(CHANNEL_COUNT):
            deadline = conn.next_deadline()
            assert deadline is not None
            conn.handle_timer(deadline)
            assert len(of_type(take(conn), AuthorizeChannel)) == 1
            yield

    counts = touches.per_action(fire_each_retry())
    assert max(counts) <= 2, f"a retry touched up to {max(counts)} records"


def test_unsubscribing_touches_a_bounded_number_of_records(touches: RecordTouches) -> None:
    conn = connected(now=0.0, socket_id="1.2")
    for index in range(CHANNEL_COUNT):
        conn.subscribe(f"public-{index}")
        if index % 10 == 0:
            name = f"private-{index}"
            conn.subscribe(name)
            error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
            conn.channel_authorization_failed(name, "1.2", error, 1.0)
    take(conn)

    def unsubscribe_all() -> Iterator[None]:
        for index in range(CHANNEL_COUNT):
            conn.unsubscribe(f"public-{index}")
            if index % 10 == 0:
                conn.unsubscribe(f"private-{index}")
            act_like_the_runtime(conn, 1.0)
            yield

    counts = touches.per_action(unsubscribe_all())
    # At most the two channels let go, and the next retry the timer is set for.
    assert max(counts) <= 3, f"an unsubscribe touched up to {max(counts)} records"
    assert conn.next_deadline() == 30.0  # only the heartbeat is left
