"""A Pusher protocol 7 server for tests: real sockets, real signatures, in your process.

::

    from pusher_channels.testing import PusherTestServer

    async with PusherTestServer() as server:
        ...  # point clients at server.client_kwargs(), the SDK at server.sdk_kwargs()

With pytest, the ``pusher_server`` fixture (and ``async_pusher_server``) give a
running server without any set-up: installing the package registers the plugin
(:mod:`pusher_channels.testing.plugin`).

It is a test tool, not a production server. The names are imported lazily, so
that loading the pytest plugin costs nothing until a test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inspection import ChannelInfo, ConnectionInfo
    from .server import PusherTestServer
    from .settings import AppSettings, Limits

__all__ = ["AppSettings", "ChannelInfo", "ConnectionInfo", "Limits", "PusherTestServer"]

_WHERE = {
    "AppSettings": ".settings",
    "ChannelInfo": ".inspection",
    "ConnectionInfo": ".inspection",
    "Limits": ".settings",
    "PusherTestServer": ".server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
