"""A tour of pusher-channels against a local soketi server.

Run it with the README's demo command (``./dev demo``), which installs everything
first. It starts soketi and a local authorization endpoint on 127.0.0.1, connects,
subscribes to a public channel, triggers events with the official ``pusher`` server
SDK, prints what arrives, restarts the server to show the connection coming back by
itself, then shows private, presence (two members) and encrypted channels and a
client event, an async iterator and the blocking client, and exits 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.auth_server import AuthServer, Failure
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
        channel = await pusher.subscribe(CHANNEL)
        await channel.wait_subscribed(timeout=10)

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
        gap = channel.last_gap
        assert gap is not None
        say(
            f"  the channel was not subscribed for {gap.duration:.2f} s (channel.last_gap): "
            "events published then are to be fetched from your own API"
        )

        await asyncio.to_thread(sdk.trigger, CHANNEL, "price", {"symbol": "ACME", "price": 100.0})
        await wait_for(lambda: len(received) == 4)

        say("5. disconnecting")
    say(f"  {len(received)} events received, state {pusher.connection_state}")


async def authorized_channels(server: SoketiServer, auth: AuthServer) -> None:
    """Private, presence and encrypted channels, authorized by a local endpoint."""
    sdk = server.server_sdk()
    auth.users = {
        "ada": {"user_id": "ada", "user_info": {"name": "Ada"}},
        "bob": {"user_id": "bob", "user_info": {"name": "Bob"}},
    }
    received: list[PusherEvent] = []

    def client_for(user: str) -> PusherChannelsClient:
        return PusherChannelsClient(
            **server.client_options(),
            auth_endpoint=auth.url,
            auth_params={"params": {"user": user}},
            on_event=received.append,
            on_member_added=lambda channel, m: say(f"  {user} sees {m.user_id} join {channel}"),
            on_member_removed=lambda channel, m: say(f"  {user} sees {m.user_id} leave {channel}"),
            on_decryption_failure=lambda event, reason: say(f"  cannot decrypt {event}: {reason}"),
        )

    say(f"6. private, presence and encrypted channels, authorized by {auth.url}")
    async with client_for("ada") as ada:
        private = await ada.subscribe("private-orders")
        room = await ada.subscribe("presence-room")
        vault = await ada.subscribe("private-encrypted-vault")
        await wait_for(lambda: private.subscribed and room.subscribed and vault.subscribed)
        say(f"  ada is subscribed; presence members {sorted(room.members)}, me {room.me}")

        await asyncio.to_thread(sdk.trigger, "private-orders", "order", {"id": 7})
        await asyncio.to_thread(sdk.trigger, "private-encrypted-vault", "code", {"pin": "1234"})
        await wait_for(lambda: len(received) == 2)
        for event in received:
            say(f"  ada got {event.channel_name} {event.event_name} {event.json()}")

        async with client_for("bob") as bob:
            bob_room = await bob.subscribe("presence-room")
            await wait_for(lambda: bob_room.subscribed and len(room.members) == 2)
            say(f"  members now {sorted(room.members)}")
            await bob_room.trigger(event_name="client-hello", data={"text": "hi Ada"})
            await wait_for(lambda: any(e.event_name == "client-hello" for e in received))
            hello = received[-1]
            say(f"  ada got a client event from user {hello.user_id}: {hello.json()}")
        await wait_for(lambda: len(room.members) == 1)

        # The auth endpoint blips (two 503s): the client retries by itself, and
        # wait_subscribed() waits through it, as a service's start-up gate would.
        auth.failure = Failure(status=503, body="deploying", times=2)
        deploys = await ada.subscribe("private-deploys")
        await deploys.wait_subscribed(timeout=15)
        say("  private-deploys subscribed through two 503s from the auth endpoint")
        health = ada.health()
        channels = ", ".join(f"{channel.name} {channel.status}" for channel in health.channels)
        say(f"  health: {'healthy' if health.healthy else 'not healthy'}; {channels}")


async def iterators(server: SoketiServer) -> None:
    """The same events as an async iterator."""
    say("7. reading a channel with 'async for event in channel.events()'")
    sdk = server.server_sdk()
    async with PusherChannelsClient(**server.client_options()) as pusher:
        channel = await pusher.subscribe("demo-ticks")
        events = channel.events()
        await wait_for(lambda: channel.subscribed)
        for tick in range(3):
            await asyncio.to_thread(sdk.trigger, "demo-ticks", "tick", {"tick": tick})
        for _ in range(3):
            event = await anext(events)
            say(f"  iterated {event.event_name} {event.json()}")


async def binding(server: SoketiServer) -> None:
    """Handlers bound by event name, as in pusher-js: globs, decorators, unbinding."""
    say("8. binding handlers by event name, as in pusher-js")
    sdk = server.server_sdk()
    seen: list[str] = []
    async with PusherChannelsClient(**server.client_options()) as pusher:
        orders = await pusher.subscribe("demo-orders")

        @orders.bind("order-*")
        def on_order(event: PusherEvent) -> None:
            seen.append(event.event_name)
            say(f"  order-* handler: {event.event_name} {event.json()}")

        orders.bind("refund", lambda event: seen.append(event.event_name))
        pusher.connection.bind("state_change", lambda now, before: say(f"  listener: {now}"))
        await orders.wait_subscribed(timeout=10)
        for name, data in (("order-created", {"id": 1}), ("invoice", {}), ("refund", {"id": 1})):
            await asyncio.to_thread(sdk.trigger, "demo-orders", name, data)
        await wait_for(lambda: len(seen) == 2)
        say(f"  bound handlers saw {seen} (nothing was bound to 'invoice')")
        orders.unbind("order-*", on_order)


def blocking_facade(server: SoketiServer) -> None:
    """The blocking client, for threaded code: no asyncio in sight."""
    from pusher_channels.sync import PusherChannelsClient as BlockingClient

    say("9. the blocking client (pusher_channels.sync) from plain threaded code")
    sdk = server.server_sdk()
    with BlockingClient(**server.client_options()) as pusher:
        channel = pusher.subscribe("demo-blocking")
        events = channel.events(timeout=5)
        deadline = time.monotonic() + 10
        while not channel.subscribed and time.monotonic() < deadline:
            time.sleep(0.02)
        sdk.trigger("demo-blocking", "note", {"text": "no event loop needed"})
        say(f"  got {next(events).json()}")
    say("done")


def main() -> int:
    """Run the tour on a fresh local soketi; return the exit status."""
    server = SoketiServer()
    server.start()
    auth = AuthServer(server.server_sdk())
    auth.start()
    try:
        asyncio.run(tour(server))
        asyncio.run(authorized_channels(server, auth))
        asyncio.run(iterators(server))
        asyncio.run(binding(server))
        blocking_facade(server)
    finally:
        auth.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
