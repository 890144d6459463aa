"""The public API, pinned: exported names, and a docstring on each."""

from __future__ import annotations

import inspect

import pusher_channels
import pusher_channels.callbacks
import pusher_channels.sync
import pusher_channels.testing

EXPECTED = {
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
}
EXPECTED_SYNC = {"PusherChannel", "PusherChannelsClient", "SyncEventIterator"}
EXPECTED_CALLBACKS = {
    "AuthFailureCallback",
    "AuthorizerCallback",
    "CallbackKeywords",
    "ChannelCallbackKeywords",
    "ChannelMemberCallback",
    "ChannelSubscriptionCountCallback",
    "ChannelSubscriptionSucceededCallback",
    "ConnectionStateChangeCallback",
    "DecryptionFailureCallback",
    "ErrorCallback",
    "EventCallback",
    "MemberCallback",
    "ResubscribedCallback",
    "SigninSucceededCallback",
    "SubscriptionCountCallback",
    "SubscriptionErrorCallback",
    "SubscriptionSucceededCallback",
    "UserAuthenticatorCallback",
    "WatchlistEventCallback",
}
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
    "bind",
    "unbind",
    "bind_global",
    "unbind_global",
    "unbind_all",
    "connection",
    "health",
}

CHANNEL_MEMBERS = {
    "bind",
    "unbind",
    "bind_global",
    "unbind_global",
    "unbind_all",
    "wait_subscribed",
    "last_gap",
}


def test_exported_names_are_pinned() -> None:
    assert set(pusher_channels.__all__) == EXPECTED
    assert set(pusher_channels.sync.__all__) == EXPECTED_SYNC
    assert set(pusher_channels.callbacks.__all__) == EXPECTED_CALLBACKS
    assert set(pusher_channels.testing.__all__) == EXPECTED_TESTING
    for name in EXPECTED:
        assert hasattr(pusher_channels, name)
    for name in EXPECTED_TESTING:
        assert hasattr(pusher_channels.testing, name)


def test_every_export_and_public_member_has_a_docstring() -> None:
    missing = []
    modules = (
        pusher_channels,
        pusher_channels.sync,
        pusher_channels.callbacks,
        pusher_channels.testing,
    )
    for module in modules:
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
    assert async_channel >= CHANNEL_MEMBERS


def test_the_binding_methods_are_documented_where_they_are_defined() -> None:
    from pusher_channels._bindings import BindsEvents

    for name in ("bind", "unbind", "bind_global", "unbind_global", "unbind_all"):
        assert inspect.getdoc(getattr(BindsEvents, name)), name
    for name in ("bind", "unbind", "state", "socket_id"):
        assert inspect.getdoc(getattr(pusher_channels.ConnectionEvents, name)), name
