"""The public channel type, and the event and member types delivered with it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, Unpack

from ._bindings import Bindings, BindsEvents
from ._delivery import ChannelCallbacks
from ._gaps import SubscriptionGap
from ._streams import DEFAULT_CAPACITY, EventIterator
from .callbacks import ChannelCallbackKeywords
from .protocol.channels import ChannelKind, ChannelStatus
from .protocol.messages import PusherEvent, PusherMember


class ChannelOwner(Protocol):
    """What a channel asks of the client it belongs to."""

    async def trigger(self, event: PusherEvent) -> None:
        """Send a client event."""

    async def unsubscribe(self, channel_name: str) -> None:
        """Stop receiving a channel."""

    def _open_events(self, channel_name: str | None, max_buffer: int) -> EventIterator:
        """An iterator of one channel's events (``None``: every channel's)."""

    async def _wait_subscribed(self, channel_name: str, timeout: float | None) -> None:
        """Wait for one channel's subscription."""


__all__ = [
    "ChannelCallbacks",
    "PusherChannel",
    "PusherEvent",
    "PusherMember",
    "SubscriptionGap",
]


class PusherChannel(ChannelCallbacks, BindsEvents):
    """A channel the client subscribes to, from ``subscribe()`` until ``unsubscribe()``.

    The object stays the same across reconnections: the client subscribes it again
    on every new connection, and its callbacks and bound handlers keep working.
    Handlers are bound with :meth:`bind` and :meth:`bind_global`, as in pusher-js.
    """

    # The callbacks, the bound handlers and the subscription gaps are kept in the
    # slots of ChannelCallbacks: the runtime keeps this object by channel name.
    __slots__ = ("_client",)

    def __init__(self, client: ChannelOwner, **callbacks: Unpack[ChannelCallbackKeywords]) -> None:
        super().__init__(**callbacks)
        self._client = client

    @property
    def channel_name(self) -> str:
        """The channel's name."""
        return self._record.name

    @property
    def kind(self) -> ChannelKind:
        """Public, private, private-encrypted or presence, from the name's prefix."""
        return self._record.kind

    @property
    def subscribed(self) -> bool:
        """Whether the server has confirmed the subscription on the current connection."""
        return self._record.status is ChannelStatus.SUBSCRIBED

    @property
    def members(self) -> Mapping[str, PusherMember]:
        """Presence members by user id; empty until subscribed, and for other kinds.

        A read-only view: it follows arrivals and departures while the subscription
        lasts (take ``dict(channel.members)`` for a snapshot).
        """
        return MappingProxyType(self._record.members)

    @property
    def me(self) -> PusherMember | None:
        """This connection's own presence member, once subscribed."""
        return self._record.me

    @property
    def subscription_count(self) -> int | None:
        """Connections subscribed to the channel, as last reported by the server.

        ``None`` until the server sends a count (Pusher does when "subscription
        count" events are enabled for the app; soketi never does).
        """
        return self._record.subscription_count

    @property
    def last_gap(self) -> SubscriptionGap | None:
        """When the channel may have started missing events before its latest
        resubscription (the last frame received on the lost connection), and for
        how long.

        ``None`` until the first resubscription. Events published during the gap
        were not received (Pusher keeps no history): fetch them from your own API.
        """
        return self._last_gap

    async def wait_subscribed(self, timeout: float | None = None) -> None:
        """Return once the server has confirmed the subscription (at once if it has).

        Call it after ``connect()``, or while connecting; ``timeout`` bounds it, in
        seconds. It waits through reconnections and through the failures the client
        retries by itself (an authorization endpoint that answers 5xx or 429, times
        out or cannot be reached: ``AuthorizationError.retryable``), so that a blip
        of the auth backend does not fail a service's startup.

        Raises:
            SubscriptionError: the subscription failed for good (an
                :class:`AuthorizationError` when the authorizer refused, with HTTP
                403 for example; the failure of the last attempt if it had failed
                for good already), or the channel was unsubscribed meanwhile. Raised
                as soon as it happens.
            PusherConnectionError: the client is not connected nor connecting, or
                ``disconnect()`` was called meanwhile.
            PusherTimeoutError: ``timeout`` expired (also a :class:`TimeoutError`);
                its ``__cause__`` is the last failure retried meanwhile, if any, and
                its message says it too.
        """
        await self._client._wait_subscribed(self.channel_name, timeout)

    def _handler_registry(self) -> Bindings:
        return self._bound()

    async def trigger(
        self, event: PusherEvent | None = None, *, event_name: str | None = None, data: Any = None
    ) -> None:
        """Send a client event on this channel.

        Give either a :class:`PusherEvent` or ``event_name=`` and ``data=``.

        Raises:
            ClientEventError: as :meth:`PusherChannelsClient.trigger`.
        """
        from .exceptions import ClientEventError

        if event is None:
            if event_name is None:
                raise ClientEventError("give a PusherEvent or event_name=")
            try:
                event = PusherEvent(self.channel_name, event_name, data)
            except (TypeError, ValueError) as exc:  # not JSON, or bytes not UTF-8
                raise ClientEventError(str(exc)) from None
        elif event.channel_name != self.channel_name:
            raise ClientEventError(
                f"event is for channel {event.channel_name!r}, not {self.channel_name!r}"
            )
        await self._client.trigger(event)

    def events(self, *, max_buffer: int = DEFAULT_CAPACITY) -> EventIterator:
        """Iterate over this channel's events: ``async for event in channel.events()``.

        Sees the same events as the channel's ``on_event``, in the same order, across
        reconnections. Ends when the channel is unsubscribed or the client
        disconnects; raises the :class:`SubscriptionError` if the subscription fails.
        Past ``max_buffer`` waiting events the socket is paused; past ten times that,
        newer events are dropped (see :meth:`PusherChannelsClient.events`).
        """
        return self._client._open_events(self.channel_name, max_buffer)

    async def unsubscribe(self) -> None:
        """Stop receiving this channel's events; it is not resubscribed."""
        await self._client.unsubscribe(self.channel_name)

    def __repr__(self) -> str:
        return f"<PusherChannel {self.channel_name!r} {self._record.status.value}>"
