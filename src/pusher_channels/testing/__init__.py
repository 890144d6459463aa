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

from typing import TYPE_CHECKING

from .._lazy import lazy_exports as _lazy_exports

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


__getattr__, __dir__ = _lazy_exports(__name__, _WHERE, __all__)
