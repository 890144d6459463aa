"""The blocking client and ``async def`` callbacks: it runs callbacks on a thread and
cannot await them, so it refuses them where they are given, instead of dropping every
call with a "coroutine was never awaited" warning. Authorizers, which return an
answer, may still be async (they are awaited on the loop thread).

Runs on the in-process test server (``pusher_server``): soketi is not the point.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from pusher_channels import PusherConfigError, PusherError, PusherEvent
from pusher_channels.protocol.signatures import authorization, channel_string_to_sign
from pusher_channels.sync import PusherChannelsClient
from pusher_channels.testing import PusherTestServer


async def async_handler(*args: Any) -> None:
    """Stands for any ``async def`` callback."""


class AsyncCallable:
    async def __call__(self, *args: Any) -> None:
        """An object whose call is a coroutine."""


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.mark.parametrize(
    "callback",
    [async_handler, functools.partial(async_handler, 1), AsyncCallable()],
    ids=["function", "partial", "callable object"],
)
def test_async_callbacks_are_refused_wherever_they_are_given(
    pusher_server: PusherTestServer, callback: Any
) -> None:
    with pytest.raises(PusherConfigError, match=r"blocking client.*cannot await"):
        PusherChannelsClient(**pusher_server.client_kwargs(), on_event=callback)
    client = PusherChannelsClient(**pusher_server.client_kwargs())
    try:
        with pytest.raises(PusherConfigError, match="async"):
            client.init(**pusher_server.client_kwargs(), on_connection_state_change=callback)
        with pytest.raises(PusherConfigError, match="async"):
            client.subscribe("orders", on_event=callback)
        channel = client.subscribe("orders")
        with pytest.raises(PusherConfigError, match="async"):
            channel.bind("created", callback)
        with pytest.raises(PusherConfigError, match="async"):
            channel.bind_global(callback)
        with pytest.raises(PusherConfigError, match="async"):
            client.bind("created", callback)
        with pytest.raises(PusherConfigError, match="async"):
            client.connection.bind("connected", callback)
    finally:
        client.disconnect()


def test_a_callback_returning_a_coroutine_is_reported_not_dropped_silently(
    pusher_server: PusherTestServer,
) -> None:
    errors: list[PusherError | None] = []
    handler_thread: list[str] = []

    def returns_a_coroutine(event: PusherEvent) -> Any:
        handler_thread.append(threading.current_thread().name)
        return async_handler(event)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail
        with PusherChannelsClient(
            **pusher_server.client_kwargs(),
            on_event=returns_a_coroutine,
            on_error=lambda message, code, error: errors.append(error),
        ) as client:
            client.subscribe("orders").wait_subscribed(timeout=5)
            pusher_server.trigger("orders", "created", {"id": 1})
            wait_for(lambda: bool(errors))
    assert handler_thread, "the handler was called"
    assert "returns_a_coroutine" in str(errors[0])
    assert "awaitable" in str(errors[0])
    assert "cannot await" in str(errors[0])


def test_an_async_authorizer_still_works(pusher_server: PusherTestServer) -> None:
    settings = pusher_server.settings

    async def authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
        text = channel_string_to_sign(socket_id, channel_name, None)
        return {"auth": authorization(settings.key, settings.secret, text)}

    with PusherChannelsClient(**pusher_server.client_kwargs(), on_authorizer=authorizer) as client:
        client.subscribe("private-orders").wait_subscribed(timeout=5)
