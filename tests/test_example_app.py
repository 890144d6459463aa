"""The Textual example app (``examples/chat_app.py``), driven headlessly against soketi."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer, free_port
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input

from chat_app import PusherApp, Settings, parse_args
from pusher_channels import PusherChannelsClient, PusherEvent

SIZE = (120, 36)
USERS = {
    "ada": {"user_id": "ada", "user_info": {"name": "Ada"}},
    "bob": {"user_id": "bob", "user_info": {"name": "Bob"}},
}


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            history = "\n".join(pilot.app.history) if isinstance(pilot.app, PusherApp) else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{history}")
        await pilot.pause(0.02)


def logged(app: PusherApp, text: str) -> bool:
    """Whether a line of the app's log contains ``text``."""
    return any(text in line for line in app.history)


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    """Click a field, empty it and type ``text`` into it, key by key."""
    await pilot.click(selector)
    field = pilot.app.query_one(selector, Input)
    field.value = ""
    await pilot.press(*text)
    assert field.value == text


async def press(pilot: Pilot[None], selector: str) -> None:
    """Click a button, as a person would: not within its 0.2 s "active" effect."""
    button = pilot.app.query_one(selector, Button)
    await wait_for(pilot, lambda: not button.has_class("-active"), f"{selector} to be clickable")
    await pilot.click(selector)
    await pilot.pause()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_connect_receive_an_event_and_disconnect(soketi: SoketiServer) -> None:
    app = PusherApp()
    channel = unique("news")
    async with app.run_test(size=SIZE) as pilot:
        await type_into(pilot, "#key", soketi.key)
        await type_into(pilot, "#host", "127.0.0.1")
        await type_into(pilot, "#port", str(soketi.port))
        await pilot.click("#tls")
        assert not app.query_one("#tls", Checkbox).value
        await type_into(pilot, "#channel", channel)
        await press(pilot, "#connect")

        await wait_for(pilot, lambda: logged(app, "state CONNECTING -> CONNECTED"), "CONNECTED")
        await wait_for(pilot, lambda: logged(app, f"subscribe {channel}"), "the subscription")
        assert "CONNECTING -> CONNECTED" in app.log_text()
        assert str(app.query_one("#connect", Button).label) == "Disconnect"
        assert app.sub_title == "CONNECTED"

        sdk = soketi.server_sdk()
        await asyncio.to_thread(sdk.trigger, channel, "price-changed", {"price": 42})
        await wait_for(pilot, lambda: logged(app, "price-changed"), "the server's event")
        assert f'event {channel} price-changed: {{"price": 42}}' in app.history
        assert "price-changed" in app.log_text()

        await press(pilot, "#connect")
        await wait_for(pilot, lambda: logged(app, "-> DISCONNECTED"), "DISCONNECTED")
        assert app.history[-1] == "state DISCONNECTING -> DISCONNECTED"
        assert str(app.query_one("#connect", Button).label) == "Connect"
        assert app.sub_title == "DISCONNECTED"


async def test_presence_members_and_client_events(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.users.update(USERS)
    channel = unique("presence-room")
    settings = parse_args(
        [
            *("--host", "127.0.0.1", "--port", str(soketi.port), "--key", soketi.key),
            *("--no-tls", "--auth-endpoint", auth_server.url, "--user", "ada"),
            *("--channel", channel),
        ]
    )
    app = PusherApp(settings)
    bob_got: list[PusherEvent] = []
    bob = PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"params": {"user": "bob"}},
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            # Enter in a connection field connects.
            await pilot.click("#channel")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.member_ids() == ["ada"], "ada in the member list")
            assert logged(app, f"subscribe {channel}: 1 member(s), you are ada")

            room = await bob.subscribe(channel, on_event=bob_got.append)
            await bob.connect(timeout=10)
            await wait_for(pilot, lambda: app.member_ids() == ["ada", "bob"], "bob joining")
            assert logged(app, f"member bob joined {channel} (Bob)")
            await wait_for(pilot, lambda: room.subscribed, "bob's subscription")

            assert app.query_one("#event-name", Input).value == "client-message"  # the default
            await type_into(pilot, "#event-data", '{"text": "hi Bob"}')
            await press(pilot, "#trigger")
            await wait_for(pilot, lambda: bool(bob_got), "bob receiving the client event")
            event = bob_got[0]
            assert (event.event_name, event.user_id, event.json()) == (
                "client-message",
                "ada",
                {"text": "hi Bob"},
            )
            assert logged(app, f'sent {channel} client-message: {{"text": "hi Bob"}}')

            await room.trigger(event_name="client-reply", data={"text": "hi Ada"})
            await wait_for(pilot, lambda: logged(app, "client-reply from bob"), "bob's reply")

            await bob.disconnect()
            await wait_for(pilot, lambda: app.member_ids() == ["ada"], "bob leaving")
            assert logged(app, f"member bob left {channel}")

            await press(pilot, "#connect")
            await wait_for(pilot, lambda: logged(app, "-> DISCONNECTED"), "DISCONNECTED")
            assert app.member_ids() == []
    finally:
        await bob.disconnect()


async def test_mistakes_are_logged_not_raised(soketi: SoketiServer) -> None:
    app = PusherApp(Settings(channel=unique("public")))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "#connect")
        assert app.history[-1] == "error the API key is required"

        app.query_one("#key", Input).value = soketi.key
        await press(pilot, "#connect")
        assert app.history[-1] == "error give a cluster, or the host of your server"

        await press(pilot, "#trigger")
        assert app.history[-1] == "error connect to a channel first"

        app.query_one("#host", Input).value = "127.0.0.1"
        app.query_one("#cluster", Input).value = "eu"
        await press(pilot, "#connect")
        assert app.history[-1] == "error give a cluster or a host, not both"

        app.query_one("#cluster", Input).value = ""
        app.query_one("#port", Input).value = str(soketi.port)
        app.query_one("#tls", Checkbox).value = False
        await press(pilot, "#connect")
        await wait_for(pilot, lambda: logged(app, "subscribe public-"), "the subscription")
        await press(pilot, "#trigger")
        await wait_for(pilot, lambda: app.history[-1].startswith("error trigger: "), "the error")
        assert "private or presence channel" in app.history[-1]


async def test_disconnect_stops_connecting_to_an_unreachable_server() -> None:
    settings = Settings(key="app-key", host="127.0.0.1", port=free_port(), tls=False)
    app = PusherApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "#connect")
        await wait_for(pilot, lambda: logged(app, "-> RECONNECTING"), "RECONNECTING")
        assert str(app.query_one("#connect", Button).label) == "Disconnect"
        await press(pilot, "#connect")
        await wait_for(pilot, lambda: logged(app, "info stopped connecting"), "the worker's end")
        assert app.sub_title == "DISCONNECTED"
        assert str(app.query_one("#connect", Button).label) == "Connect"
        assert logged(app, "error cannot connect: ConnectionRefusedError")  # from on_error
        assert not logged(app, "error connect:")  # stopping is not a failure
