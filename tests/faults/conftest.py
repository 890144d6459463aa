"""Fixtures of the fault tests: a soketi of their own, an authorization endpoint for
it, the fault proxy in front of it, and a watch on exceptions escaping to the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from tests.faults.helpers import USERS
from tests.support.fault_proxy import FaultProxy


@pytest.fixture
def own_auth(own_soketi: SoketiServer) -> Iterator[AuthServer]:
    """An authorization endpoint signing for the test's own soketi."""
    server = AuthServer(own_soketi.server_sdk(), users=dict(USERS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def proxy(own_soketi: SoketiServer) -> AsyncIterator[FaultProxy]:
    """The fault proxy in front of the test's own soketi."""
    fault_proxy = FaultProxy(own_soketi.port)
    await fault_proxy.start()
    try:
        yield fault_proxy
    finally:
        await fault_proxy.stop()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler (an exception that escaped a
    task or a callback); the test fails if anything did."""
    loop = asyncio.get_running_loop()
    caught: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: caught.append(context))
    try:
        yield caught
    finally:
        loop.set_exception_handler(previous)
    assert caught == [], f"exceptions escaped to the event loop: {caught}"
