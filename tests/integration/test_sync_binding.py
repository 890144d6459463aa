"""The blocking facade's bind/unbind, connection listeners and wait_subscribed, on a
real soketi: handlers run on the callback thread, bound from any thread."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer

from pusher_channels import (
    AuthorizationError,
    ConnectionState,
    PusherConnectionError,
    PusherEvent,
    PusherTimeoutError,
)
from pusher_channels.sync import PusherChannelsClient

_names = itertools.count()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def test_bound_handlers_run_on_the_callback_thread_and_unbind(soketi: SoketiServer) -> None:
    seen: list[tuple[str, str]] = []
    threads: set[str] = set()
    name = f"sync-bind-{next(_names)}"

    def price(event: PusherEvent) -> None:
        threads.add(threading.current_thread().name)
        seen.append(("price", event.event_name))

    with PusherChannelsClient(**soketi.client_options()) as client:
        client.bind_global(lambda e: seen.append(("client", e.event_name)))
        channel = client.subscribe(name)
        channel.bind("price-*", price)
        channel.wait_subscribed(timeout=5)
        assert channel.subscribed
        wait_for(lambda: ("client", "pusher:subscription_succeeded") in seen, what="notice")
        seen.clear()

        soketi.server_sdk().trigger(name, "price-eur", {"v": 1})
        wait_for(lambda: len(seen) == 2, what="both handlers")
        assert seen == [("client", "price-eur"), ("price", "price-eur")]
        assert len(threads) == 1
        assert threads.pop().endswith(" callbacks")

        channel.unbind("price-*", price)
        client.unbind_global()
        soketi.server_sdk().trigger(name, "price-usd", {"v": 2})
        time.sleep(0.3)
        assert len(seen) == 2


def test_connection_listeners_and_a_refused_wait(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    states: list[ConnectionState] = []
    client = PusherChannelsClient(**soketi.client_options(), auth_endpoint=auth_server.url)
    client.connection.bind("state_change", lambda current, previous: states.append(current))
    client.connect()
    try:
        auth_server.failure = Failure(status=403, body="no")
        refused = client.subscribe(f"private-sync-bind-{next(_names)}")
        with pytest.raises(AuthorizationError):
            refused.wait_subscribed(timeout=5)
        auth_server.failure = Failure(delay=2.0)
        slow = client.subscribe(f"private-sync-bind-{next(_names)}")
        with pytest.raises(PusherTimeoutError):
            slow.wait_subscribed(timeout=0.2)

        waiting: list[BaseException] = []

        def wait_in_a_thread() -> None:
            try:
                slow.wait_subscribed()
            except PusherConnectionError as exc:
                waiting.append(exc)

        thread = threading.Thread(target=wait_in_a_thread)
        thread.start()
        time.sleep(0.2)
        started = time.monotonic()
        client.disconnect()
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert len(waiting) == 1
        assert time.monotonic() - started < 3
    finally:
        auth_server.failure = None
        client.disconnect()
    assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert states[-1] is ConnectionState.DISCONNECTED
