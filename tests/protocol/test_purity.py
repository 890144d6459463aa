"""The protocol core stays pure: no I/O, clock, threads or runtime imports.

Every module under ``src/pusher_channels/protocol`` is parsed with :mod:`ast` (imports
anywhere, including inside functions and ``if TYPE_CHECKING:``) and checked against
the rules below. The checker itself is tested on small sources so that a broken
checker cannot pass silently.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

PROTOCOL_DIR: Final = Path(__file__).resolve().parents[2] / "src" / "pusher_channels" / "protocol"
PROTOCOL_PACKAGE: Final = "pusher_channels.protocol"

FORBIDDEN_MODULES: Final = frozenset(
    {
        "asyncio",
        "socket",
        "ssl",
        "http",
        "urllib",
        "httpx",
        "aiohttp",
        "picows",
        "websockets",
        "time",
        "datetime",
        "threading",
        "selectors",
        # Also I/O, concurrency or dynamic imports that would defeat this check.
        "urllib3",
        "requests",
        "concurrent",
        "multiprocessing",
        "subprocess",
        "trio",
        "anyio",
        "importlib",
    }
)
ALLOWED_OWN_MODULES: Final = ("pusher_channels.exceptions", PROTOCOL_PACKAGE)


def _own_module_allowed(name: str, allowed_own: tuple[str, ...]) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in allowed_own)


def _check_absolute(name: str, allowed_own: tuple[str, ...]) -> str | None:
    """Why importing module ``name`` is not allowed, or None."""
    top = name.partition(".")[0]
    if top in FORBIDDEN_MODULES:
        return f"imports {name!r}"
    if top == "pusher_channels" and not _own_module_allowed(name, allowed_own):
        return f"imports {name!r} from outside the core"
    return None


def _resolve(package: str, level: int, module: str | None) -> str | None:
    """The absolute module of ``from <level dots><module> import ...`` in ``package``."""
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_violations(
    source: str,
    package: str = PROTOCOL_PACKAGE,
    allowed_own: tuple[str, ...] = ALLOWED_OWN_MODULES,
) -> list[str]:
    """Every forbidden import in ``source``, a module of ``package``.

    ``allowed_own`` are the modules of this library it may import (and their
    submodules); the standard modules of :data:`FORBIDDEN_MODULES` never.
    """
    violations: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                reason = _check_absolute(alias.name, allowed_own)
                if reason:
                    violations.append(f"line {node.lineno}: {reason}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(package, node.level, node.module)
                if target is None:
                    violations.append(f"line {node.lineno}: relative import beyond the package")
                    continue
            else:
                assert node.module is not None
                target = node.module
            # ``from pkg import name`` may import the submodule ``pkg.name``.
            targets = (
                [f"{target}.{alias.name}" for alias in node.names]
                if target == "pusher_channels"
                else [target]
            )
            for name in targets:
                reason = _check_absolute(name, allowed_own)
                if reason:
                    violations.append(f"line {node.lineno}: {reason}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            violations.append(f"line {node.lineno}: calls __import__")
    return violations


def _package_of(path: Path) -> str:
    """The package a module file belongs to (for ``__init__.py``: its own package)."""
    folders = path.relative_to(PROTOCOL_DIR).parent.parts
    return ".".join([PROTOCOL_PACKAGE, *folders])


CORE_FILES: Final = sorted(PROTOCOL_DIR.rglob("*.py"))


def test_the_core_files_are_found() -> None:
    names = {path.name for path in CORE_FILES}
    assert {
        "__init__.py",
        "messages.py",
        "close.py",
        "backoff.py",
        "channels.py",
        "presence.py",
        "actions.py",
        "connection.py",
    } <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=[p.name for p in CORE_FILES])
def test_core_module_has_no_forbidden_imports(path: Path) -> None:
    violations = import_violations(path.read_text(encoding="utf-8"), _package_of(path))
    assert violations == [], f"{path.name}: {violations}"


# ------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import socket",
        "import ssl",
        "import http.client",
        "from http import HTTPStatus",
        "from urllib.parse import quote",
        "import httpx",
        "import aiohttp",
        "import picows",
        "import websockets.client",
        "import time",
        "from time import monotonic",
        "import datetime as dt",
        "from datetime import datetime",
        "import threading",
        "import selectors",
        "import importlib",
        "x = __import__('socket')",
        "import json, asyncio",
        "import pusher_channels",
        "import pusher_channels.client",
        "from pusher_channels import client",
        "from pusher_channels import exceptions, _runtime",
        "from pusher_channels.options import ClientOptions",
        "from pusher_channels._transport import Transport",
        "from .._runtime import Runtime",
        "from ..client import PusherChannelsClient",
        "from .. import auth",
        "from .. import exceptions, options",
        "from ..options import build_url",
        "from .... import anything",
        "def f():\n    import socket\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import asyncio\n",
        "class C:\n    def m(self):\n        from time import sleep\n",
    ],
)
def test_checker_flags_forbidden_imports(source: str) -> None:
    assert import_violations(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import json",
        "import random",
        "import orjson",
        "import timeit",
        "import sslx",
        "from collections.abc import Callable",
        "from ..exceptions import PusherError",
        "from .. import exceptions",
        "from .messages import decode_frame",
        "from . import close",
        "import pusher_channels.protocol.messages",
        "import pusher_channels.exceptions",
        "from pusher_channels.exceptions import PusherError",
        "from pusher_channels.protocol.actions import Output",
        "from pusher_channels import protocol, exceptions",
        "asyncio = 1  # a name, not an import",
    ],
)
def test_checker_allows_pure_imports(source: str) -> None:
    assert import_violations(source) == []


def test_checker_reports_line_numbers() -> None:
    source = "import json\nfrom .messages import Frame\nimport socket\n"
    assert import_violations(source) == ["line 3: imports 'socket'"]


def test_relative_imports_resolve_from_the_module_package() -> None:
    # In a subpackage, ``..`` is still inside the core, ``...`` is not.
    sub = f"{PROTOCOL_PACKAGE}.sub"
    assert import_violations("from ..messages import Frame", sub) == []
    assert import_violations("from ...exceptions import PusherError", sub) == []
    assert import_violations("from ...client import X", sub) != []
