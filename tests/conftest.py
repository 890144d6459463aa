"""Fixtures shared by the whole suite: real soketi servers, PusherTestServer and the SDK.

soketi is for interop, cluster and fault tests; tests of this library's own
behaviour use ``pusher_server`` (the package's pytest plugin), which starts in
milliseconds and restarts instantly.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pusher
import pytest
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels.testing import PusherTestServer
from tests.support.scripted_server import ScriptedServer


def pytest_configure(config: pytest.Config) -> None:
    """Register the package's pytest plugin if its entry point is not installed.

    Installing the package registers it (``pytest11`` entry point
    ``pusher_channels``); a checkout whose editable install predates the entry point
    registers it here, under the same name, so that it is never registered twice.
    """
    if not config.pluginmanager.has_plugin("pusher_channels"):
        from pusher_channels.testing import plugin

        config.pluginmanager.register(plugin, "pusher_channels")


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test inherits the caller's proxy variables (``HTTPS_PROXY``, ``no_proxy``...).

    The client honours them by default, and every server of the suite is on
    127.0.0.1: a test that wants a proxy variable sets it itself.
    """
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


@pytest.fixture(scope="session")
def soketi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoketiServer]:
    """One soketi for the session, for tests that do not harm it."""
    server = SoketiServer(log_path=tmp_path_factory.mktemp("soketi") / "soketi.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_soketi(tmp_path: Path) -> Iterator[SoketiServer]:
    """A soketi of the test's own, to kill, pause or restart."""
    server = SoketiServer(log_path=tmp_path / "soketi.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth_server(soketi: SoketiServer) -> Iterator[AuthServer]:
    """A local authorization endpoint signing for the session's soketi."""
    server = AuthServer(soketi.server_sdk())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth_for_pusher_server(pusher_server: PusherTestServer) -> Iterator[AuthServer]:
    """A local authorization endpoint signing for the test's ``pusher_server``."""
    server = AuthServer(pusher.Pusher(**pusher_server.sdk_kwargs()))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """A scripted server for what real servers cannot be made to send."""
    server = ScriptedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def signin_soketi(tmp_path: Path) -> Iterator[SoketiServer]:
    """A soketi of the test's own with user authentication (sign-in) enabled.

    Its timeout for signing in is raised, so that connections that never sign in
    are not closed while a test runs.
    """
    server = SoketiServer(
        log_path=tmp_path / "soketi.log",
        extra_env={
            "SOKETI_DEFAULT_APP_USER_AUTHENTICATION": "true",
            "SOKETI_USER_AUTHENTICATION_TIMEOUT": "600000",
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
