"""The test server's core stays pure, like the client's: no I/O, clock, threads or shell.

The same checker as ``tests/protocol/test_purity.py``: each core module may import
the client's pure core (``pusher_channels.protocol``), the exceptions and the other
core modules of ``pusher_channels.testing``, never the socket shell
(``server``, ``peer``, ``plugin``) nor the client's runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from tests.protocol.test_purity import import_violations

TESTING_DIR: Final = Path(__file__).resolve().parents[2] / "src" / "pusher_channels" / "testing"
PACKAGE: Final = "pusher_channels.testing"
CORE: Final = (
    "core",
    "frames",
    "http_api",
    "inspection",
    "outputs",
    "rules",
    "settings",
    "state",
    "users",
)
SHELL: Final = ("__init__", "peer", "plugin", "server")
ALLOWED: Final = (
    "pusher_channels.exceptions",
    "pusher_channels.protocol",
    *(f"{PACKAGE}.{name}" for name in CORE),
)


def test_every_module_is_core_or_shell() -> None:
    found = {path.stem for path in TESTING_DIR.glob("*.py")}
    assert found == set(CORE) | set(SHELL)


@pytest.mark.parametrize("name", CORE)
def test_core_module_has_no_forbidden_imports(name: str) -> None:
    source = (TESTING_DIR / f"{name}.py").read_text(encoding="utf-8")
    assert import_violations(source, PACKAGE, ALLOWED) == []


@pytest.mark.parametrize(
    "source",
    [
        "from .server import PusherTestServer",
        "from .peer import Peer",
        "from .. import client",
        "from .._runtime import Runtime",
        "import asyncio",
        "import socket",
    ],
)
def test_the_shell_and_the_client_runtime_are_refused(source: str) -> None:
    assert import_violations(source, PACKAGE, ALLOWED) != []
