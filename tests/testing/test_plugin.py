"""The pytest plugin: its fixtures here, and in fresh pytest sessions (pytester).

The inner sessions run in subprocesses (an in-process session would drop, on its
way out, the modules first imported inside it, such as the SDK's ``requests``). They
load the plugin as an installed package does (its ``pytest11`` entry point) when the
entry point is installed, else with ``-p``. The wheel in a clean virtualenv is
``test_plugin_install.py``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import threading

import pytest

import pusher_channels
from pusher_channels import PusherEvent
from pusher_channels.sync import PusherChannelsClient as BlockingClient
from pusher_channels.testing import PusherTestServer

pytest_plugins = ["pytester"]


def plugin_args() -> list[str]:
    """``-p`` for the plugin unless the installed package's entry point loads it."""
    installed = importlib.metadata.entry_points(group="pytest11", name="pusher_channels")
    return [] if installed else ["-p", "pusher_channels.testing.plugin"]


def test_pusher_server_is_running_on_its_own_thread(pusher_server: PusherTestServer) -> None:
    assert pusher_server.running
    assert any(t.name == "PusherTestServer" for t in threading.enumerate())
    events: list[PusherEvent] = []
    with BlockingClient(**pusher_server.client_kwargs(), on_event=events.append) as client:
        channel = client.subscribe("orders")
        pusher_server.wait_until_blocking(lambda: channel.subscribed)
        pusher_server.trigger("orders", "created", {"id": 1})
        pusher_server.wait_until_blocking(lambda: events)
    assert events[0].json() == {"id": 1}


async def test_async_pusher_server_runs_on_the_test_loop(
    async_pusher_server: PusherTestServer,
) -> None:
    assert async_pusher_server.running
    with pytest.raises(RuntimeError, match="block the server's loop"):  # this loop is its loop
        async_pusher_server.wait_until_blocking(lambda: True)


@pytest.mark.pusher_server(subscription_count=True, activity_timeout=7)
def test_the_marker_configures_the_server(pusher_server: PusherTestServer) -> None:
    assert pusher_server.settings.subscription_count
    assert pusher_server.settings.activity_timeout == 7


INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
SESSION_TESTS = """
import threading

import pytest

from pusher_channels.sync import PusherChannelsClient


def server_threads():
    return [t for t in threading.enumerate() if t.name == "PusherTestServer"]


def test_no_server_unless_asked():
    assert server_threads() == []


def test_blocking_client(pusher_server):
    events = []
    with PusherChannelsClient(**pusher_server.client_kwargs(), on_event=events.append) as client:
        channel = client.subscribe("orders")
        pusher_server.wait_until_blocking(lambda: channel.subscribed)
        pusher_server.trigger("orders", "created", {"id": 1})
        pusher_server.wait_until_blocking(lambda: events)
    assert events[0].json() == {"id": 1}
    assert pusher_server.key == "from-conftest"


@pytest.mark.pusher_server(key="from-marker")
def test_marker_wins_over_the_options_fixture(pusher_server):
    assert pusher_server.key == "from-marker"
    assert pusher_server.secret == "conftest-secret"


@pytest.mark.asyncio
async def test_async_variant(async_pusher_server):
    assert async_pusher_server.running
    assert server_threads() == [], "it runs on this loop, not on a thread"
"""


def test_fixtures_in_a_fresh_session_with_strict_markers_and_strict_asyncio(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(f"{INI}addopts = --strict-markers\n")
    pytester.makeconftest(
        """
import pytest

@pytest.fixture
def pusher_server_options():
    return {"key": "from-conftest", "secret": "conftest-secret"}
"""
    )
    pytester.makepyfile(test_app=SESSION_TESTS)
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_positional_marker_argument_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
import pytest

@pytest.mark.pusher_server("oops")
def test_it(pusher_server):
    pass
"""
    )
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*takes keywords only*"])


def test_loading_the_plugin_imports_neither_the_client_nor_the_server() -> None:
    """Every pytest run of a project with the package installed loads the plugin: it
    must not pay for the client's modules (about 80 ms) or the server's."""
    code = (
        "import sys, pusher_channels.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('pusher_channels')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(ast.literal_eval(result.stdout))
    assert loaded <= {
        "pusher_channels",
        "pusher_channels._lazy",
        "pusher_channels._version",
        "pusher_channels.testing",
        "pusher_channels.testing.plugin",
    }, loaded
    for name in ("PusherChannelsClient", "ConnectionState", "PusherError"):
        assert name in dir(pusher_channels)
