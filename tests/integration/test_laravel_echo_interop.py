r"""A Python service on a Laravel app's channels, with Laravel Echo on the other end.

The pieces are real: soketi as the WebSocket server (Reverb and Pusher speak the same
protocol), Laravel Echo on pusher-js in Node (``devtools/laravel_echo_peer.js``, set
up as a Laravel front end sets it up), and ``devtools/laravel.py``, which answers
``POST /broadcasting/auth`` as Laravel does (a Sanctum bearer token, channel routes,
PHP's JSON) and broadcasts events as ``broadcast(new OrderShipped($order))`` does,
with the official ``pusher`` server SDK. This is the setup of ``docs/laravel.md``.

If Node or Laravel Echo is missing the test fails, it never skips: ``npm ci`` in
``devtools/`` installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devtools.laravel import LaravelApp, LaravelUser, laravel_sdk
from devtools.soketi import SoketiServer

from pusher_channels import AuthorizationError, PusherChannel, PusherChannelsClient, PusherEvent
from tests.integration.test_pusher_js_interop import JsPeer
from tests.support.recorder import Recorder, wait_until

DEVTOOLS = Path(__file__).resolve().parents[2] / "devtools"
PEER_SCRIPT = DEVTOOLS / "laravel_echo_peer.js"
ECHO_PACKAGE = DEVTOOLS / "node_modules" / "laravel-echo" / "package.json"

SERVICE = LaravelUser(1, "Shipping service", "service-token", "https://example.com/avatars/1.png")
GRACE = LaravelUser(2, "Grace Hopper", "grace-token", "https://example.com/avatars/2.png")
ORDERS_OF = {SERVICE.id: {1}, GRACE.id: {1, 2}}
SHIPPED = {"order": {"id": 1, "status": "shipped", "tracking": "1Z/999 ✓"}}


def presence_info(user: LaravelUser) -> dict[str, Any]:
    """What the ``chat.{roomId}`` route answers: the member's ``user_info``."""
    return {"id": user.id, "name": user.name, "avatar": user.avatar}


def node_and_laravel_echo() -> tuple[str, str]:
    """Node's path and Laravel Echo's version; fails the test (never skips) if missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the Laravel Echo interop test needs it (Node 20)")
    if not ECHO_PACKAGE.exists():
        pytest.fail(
            f"laravel-echo is not installed ({ECHO_PACKAGE} is missing): run 'npm ci' in {DEVTOOLS}"
        )
    version = str(json.loads(ECHO_PACKAGE.read_text(encoding="utf-8"))["version"])
    return node, version


@pytest.fixture
def laravel(soketi: SoketiServer) -> Iterator[LaravelApp]:
    """The Laravel app: two users, and the channel routes of ``routes/channels.php``."""
    sdk = laravel_sdk(
        app_id=soketi.app_id,
        key=soketi.key,
        secret=soketi.secret,
        host="127.0.0.1",
        port=soketi.port,
        ssl=False,
    )
    app = LaravelApp(
        sdk,
        users=[SERVICE, GRACE],
        channels={
            # Broadcast::channel('orders.{orderId}', fn (User $user, int $orderId) => ...)
            "orders.{orderId}": lambda user, order_id: int(order_id) in ORDERS_OF[user.id],
            # Broadcast::channel('chat.{roomId}', fn (User $user, int $roomId) => [...])
            "chat.{roomId}": lambda user, room_id: presence_info(user),
        },
    )
    app.start()
    try:
        yield app
    finally:
        app.stop()


@contextlib.asynccontextmanager
async def echo_peer(
    soketi: SoketiServer, app: LaravelApp, user: LaravelUser
) -> AsyncIterator[JsPeer]:
    """Laravel Echo as ``user`` in ``presence-chat.1`` and ``private-orders.1``."""
    node, _ = node_and_laravel_echo()
    process = await asyncio.create_subprocess_exec(
        node,
        str(PEER_SCRIPT),
        "--key",
        soketi.key,
        "--host",
        "127.0.0.1",
        "--port",
        str(soketi.port),
        "--auth-endpoint",
        app.auth_url,
        "--token",
        user.token,
        "--join",
        "chat.1",
        "--private",
        "orders.1",
        "--listen",
        "OrderShipped,.order.shipped",
        "--whispers",
        "typing",
        "--max-seconds",
        "60",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=DEVTOOLS,
    )
    peer = JsPeer(process)
    try:
        yield peer
    finally:
        await peer.close()


def service_client(
    soketi: SoketiServer, app: LaravelApp, token: str, recorder: Recorder, **headers: str
) -> PusherChannelsClient:
    """This library, as the guide configures it for Laravel's ``/broadcasting/auth``."""
    return PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=app.auth_url,
        auth_params={"headers": {"Authorization": f"Bearer {token}", **headers}},
        **recorder.callbacks(),
    )


@dataclass
class Bound:
    """What the handlers bound as ``docs/laravel.md`` binds them received."""

    whispers: list[PusherEvent] = field(default_factory=list)
    shipped: list[PusherEvent] = field(default_factory=list)
    dotted: list[PusherEvent] = field(default_factory=list)
    family: list[PusherEvent] = field(default_factory=list)
    joined: list[PusherEvent] = field(default_factory=list)


def bind_as_the_guide_does(chat: PusherChannel, orders: PusherChannel) -> Bound:
    """The guide's bindings: Echo's .listen() names, listenForWhisper, joining."""
    bound = Bound()

    @orders.bind("App\\Events\\OrderShipped")  # Echo: .listen('OrderShipped')
    def on_shipped(event: PusherEvent) -> None:
        bound.shipped.append(event)

    orders.bind("order.shipped", bound.dotted.append)  # Echo: .listen('.order.shipped')
    orders.bind("App\\Events\\Order*", bound.family.append)
    for channel in (chat, orders):
        channel.bind("client-typing", bound.whispers.append)  # .listenForWhisper('typing')
    chat.bind("pusher:member_added", bound.joined.append)
    return bound


def of(peer: JsPeer, kind: str, channel: str) -> list[dict[str, Any]]:
    """The peer's messages of one type on one channel."""
    return [m for m in peer.of_type(kind) if m.get("channel") == channel]


async def refusal(
    soketi: SoketiServer, app: LaravelApp, token: str, headers: dict[str, str], channel_name: str
) -> Exception:
    """Subscribe with ``token``; the error ``wait_subscribed()`` raised, which is also
    the one ``on_subscription_error`` got."""
    log = Recorder()
    async with service_client(soketi, app, token, log, **headers) as client:
        channel = await client.subscribe(channel_name)
        with pytest.raises(AuthorizationError) as raised:
            await channel.wait_subscribed(timeout=10)
        assert not channel.subscribed
    [(_, error)] = log.subscription_errors
    assert error is raised.value
    return error


async def test_laravel_auth_endpoint_refusals(soketi: SoketiServer, laravel: LaravelApp) -> None:
    """A bad token is a 401 (302 to the login page without ``Accept: ...json``); a channel
    the routes refuse is a 403. Each reaches ``on_subscription_error`` with the status."""
    cases = [
        ("wrong-token", {"Accept": "application/json"}, "private-orders.1", 401),
        ("wrong-token", {}, "private-orders.1", 302),
        (SERVICE.token, {"Accept": "application/json"}, "private-orders.2", 403),
        (SERVICE.token, {"Accept": "application/json"}, "private-nobody.1", 403),
    ]
    for token, headers, channel_name, status in cases:
        error = await refusal(soketi, laravel, token, headers, channel_name)
        assert isinstance(error, AuthorizationError)
        assert error.channel_name == channel_name
        assert error.status == status, (token, headers, error)
        assert laravel.requests_for(channel_name)[-1].status == status
    assert laravel.requests_for("private-orders.1")[-1].headers["authorization"] == (
        "Bearer wrong-token"
    )


async def test_python_service_and_laravel_echo(soketi: SoketiServer, laravel: LaravelApp) -> None:
    _, echo_version = node_and_laravel_echo()
    started = time.monotonic()
    log = Recorder()
    client = service_client(soketi, laravel, SERVICE.token, log, Accept="application/json")
    async with echo_peer(soketi, laravel, GRACE) as echo:
        # Echo first: alone in the presence channel, here() lists only Grace.
        await echo.wait_for(
            lambda: len(echo.of_type("subscribed")) == 2 and bool(echo.of_type("here")),
            what="Echo subscribed to both channels",
        )
        assert of(echo, "here", "presence-chat.1") == [
            {"type": "here", "channel": "presence-chat.1", "users": [presence_info(GRACE)]}
        ]
        [grace_auth] = laravel.requests_for("presence-chat.1")
        assert grace_auth.headers["authorization"] == f"Bearer {GRACE.token}"
        assert grace_auth.form.keys() == {"socket_id", "channel_name"}

        async with client:
            chat = await client.subscribe("presence-chat.1")
            orders = await client.subscribe("private-orders.1")
            bound = bind_as_the_guide_does(chat, orders)
            await chat.wait_subscribed(timeout=10)
            await orders.wait_subscribed(timeout=10)
            await check_members(echo, laravel, chat)
            await check_whispers(echo, log, bound, client)
            await check_server_events(echo, log, bound, laravel, client)
            await check_members_leave(echo, log, client)
            assert bound.joined == []  # Grace was there first; nobody joined the service

    assert log.errors == [], log.errors
    assert log.subscription_errors == []
    assert echo.of_type("error") == [], echo.describe()
    assert echo.of_type("not-json") == [], echo.describe()
    print(f"Laravel Echo {echo_version} interop: {time.monotonic() - started:.2f} s")


async def check_members(echo: JsPeer, app: LaravelApp, chat: PusherChannel) -> None:
    """Python sees Echo's user among the members; Echo's joining() sees the service."""
    assert set(chat.members) == {"1", "2"}
    assert chat.me is not None
    assert chat.me.user_id == "1"
    assert chat.me.user_info == presence_info(SERVICE)
    assert chat.members["2"].user_info == presence_info(GRACE)
    # channel_data went back to soketi as Laravel encoded it ("\/" and all), or the
    # subscription would have been refused.
    service_auth = [r for r in app.requests_for("presence-chat.1") if r.status == 200][-1]
    assert service_auth.headers["authorization"] == f"Bearer {SERVICE.token}"
    await echo.wait_for(
        lambda: bool(of(echo, "joining", "presence-chat.1")), what="Echo's joining() sees Python"
    )
    assert of(echo, "joining", "presence-chat.1") == [
        {"type": "joining", "channel": "presence-chat.1", "user": presence_info(SERVICE)}
    ]


async def check_whispers(
    echo: JsPeer, log: Recorder, bound: Bound, client: PusherChannelsClient
) -> None:
    """client-typing both ways, on the presence and the private channel."""
    chat = client.get_channel("presence-chat.1")
    orders = client.get_channel("private-orders.1")
    assert chat is not None
    assert orders is not None
    # Python -> Echo's listenForWhisper('typing')
    await chat.trigger(event_name="client-typing", data={"name": SERVICE.name, "typing": True})
    await orders.trigger(event_name="client-typing", data={"order": 1})
    await echo.wait_for(
        lambda: len(echo.of_type("whisper")) == 2, what="Echo hears both Python whispers"
    )
    [in_chat] = of(echo, "whisper", "presence-chat.1")
    assert in_chat["name"] == "typing"
    assert in_chat["data"] == {"name": SERVICE.name, "typing": True}
    assert str(in_chat["user_id"]) == "1"  # the sender, said by the server
    [in_orders] = of(echo, "whisper", "private-orders.1")
    assert in_orders["data"] == {"order": 1}
    assert in_orders["user_id"] is None  # private channels do not say who sent it

    # Echo's whisper('typing', ...) -> the Python client's client-typing events
    for channel_name, data in (
        ("presence-chat.1", {"name": GRACE.name, "typing": True}),
        ("private-orders.1", {"order": 1, "typing": False}),
    ):
        await echo.send({"cmd": "whisper", "channel": channel_name, "name": "typing", "data": data})
    await wait_until(
        lambda: len(log.events_named("client-typing")) == 2, what="Python hears both whispers"
    )
    by_channel = {e.channel_name: e for e in log.events_named("client-typing")}
    assert by_channel["presence-chat.1"].json() == {"name": GRACE.name, "typing": True}
    assert by_channel["presence-chat.1"].user_id == "2"
    assert by_channel["private-orders.1"].json() == {"order": 1, "typing": False}
    assert by_channel["private-orders.1"].user_id is None
    assert bound.whispers == log.events_named("client-typing")  # bound as Echo listens


async def check_server_events(
    echo: JsPeer, log: Recorder, bound: Bound, app: LaravelApp, client: PusherChannelsClient
) -> None:
    r"""``broadcast(new OrderShipped($order))`` under its class name, and with
    ``broadcastAs() = 'order.shipped'``: Echo's ``.listen('OrderShipped')`` and
    ``.listen('.order.shipped')`` each catch one; Python sees the names as sent."""
    app.broadcast(["private-orders.1"], "App\\Events\\OrderShipped", SHIPPED)
    app.broadcast(["private-orders.1"], "order.shipped", SHIPPED)
    # ->toOthers() from a request the service made: everyone but the service.
    socket_id = client.connection.socket_id
    assert socket_id is not None
    app.broadcast(["private-orders.1"], "App\\Events\\OrderShipped", {"again": 1}, socket_id)
    app.broadcast(["private-orders.1"], "App\\Events\\OrderDelivered", {"order": {"id": 1}})

    def broadcasts() -> list[dict[str, Any]]:
        # listenToAll() also reports whispers, as ".client-typing": leave them out.
        return [m for m in of(echo, "any", "private-orders.1") if m["name"] != ".client-typing"]

    await echo.wait_for(lambda: len(broadcasts()) == 4, what="Echo gets the 4 events")
    assert [(m["listen"], m["data"]) for m in of(echo, "event", "private-orders.1")] == [
        ("OrderShipped", SHIPPED),
        (".order.shipped", SHIPPED),
        ("OrderShipped", {"again": 1}),
    ]
    # listenToAll() names events as .listen() takes them.
    assert [m["name"] for m in broadcasts()] == [
        "OrderShipped",
        ".order.shipped",
        "OrderShipped",
        "OrderDelivered",
    ]
    await wait_until(
        lambda: bool(log.events_named("App\\Events\\OrderDelivered")),
        what="Python gets OrderDelivered",
    )
    names = [e.event_name for e in log.events if e.channel_name == "private-orders.1"]
    names = [n for n in names if not n.startswith(("client-", "pusher:"))]
    assert names == [
        "App\\Events\\OrderShipped",
        "order.shipped",
        "App\\Events\\OrderDelivered",
    ]  # the toOthers() one excluded the service's socket
    [shipped] = log.events_named("App\\Events\\OrderShipped")
    assert shipped.json() == SHIPPED
    assert shipped.user_id is None
    # The guide's bindings: the full class name, the broadcastAs() name, a glob.
    assert bound.shipped == [shipped]
    assert [e.json() for e in bound.dotted] == [SHIPPED]
    assert [e.event_name for e in bound.family] == [
        "App\\Events\\OrderShipped",
        "App\\Events\\OrderDelivered",
    ]


async def check_members_leave(echo: JsPeer, log: Recorder, client: PusherChannelsClient) -> None:
    """The service leaves (Echo's leaving()), comes back (joining()); Echo quits and the
    service sees Grace go."""
    await client.unsubscribe("presence-chat.1")
    await echo.wait_for(
        lambda: bool(of(echo, "leaving", "presence-chat.1")), what="Echo's leaving() sees Python"
    )
    assert of(echo, "leaving", "presence-chat.1")[0]["user"] == presence_info(SERVICE)

    chat = await client.subscribe("presence-chat.1")
    left: list[PusherEvent] = []
    chat.bind("pusher:member_removed", left.append)  # Echo: .leaving()
    await chat.wait_subscribed(timeout=10)
    await echo.wait_for(
        lambda: len(of(echo, "joining", "presence-chat.1")) == 2, what="Echo sees it come back"
    )
    assert set(chat.members) == {"1", "2"}

    await echo.send({"cmd": "quit"})
    await wait_until(
        lambda: any(m.user_id == "2" for _, m in log.members_removed), what="Grace leaves"
    )
    [(channel_name, gone)] = [(c, m) for c, m in log.members_removed if m.user_id == "2"]
    assert channel_name == "presence-chat.1"
    assert gone.user_info == presence_info(GRACE)
    assert set(chat.members) == {"1"}
    await wait_until(lambda: bool(left), what="the bound pusher:member_removed handler")
    [removed] = left
    assert str(removed.json()["user_id"]) == "2"
    exit_code = await asyncio.wait_for(echo.process.wait(), timeout=10)
    assert exit_code == 0, echo.describe()
    assert echo.of_type("bye") == [{"type": "bye", "reason": "quit"}]
