"""One set of scenarios, run against soketi and against PusherTestServer.

Each scenario drives a server through raw WebSocket frames (``RawSocket``), this
library's client and the official ``pusher`` server SDK, and checks what comes
back. Both servers must give the same results, except where soketi departs from
Pusher's documentation; there PusherTestServer follows the documentation (or, where
the documentation is silent, the hosted service's known messages), and the test
asserts each server's behaviour and says why. The differences found:

=====  ==========================================  =====================================
#      PusherTestServer (Pusher's documentation)    soketi 1.6
=====  ==========================================  =====================================
D1     ``activity_timeout`` 120                     30
D2     ``subscription_succeeded`` has data ``"{}"``  no ``data``
D3     refused subscription (bad signature,         ``pusher:subscription_error``
       existing subscription, bad name):            ``{type, error, status}`` with the
       ``pusher:error``, code null, no channel      channel (and a second subscribe
                                                    succeeds again)
D4     client event data relayed as a string        relayed as sent (an object stays one)
D5     client events refused on public channels     relayed on public channels, dropped
       and on channels not joined (pusher:error)    silently when not joined
D6     ``pusher:pong`` data ``"{}"``                ``{}`` (an object)
D7     ``signin_success`` data ``{user_data}``      ``{auth, user_data}``
D8     refused sign-in: ``pusher:error``, the       ``pusher:error`` 4009, then close 4009
       connection stays open
D9     refused connection: close code only          ``pusher:error`` first, then the close
       (protocol 7)
D10    channels list: the requested ``user_count``  ``subscription_count`` and
       only; channel info: ``occupied`` and the     ``occupied`` always, ``info`` ignored
       requested attributes
D11    ``terminate_user_connections`` of            404: soketi serves only
       pusher-http-python (``/users/<id>/...``)     ``/apps/<id>/users/<id>/...``
       works
D12    a refused HTTP API request is a 401          the error body comes with status 200,
                                                    so the SDK reports success
=====  ==========================================  =====================================
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pusher.errors
import pytest
from devtools.soketi import APP_ID, APP_KEY, APP_SECRET, MASTER_KEY_BASE64

from pusher_channels import ConnectionState, PusherChannelsClient
from pusher_channels.protocol.crypto import decrypt_data
from pusher_channels.protocol.signatures import shared_secret
from tests.conformance.targets import (
    SOKETI,
    Target,
    client_options,
    connect,
    decoded,
    sdk_for,
    subscribe,
)
from tests.support.recorder import Recorder, wait_until
from tests.testing.raw_client import OPCODE_CLOSE, RawSocket

SILENCE = 0.3
"""Seconds a scenario waits to be sure nothing more arrives."""
_counter = iter(range(1_000_000))


def unique(prefix: str) -> str:
    """A channel name no other scenario (or earlier run on the same server) uses."""
    return f"{prefix}-conf{next(_counter)}"


async def nothing_more(raw: RawSocket) -> None:
    """Nothing arrives within :data:`SILENCE` seconds."""
    try:
        frame = await raw.recv_json(timeout=SILENCE)
    except TimeoutError:
        return
    pytest.fail(f"unexpected frame {frame}")


async def trigger(
    target: Target, channel: str, event: str, data: Any, socket_id: str | None = None
) -> Any:
    return await asyncio.to_thread(sdk_for(target).trigger, channel, event, data, socket_id)


# -------------------------------------------------------------------- connection


async def test_connection_established(target: Target) -> None:
    raw = await RawSocket.connect(target.port, f"/app/{APP_KEY}?protocol=7")
    frame = await raw.recv_json()
    assert frame["event"] == "pusher:connection_established"
    assert isinstance(frame["data"], str), "double encoded on both"
    data = json.loads(frame["data"])
    assert set(data) == {"socket_id", "activity_timeout"}
    # D1: Pusher announces 120 s; soketi 30 s.
    assert data["activity_timeout"] == (30 if target.name == SOKETI else 120)
    raw.send_json({"event": "pusher:ping", "data": {}})
    pong = await raw.recv_json()
    # D6: the protocol doc says "empty data"; Pusher double-encodes data, soketi does not.
    assert pong == {"event": "pusher:pong", "data": {} if target.name == SOKETI else "{}"}
    await raw.close()


async def test_unknown_app_key_is_closed_with_4001(target: Target) -> None:
    raw = await RawSocket.connect(target.port, "/app/no-such-key?protocol=7")
    frame = await raw.recv()
    if target.name == SOKETI:
        # D9: protocol 7 closes with the code; soketi also sends pusher:error first.
        assert json.loads(frame.payload)["data"]["code"] == 4001
        frame = await raw.recv()
    assert (frame.opcode, frame.close_code) == (OPCODE_CLOSE, 4001)
    await raw.close()


# ---------------------------------------------------------------------- channels


async def test_public_channel_events_and_socket_id_exclusion(target: Target) -> None:
    channel = unique("public")
    (one, one_id), (two, _) = await connect(target), await connect(target)
    for raw, socket_id in ((one, one_id), (two, "")):
        await subscribe(target, raw, socket_id, channel)
        succeeded = await raw.recv_json()
        # D2: Pusher sends "data": "{}"; soketi leaves data out.
        expected = {"event": "pusher_internal:subscription_succeeded", "channel": channel}
        if target.name != SOKETI:
            expected["data"] = "{}"
        assert succeeded == expected
    await trigger(target, channel, "created", {"id": 1})
    await trigger(target, channel, "excluded", {"id": 2}, one_id)
    event = {"event": "created", "channel": channel, "data": '{"id": 1}'}
    assert await one.recv_json() == event
    assert await two.recv_json() == event
    assert await two.recv_json() == {"event": "excluded", "channel": channel, "data": '{"id": 2}'}
    await nothing_more(one)
    for raw in (one, two):
        await raw.close()


async def test_private_channel_auth_and_refusal(target: Target) -> None:
    channel = unique("private")
    raw, socket_id = await connect(target)
    await subscribe(target, raw, socket_id, channel)
    assert (await raw.recv_json())["event"] == "pusher_internal:subscription_succeeded"

    refused = unique("private")
    bad = f"{APP_KEY}:{'0' * 64}"
    raw.send_json({"event": "pusher:subscribe", "data": {"channel": refused, "auth": bad}})
    frame = await raw.recv_json()
    if target.name == SOKETI:
        # D3: soketi answers with a subscription_error naming the channel.
        assert frame == {
            "event": "pusher:subscription_error",
            "channel": refused,
            "data": {
                "type": "AuthError",
                "error": "The connection is unauthorized.",
                "status": 401,
            },
        }
    else:
        # Pusher: pusher:error, code null, naming what should have been signed.
        assert frame == {
            "event": "pusher:error",
            "data": {
                "code": None,
                "message": f"Invalid signature: Expected HMAC SHA256 hex digest of "
                f"{socket_id}:{refused}, but got {'0' * 64}",
            },
        }
    await trigger(target, refused, "secret", {"n": 1})
    await nothing_more(raw)
    await raw.close()


async def test_second_subscription_and_invalid_names(target: Target) -> None:
    channel = unique("public")
    raw, socket_id = await connect(target)
    await subscribe(target, raw, socket_id, channel)
    await raw.recv_json()
    await subscribe(target, raw, socket_id, channel)
    again = await raw.recv_json()
    raw.send_json({"event": "pusher:subscribe", "data": {"channel": "bad name"}})
    invalid = await raw.recv_json()
    if target.name == SOKETI:
        # D3: soketi confirms the second subscription again and refuses a bad name with
        # a subscription_error (status 4009).
        assert again["event"] == "pusher_internal:subscription_succeeded"
        assert invalid["event"] == "pusher:subscription_error"
        assert invalid["data"]["status"] == 4009
    else:
        assert again == {
            "event": "pusher:error",
            "data": {"code": None, "message": f"Existing subscription to channel {channel}"},
        }
        assert invalid["event"] == "pusher:error"
        assert invalid["data"]["code"] is None
    await raw.close()


async def test_presence_members(target: Target) -> None:
    channel = unique("presence")
    (ann, ann_id), (bob, bob_id) = await connect(target), await connect(target)
    await subscribe(target, ann, ann_id, channel, {"user_id": "ann", "user_info": {"n": 1}})
    first = decoded(await ann.recv_json())
    assert first["data"] == {"presence": {"ids": ["ann"], "hash": {"ann": {"n": 1}}, "count": 1}}
    await subscribe(target, bob, bob_id, channel, {"user_id": "bob", "user_info": {"n": 2}})
    second = decoded(await bob.recv_json())
    assert second["data"]["presence"]["count"] == 2
    assert second["data"]["presence"]["hash"] == {"ann": {"n": 1}, "bob": {"n": 2}}
    added = decoded(await ann.recv_json())
    assert added == {
        "event": "pusher_internal:member_added",
        "channel": channel,
        "data": {"user_id": "bob", "user_info": {"n": 2}},
    }
    sdk = sdk_for(target)
    users = await asyncio.to_thread(sdk.users_info, channel)
    assert sorted(u["id"] for u in users["users"]) == ["ann", "bob"]
    info = await asyncio.to_thread(sdk.channel_info, channel, ["user_count"])
    assert info["occupied"] is True
    assert info["user_count"] == 2
    bob.send_json({"event": "pusher:unsubscribe", "data": {"channel": channel}})
    removed = decoded(await ann.recv_json())
    assert removed == {
        "event": "pusher_internal:member_removed",
        "channel": channel,
        "data": {"user_id": "bob"},
    }
    await nothing_more(bob)
    for raw in (ann, bob):
        await raw.close()


# ----------------------------------------------------------------- client events


async def test_client_events(target: Target) -> None:
    private, presence, public = unique("private"), unique("presence"), unique("public")
    (one, one_id), (two, two_id) = await connect(target), await connect(target)
    for raw, socket_id, user in ((one, one_id, "u1"), (two, two_id, "u2")):
        for channel in (private, presence, public):
            await subscribe(target, raw, socket_id, channel, {"user_id": user})
            await raw.recv_json()
    await one.recv_json()  # u2 joined the presence channel
    one.send_json({"event": "client-typing", "channel": private, "data": {"text": "hi"}})
    one.send_json({"event": "client-typing", "channel": presence, "data": "plain"})
    on_private, on_presence = await two.recv_json(), await two.recv_json()
    # D4: Pusher relays data as a string; soketi keeps the object as it came.
    sent_data: Any = {"text": "hi"} if target.name == SOKETI else '{"text":"hi"}'
    assert on_private == {"event": "client-typing", "channel": private, "data": sent_data}
    assert on_presence == {
        "event": "client-typing",
        "channel": presence,
        "data": "plain",
        "user_id": "u1",
    }
    await nothing_more(one)  # the sender does not hear itself

    one.send_json({"event": "client-typing", "channel": public, "data": {}})
    one.send_json({"event": "client-typing", "channel": unique("private"), "data": {}})
    if target.name == SOKETI:
        # D5: soketi relays client events on public channels and drops, silently, those
        # on channels the sender has not joined.
        assert (await two.recv_json())["channel"] == public
        await nothing_more(one)
    else:
        refusals = [(await one.recv_json())["data"]["message"] for _ in range(2)]
        assert "only supported on private and presence channels" in refusals[0]
        assert "not subscribed" in refusals[1]
        await nothing_more(two)
    for raw in (one, two):
        await raw.close()


# -------------------------------------------------------------- encryption, cache


async def test_encrypted_channel_events_decrypt_with_the_sdk_shared_secret(
    target: Target,
) -> None:
    channel = unique("private-encrypted")
    raw, socket_id = await connect(target)
    await subscribe(target, raw, socket_id, channel)
    assert (await raw.recv_json())["event"] == "pusher_internal:subscription_succeeded"
    await trigger(target, channel, "secret", {"n": 42})
    frame = await raw.recv_json()
    key = shared_secret(channel, base64.b64decode(MASTER_KEY_BASE64))
    assert json.loads(decrypt_data(frame["data"], key)) == {"n": 42}
    await raw.close()


async def test_cache_channels(target: Target) -> None:
    empty, filled = unique("cache"), unique("cache")
    await trigger(target, filled, "price", {"p": 1})
    await trigger(target, filled, "price", {"p": 2})
    raw, socket_id = await connect(target)
    for channel in (empty, filled):
        await subscribe(target, raw, socket_id, channel)
        assert (await raw.recv_json())["event"] == "pusher_internal:subscription_succeeded"
        cached = await raw.recv_json()
        if channel == empty:
            assert cached == {"event": "pusher:cache_miss", "channel": empty}
        else:
            assert cached == {"event": "price", "channel": filled, "data": '{"p": 2}'}
    await raw.close()


# ----------------------------------------------------------------------- sign-in


async def test_signin_and_server_to_user_events(target: Target) -> None:
    user_id = unique("user")
    raw, socket_id = await connect(target)
    answer = sdk_for(target).authenticate_user(socket_id, {"id": user_id})
    raw.send_json({"event": "pusher:signin", "data": answer})
    success = await raw.recv_json()
    assert success["event"] == "pusher:signin_success"
    # D7: the protocol doc's signin_success carries user_data; soketi echoes auth too.
    expected = dict(answer) if target.name == SOKETI else {"user_data": answer["user_data"]}
    assert success["data"] == expected
    raw.send_json({"event": "pusher:subscribe", "data": {"channel": f"#server-to-user-{user_id}"}})
    assert (await raw.recv_json())["event"] == "pusher_internal:subscription_succeeded"
    await asyncio.to_thread(sdk_for(target).send_to_user, user_id, "note", {"n": 1})
    assert await raw.recv_json() == {
        "event": "note",
        "channel": f"#server-to-user-{user_id}",
        "data": '{"n": 1}',
    }
    await raw.close()


async def test_a_refused_signin(target: Target) -> None:
    raw, _ = await connect(target)
    bad = {"auth": f"{APP_KEY}:{'0' * 64}", "user_data": '{"id":"x"}'}
    raw.send_json({"event": "pusher:signin", "data": bad})
    error = await raw.recv_json()
    assert error["event"] == "pusher:error"
    if target.name == SOKETI:
        # D8: soketi refuses with 4009 and closes the connection.
        assert error["data"]["code"] == 4009
        close = await raw.recv()
        assert (close.opcode, close.close_code) == (OPCODE_CLOSE, 4009)
    else:
        assert error["data"]["code"] is None
        raw.send_json({"event": "pusher:ping", "data": {}})
        assert (await raw.recv_json())["event"] == "pusher:pong", "still open"
    await raw.close()


# ---------------------------------------------------------------------- HTTP API


async def test_http_api_queries_and_refusals(target: Target) -> None:
    presence, public = unique("presence"), unique("public")
    raw, socket_id = await connect(target)
    await subscribe(target, raw, socket_id, presence, {"user_id": "ann"})
    await subscribe(target, raw, socket_id, public)
    for _ in range(2):
        await raw.recv_json()
    sdk = sdk_for(target)
    listed = await asyncio.to_thread(sdk.channels_info, presence, ["user_count"])
    empty = await asyncio.to_thread(sdk.channel_info, unique("public"))
    batch = [
        {"channel": public, "name": "b", "data": "1"},
        {"channel": public, "name": "b", "data": "2"},
    ]
    assert await asyncio.to_thread(sdk.trigger_batch, batch) in ({}, {"ok": True})
    assert [(await raw.recv_json())["data"] for _ in range(2)] == ["1", "2"]
    if target.name == SOKETI:
        # D10: soketi ignores `info` and always gives subscription_count and occupied.
        assert listed == {"channels": {presence: {"subscription_count": 1, "occupied": True}}}
        assert empty == {"subscription_count": 0, "occupied": False}
    else:
        assert listed == {"channels": {presence: {"user_count": 1}}}
        assert empty == {"occupied": False}
    wrong = pusher.Pusher(**{**_sdk_kwargs(target), "secret": "wrong"})
    if target.name == SOKETI:
        # D12: soketi refuses the signature but answers with status 200 (its headers
        # are written before the status), so the SDK reports success.
        answer = await asyncio.to_thread(wrong.trigger, public, "e", "d")
        assert answer == {"error": "The secret authentication failed", "code": 401}
    else:
        with pytest.raises(pusher.errors.PusherBadAuth, match="Invalid signature"):
            await asyncio.to_thread(wrong.trigger, public, "e", "d")
    await nothing_more(raw)
    await raw.close()


def _sdk_kwargs(target: Target) -> dict[str, Any]:
    return {
        "app_id": APP_ID,
        "key": APP_KEY,
        "secret": APP_SECRET,
        "host": "127.0.0.1",
        "port": target.port,
        "ssl": False,
    }


async def test_terminate_user_connections_with_the_python_sdk(target: Target) -> None:
    user_id = unique("user")
    raw, socket_id = await connect(target)
    answer = sdk_for(target).authenticate_user(socket_id, {"id": user_id})
    raw.send_json({"event": "pusher:signin", "data": answer})
    await raw.recv_json()
    terminate = sdk_for(target).terminate_user_connections
    if target.name == SOKETI:
        # D11: pusher-http-python 3.3 calls /users/<id>/terminate_connections (no
        # /apps/<id>), which soketi does not serve.
        with pytest.raises(pusher.errors.PusherBadStatus, match="404"):
            await asyncio.to_thread(terminate, user_id)
    else:
        assert await asyncio.to_thread(terminate, user_id) == {}
        close = await raw.recv()
        assert (close.opcode, close.close_code) == (OPCODE_CLOSE, 4009)
    await raw.close()


# ----------------------------------------------------------------------- restart


async def test_a_restarted_server_is_rejoined_by_the_client(target: Target) -> None:
    recorder = Recorder()
    channel, private = unique("public"), unique("private")
    sdk = sdk_for(target)

    def authorize(channel_name: str, socket_id: str, _options: Any) -> Any:
        return sdk.authenticate(channel_name, socket_id)

    async with PusherChannelsClient(
        **client_options(target), on_authorizer=authorize, **recorder.callbacks()
    ) as client:
        await client.subscribe(channel)
        await client.subscribe(private)
        await wait_until(lambda: len(recorder.succeeded) == 2, what="subscriptions")
        await asyncio.to_thread(target.restart)
        await wait_until(lambda: len(recorder.succeeded) == 4, timeout=20, what="resubscribed")
        assert client.connection_state is ConnectionState.CONNECTED
        for name in (channel, private):
            await trigger(target, name, "after", {"ok": True})
        await wait_until(lambda: len(recorder.events) == 2, what="events after the restart")
    assert sorted(name for name, _ in recorder.succeeded) == sorted([channel, private] * 2)
    assert recorder.subscription_errors == []
