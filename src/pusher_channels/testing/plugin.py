"""The pytest plugin: ``pusher_server`` and ``async_pusher_server`` fixtures.

Installing ``pusher-channels`` registers it (the ``pytest11`` entry point named
``pusher_channels``); ``-p no:pusher_channels`` turns it off. Nothing is imported
until a test asks for a server, and a test that does not ask pays nothing.

- ``pusher_server``: a running :class:`~pusher_channels.testing.PusherTestServer` on a
  thread of its own. It works in plain tests and in asyncio tests alike.
- ``async_pusher_server``: the same, running on the test's event loop (needs
  pytest-asyncio).
- ``pusher_server_options``: the keywords the fixtures pass to
  ``PusherTestServer``; override it in a ``conftest.py`` to change them for many
  tests, or mark one test ``@pytest.mark.pusher_server(subscription_count=True)``
  (the closest marker wins, and wins over the fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from .server import PusherTestServer

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is a test dependency here
    pytest_asyncio = None  # type: ignore[assignment]

MARKER: Final = "pusher_server"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keywords of PusherTestServer for the pusher_server and "
        "async_pusher_server fixtures",
    )


@pytest.fixture
def pusher_server_options() -> dict[str, Any]:
    """The keywords of ``PusherTestServer`` for the server fixtures (none by default)."""
    return {}


def _options(request: pytest.FixtureRequest, base: dict[str, Any]) -> dict[str, Any]:
    options = dict(base)
    markers = list(request.node.iter_markers(MARKER))
    for marker in reversed(markers):  # iter_markers gives the closest first
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keywords only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def pusher_server(
    request: pytest.FixtureRequest, pusher_server_options: dict[str, Any]
) -> Iterator[PusherTestServer]:
    """A running ``PusherTestServer`` on its own thread, stopped after the test."""
    from .server import PusherTestServer

    with PusherTestServer(**_options(request, pusher_server_options)) as server:
        yield server


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(name="async_pusher_server")
    async def _async_pusher_server(
        request: pytest.FixtureRequest, pusher_server_options: dict[str, Any]
    ) -> AsyncIterator[PusherTestServer]:
        """A running ``PusherTestServer`` on the test's event loop, stopped after it."""
        from .server import PusherTestServer

        async with PusherTestServer(**_options(request, pusher_server_options)) as server:
            yield server

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture(name="async_pusher_server")
    def _async_pusher_server_unavailable() -> None:
        """Explains that ``async_pusher_server`` needs pytest-asyncio."""
        pytest.fail(
            "async_pusher_server runs on the test's event loop and needs pytest-asyncio "
            "(pip install pytest-asyncio); pusher_server works in async tests without it",
            pytrace=False,
        )
