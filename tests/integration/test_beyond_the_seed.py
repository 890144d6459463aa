"""Sign-in, server-to-user events, watchlist, cache channels and subscription counts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import (
    ConnectionState,
    PusherChannelsClient,
    PusherEvent,
    PusherProtocolError,
    SigninError,
)
from tests.support.recorder import Recorder, wait_until
from tests.support.scripted_server import ScriptedConnection, ScriptedServer


async def test_signin_and_server_to_user_events_survive_a_restart(
    signin_soketi: SoketiServer,
) -> None:
    auth = AuthServer(signin_soketi.server_sdk())
    auth.users = {"ada": {"user_id": "ada-1", "user_info": {"name": "Ada"}}}
    auth.start()
    recorder = Recorder()
    user_events: list[PusherEvent] = []
    signed_in: list[dict[str, Any]] = []
    try:
        async with PusherChannelsClient(
            **signin_soketi.client_options(),
            user_auth_endpoint=auth.user_auth_url,
            user_auth_params={"params": {"user": "ada"}, "headers": {"X-Session": "s1"}},
            on_user_event=user_events.append,
            on_signin_succeeded=signed_in.append,
            **recorder.callbacks(),
        ) as client:
            everything = client.events()
            user = await client.signin()
            assert user is not None
            assert user["id"] == "ada-1"
            assert client.user == user
            [request] = [r for r in auth.requests if r.path.endswith("/user-auth")]
            assert request.form == {"socket_id": await client.get_socket_id(), "user": "ada"}
            assert request.headers["x-session"] == "s1"

            sdk = signin_soketi.server_sdk()
            await asyncio.sleep(0.2)  # the server-to-user subscription is under way
            await asyncio.to_thread(sdk.send_to_user, "ada-1", "dm", {"text": "hello"})
            await wait_until(lambda: len(user_events) == 1, what="the user event")
            assert user_events[0].event_name == "dm"
            assert user_events[0].json() == {"text": "hello"}
            assert recorder.events == [], "user events do not go to on_event"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(everything), 0.2)  # nor to events()

            signin_soketi.kill()
            await wait_until(lambda: ConnectionState.RECONNECTING in recorder.current_states)
            await asyncio.to_thread(signin_soketi.start)
            await wait_until(lambda: len(signed_in) == 2, timeout=20, what="sign-in again")
            await asyncio.sleep(0.2)
            await asyncio.to_thread(sdk.send_to_user, "ada-1", "dm", {"text": "again"})
            await wait_until(lambda: len(user_events) == 2, what="the second user event")
        assert [e for e in recorder.errors if isinstance(e[2], SigninError)] == []
    finally:
        auth.stop()


async def test_signin_without_authenticator_raises(soketi: SoketiServer) -> None:
    async with PusherChannelsClient(**soketi.client_options()) as client:
        with pytest.raises(SigninError, match="user_auth_endpoint"):
            await client.signin()
        assert client.connection_state == "CONNECTED"


async def test_cache_channel_hit_and_miss(soketi: SoketiServer) -> None:
    sdk = soketi.server_sdk()
    await asyncio.to_thread(sdk.trigger, "cache-prices", "price", {"last": 42})
    recorder = Recorder()
    async with PusherChannelsClient(**soketi.client_options(), **recorder.callbacks()) as client:
        await client.subscribe("cache-prices")
        await client.subscribe("cache-empty")
        await wait_until(lambda: len(recorder.events) == 2, what="cached event and miss")
    by_channel = {e.channel_name: e for e in recorder.events}
    assert by_channel["cache-prices"].event_name == "price"
    assert by_channel["cache-prices"].json() == {"last": 42}
    assert by_channel["cache-empty"].event_name == "pusher:cache_miss"


async def test_subscription_count_reaches_channel_and_callbacks(
    scripted_server: ScriptedServer,
) -> None:
    counts: list[tuple[str, int]] = []
    per_channel: list[int] = []
    async with PusherChannelsClient(
        **scripted_server.client_options(),
        on_subscription_count=lambda name, count: counts.append((name, count)),
    ) as client:
        channel = await client.subscribe("room", on_subscription_count=per_channel.append)
        await wait_until(lambda: channel.subscribed)
        assert channel.subscription_count is None
        scripted_server.broadcast(
            {
                "event": "pusher_internal:subscription_count",
                "channel": "room",
                "data": '{"subscription_count": 7}',
            }
        )
        await wait_until(lambda: per_channel == [7], what="the count")
        assert channel.subscription_count == 7
    assert counts == [("room", 7)]


async def test_watchlist_events(scripted_server: ScriptedServer) -> None:
    def accept_signin(connection: ScriptedConnection, message: dict[str, Any]) -> None:
        connection.send(
            {
                "event": "pusher:signin_success",
                "data": {"user_data": message["data"]["user_data"]},
            }
        )

    scripted_server.replies["pusher:signin"] = accept_signin
    watch: list[tuple[str, list[str]]] = []
    async with PusherChannelsClient(
        **scripted_server.client_options(),
        on_user_authenticator=lambda socket_id, options: {
            "auth": "scripted:sig",
            "user_data": '{"id":"7","watchlist":["1","2"]}',
        },
        on_watchlist_event=lambda name, user_ids: watch.append((name, user_ids)),
    ) as client:
        assert await client.signin() == {"id": "7", "watchlist": ["1", "2"]}
        scripted_server.broadcast(
            {
                "event": "pusher_internal:watchlist_events",
                "data": {
                    "events": [
                        {"name": "online", "user_ids": ["1"]},
                        {"name": "offline", "user_ids": ["2", 3]},
                    ]
                },
            }
        )
        await wait_until(lambda: len(watch) == 2, what="watchlist events")
    assert watch == [("online", ["1"]), ("offline", ["2", "3"])]


async def test_signin_refused_with_4200_does_not_loop(scripted_server: ScriptedServer) -> None:
    """Laravel Reverb answers a sign-in it cannot do with an error and closes (4200)."""

    def refuse(connection: ScriptedConnection, message: dict[str, Any]) -> None:
        connection.send(
            {"event": "pusher:error", "data": '{"code":4200,"message":"Sign-in not supported"}'}
        )
        connection.close(4200, "Sign-in not supported")

    scripted_server.replies["pusher:signin"] = refuse
    recorder = Recorder()
    async with PusherChannelsClient(
        **scripted_server.client_options(),
        on_user_authenticator=lambda socket_id, options: {
            "auth": "k:s",
            "user_data": '{"id":"1"}',
        },
        **recorder.callbacks(),
    ) as client:
        with pytest.raises(SigninError, match="Sign-in not supported"):
            await client.signin()
        await wait_until(lambda: client.connection_state == "CONNECTED", what="reconnected")
        await asyncio.sleep(1.0)
        signins = [
            m
            for connection in scripted_server.connections
            for m in connection.received
            if m["event"] == "pusher:signin"
        ]
        assert signins == [], "the refused sign-in is not repeated on the new connection"
        assert recorder.current_states.count(ConnectionState.CONNECTED) == 2
        assert client.connection_state == "CONNECTED"


async def test_malformed_frames_reach_on_error_and_the_connection_stays_up(
    scripted_server: ScriptedServer,
) -> None:
    """Frames no real server sends: not JSON, binary, wrong types, a second handshake."""
    recorder = Recorder()
    async with PusherChannelsClient(
        **scripted_server.client_options(), **recorder.callbacks()
    ) as client:
        channel = await client.subscribe("feed")
        await wait_until(lambda: channel.subscribed)
        bad_frames: list[dict[str, Any] | str | bytes] = [
            "not json at all",
            b"\x00\x01binary",
            "[1, 2, 3]",
            '{"event": 42}',
            '{"event": "x", "channel": ["not", "a", "string"]}',
            {"event": "pusher:connection_established", "data": '{"socket_id":"9.9"}'},
            {"event": "pusher_internal:member_added", "channel": "feed", "data": "{}"},
            {"event": "pusher_internal:subscription_count", "channel": "feed", "data": "no"},
            {"event": "some-unknown-system-event"},
        ]
        for frame in bad_frames:
            scripted_server.broadcast(frame)
        scripted_server.broadcast({"event": "fine", "channel": "feed", "data": '{"ok":1}'})
        await wait_until(lambda: len(recorder.events) == 1, what="the good event")
        assert client.connection_state == "CONNECTED"
        assert await client.get_socket_id() != "9.9"
    protocol_errors = [e for _, _, e in recorder.errors if isinstance(e, PusherProtocolError)]
    assert len(protocol_errors) >= 6
    assert any("not valid JSON" in e.message for e in protocol_errors)
    assert any("binary" in message for message, _, _ in recorder.errors)
    assert recorder.events[0].json() == {"ok": 1}
