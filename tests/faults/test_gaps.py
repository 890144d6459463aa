"""Subscription gaps tell the truth: a gap starts at the last frame received.

A connection that went silent (a frozen server, a half-open path) is noticed only
after ``activity_timeout + pong_timeout``; whatever was published in that silence
is lost as surely as what was published after the loss was noticed. The gap must
cover both, so that a backfill from ``gap.started_at`` fetches every missed event.

The server is the test's own soketi, frozen with SIGSTOP: its sockets stay open and
nothing answers (only this test's connection uses it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from devtools.soketi import SoketiServer

from pusher_channels import ConnectionState, PusherChannelsClient, PusherEvent, SubscriptionGap
from tests.faults.helpers import report
from tests.support.recorder import wait_until

ACTIVITY_TIMEOUT = 1.0
PONG_TIMEOUT = 1.0
FRAME_SLACK = 0.25
"""How long after the test's last event another frame (a pong answering a ping sent
just before the event arrived) may still have come in: the gap starts at the last
frame, which the test knows to within this."""


class LastFrames:
    """The wall-clock time each event arrived (the last frames the test can see)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def on_event(self, event: PusherEvent) -> None:
        self.arrivals.append(time.time())

    async def one_more(self, soketi: SoketiServer, channel_name: str) -> float:
        """Publish an event on the channel; return when it arrived."""
        count = len(self.arrivals)
        sdk = soketi.server_sdk()
        await asyncio.to_thread(sdk.trigger, channel_name, "last-before", {"n": count})
        await wait_until(lambda: len(self.arrivals) > count, what="the event")
        return self.arrivals[-1]


async def test_a_gap_starts_at_the_last_frame_before_the_server_froze(
    loop_errors: list[dict[str, Any]], own_soketi: SoketiServer
) -> None:
    gaps: list[SubscriptionGap] = []
    frames = LastFrames()
    name = "gap-frozen"
    async with PusherChannelsClient(
        **own_soketi.client_options(),
        activity_timeout=ACTIVITY_TIMEOUT,
        pong_timeout=PONG_TIMEOUT,
    ) as client:
        channel = await client.subscribe(
            name, on_event=frames.on_event, on_resubscribed=gaps.append
        )
        await channel.wait_subscribed(timeout=5)
        await asyncio.sleep(1.5)  # a ping/pong round on the live path first
        last_frame = await frames.one_more(own_soketi, name)
        own_soketi.pause()
        try:
            await wait_until(
                lambda: client.connection_state is not ConnectionState.CONNECTED,
                timeout=ACTIVITY_TIMEOUT + PONG_TIMEOUT + 3,
                what="the frozen server to be noticed",
            )
            noticed = time.time()
            await asyncio.sleep(0.5)  # the new attempt waits on the frozen server
        finally:
            own_soketi.resume()
        resumed = time.time()
        await channel.wait_subscribed(timeout=20)
        await wait_until(lambda: len(gaps) == 1, what="the gap")

    gap = gaps[0]
    silent = noticed - last_frame
    report(
        "soketi frozen (SIGSTOP), activity_timeout=1, pong_timeout=1",
        f"noticed {silent:.2f} s after the last frame; the gap starts "
        f"{(gap.started_at - last_frame) * 1000:+.1f} ms from the last frame and lasts "
        f"{gap.duration:.2f} s (resumed {resumed - last_frame:.2f} s after it)",
    )
    assert silent >= ACTIVITY_TIMEOUT + PONG_TIMEOUT - 0.1  # the silence was real
    assert gap.started_at - last_frame <= FRAME_SLACK, (
        f"the gap started {gap.started_at - last_frame:.3f} s after the last frame"
    )
    assert gap.started_at >= last_frame - 0.01
    assert gap.duration >= silent, (
        f"the gap lasted {gap.duration:.3f} s, the connection was silent {silent:.3f} s "
        "before the loss was noticed"
    )
    assert gap.ended_at >= resumed
    assert gap.ended_at == pytest.approx(gap.started_at + gap.duration)
    assert channel.last_gap == gap


async def test_a_gap_after_disconnect_starts_at_the_last_frame_before_it(
    loop_errors: list[dict[str, Any]], own_soketi: SoketiServer
) -> None:
    gaps: list[SubscriptionGap] = []
    frames = LastFrames()
    name = "gap-disconnect"
    async with PusherChannelsClient(**own_soketi.client_options()) as client:
        channel = await client.subscribe(
            name, on_event=frames.on_event, on_resubscribed=gaps.append
        )
        await channel.wait_subscribed(timeout=5)
        last_frame = await frames.one_more(own_soketi, name)
        await asyncio.sleep(1.0)  # nothing arrives (the heartbeat waits 30 s)
        disconnected = time.time()
        await client.disconnect()
        await asyncio.sleep(0.5)
        await client.connect()
        await channel.wait_subscribed(timeout=5)
        await wait_until(lambda: len(gaps) == 1, what="the gap")

    gap = gaps[0]
    report(
        "disconnect() 1 s after the last frame, connect() 0.5 s later",
        f"the gap starts {(gap.started_at - last_frame) * 1000:+.1f} ms from the last frame "
        f"and lasts {gap.duration:.2f} s",
    )
    assert gap.started_at - last_frame <= FRAME_SLACK, (
        f"the gap started {gap.started_at - last_frame:.3f} s after the last frame, "
        f"which came {disconnected - last_frame:.3f} s before disconnect()"
    )
    assert gap.started_at >= last_frame - 0.01
    assert gap.duration >= 1.5
    assert gap.ended_at == pytest.approx(gap.started_at + gap.duration)
