"""Private, presence and encrypted channels on soketi, authorized by a real endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import MASTER_KEY_BASE64, SoketiServer

from pusher_channels import (
    AuthorizationError,
    ClientEventError,
    ConnectionState,
    PusherChannelsClient,
    PusherEvent,
    PusherMember,
    SubscriptionError,
)
from pusher_channels.testing import PusherTestServer
from tests.support.recorder import Recorder, wait_until

_names = itertools.count()


@pytest.fixture
def signing_soketi(tmp_path: Path) -> Iterator[SoketiServer]:
    """A soketi with sign-in on and client events limited to 2 per second."""
    server = SoketiServer(
        log_path=tmp_path / "soketi.log",
        extra_env={
            "SOKETI_DEFAULT_APP_USER_AUTHENTICATION": "true",
            "SOKETI_USER_AUTHENTICATION_TIMEOUT": "600000",
            "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC": "2",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def unique(prefix: str) -> str:
    """A channel name of the given kind that no other test uses."""
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


async def test_private_channel_via_endpoint_sends_params_and_headers(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    tokens = iter(["token-1", "token-2"])
    name = unique("private")
    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={
            "params": {"team": "blue"},
            "headers": lambda: {"Authorization": f"Bearer {next(tokens)}", "X-CSRF-Token": "c"},
        },
        **recorder.callbacks(),
    )
    async with client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="private subscription")
        await asyncio.to_thread(soketi.server_sdk().trigger, name, "secret-plan", {"step": 1})
        await wait_until(lambda: len(recorder.events) == 1, what="the private event")
        socket_id = await client.get_socket_id()
    assert recorder.events[0].json() == {"step": 1}
    [request] = auth_server.requests_for(name)
    assert request.form == {"socket_id": socket_id, "channel_name": name, "team": "blue"}
    assert request.headers["authorization"] == "Bearer token-1"
    assert request.headers["x-csrf-token"] == "c"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_private_channel_via_on_authorizer(soketi: SoketiServer, asynchronous: bool) -> None:
    sdk = soketi.server_sdk()
    calls: list[tuple[str, str]] = []

    def sign(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        calls.append((channel_name, socket_id))
        answer: dict[str, Any] = sdk.authenticate(channel_name, socket_id)
        return answer

    async def sign_async(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return sign(channel_name, socket_id, options)

    recorder = Recorder()
    name = unique("private")
    async with PusherChannelsClient(
        **soketi.client_options(),
        on_authorizer=sign_async if asynchronous else sign,
        **recorder.callbacks(),
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="subscription")
        assert calls == [(name, await client.get_socket_id())]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Failure(status=403, body='{"error":"forbidden for you"}'), "HTTP 403"),
        (Failure(status=500, body="database down"), "HTTP 500"),
        (Failure(body="this is not json"), "not JSON"),
        (Failure(body='{"no_auth": true}'), "no 'auth'"),
    ],
)
async def test_endpoint_failures_reach_subscription_error_and_retry_works(
    soketi: SoketiServer, auth_server: AuthServer, failure: Failure, expected: str
) -> None:
    recorder = Recorder()
    per_channel: list[tuple[str, Any]] = []
    name = unique("private")
    auth_server.failure = failure
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(
            name, on_subscription_error=lambda message, error: per_channel.append((message, error))
        )
        await wait_until(lambda: len(recorder.subscription_errors) == 1, what="the error")
        message, error = recorder.subscription_errors[0]
        assert isinstance(error, AuthorizationError)
        assert error.channel_name == name
        assert expected in message
        assert name in message
        if failure.status != 200:
            assert error.status == failure.status
        assert per_channel == [(message, error)]
        assert not channel.subscribed
        assert client.connection_state == "CONNECTED"

        auth_server.failure = None
        await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="the retried subscription")
    assert len(recorder.subscription_errors) == 1


async def test_each_automatic_retry_that_fails_is_reported_with_its_attempt(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    name = unique("private")
    auth_server.failure = Failure(status=503, body="try later")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: len(recorder.subscription_errors) == 2, what="two failures")
        auth_server.failure = None
        await wait_until(lambda: channel.subscribed, what="the third, automatic, attempt")
    [(first, first_error), (second, second_error)] = recorder.subscription_errors
    assert isinstance(first_error, AuthorizationError)
    assert isinstance(second_error, AuthorizationError)
    # 0.5 s, then 1 s, less up to half of each: the reconnection backoff's jitter.
    assert first_error.attempt == 1
    assert first_error.retry_in is not None
    assert 0.25 <= first_error.retry_in <= 0.5
    assert second_error.attempt == 2
    assert second_error.retry_in is not None
    assert 0.5 <= second_error.retry_in <= 1.0
    assert first.endswith(
        f"HTTP 503: try later (attempt 1, retrying in {first_error.retry_in:.1f} s)"
    )
    assert second.endswith(
        f"HTTP 503: try later (attempt 2, retrying in {second_error.retry_in:.1f} s)"
    )


async def test_an_auth_outage_longer_than_eight_retries_ends_subscribed_on_the_same_connection(
    soketi: SoketiServer, auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20, item 1: the endpoint answers 503 for 8 s, longer than eight retries
    last with a maximum gap of 0.5 s. The channel is retried all along and subscribed
    within a gap of the endpoint's recovery, on the connection it started on. The
    outage is one WARNING line, not one per retry: the retries are logged at INFO."""
    caplog.set_level(logging.INFO, logger="pusher_channels")
    recorder = Recorder()
    name = unique("private")
    auth_server.failure = Failure(status=503, body="maintenance")
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        max_reconnect_gap_in_seconds=0.5,
        **recorder.callbacks(),
    ) as client:
        socket_id = await client.get_socket_id()
        channel = await client.subscribe(name)
        await asyncio.sleep(8.0)
        asked_during_outage = len(auth_server.requests_for(name))
        auth_server.failure = None
        took = await wait_until(lambda: channel.subscribed, 20.0, "the subscription")
        assert took < 2.0, f"subscribed {took:.1f} s after the endpoint recovered"
        assert await client.get_socket_id() == socket_id
        assert client.connection_state == "CONNECTED"
    assert asked_during_outage > 9, "more than eight retries"
    assert ConnectionState.RECONNECTING not in recorder.current_states
    failures = [r for r in caplog.records if r.getMessage().startswith("subscription to")]
    warnings = [r.getMessage() for r in failures if r.levelno >= logging.WARNING]
    assert len(failures) > 9
    assert len(warnings) == 1, warnings
    assert "(attempt 1, retrying in" in warnings[0]
    for _, error in recorder.subscription_errors:
        assert isinstance(error, AuthorizationError)
        assert error.retry_in is not None, "never given up"


async def test_unreachable_and_slow_endpoints(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint="http://127.0.0.1:9/none", **recorder.callbacks()
    ) as client:
        await client.subscribe(unique("private"))
        await wait_until(lambda: len(recorder.subscription_errors) == 1, what="refused")
    assert "cannot connect to http://127.0.0.1:9/none" in recorder.subscription_errors[0][0]


@contextlib.asynccontextmanager
async def misbehaving_endpoint(reset: bool) -> AsyncIterator[str]:
    """An endpoint that accepts the connection, reads the request and then closes it
    without answering (``reset``: with a TCP reset); yields its URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/pusher/auth"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        (False, "closed the connection without an answer"),
        (True, "the connection to {url} broke before it answered"),
    ],
)
async def test_an_endpoint_that_closes_is_not_called_unreachable(
    soketi: SoketiServer, reset: bool, expected: str
) -> None:
    """The endpoint was reached: the message says what it did instead."""
    recorder = Recorder()
    async with (
        misbehaving_endpoint(reset) as url,
        PusherChannelsClient(
            **soketi.client_options(), auth_endpoint=url, **recorder.callbacks()
        ) as client,
    ):
        await client.subscribe(unique("private"))
        await wait_until(lambda: len(recorder.subscription_errors) >= 1, what="the failure")
    message, error = recorder.subscription_errors[0]
    assert expected.format(url=url) in message
    assert "cannot reach" not in message
    assert "cannot connect" not in message
    assert isinstance(error, AuthorizationError)
    assert error.retryable


async def test_twenty_channels_authorize_concurrently(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.delay = 0.05
    recorder = Recorder()
    names = [unique("private") for _ in range(20)]
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    ) as client:
        started = time.monotonic()
        for name in names:
            await client.subscribe(name)
        await wait_until(lambda: len(recorder.succeeded) == 20, what="20 subscriptions")
        elapsed = time.monotonic() - started
    print(f"20 private channels behind a 50 ms endpoint subscribed in {elapsed * 1000:.0f} ms")
    assert elapsed < 20 * 0.05 / 2, f"took {elapsed:.2f} s: not concurrent"


async def test_presence_members_and_client_events(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    name = unique("presence")
    auth_server.users = {
        "ada": {"user_id": 1, "user_info": {"name": "Ada"}},
        "bob": {"user_id": "2", "user_info": {"name": "Bob"}},
    }

    def client_for(user: str, recorder: Recorder) -> PusherChannelsClient:
        return PusherChannelsClient(
            **soketi.client_options(),
            auth_endpoint=auth_server.url,
            auth_params={"params": {"user": user}},
            **recorder.callbacks(),
        )

    ada_log, bob_log = Recorder(), Recorder()
    async with client_for("ada", ada_log) as ada:
        ada_channel = await ada.subscribe(name)
        await wait_until(lambda: ada_channel.subscribed, what="ada subscribed")
        assert ada_channel.me is not None
        assert ada_channel.me.user_id == "1"
        assert set(ada_channel.members) == {"1"}

        async with client_for("bob", bob_log) as bob:
            bob_channel = await bob.subscribe(name)
            await wait_until(lambda: bob_channel.subscribed, what="bob subscribed")
            assert set(bob_channel.members) == {"1", "2"}
            assert bob_channel.members["1"].user_info == {"name": "Ada"}
            # Ada's numeric id is a string everywhere: members, and the ids given to
            # on_subscription_succeeded.
            [(_, bob_data)] = bob_log.succeeded
            assert sorted(bob_data["presence"]["ids"]) == ["1", "2"]
            assert set(bob_data["presence"]["hash"]) == {"1", "2"}
            # members is a read-only view of the live member list.
            members = bob_channel.members
            with pytest.raises(TypeError):
                members["3"] = PusherMember("3")  # type: ignore[index]
            assert set(members) == {"1", "2"}
            await wait_until(lambda: len(ada_log.members_added) == 1, what="bob joins")
            assert ada_log.members_added[0][0] == name
            assert ada_log.members_added[0][1].user_id == "2"
            assert set(ada_channel.members) == {"1", "2"}

            await bob_channel.trigger(event_name="client-wave", data={"from": "bob"})
            await ada_channel.trigger(PusherEvent(name, "client-wave", "hi from ada"))
            await wait_until(lambda: len(ada_log.events_named("client-wave")) == 1, what="wave")
            await wait_until(lambda: len(bob_log.events_named("client-wave")) == 1, what="wave")
        await wait_until(lambda: len(ada_log.members_removed) == 1, what="bob leaves")

    wave_to_ada = ada_log.events_named("client-wave")[0]
    assert wave_to_ada.user_id == "2"
    assert wave_to_ada.json() == {"from": "bob"}
    assert wave_to_ada.data == '{"from":"bob"}'
    wave_to_bob = bob_log.events_named("client-wave")[0]
    assert wave_to_bob.user_id == "1"
    assert wave_to_bob.data == "hi from ada"
    assert ada_log.members_removed[0][1].user_id == "2"
    assert set(ada_channel.members) == set()  # reset once disconnected


async def test_client_event_rules_raise(soketi: SoketiServer, auth_server: AuthServer) -> None:
    public, private = unique("public"), unique("private")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        public_channel = await client.subscribe(public)
        private_channel = await client.subscribe(private)
        await wait_until(lambda: private_channel.subscribed and public_channel.subscribed)
        with pytest.raises(ClientEventError, match="client-"):
            await private_channel.trigger(event_name="no-prefix", data={})
        with pytest.raises(ClientEventError, match="private or presence"):
            await public_channel.trigger(event_name="client-x", data={})
        with pytest.raises(ClientEventError, match="not subscribed"):
            await client.trigger(PusherEvent("private-never", "client-x", {}))
        encrypted = await client.subscribe(unique("private-encrypted"))
        await wait_until(lambda: encrypted.subscribed, what="encrypted subscription")
        with pytest.raises(ClientEventError, match="encrypted"):
            await encrypted.trigger(event_name="client-x", data={})
        await private_channel.trigger(event_name="client-ok", data=["a", "list"])
    with pytest.raises(ClientEventError):
        await private_channel.trigger(event_name="client-late", data={})


async def test_encrypted_events_are_decrypted(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    name = unique("private-encrypted")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="encrypted subscription")
        sdk = soketi.server_sdk()
        await asyncio.to_thread(sdk.trigger, name, "sealed", {"msg": "for your eyes only"})
        await wait_until(lambda: len(recorder.events) == 1, what="the encrypted event")
    event = recorder.events[0]
    assert event.json() == {"msg": "for your eyes only"}
    assert "ciphertext" not in str(event.data)


async def test_wrong_shared_secret_reauthorizes_once_then_reports(
    soketi: SoketiServer,
) -> None:
    sdk = soketi.server_sdk()
    calls: list[str] = []
    failures: list[tuple[str, str]] = []

    def wrong_secret(channel_name: str, socket_id: str, options: Any) -> dict[str, Any]:
        calls.append(socket_id)
        answer: dict[str, Any] = sdk.authenticate(channel_name, socket_id)
        answer["shared_secret"] = "A" * 43 + "="  # a valid 32-byte key, but the wrong one
        return answer

    recorder = Recorder()
    name = unique("private-encrypted")
    async with PusherChannelsClient(
        **soketi.client_options(),
        on_authorizer=wrong_secret,
        on_decryption_failure=lambda event, reason: failures.append((event, reason)),
        **recorder.callbacks(),
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="subscription")
        await asyncio.to_thread(sdk.trigger, name, "sealed", {"n": 1})
        await wait_until(lambda: len(failures) == 1, what="the decryption failure")
        assert client.connection_state == "CONNECTED"
    assert len(calls) == 2, "one authorization, then exactly one re-authorization"
    assert failures[0][0] == "sealed"
    assert recorder.events == []


async def test_slow_endpoint_times_out_then_retry_succeeds(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    name = unique("private")
    auth_server.failure = Failure(delay=1.0)
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_timeout=0.3,
        **recorder.callbacks(),
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: len(recorder.subscription_errors) == 1, what="the timeout")
        assert "timed out" in recorder.subscription_errors[0][0]
        assert client.connection_state == "CONNECTED"
        auth_server.failure = None
        await client.subscribe(name)
        await wait_until(lambda: channel.subscribed, what="the retried subscription")


async def test_local_signing_with_the_secret(signing_soketi: SoketiServer) -> None:
    """``secret=`` signs private, presence and encrypted channels and sign-in in-process."""
    recorder = Recorder()
    sdk = signing_soketi.server_sdk()
    async with PusherChannelsClient(
        **signing_soketi.client_options(),
        secret=signing_soketi.secret,
        presence_channel_data={"user_id": "tool", "user_info": {"name": "Internal tool"}},
        encryption_master_key_base64=MASTER_KEY_BASE64,
        user_data={"id": "tool"},
        **recorder.callbacks(),
    ) as client:
        names = ["private-ops", "presence-ops", "private-encrypted-ops"]
        for name in names:
            await client.subscribe(name)
        await wait_until(lambda: len(recorder.succeeded) == 3, what="three subscriptions")
        presence = client.get_channel("presence-ops")
        assert presence is not None
        assert presence.me is not None
        assert presence.me.user_info == {"name": "Internal tool"}
        assert await client.signin() == {"id": "tool"}
        await asyncio.to_thread(sdk.trigger, "private-encrypted-ops", "sealed", {"n": 5})
        await wait_until(lambda: len(recorder.events) == 1, what="the encrypted event")
    assert recorder.events[0].json() == {"n": 5}
    assert recorder.subscription_errors == []


async def test_client_event_rate_limit_reaches_on_error(signing_soketi: SoketiServer) -> None:
    recorder = Recorder()
    async with PusherChannelsClient(
        **signing_soketi.client_options(), secret=signing_soketi.secret, **recorder.callbacks()
    ) as client:
        channel = await client.subscribe("private-chatty")
        await wait_until(lambda: channel.subscribed, what="subscription")
        for n in range(5):
            await channel.trigger(event_name="client-burst", data={"n": n})
        await wait_until(lambda: any(code == 4301 for _, code, _ in recorder.errors), what="4301")
        assert client.connection_state == "CONNECTED"


async def test_a_bad_signature_refused_as_pusher_refuses_it_fails_that_channel(
    pusher_server: PusherTestServer,
) -> None:
    """The hosted service answers a bad signature with ``pusher:error`` and no channel
    field (PusherTestServer does as it does): the channel fails at once, through
    ``on_subscription_error`` and ``wait_subscribed()``, instead of waiting forever."""
    errors: list[Any] = []

    def wrong(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
        return {"auth": f"{pusher_server.settings.key}:{'0' * 64}"}

    async with PusherChannelsClient(
        **pusher_server.client_kwargs(),
        on_authorizer=wrong,
        on_subscription_error=lambda message, error: errors.append(error),
    ) as client:
        channel = await client.subscribe("private-wrongly-signed")
        with pytest.raises(SubscriptionError, match="Invalid signature"):
            await channel.wait_subscribed(timeout=5)
        assert client.connection_state is ConnectionState.CONNECTED
    assert [error.channel_name for error in errors] == ["private-wrongly-signed"]
