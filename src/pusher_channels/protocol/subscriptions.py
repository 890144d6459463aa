"""Subscriptions: the channels of one connection, their authorization and their events.

The connection state machine owns one :class:`Subscriptions` and tells it when a
connection is established (:attr:`Subscriptions.socket_id` set, every channel
subscribed) and when it is gone (everything reset). In between, this module turns
channel frames from the server (subscription answers, presence changes, counts,
encrypted events) and authorizer answers into outputs.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Callable
from typing import Any, Final

from ..exceptions import AuthorizationError, PusherProtocolError, SubscriptionError
from .actions import (
    AuthorizeChannel,
    DecryptionFailed,
    ErrorReported,
    MemberAdded,
    MemberRemoved,
    Output,
    SendMessage,
    SubscriptionCountChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from .backoff import Backoff
from .channels import ChannelKind, ChannelRecord, ChannelRegistry, ChannelStatus
from .crypto import Decryptor, MalformedEncryptedDataError, WrongKeyError
from .messages import (
    PusherEvent,
    decode_data,
    encode_message,
    public_event_name,
    received_event,
)
from .presence import (
    MAX_PRESENCE_MEMBERS,
    member_from_payload,
    members_from_subscription,
    user_id_from_channel_data,
    with_string_ids,
)

__all__ = ["MAX_HELD_EVENTS", "STARTS_PER_TURN", "Subscriptions", "refuses_a_subscription"]

STARTS_PER_TURN: Final = 200
"""Channels subscribed at once when a connection comes up; the next ones wait for
the next turn of the event loop (a turn of 200 takes about 4 ms)."""

MAX_HELD_EVENTS: Final = 1000
"""Encrypted events kept in order while a new key is fetched; more are skipped."""
_SUBSCRIPTION_SUCCEEDED: Final = "pusher_internal:subscription_succeeded"
_SUBSCRIPTION_ERROR: Final = "pusher:subscription_error"
_SUBSCRIBE_ANSWERS: Final = frozenset({_SUBSCRIPTION_SUCCEEDED, _SUBSCRIPTION_ERROR})
_REFUSAL: Final = re.compile(
    r"Invalid signature: Expected HMAC SHA256 hex digest of [^:\s]+:(?P<signed>.+?)"
    r"(?::\{.*\})?, but got"
    r"|Existing subscription to channel (?P<existing>\S+)"
)
"""How the hosted service words a refused subscribe in a ``pusher:error``."""


def refuses_a_subscription(message: str) -> bool:
    """Whether a ``pusher:error`` message is the hosted service's refusal of a
    subscribe (which names the channel in the message, not in a field)."""
    return _REFUSAL.search(message) is not None


def _subscribe_message(data: dict[str, Any]) -> SendMessage:
    return SendMessage(encode_message("pusher:subscribe", data))


_NO_STALE_ANSWERS: Final[dict[str, int]] = {}
"""No answer due to an unsubscribed incarnation: one empty dict, never written, for
every connection until it has one (then it gets its own)."""


def _count_up(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1


def _count_down(counts: dict[str, int], name: str) -> bool:
    """Take one from ``counts[name]``; return whether there was one to take."""
    count = counts.get(name)
    if count is None:
        return False
    if count > 1:
        counts[name] = count - 1
    else:
        del counts[name]
    return True


class Subscriptions:
    """The channel registry and the subscription protocol, writing to ``outputs``.

    Attributes:
        registry: the channels the user wants.
        socket_id: the socket id of the established connection, ``None`` without one.
    """

    def __init__(
        self,
        outputs: list[Output],
        backoff: Backoff | None = None,
        random_value: Callable[[], float] = random.random,
    ) -> None:
        self._outputs = outputs
        self._backoff = backoff if backoff is not None else Backoff()
        """The reconnection policy, whose cap and jitter the authorization retries
        share (see :meth:`Backoff.authorization_retry_delay`)."""
        self._random_value = random_value
        self.registry = ChannelRegistry()
        self.socket_id: str | None = None
        self._retries: list[tuple[float, int, ChannelRecord]] | None = None
        """A heap of ``(retry_at, order, record)``: the authorization retries, earliest
        first. An entry whose record no longer has that ``retry_at`` (retried, reset or
        unsubscribed since) is stale and is dropped when it reaches the top, so that
        no action ever scans every channel (``next_deadline()`` runs after each one).
        ``None`` until the first retry (most connections never have one)."""
        self._retry_order = 0
        """Breaks ties between equal retry times, so that records are never compared
        (a plain number: an ``itertools.count`` would be one more object to collect)."""
        self._to_start: list[ChannelRecord] | None = None
        """The channels of a new connection not subscribed yet, last first: a
        connection with many channels subscribes them :data:`STARTS_PER_TURN` at a
        time (see :meth:`start_more`), so that the event loop is never held for
        the whole list. ``None`` when there are none."""
        self._stale_subscribe_answers: dict[str, int] = _NO_STALE_ANSWERS
        """Per channel name, the answers still due on this connection to a
        ``pusher:subscribe`` of an incarnation unsubscribed before its answer. The
        server answers subscribes in order and never answers ``pusher:unsubscribe``,
        so the next answers for that name are theirs, not the current record's."""
        self._decryptor: Decryptor | None = None
        """Decrypts the encrypted channels' events; made for the first of them."""
        self.unanswered = 0
        """Subscribes of channels sent on this connection that no answer has come for
        yet (those of unsubscribed incarnations too): the server answers each one."""
        self.unanswered_since: float | None = None
        """Since when no answer came while some were due; ``None`` when none are, or
        until the connection notes the time (its next system frame or timer)."""

    def connection_established(self, socket_id: str) -> None:
        """A connection is up: subscribe every registered channel on it, the first
        :data:`STARTS_PER_TURN` now and the rest by :meth:`start_more`."""
        self.socket_id = socket_id
        self._forget_stale_answers()
        records = list(self.registry.records.values())
        records.reverse()
        self._to_start = records
        self.start_more()

    @property
    def starting(self) -> bool:
        """Whether channels of this connection wait for :meth:`start_more`."""
        return self._to_start is not None

    def start_more(self) -> None:
        """Subscribe the next :data:`STARTS_PER_TURN` channels of the connection (those
        unsubscribed or already started since are passed over)."""
        pending = self._to_start
        if pending is None:
            return
        records = self.registry.records
        for _ in range(min(STARTS_PER_TURN, len(pending))):
            record = pending.pop()
            if records.get(record.name) is record and record.status is ChannelStatus.UNSUBSCRIBED:
                self.start(record)
        if not pending:
            self._to_start = None

    def connection_closing(self) -> None:
        """The connection is being closed: answers for it are no longer wanted."""
        self.socket_id = None
        self._to_start = None

    def connection_gone(self) -> None:
        """The connection is gone: every channel must be subscribed again."""
        self.socket_id = None
        self._to_start = None
        self.registry.reset_all()
        self._retries = None
        self._forget_stale_answers()

    def subscribe(self, channel_name: str, connected: bool) -> ChannelRecord:
        """Register a channel; subscribe it now if ``connected``, else on connection.

        A channel that is already registered is left as it is, unless its last
        attempt failed: then it is tried again.
        """
        record, _ = self.registry.add(channel_name)
        if connected and record.status in (
            ChannelStatus.UNSUBSCRIBED,
            ChannelStatus.FAILED,
        ):
            self.start(record)
        return record

    def unsubscribe(self, channel_name: str, connected: bool) -> None:
        """Forget a channel: its events stop at once and it is not resubscribed."""
        record = self.registry.remove(channel_name)
        if record is None:
            return
        if connected:
            if record.status is ChannelStatus.SUBSCRIBING:
                if self._stale_subscribe_answers is _NO_STALE_ANSWERS:
                    self._stale_subscribe_answers = {}
                _count_up(self._stale_subscribe_answers, channel_name)
            if record.status in (ChannelStatus.SUBSCRIBING, ChannelStatus.SUBSCRIBED):
                self._outputs.append(
                    SendMessage(encode_message("pusher:unsubscribe", {"channel": channel_name}))
                )
        record.reset()

    def authorized(
        self,
        channel_name: str,
        socket_id: str,
        auth: dict[str, Any],
        incarnation: int | None = None,
    ) -> None:
        """The authorizer answered for ``channel_name`` on ``socket_id``.

        ``auth`` holds ``auth`` and, as the channel needs, ``channel_data`` (presence)
        and ``shared_secret`` (encrypted, base64 decoded to bytes by the caller).
        An answer for another socket id, for another incarnation of the channel, or
        for a channel no longer waiting, is discarded: an authorization is only ever
        used for the request it answers.
        """
        record = self._awaiting_authorization(channel_name, socket_id, incarnation)
        if record is None:
            return
        if record.reauthorizing:
            secret = auth.get("shared_secret")
            self._release_held_events(record, secret if isinstance(secret, bytes) else None, "")
            return
        data: dict[str, Any] = {"channel": channel_name, "auth": auth["auth"]}
        channel_data = auth.get("channel_data")
        if record.kind is ChannelKind.PRESENCE:
            if not isinstance(channel_data, str):
                self._fail_authorization(
                    record, "presence authorization has no 'channel_data' string"
                )
                return
            try:
                record.my_user_id = user_id_from_channel_data(channel_data)
            except PusherProtocolError as exc:
                self._fail_authorization(record, str(exc))
                return
        if channel_data is not None:
            data["channel_data"] = channel_data
        if record.kind is ChannelKind.PRIVATE_ENCRYPTED:
            secret = auth.get("shared_secret")
            if not isinstance(secret, bytes):
                self._fail_authorization(record, "encrypted channel authorization has no secret")
                return
            record.shared_secret = secret
        record.status = ChannelStatus.SUBSCRIBING
        self._send_subscribe(_subscribe_message(data))

    def authorization_failed(
        self,
        channel_name: str,
        socket_id: str,
        error: AuthorizationError,
        now: float | None = None,
        incarnation: int | None = None,
    ) -> None:
        """The authorizer failed for ``channel_name``: the channel is not subscribed.

        A ``retryable`` failure is tried again by itself (when ``now`` is given), with
        exponential backoff capped at the longest reconnection gap, for as long as
        the channel is wanted on this connection: a channel is never left behind on a
        healthy connection. Other failures are final until ``subscribe()`` or the
        next connection. A failure for another socket id or another incarnation is
        discarded.
        """
        record = self._awaiting_authorization(channel_name, socket_id, incarnation)
        if record is None:
            return
        if record.reauthorizing:
            self._release_held_events(record, None, f"re-authorization failed: {error.message}")
            return
        retry_in: float | None = None
        attempt = record.authorization_retries + 1
        if error.retryable and now is not None:
            record.authorization_retries = attempt
            retry_in = self._backoff.authorization_retry_delay(attempt, self._random_value())
            record.retry_at = now + retry_in
            if self._retries is None:
                self._retries = []
            self._retry_order += 1
            heapq.heappush(self._retries, (record.retry_at, self._retry_order, record))
        if retry_in is not None or attempt > 1:
            error._note_attempt(attempt, retry_in)
        self._fail(record, error, retry_in)

    def next_retry(self) -> float | None:
        """When the earliest authorization retry is due, if any (amortized O(log n))."""
        retries = self._retries
        while retries:
            retry_at, _, record = retries[0]
            if record.retry_at == retry_at:
                return retry_at
            heapq.heappop(retries)  # stale: retried, reset or unsubscribed since
        return None

    def retry_due(self, now: float) -> None:
        """Authorize again the channels whose retry is due (only those are visited)."""
        retries = self._retries
        while retries and retries[0][0] <= now:
            retry_at, _, record = heapq.heappop(retries)
            if record.retry_at != retry_at:
                continue  # stale
            record.retry_at = None
            if record.status is ChannelStatus.FAILED:
                self.start(record, retrying=True)

    def start(self, record: ChannelRecord, *, retrying: bool = False) -> None:
        """Authorize (if needed) and subscribe one channel on the current connection.

        An automatic retry (``retrying``) keeps the failure it retries in
        ``record.failure`` until the outcome; any other start forgets it.
        """
        if not retrying:
            record.failure = None
        record.retry_at = None
        if record.kind.needs_authorization:
            assert self.socket_id is not None
            record.status = ChannelStatus.AUTHORIZING
            self._outputs.append(AuthorizeChannel(record.name, self.socket_id, record.incarnation))
        else:
            record.status = ChannelStatus.SUBSCRIBING
            self._send_subscribe(_subscribe_message({"channel": record.name}))

    def _send_subscribe(self, message: SendMessage) -> None:
        self.unanswered += 1
        self._outputs.append(message)

    def _answer_due(self, channel_name: str) -> bool:
        """Whether a subscribe of ``channel_name`` waits for its answer (the user
        channel's is not counted, nor is an answer for a channel nobody asked)."""
        if channel_name in self._stale_subscribe_answers:
            return True
        record = self.registry.get(channel_name)
        return record is not None and record.status is ChannelStatus.SUBSCRIBING

    def answer_came(self) -> None:
        """A subscribe answer arrived (a success or a refusal, in any form)."""
        if self.unanswered:
            self.unanswered -= 1
            self.unanswered_since = None

    def note_unanswered(self, now: float) -> None:
        """Note ``now`` as when the wait for answers began, if one began unnoted (a
        subscribe is sent by calls that are not told the time)."""
        if self.unanswered and self.unanswered_since is None:
            self.unanswered_since = now

    def answer_deadline(self, timeout: float) -> float | None:
        """When the server will have been silent on every subscribe due for
        ``timeout`` seconds: then one was lost (soketi loses one when its adapter
        fails the join), and the protocol has no way to ask again on this
        connection (answers carry no request id, and the counting of stale answers
        would be thrown off). ``None`` while none is due, or the wait is not noted."""
        since = self.unanswered_since
        if since is None or not self.unanswered:
            return None
        return since + timeout

    def _awaiting_authorization(
        self, channel_name: str, socket_id: str, incarnation: int | None
    ) -> ChannelRecord | None:
        if self.socket_id is None or socket_id != self.socket_id:
            return None
        record = self.registry.get(channel_name)
        if record is None:
            return None
        if incarnation is not None and incarnation != record.incarnation:
            return None
        if record.status is ChannelStatus.AUTHORIZING or record.reauthorizing:
            return record
        return None

    def encrypted_event(
        self, record: ChannelRecord, event: str, data: Any, user_id: str | None
    ) -> PusherEvent | None:
        """Decrypt; on a wrong key, hold events in order and fetch a new key once."""
        if record.shared_secret is None and not record.reauthorizing:
            self._outputs.append(
                DecryptionFailed(record.name, event, "arrived before the channel's key")
            )
            return None
        if record.reauthorizing:
            if len(record.held_events) < MAX_HELD_EVENTS:
                record.held_events.append((event, data, user_id))
            else:
                self._outputs.append(
                    DecryptionFailed(record.name, event, "too many events while re-authorizing")
                )
            return None
        assert record.shared_secret is not None
        decryptor = self._decryptor
        if decryptor is None:
            decryptor = self._decryptor = Decryptor()
        try:
            plaintext = decryptor.decrypt(data, record.shared_secret)
        except MalformedEncryptedDataError as exc:
            self._outputs.append(DecryptionFailed(record.name, event, str(exc)))
            return None
        except WrongKeyError:
            assert self.socket_id is not None
            record.reauthorizing = True
            record.held_events.append((event, data, user_id))
            self._outputs.append(AuthorizeChannel(record.name, self.socket_id, record.incarnation))
            return None
        return received_event(record.name, event, plaintext, user_id)

    def _release_held_events(
        self, record: ChannelRecord, secret: bytes | None, failure: str
    ) -> None:
        """Retry the held events with the new key (once); report those that still fail."""
        held = list(record.held_events)
        record.held_events.clear()
        record.reauthorizing = False
        if secret is not None:
            record.shared_secret = secret
        for event, data, user_id in held:
            if secret is None:
                self._outputs.append(DecryptionFailed(record.name, event, failure))
                continue
            try:
                plaintext = Decryptor().decrypt(data, secret)
            except (MalformedEncryptedDataError, WrongKeyError) as exc:
                self._outputs.append(
                    DecryptionFailed(record.name, event, f"{exc} (even after re-authorization)")
                )
                continue
            self._outputs.append(received_event(record.name, event, plaintext, user_id))

    def _forget_stale_answers(self) -> None:
        """A new or no connection: nothing more is due from the previous one."""
        self._stale_subscribe_answers = _NO_STALE_ANSWERS
        self.unanswered = 0
        self.unanswered_since = None

    def _fail_authorization(self, record: ChannelRecord, message: str) -> None:
        self._fail(record, AuthorizationError(message, record.name))

    def refused_by_error(self, message: str, code: int | None) -> bool:
        """A ``pusher:error`` that refuses a subscription without naming a channel
        field, as Pusher's hosted service does ("Invalid signature: Expected HMAC
        SHA256 hex digest of <socket>:<channel>...", "Existing subscription to channel
        <channel>"): fail that channel if it waits for its answer. Return whether one
        did (the error is then reported as that channel's), or whether the refusal
        answers the subscribe of an incarnation unsubscribed since (it is then
        dropped, as a stale ``pusher:subscription_error`` is)."""
        found = _REFUSAL.search(message)
        if found is None:
            return False
        name = found.group("signed") or found.group("existing")
        if self._answer_due(name):
            self.answer_came()
        if _count_down(self._stale_subscribe_answers, name):
            return True  # the answer to an incarnation unsubscribed since: nobody's
        record = self.registry.get(name)
        if record is None or record.status is not ChannelStatus.SUBSCRIBING:
            return False
        self._fail(
            record,
            SubscriptionError(f"the server refused the subscription: {message}", name, code=code),
        )
        return True

    def _fail(
        self, record: ChannelRecord, error: SubscriptionError, retry_in: float | None = None
    ) -> None:
        record.status = ChannelStatus.FAILED
        record.failure = error
        self._outputs.append(SubscriptionFailed(error, retry_in))

    def system_event(self, frame: dict[str, Any], event: str, channel: str) -> PusherEvent | None:
        """Handle a ``pusher:``/``pusher_internal:`` event on ``channel``.

        Returns a user-visible event for the ones that are not the protocol's own.
        """
        if event in _SUBSCRIBE_ANSWERS and self.unanswered and self._answer_due(channel):
            self.answer_came()
        if event in _SUBSCRIBE_ANSWERS and _count_down(self._stale_subscribe_answers, channel):
            return None  # the answer to an incarnation unsubscribed since
        record = self.registry.get(channel)
        if record is None:
            return None
        data = frame.get("data")
        try:
            if event == _SUBSCRIPTION_SUCCEEDED:
                self._subscription_succeeded(record, data)
            elif event == _SUBSCRIPTION_ERROR:
                self._subscription_error(record, data)
            elif event == "pusher_internal:member_added":
                self._member_added(record, data)
            elif event == "pusher_internal:member_removed":
                self._member_removed(record, data)
            elif event == "pusher_internal:subscription_count":
                self._subscription_count(record, data)
            else:
                return received_event(channel, public_event_name(event), data, None)
        except PusherProtocolError as exc:
            self._outputs.append(
                ErrorReported(PusherProtocolError(f"{event} on {channel!r}: {exc.message}"))
            )
        return None

    def _subscription_succeeded(self, record: ChannelRecord, data: Any) -> None:
        record.authorization_retries = 0
        record.failure = None
        decoded = decode_data(data)
        if record.kind is ChannelKind.PRESENCE:
            record.members = members_from_subscription(decoded)
            decoded = with_string_ids(decoded)
        record.status = ChannelStatus.SUBSCRIBED
        self._outputs.append(SubscriptionSucceeded(record.name, decoded))

    def _subscription_error(self, record: ChannelRecord, data: Any) -> None:
        decoded = decode_data(data)
        message = "subscription refused by the server"
        status: int | None = None
        if isinstance(decoded, dict):
            text = decoded.get("error") or decoded.get("message")
            if isinstance(text, str):
                message = text
            raw_status = decoded.get("status")
            if isinstance(raw_status, int) and not isinstance(raw_status, bool):
                status = raw_status
        elif isinstance(decoded, str) and decoded:
            message = decoded
        self._fail(record, SubscriptionError(message, record.name, status=status))

    def _member_added(self, record: ChannelRecord, data: Any) -> None:
        if record.kind is not ChannelKind.PRESENCE:
            return
        member = member_from_payload(data)
        if member.user_id not in record.members and len(record.members) >= MAX_PRESENCE_MEMBERS:
            raise PusherProtocolError(f"more than {MAX_PRESENCE_MEMBERS} members")
        record.members[member.user_id] = member
        self._outputs.append(MemberAdded(record.name, member))

    def _member_removed(self, record: ChannelRecord, data: Any) -> None:
        if record.kind is not ChannelKind.PRESENCE:
            return
        member = record.members.pop(member_from_payload(data).user_id, None)
        if member is not None:
            self._outputs.append(MemberRemoved(record.name, member))

    def _subscription_count(self, record: ChannelRecord, data: Any) -> None:
        decoded = decode_data(data)
        count = decoded.get("subscription_count") if isinstance(decoded, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise PusherProtocolError("payload has no 'subscription_count' integer")
        record.subscription_count = count
        self._outputs.append(SubscriptionCountChanged(record.name, count))
