"""The built wheel, installed in a clean virtualenv, gives a fresh pytest project its fixture.

Nothing of this checkout is on the project's path: pytest finds the plugin through
the installed package's ``pytest11`` entry point alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

APP_TESTS = """
from pusher_channels.sync import PusherChannelsClient


def test_events_reach_my_code(pusher_server):
    events = []
    with PusherChannelsClient(**pusher_server.client_kwargs(), on_event=events.append) as client:
        channel = client.subscribe("orders")
        pusher_server.wait_until_blocking(lambda: channel.subscribed)
        pusher_server.trigger("orders", "created", {"id": 1})
        pusher_server.wait_until_blocking(lambda: events)
    assert events[0].json() == {"id": 1}


def test_a_test_without_the_fixture():
    assert True
"""

ASYNC_TESTS = """
def test_the_async_variant_explains_what_it_needs(async_pusher_server):
    pass
"""


def run(
    command: list[str | Path], cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_wheel_gives_a_fresh_project_a_working_pusher_server(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT], cwd=tmp_path)
    [wheel] = dist.glob("*.whl")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", wheel, "pytest"], cwd=tmp_path)

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_app.py").write_text(APP_TESTS, encoding="utf-8")
    (project / "test_async.py").write_text(ASYNC_TESTS, encoding="utf-8")

    passed = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"], project)
    assert "2 passed" in passed.stdout, passed.stdout

    without_asyncio = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_async.py"], project, False
    )
    assert without_asyncio.returncode == 1
    assert "needs pytest-asyncio" in without_asyncio.stdout

    disabled = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pusher_channels"],
        project,
        check=False,
    )
    assert "fixture 'pusher_server' not found" in disabled.stdout
