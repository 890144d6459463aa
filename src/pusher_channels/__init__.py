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

import logging as _logging

from ._bindings import ConnectionEvents
from ._version import __version__
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
from .options import ClientKeywords, OptionKeywords
from .protocol.actions import ConnectionState
from .protocol.channels import ChannelKind

# A library leaves logging to the application: no output unless it configures some.
_logging.getLogger("pusher_channels").addHandler(_logging.NullHandler())

__all__ = [
    "AuthorizationError",
    "CallbackError",
    "ChannelKind",
    "ClientEventError",
    "ClientKeywords",
    "ConnectionEvents",
    "ConnectionState",
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
