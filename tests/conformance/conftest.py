"""The servers of the conformance suite: one soketi and one PusherTestServer per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devtools.soketi import SoketiServer

from tests.conformance.targets import (
    SOKETI,
    TEST_SERVER,
    PusherTestServerTarget,
    SoketiTarget,
    Target,
)


@pytest.fixture(scope="module")
def soketi_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoketiTarget]:
    """soketi with client events and user authentication (sign-in) enabled."""
    server = SoketiServer(
        log_path=tmp_path_factory.mktemp("conformance-soketi") / "soketi.log",
        extra_env={
            "SOKETI_DEFAULT_APP_USER_AUTHENTICATION": "true",
            "SOKETI_USER_AUTHENTICATION_TIMEOUT": "600000",
        },
    )
    server.start()
    try:
        yield SoketiTarget(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def test_server_target() -> Iterator[PusherTestServerTarget]:
    """PusherTestServer on its own thread, with the same app as soketi."""
    target = PusherTestServerTarget()
    with target.server:
        yield target


@pytest.fixture(params=[SOKETI, TEST_SERVER])
def target(request: pytest.FixtureRequest) -> Target:
    """Each scenario runs once against each server."""
    name = "soketi_target" if request.param == SOKETI else "test_server_target"
    server: Target = request.getfixturevalue(name)
    return server
