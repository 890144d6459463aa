"""The public API, pinned: exported names, and a docstring on each."""

from __future__ import annotations

import inspect

import pusher_channels
import pusher_channels.sync
import pusher_channels.testing

EXPECTED = {
    "AuthorizationError",
    "CallbackError",
    "ChannelKind",
    "ClientEventError",
    "ConnectionState",
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
    "__version__",
}
EXPECTED_SYNC = {"PusherChannel", "PusherChannelsClient", "SyncEventIterator"}
EXPECTED_TESTING = {"AppSettings", "ChannelInfo", "ConnectionInfo", "Limits", "PusherTestServer"}

CLIENT_METHODS = {
    "get_instance",
    "init",
    "connect",
    "disconnect",
    "subscribe",
    "unsubscribe",
    "trigger",
    "get_socket_id",
    "get_channel",
    "channels",
    "connection_state",
    "events",
    "signin",
    "user",
}


def test_exported_names_are_pinned() -> None:
    assert set(pusher_channels.__all__) == EXPECTED
    assert set(pusher_channels.sync.__all__) == EXPECTED_SYNC
    assert set(pusher_channels.testing.__all__) == EXPECTED_TESTING
    for name in EXPECTED:
        assert hasattr(pusher_channels, name)
    for name in EXPECTED_TESTING:
        assert hasattr(pusher_channels.testing, name)


def test_every_export_and_public_member_has_a_docstring() -> None:
    missing = []
    for module in (pusher_channels, pusher_channels.sync, pusher_channels.testing):
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for member_name, member in vars(obj).items():
                    if member_name.startswith("_"):
                        continue
                    if (callable(member) or isinstance(member, property | classmethod)) and not (
                        inspect.getdoc(member)
                    ):
                        missing.append(f"{module.__name__}.{name}.{member_name}")
    assert missing == []


def test_the_sync_client_has_the_same_methods_as_the_async_one() -> None:
    for cls in (pusher_channels.PusherChannelsClient, pusher_channels.sync.PusherChannelsClient):
        assert set(dir(cls)) >= CLIENT_METHODS, cls
    async_channel = {n for n in dir(pusher_channels.PusherChannel) if not n.startswith("_")}
    sync_channel = {n for n in dir(pusher_channels.sync.PusherChannel) if not n.startswith("_")}
    assert async_channel - {"callbacks"} <= sync_channel
