"""``wait_subscribed(timeout)`` waits through retryable authorization failures.

The usual startup gate of a service (a FastAPI lifespan awaiting
``channel.wait_subscribed(timeout=10)``) must not crash on a 0.5 s blip of the auth
backend that the client retries by itself. It ends at once only on a final failure
(a refusal, ``unsubscribe()``, ``disconnect()``), and on timeout raises
``PusherTimeoutError`` with the last failure as its ``__cause__``. Against soketi
and a real HTTP authorization endpoint, asyncio and blocking clients alike.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import (
    AuthorizationError,
    PusherChannelsClient,
    PusherConnectionError,
    PusherError,
    PusherTimeoutError,
    SubscriptionError,
)
from pusher_channels import sync as blocking
from tests.support.recorder import Recorder, wait_until

_names = itertools.count()


def unique(prefix: str) -> str:
    """A channel name of the given kind that no other test uses."""
    return f"{prefix}-wait-{next(_names)}-{int(time.time() * 1000) % 100000}"


async def test_wait_subscribed_waits_through_two_503s(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    recorder = Recorder()
    name = unique("private")
    auth_server.failure = Failure(status=503, body="deploying", times=2)
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    ) as client:
        channel = await client.subscribe(name)
        started = time.monotonic()
        await channel.wait_subscribed(timeout=10)
        took = time.monotonic() - started
        assert channel.subscribed
    assert len(auth_server.requests_for(name)) == 3
    statuses = [getattr(error, "status", None) for _, error in recorder.subscription_errors]
    assert statuses == [503, 503]
    assert took < 5.0  # two retries: 0.5 s and 1 s at most


def test_blocking_wait_subscribed_waits_through_two_503s(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    name = unique("private")
    auth_server.failure = Failure(status=503, body="deploying", times=2)
    with blocking.PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = client.subscribe(name)
        channel.wait_subscribed(timeout=10)
        assert channel.subscribed
    assert len(auth_server.requests_for(name)) == 3


async def test_a_refusal_after_retryable_failures_ends_the_wait_at_once(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Two 503s are waited through; the 403 that follows is final: raised at once."""
    name = unique("private")
    auth_server.failure = Failure(status=503, body="deploying", times=2)

    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = await client.subscribe(name)
        await wait_until(lambda: len(auth_server.requests_for(name)) >= 2, what="2 requests")
        auth_server.failure = Failure(status=403, body='{"error":"not yours"}')
        started = time.monotonic()
        with pytest.raises(AuthorizationError) as raised:
            await channel.wait_subscribed(timeout=10)
        took = time.monotonic() - started
    assert raised.value.status == 403
    assert not raised.value.retryable
    assert took < 3.0


async def test_a_timeout_while_retrying_raises_pusher_timeout_error_from_the_last_failure(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    name = unique("private")
    auth_server.failure = Failure(status=503, body="down for good")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = await client.subscribe(name)
        started = time.monotonic()
        with pytest.raises(PusherTimeoutError) as raised:
            await channel.wait_subscribed(timeout=2)
        took = time.monotonic() - started
        assert client.connection_state == "CONNECTED"
    assert 1.9 <= took < 4.0
    assert isinstance(raised.value, TimeoutError)
    cause = raised.value.__cause__
    assert isinstance(cause, AuthorizationError)
    assert cause.status == 503
    assert cause.retry_in is not None
    assert name in str(raised.value)
    assert "HTTP 503" in str(raised.value)  # the last failure, said in the message too


def test_blocking_timeout_while_retrying_raises_pusher_timeout_error_from_the_last_failure(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    name = unique("private")
    auth_server.failure = Failure(status=503, body="down for good")
    with blocking.PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = client.subscribe(name)
        with pytest.raises(PusherTimeoutError) as raised:
            channel.wait_subscribed(timeout=1.5)
    cause = raised.value.__cause__
    assert isinstance(cause, AuthorizationError)
    assert cause.status == 503


@pytest.mark.parametrize("ending", ["unsubscribe", "disconnect"])
async def test_unsubscribe_or_disconnect_ends_a_wait_through_retries_at_once(
    soketi: SoketiServer, auth_server: AuthServer, ending: str
) -> None:
    name = unique("private")
    auth_server.failure = Failure(status=503, body="down for good")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        channel = await client.subscribe(name)
        waiting = asyncio.ensure_future(channel.wait_subscribed(timeout=30))
        await wait_until(lambda: len(auth_server.requests_for(name)) >= 2, what="2 requests")
        await asyncio.sleep(0.1)
        assert not waiting.done(), "still waiting through the retries"
        started = time.monotonic()
        if ending == "unsubscribe":
            await channel.unsubscribe()
        else:
            await client.disconnect()
        with pytest.raises(PusherError) as raised:
            await asyncio.wait_for(waiting, 5)
        took = time.monotonic() - started
    expected = SubscriptionError if ending == "unsubscribe" else PusherConnectionError
    assert isinstance(raised.value, expected)
    assert not isinstance(raised.value, PusherTimeoutError)
    assert took < 1.0
