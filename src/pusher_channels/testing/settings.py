"""What the test server's app is: credentials, features and limits.

The defaults are the hosted service's documented ones (where soketi differs, the
docstring says so), except that client events are enabled, because a test server
is mostly used to test them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["AppSettings", "Limits"]

_APP_ID: Final = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the server enforces, as Pusher documents them.

    Attributes:
        max_channel_name_length: characters, prefix included (Pusher 164; soketi 200).
        max_event_name_length: characters of an event name (200).
        max_event_data_bytes: UTF-8 bytes of an event's data, from the HTTP API or a
            client (10 KB; soketi 100 KB).
        max_presence_members: distinct users per presence channel (100).
        max_user_info_bytes: the JSON of one presence member's ``user_info`` (1 KB;
            soketi 2 KB).
        max_user_id_length: characters of a presence ``user_id`` (128).
        client_events_per_second: per connection; more are refused with 4301 (10).
        max_batch_events: events in one batch trigger (10).
        max_trigger_channels: channels in one trigger (100).
        max_watchlist: user ids of a watchlist; more gives 4302 (100).
        cache_ttl: seconds a cache channel keeps its last event (Pusher "up to 30
            minutes"; soketi 3600).
        frame_log: frames kept per connection for inspection, each way.
        max_message_bytes: the largest WebSocket message a client may send (the
            connection is closed with 1009 above it).
    """

    max_channel_name_length: int = 164
    max_event_name_length: int = 200
    max_event_data_bytes: int = 10 * 1024
    max_presence_members: int = 100
    max_user_info_bytes: int = 1024
    max_user_id_length: int = 128
    client_events_per_second: int = 10
    max_batch_events: int = 10
    max_trigger_channels: int = 100
    max_watchlist: int = 100
    cache_ttl: float = 30 * 60.0
    frame_log: int = 10_000
    max_message_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AppSettings:
    """The one app the server hosts, and how it behaves.

    Attributes:
        app_id: the app id of the HTTP API. The official server SDKs want digits.
        key: the app key clients connect with.
        secret: the app secret: every signature is checked with it.
        encryption_master_key_base64: 32 bytes, base64: the key the server SDK
            encrypts ``private-encrypted-`` events with (the server itself never
            needs it, but :meth:`~pusher_channels.testing.PusherTestServer.trigger`
            encrypts with it like the SDK).
        activity_timeout: seconds, sent to clients in
            ``pusher:connection_established`` (Pusher 120; soketi 30). The server
            also pings a client silent for that long, and closes it with 4201 when
            no pong comes within ``pong_timeout``.
        pong_timeout: seconds the server waits for a pong to its ping.
        client_events: whether clients may trigger ``client-`` events (an app
            setting on Pusher, off by default there and on soketi).
        subscription_count: whether subscribers get ``pusher_internal:subscription_count``
            (an app setting on Pusher, off by default; soketi never sends it).
        watchlist_events: whether signed-in users get watchlist events (an app
            setting on Pusher; soketi does not implement them).
        authorized_connections_timeout: seconds after which a connection that has
            neither signed in nor subscribed to a private or presence channel is
            closed with 4009 (Pusher's "authorized connections"); ``None``: never.
        limits: see :class:`Limits`.
    """

    app_id: str = "123456"
    key: str = "test-key"
    secret: str = "test-secret"
    encryption_master_key_base64: str = field(
        default="dGVzdC1lbmNyeXB0aW9uLW1hc3Rlci1rZXktMzJieXQ=", repr=False
    )
    activity_timeout: float = 120.0
    pong_timeout: float = 30.0
    client_events: bool = True
    subscription_count: bool = False
    watchlist_events: bool = True
    authorized_connections_timeout: float | None = None
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        for name in ("app_id", "key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if ":" in self.key:
            raise ValueError("key must not contain ':' (it separates key and signature)")
        try:
            master = base64.b64decode(self.encryption_master_key_base64, validate=True)
        except ValueError:
            raise ValueError("encryption_master_key_base64 is not base64") from None
        if len(master) != 32:
            raise ValueError("encryption_master_key_base64 must decode to 32 bytes")
        if self.activity_timeout <= 0 or self.pong_timeout <= 0:
            raise ValueError("activity_timeout and pong_timeout must be positive")
        timeout = self.authorized_connections_timeout
        if timeout is not None and timeout <= 0:
            raise ValueError("authorized_connections_timeout must be positive or None")

    @property
    def master_key(self) -> bytes:
        """The encryption master key, decoded."""
        return base64.b64decode(self.encryption_master_key_base64)

    @property
    def app_id_is_numeric(self) -> bool:
        """Whether the official server SDKs accept this app id (digits only)."""
        return _APP_ID.fullmatch(self.app_id) is not None
