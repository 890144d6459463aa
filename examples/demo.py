"""A tour of pusher-channels against a local soketi server.

Run it with the README's demo command (``./dev demo``), which installs everything
first. It starts soketi on 127.0.0.1, connects, subscribes to a public channel,
triggers events with the official ``pusher`` server SDK, prints what arrives, then
restarts the server to show the connection coming back by itself, and exits 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.soketi import SoketiServer

from pusher_channels import (
    ConnectionState,
    PusherChannelsClient,
    PusherError,
    PusherEvent,
)

CHANNEL = "demo-prices"


def say(text: str) -> None:
    """Print one line of the tour."""
    print(text, flush=True)


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` is true, or fail the demo."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: waited {timeout} s for {condition}")
        await asyncio.sleep(0.02)


async def tour(server: SoketiServer) -> None:
    """Connect, receive events, survive a server restart, disconnect."""
    received: list[PusherEvent] = []
    subscribed: list[str] = []

    def on_state(current: ConnectionState, previous: ConnectionState) -> None:
        say(f"  state   {previous} -> {current}")

    def on_event(event: PusherEvent) -> None:
        received.append(event)
        say(f"  event   {event.channel_name} {event.event_name} {event.json()}")

    def on_subscribed(channel_name: str, data: Any) -> None:
        subscribed.append(channel_name)
        say(f"  subscribed to {channel_name}")

    def on_error(message: str, code: int | None, error: PusherError) -> None:
        say(f"  error   {message} (code {code})")

    sdk = server.server_sdk()
    say(f"1. connecting to soketi at 127.0.0.1:{server.port}")
    async with PusherChannelsClient(
        api_key=server.key,
        host="127.0.0.1",
        ws_port=server.port,
        use_tls=False,
        on_connection_state_change=on_state,
        on_event=on_event,
        on_subscription_succeeded=on_subscribed,
        on_error=on_error,
    ) as pusher:
        say(f"  socket id {await pusher.get_socket_id()}")

        say(f"2. subscribing to the public channel {CHANNEL!r}")
        await pusher.subscribe(CHANNEL)
        await wait_for(lambda: len(subscribed) == 1)

        say("3. triggering three events with the official pusher server SDK")
        for price in (101.5, 102.25, 99.75):
            await asyncio.to_thread(
                sdk.trigger, CHANNEL, "price", {"symbol": "ACME", "price": price}
            )
        await wait_for(lambda: len(received) == 3)

        say("4. restarting the server: the client reconnects and resubscribes by itself")
        await asyncio.to_thread(server.stop)
        await wait_for(lambda: pusher.connection_state is ConnectionState.RECONNECTING)
        started = time.monotonic()
        await asyncio.to_thread(server.start)
        await wait_for(lambda: len(subscribed) == 2, timeout=30)
        say(f"  back and subscribed {time.monotonic() - started:.2f} s after the server returned")

        await asyncio.to_thread(sdk.trigger, CHANNEL, "price", {"symbol": "ACME", "price": 100.0})
        await wait_for(lambda: len(received) == 4)

        say("5. disconnecting")
    say(f"done: {len(received)} events received, state {pusher.connection_state}")


def main() -> int:
    """Run the tour on a fresh local soketi; return the exit status."""
    server = SoketiServer()
    server.start()
    try:
        asyncio.run(tour(server))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
