"""pusher-channels: an asyncio-first client for the Pusher Channels protocol (v7).

Works with Pusher's hosted service and with self-hosted servers that speak the
protocol (soketi, Laravel Reverb)::

    from pusher_channels import PusherChannelsClient

    async with PusherChannelsClient(api_key="KEY", cluster="eu",
                                    on_event=print) as pusher:
        await pusher.subscribe("my-channel")
        ...

For threaded code, :mod:`pusher_channels.sync` has the same API, blocking.
"""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING

from ._lazy import lazy_exports as _lazy_exports
from ._version import __version__

if TYPE_CHECKING:
    from ._bindings import ConnectionEvents
    from .channel import PusherChannel, PusherEvent, PusherMember, SubscriptionGap
    from .client import PusherChannelsClient
    from .exceptions import (
        AuthorizationError,
        CallbackError,
        ClientEventError,
        PusherConfigError,
        PusherConnectionError,
        PusherError,
        PusherProtocolError,
        PusherTimeoutError,
        SigninError,
        SlowConsumerError,
        SubscriptionError,
    )
    from .health import ChannelHealth, Health
    from .options import ClientKeywords, OptionKeywords
    from .protocol.actions import ConnectionState
    from .protocol.channels import ChannelKind

# A library leaves logging to the application: no output unless it configures some.
_logging.getLogger("pusher_channels").addHandler(_logging.NullHandler())

__all__ = [
    "AuthorizationError",
    "CallbackError",
    "ChannelHealth",
    "ChannelKind",
    "ClientEventError",
    "ClientKeywords",
    "ConnectionEvents",
    "ConnectionState",
    "Health",
    "OptionKeywords",
    "PusherChannel",
    "PusherChannelsClient",
    "PusherConfigError",
    "PusherConnectionError",
    "PusherError",
    "PusherEvent",
    "PusherMember",
    "PusherProtocolError",
    "PusherTimeoutError",
    "SigninError",
    "SlowConsumerError",
    "SubscriptionError",
    "SubscriptionGap",
    "__version__",
]

# The names are imported on first use (PEP 562), so that what imports only a part
# of the package (the pytest plugin, pusher_channels.protocol) does not pay for the
# client's modules: about 80 ms at every pytest run with the package installed.
_WHERE = {
    "ConnectionEvents": "._bindings",
    "PusherChannel": ".channel",
    "PusherEvent": ".channel",
    "PusherMember": ".channel",
    "SubscriptionGap": ".channel",
    "PusherChannelsClient": ".client",
    "AuthorizationError": ".exceptions",
    "CallbackError": ".exceptions",
    "ClientEventError": ".exceptions",
    "PusherConfigError": ".exceptions",
    "PusherConnectionError": ".exceptions",
    "PusherError": ".exceptions",
    "PusherProtocolError": ".exceptions",
    "PusherTimeoutError": ".exceptions",
    "SigninError": ".exceptions",
    "SlowConsumerError": ".exceptions",
    "SubscriptionError": ".exceptions",
    "ChannelHealth": ".health",
    "Health": ".health",
    "ClientKeywords": ".options",
    "OptionKeywords": ".options",
    "ConnectionState": ".protocol.actions",
    "ChannelKind": ".protocol.channels",
}


__getattr__, __dir__ = _lazy_exports(__name__, _WHERE, __all__)
