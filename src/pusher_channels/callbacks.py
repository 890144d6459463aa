"""The callback types: one :class:`~typing.Protocol` per callback signature.

They type the ``on_*`` keywords of ``init()``, of the constructors
(:class:`~pusher_channels.ClientKeywords`) and of ``subscribe()``, so that a type
checker finds a callback with the wrong arguments, and an IDE shows what each
receives::

    from pusher_channels import PusherEvent
    from pusher_channels.callbacks import EventCallback


    def on_event(event: PusherEvent) -> None:
        print(event.event_name, event.json())


    handler: EventCallback = on_event

Arguments are positional: any parameter names will do. With the asyncio client a
callback may be a plain function or an ``async def`` (its coroutine is awaited); what
it returns is ignored, except for the two authorizers, which return their answer
(directly or through an awaitable). With :mod:`pusher_channels.sync`, callbacks are
plain functions, run on the client's callback thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, TypedDict

from ._gaps import SubscriptionGap
from .exceptions import AuthorizationError, PusherError, SigninError, SubscriptionError
from .protocol.actions import ConnectionState
from .protocol.messages import PusherEvent, PusherMember

__all__ = [
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
]

# ------------------------------------------------------------- client callbacks


class ConnectionStateChangeCallback(Protocol):
    """``on_connection_state_change(current_state, previous_state)``: once per change,
    in order. The states compare equal to their names (``"CONNECTED"``)."""

    def __call__(
        self, current_state: ConnectionState, previous_state: ConnectionState, /
    ) -> object: ...


class SubscriptionSucceededCallback(Protocol):
    """``on_subscription_succeeded(channel_name, data)``: a channel is subscribed (again
    after each reconnection). ``data`` is the server's answer decoded from JSON; for
    presence channels ``{"presence": {"ids": [...], "hash": {...}, "count": n}}``."""

    def __call__(self, channel_name: str, data: Any, /) -> object: ...


class SubscriptionErrorCallback(Protocol):
    """``on_subscription_error(message, error)``: one attempt to subscribe failed.

    Called once per failed attempt; ``error.attempt`` and ``error.retry_in`` say which
    attempt it was and whether the client tries again by itself. Also the signature of
    the per-channel ``on_subscription_error`` of ``subscribe()``.
    """

    def __call__(self, message: str, error: SubscriptionError, /) -> object: ...


class DecryptionFailureCallback(Protocol):
    """``on_decryption_failure(event_name, reason)``: an event of an encrypted channel
    could not be decrypted, even with a new key; it is skipped."""

    def __call__(self, event_name: str, reason: str, /) -> object: ...


class EventCallback(Protocol):
    """``on_event(event)``: an event arrived. Also the signature of ``on_user_event``
    and of the per-channel ``on_event``."""

    def __call__(self, event: PusherEvent, /) -> object: ...


class MemberCallback(Protocol):
    """``on_member_added(channel_name, member)`` and ``on_member_removed(channel_name,
    member)``: a member joined or left a presence channel."""

    def __call__(self, channel_name: str, member: PusherMember, /) -> object: ...


class AuthorizerCallback(Protocol):
    """``on_authorizer(channel_name, socket_id, options)``: authorize a channel.

    ``options`` is ``auth_params``. Returns (or, when ``async``, resolves to) what an
    authorization endpoint answers: ``{"auth": ...}``, plus ``"channel_data"`` for
    presence channels and ``"shared_secret"`` for encrypted ones. An exception makes
    the subscription fail with an :class:`~pusher_channels.AuthorizationError`.
    """

    def __call__(
        self, channel_name: str, socket_id: str, options: dict[str, Any], /
    ) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]: ...


class ErrorCallback(Protocol):
    """``on_error(message, code, error)``: an error from the server or of the client.
    ``code`` is the Pusher error or close code, when there is one."""

    def __call__(self, message: str, code: int | None, error: PusherError, /) -> object: ...


class SubscriptionCountCallback(Protocol):
    """``on_subscription_count(channel_name, subscription_count)``: the server reported
    how many connections are subscribed to a channel."""

    def __call__(self, channel_name: str, subscription_count: int, /) -> object: ...


class AuthFailureCallback(Protocol):
    """``on_auth_failure(error)``: an auth endpoint answered 401 or 403. Returns (or
    resolves to) whether to retry that request once, e.g. after fetching a new token
    for the headers. ``error`` is the :class:`~pusher_channels.AuthorizationError` (a
    channel) or :class:`~pusher_channels.SigninError` (the user) it would fail with."""

    def __call__(self, error: AuthorizationError | SigninError, /) -> bool | Awaitable[bool]: ...


class UserAuthenticatorCallback(Protocol):
    """``on_user_authenticator(socket_id, options)``: authenticate the user for
    ``signin()``. ``options`` is ``user_auth_params``. Returns (or resolves to)
    ``{"auth": ..., "user_data": "<the JSON string that was signed>"}``."""

    def __call__(
        self, socket_id: str, options: dict[str, Any], /
    ) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]: ...


class SigninSucceededCallback(Protocol):
    """``on_signin_succeeded(user_data)``: the server confirmed the sign-in."""

    def __call__(self, user_data: dict[str, Any], /) -> object: ...


class WatchlistEventCallback(Protocol):
    """``on_watchlist_event(name, user_ids)``: users of the signed-in user's watchlist
    came online (``"online"``) or went offline (``"offline"``)."""

    def __call__(self, name: str, user_ids: list[str], /) -> object: ...


# ------------------------------------------------------------ channel callbacks


class ChannelSubscriptionSucceededCallback(Protocol):
    """``subscribe(..., on_subscription_succeeded=...)``: ``(data)``."""

    def __call__(self, data: Any, /) -> object: ...


class ChannelMemberCallback(Protocol):
    """``subscribe(..., on_member_added=..., on_member_removed=...)``: ``(member)``."""

    def __call__(self, member: PusherMember, /) -> object: ...


class ChannelSubscriptionCountCallback(Protocol):
    """``subscribe(..., on_subscription_count=...)``: ``(count)``."""

    def __call__(self, count: int, /) -> object: ...


class ResubscribedCallback(Protocol):
    """``subscribe(..., on_resubscribed=...)``: ``(gap)``, after each resubscription,
    with the :class:`~pusher_channels.SubscriptionGap` in which events may have been
    missed."""

    def __call__(self, gap: SubscriptionGap, /) -> object: ...


class CallbackKeywords(TypedDict, total=False):
    """The callbacks of ``init()`` and of the constructors, typed (each may be
    ``None``); with the options they make :class:`~pusher_channels.ClientKeywords`."""

    on_connection_state_change: ConnectionStateChangeCallback | None
    on_subscription_succeeded: SubscriptionSucceededCallback | None
    on_subscription_error: SubscriptionErrorCallback | None
    on_decryption_failure: DecryptionFailureCallback | None
    on_event: EventCallback | None
    on_member_added: MemberCallback | None
    on_member_removed: MemberCallback | None
    on_authorizer: AuthorizerCallback | None
    on_error: ErrorCallback | None
    on_subscription_count: SubscriptionCountCallback | None
    on_user_authenticator: UserAuthenticatorCallback | None
    on_signin_succeeded: SigninSucceededCallback | None
    on_user_event: EventCallback | None
    on_watchlist_event: WatchlistEventCallback | None
    on_auth_failure: AuthFailureCallback | None


class ChannelCallbackKeywords(TypedDict, total=False):
    """The callbacks ``subscribe()`` takes as keywords, typed (each may be ``None``)."""

    on_subscription_succeeded: ChannelSubscriptionSucceededCallback | None
    on_subscription_error: SubscriptionErrorCallback | None
    on_member_added: ChannelMemberCallback | None
    on_member_removed: ChannelMemberCallback | None
    on_event: EventCallback | None
    on_subscription_count: ChannelSubscriptionCountCallback | None
    on_resubscribed: ResubscribedCallback | None
