"""Authorization for production networks, against soketi and a real endpoint signing
with the official ``pusher`` SDK: batched requests (pusher-js-auth's wire format),
one retry with fresh credentials after a 401/403, a cap on the answer's size, and a
warning when credentials would cross the network in the clear."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import (
    AuthorizationError,
    PusherChannelsClient,
    PusherConfigError,
    SigninError,
    SubscriptionError,
)
from pusher_channels.auth import EndpointAuthorizer
from pusher_channels.options import parse_options
from tests.support.recorder import Recorder, wait_until

_numbers = itertools.count()


@pytest.fixture
def own_auth(own_soketi: SoketiServer) -> Iterator[AuthServer]:
    """An endpoint signing for the test's own soketi (which the test may restart)."""
    server = AuthServer(own_soketi.server_sdk())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def names(prefix: str, count: int) -> list[str]:
    n = next(_numbers)
    return [f"{prefix}-{n}-{i}" for i in range(count)]


async def test_batched_authorization_asks_once_for_many_channels_and_again_after_a_restart(
    own_soketi: SoketiServer, own_auth: AuthServer
) -> None:
    channels = [
        *names("private-batch", 12),
        *names("presence-batch", 3),
        *names("private-encrypted-batch", 2),
    ]
    recorder = Recorder()
    client = PusherChannelsClient(
        **own_soketi.client_options(),
        auth_endpoint=own_auth.batch_url,
        auth_batching=True,
        **recorder.callbacks(),
    )
    for name in channels:
        await client.subscribe(name)
    await client.connect()
    try:
        await wait_until(lambda: len(recorder.succeeded) == 17, what="every channel")
        assert len(own_auth.requests) == 1
        asked = own_auth.requests[0]
        assert asked.path == "/pusher/auth-batch"
        assert sorted(asked.channel_names) == sorted(channels)
        assert "socket_id" in asked.form

        own_soketi.kill()
        await wait_until(lambda: not client.channels[channels[0]].subscribed, what="the drop")
        await asyncio.to_thread(own_soketi.start)
        await wait_until(lambda: len(recorder.succeeded) == 34, timeout=20, what="again")
        assert len(own_auth.requests) == 2, "one request per reconnection"
        assert recorder.subscription_errors == []
    finally:
        await client.disconnect()


async def test_a_batch_is_cut_at_its_size_and_channels_fail_alone(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    channels = names("private-cut", 5)
    refused, omitted = channels[1], channels[3]
    auth_server.batch_statuses[refused] = 403
    auth_server.batch_omits.add(omitted)
    recorder = Recorder()
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        auth_batch_size=2,
        **recorder.callbacks(),
    ) as client:
        subscribed = [await client.subscribe(name) for name in channels]
        for channel in (subscribed[0], subscribed[2], subscribed[4]):
            await channel.wait_subscribed(timeout=5)
        with pytest.raises(AuthorizationError) as refusal:
            await subscribed[1].wait_subscribed(timeout=5)
        with pytest.raises(AuthorizationError) as missing:
            await subscribed[3].wait_subscribed(timeout=5)

    assert refusal.value.status == 403
    assert refusal.value.channel_name == refused
    assert missing.value.status == 404
    assert "left it out of the batch" in missing.value.message
    failed = [error for _, error in recorder.subscription_errors]
    assert all(isinstance(error, AuthorizationError) for error in failed)
    assert {error.channel_name for error in failed if isinstance(error, AuthorizationError)} == {
        refused,
        omitted,
    }
    batches = [r.channel_names for r in auth_server.requests]
    assert sorted(len(b) for b in batches) == [1, 2, 2]
    assert sorted(name for batch in batches for name in batch) == sorted(channels)


async def test_a_whole_batch_refused_fails_each_channel_with_the_status(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.failure = Failure(status=403, body='{"error": "forbidden"}')
    errors: list[SubscriptionError] = []
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        on_subscription_error=lambda message, error: errors.append(error),
    ) as client:
        for name in names("private-refused", 3):
            await client.subscribe(name)
        await wait_until(lambda: len(errors) == 3, what="three failures")
    assert {error.status for error in errors} == {403}
    assert len(auth_server.requests) == 1


def test_batching_needs_an_endpoint_and_sane_sizes() -> None:
    with pytest.raises(PusherConfigError, match="auth_endpoint"):
        parse_options({"api_key": "k", "cluster": "eu", "auth_batching": True})
    for bad in ({"auth_batch_size": 0}, {"auth_batch_delay": -1}, {"max_auth_response_bytes": 0}):
        with pytest.raises(PusherConfigError):
            parse_options({"api_key": "k", "cluster": "eu", **bad})


@pytest.mark.parametrize("batching", [False, True], ids=["single", "batched"])
async def test_a_failing_headers_callable_is_reported_at_once_with_its_cause(
    soketi: SoketiServer, auth_server: AuthServer, batching: bool
) -> None:
    """Item 8 of issue 20: a ``headers`` callable that raises (here no token in the
    vault) fails each channel at once with that cause, batched or not, and leaves
    nothing for the event loop's exception handler ("Task exception was never
    retrieved")."""
    loop = asyncio.get_running_loop()
    unhandled: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(str(context.get("message"))))

    def headers() -> dict[str, str]:
        raise ValueError("no token in the vault")

    failures: list[tuple[float, SubscriptionError]] = []
    started = time.monotonic()
    try:
        async with PusherChannelsClient(
            **soketi.client_options(),
            auth_endpoint=auth_server.batch_url if batching else auth_server.url,
            auth_batching=batching,
            auth_timeout=5,
            auth_params={"headers": headers},
            on_subscription_error=lambda message, error: failures.append(
                (time.monotonic() - started, error)
            ),
        ) as client:
            for name in names("private-vault", 3):
                await client.subscribe(name)
            with contextlib.suppress(AssertionError):  # the assertions below say why
                await wait_until(lambda: len(failures) >= 3, timeout=8)
        gc.collect()  # an exception never retrieved is reported when its task goes
    finally:
        loop.set_exception_handler(previous)
    assert [round(at, 1) for at, _ in failures if at > 1.0] == [], "waited for auth_timeout"
    assert len(failures) == 3
    for _, error in failures:
        assert isinstance(error, AuthorizationError)
        assert isinstance(error.__cause__, ValueError)
        assert "ValueError: no token in the vault" in error.message
    assert unhandled == []
    assert auth_server.requests == []


@pytest.mark.parametrize(
    ("rule", "asks"),
    [("fixed headers", 1), ("callable headers", 2), ("on_auth_failure says no", 1)],
)
async def test_a_401_inside_a_batch_follows_the_single_request_refresh_rule(
    soketi: SoketiServer, auth_server: AuthServer, rule: str, asks: int
) -> None:
    """Item 8 of issue 20: a batch answer giving one channel 401 is a 401 as a single
    request's is: ``on_auth_failure`` hears of it and decides; without it, callable
    headers are evaluated again for one more request, fixed ones are not. A second
    401 fails the channel (never a loop); the other channel is asked for once."""
    refused, fine = names("private-entry", 2)
    auth_server.batch_statuses[refused] = 401  # the retry is refused too
    asked: list[tuple[str, int | None]] = []

    def says_no(error: AuthorizationError | SigninError) -> bool:
        asked.append(
            (error.channel_name if isinstance(error, AuthorizationError) else "", error.status)
        )
        return False

    rules: dict[str, dict[str, Any]] = {
        "fixed headers": {"auth_params": {"headers": {"Authorization": "Bearer t"}}},
        "callable headers": {"auth_params": {"headers": lambda: {"Authorization": "Bearer t"}}},
        "on_auth_failure says no": {
            "auth_params": {"headers": lambda: {"Authorization": "Bearer t"}},
            "on_auth_failure": says_no,
        },
    }
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        **rules[rule],
    ) as client:
        refused_channel = await client.subscribe(refused)
        fine_channel = await client.subscribe(fine)
        await fine_channel.wait_subscribed(timeout=5)
        with pytest.raises(AuthorizationError) as refusal:
            await refused_channel.wait_subscribed(timeout=5)
    assert refusal.value.status == 401
    assert len(auth_server.requests_for(refused)) == asks
    assert len(auth_server.requests_for(fine)) == 1
    if rule == "on_auth_failure says no":
        assert asked == [(refused, 401)]


async def test_a_401_inside_a_batch_is_retried_after_on_auth_failure_refreshes(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Item 8 of issue 20: ``on_auth_failure`` fetches a new token after a batch entry's
    401; the refused channel is asked for once more, alone, and subscribed."""
    refused, fine = names("private-refresh-entry", 2)
    auth_server.batch_statuses[refused] = 401
    asked: list[tuple[str, int | None]] = []

    async def on_auth_failure(error: AuthorizationError | SigninError) -> bool:
        assert isinstance(error, AuthorizationError)
        asked.append((error.channel_name, error.status))
        del auth_server.batch_statuses[refused]  # what the new token changes
        return True

    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.batch_url,
        auth_batching=True,
        on_auth_failure=on_auth_failure,
    ) as client:
        channels = [await client.subscribe(name) for name in (refused, fine)]
        for channel in channels:
            await channel.wait_subscribed(timeout=5)
    assert asked == [(refused, 401)]
    assert sorted(len(r.channel_names) for r in auth_server.requests) == [1, 2]
    assert auth_server.requests[-1].channel_names == [refused]


async def test_a_401_is_retried_once_with_headers_evaluated_again(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.bearer_token = "fresh"
    tokens = iter(["expired", "fresh", "fresh"])
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"headers": lambda: {"Authorization": f"Bearer {next(tokens)}"}},
    ) as client:
        channel = await client.subscribe(names("private-refresh", 1)[0])
        await channel.wait_subscribed(timeout=5)
    assert [r.headers["authorization"] for r in auth_server.requests] == [
        "Bearer expired",
        "Bearer fresh",
    ]


async def test_fixed_headers_are_not_retried_and_on_auth_failure_decides(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.bearer_token = "fresh"
    token = {"value": "expired"}
    asked: list[Any] = []

    async def on_auth_failure(error: AuthorizationError | SigninError) -> bool:
        asked.append((type(error).__name__, error.status))
        token["value"] = "fresh"  # as an app would, after fetching a new token
        return True

    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"headers": {"Authorization": "Bearer expired"}},
    ) as fixed:
        channel = await fixed.subscribe(names("private-fixed", 1)[0])
        with pytest.raises(AuthorizationError) as refusal:
            await channel.wait_subscribed(timeout=5)
        assert refusal.value.status == 401
    assert len(auth_server.requests) == 1, "fixed headers cannot get better: no retry"

    del auth_server.requests[:]
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"headers": lambda: {"Authorization": f"Bearer {token['value']}"}},
        on_auth_failure=on_auth_failure,
    ) as hooked:
        channel = await hooked.subscribe(names("private-hooked", 1)[0])
        await channel.wait_subscribed(timeout=5)
    assert asked == [("AuthorizationError", 401)]
    assert len(auth_server.requests) == 2


async def test_sign_in_is_retried_after_on_auth_failure_too(signin_soketi: SoketiServer) -> None:
    endpoint = AuthServer(signin_soketi.server_sdk(), bearer_token="fresh")
    endpoint.users["ann"] = {"user_id": "ann-1"}
    endpoint.start()
    token = {"value": "expired"}
    asked: list[int | None] = []

    def on_auth_failure(error: AuthorizationError | SigninError) -> bool:
        asked.append(error.status)
        token["value"] = "fresh"
        return True

    try:
        async with PusherChannelsClient(
            **signin_soketi.client_options(),
            user_auth_endpoint=endpoint.user_auth_url,
            user_auth_params={
                "params": {"user": "ann"},
                "headers": lambda: {"Authorization": f"Bearer {token['value']}"},
            },
            on_auth_failure=on_auth_failure,
        ) as client:
            user = await client.signin()
    finally:
        endpoint.stop()
    assert user is not None
    assert user["id"] == "ann-1"
    assert asked == [401]
    assert [r.headers["authorization"] for r in endpoint.requests] == [
        "Bearer expired",
        "Bearer fresh",
    ]


async def test_on_auth_failure_returning_false_means_no_retry(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.bearer_token = "fresh"
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"headers": lambda: {"Authorization": "Bearer expired"}},
        on_auth_failure=lambda error: False,
    ) as client:
        channel = await client.subscribe(names("private-no-retry", 1)[0])
        with pytest.raises(AuthorizationError):
            await channel.wait_subscribed(timeout=5)
    assert len(auth_server.requests) == 1


async def test_an_oversized_answer_fails_that_authorization_clearly(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.failure = Failure(status=200, body=json.dumps({"auth": "x" * 100_000}))
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = await client.subscribe(names("private-huge", 1)[0])
        with pytest.raises(AuthorizationError, match=r"more than 65,536 bytes"):
            await channel.wait_subscribed(timeout=5)
    async with PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        max_auth_response_bytes=200_000,
    ) as roomy:
        channel = await roomy.subscribe(names("private-roomy", 1)[0])
        with pytest.raises(SubscriptionError) as refusal:  # read whole; soketi refuses it
            await channel.wait_subscribed(timeout=5)
        assert "bytes" not in refusal.value.message


async def test_credentials_over_plain_http_are_warned_of_once_but_not_for_localhost(
    auth_server: AuthServer,
) -> None:
    local = EndpointAuthorizer(auth_server.url, headers={"Authorization": "Bearer t"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await local("private-x", "1.2")
        await local.aclose()
    assert caught == []

    remote = EndpointAuthorizer(
        "http://auth.invalid/pusher/auth?token=q-91b2",
        headers={"Authorization": "Bearer t-secret"},
        timeout=2.0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            with pytest.raises(AuthorizationError) as failure:
                await remote("private-x", "1.2")
        await remote.aclose()
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "plain http://" in text
    assert "q-91b2" not in text
    assert "t-secret" not in text
    assert "q-91b2" not in failure.value.message
    assert "auth.invalid/pusher/auth?***" in failure.value.message


def test_the_options_repr_shows_no_credential() -> None:
    options = parse_options(
        {
            "api_key": "key",
            "host": "127.0.0.1",
            "auth_endpoint": "https://api.example.com/auth?token=q-77aa",
            "auth_params": {
                "headers": {"Authorization": "Bearer b-12cd", "Accept": "application/json"},
                "params": {"session": "s-34ef"},
            },
            "proxy": "http://proxyuser:p-56ab@proxy.example:3128",
            "secret": "app-secret-9f",
        }
    )
    text = repr(options)
    for secret in ("q-77aa", "b-12cd", "s-34ef", "p-56ab", "app-secret-9f"):
        assert secret not in text
    assert "proxyuser:***@proxy.example:3128" in text
    assert "'Accept': 'application/json'" in text
    assert "https://api.example.com/auth?***" in text
