"""Subscriptions: sending, resubscribing after reconnects, unsubscribing, authorization."""

from __future__ import annotations

from collections import Counter

import pytest

from pusher_channels.exceptions import AuthorizationError
from pusher_channels.protocol.actions import (
    AuthorizeChannel,
    CloseSocket,
    ConnectionState,
    ErrorReported,
    OpenSocket,
    SendMessage,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from pusher_channels.protocol.backoff import Backoff
from pusher_channels.protocol.channels import ChannelKind, ChannelStatus
from pusher_channels.protocol.connection import Connection

from .helpers import (
    connect_and_establish,
    connected,
    frame,
    lose,
    make_connection,
    of_type,
    reconnect,
    sent,
    subscribed_channels,
    subscription_succeeded,
    take,
)

CHANNELS = ["news", "sport", "weather"]


def connection_with_channels() -> tuple[Connection, list[str]]:
    conn = make_connection()
    for name in CHANNELS:
        conn.subscribe(name)
    assert take(conn) == []  # nothing can be sent before the connection
    return conn, subscribed_channels(connect_and_establish(conn))


def test_channels_subscribed_before_connect_are_sent_once_after_established() -> None:
    conn, channels = connection_with_channels()
    assert channels == CHANNELS  # in subscription order, each once
    for name in CHANNELS:
        record = conn.channels.get(name)
        assert record is not None
        assert record.status is ChannelStatus.SUBSCRIBING


def test_subscribe_message_shape_for_public_channels() -> None:
    conn = connected()
    conn.subscribe("news")
    assert take(conn) == [SendMessage(b'{"event":"pusher:subscribe","data":{"channel":"news"}}')]


def test_subscribing_while_connecting_waits_for_established() -> None:
    conn = make_connection()
    conn.connect(0.0)
    conn.subscribe("news")
    assert of_type(take(conn), SendMessage) == []
    conn.receive(frame("pusher:connection_established", {"socket_id": "1.2"}), 0.1)
    assert subscribed_channels(take(conn)) == ["news"]


def test_reconnect_resubscribes_each_channel_exactly_once() -> None:
    conn, _ = connection_with_channels()
    for name in CHANNELS:
        conn.receive(subscription_succeeded(name), 0.5)
    take(conn)

    lose(conn, 10.0)
    for name in CHANNELS:
        record = conn.channels.get(name)
        assert record is not None
        assert record.status is ChannelStatus.UNSUBSCRIBED
    # Nothing is sent during the outage.
    assert subscribed_channels(reconnect(conn)) == CHANNELS


def test_several_reconnects_never_duplicate_subscribes() -> None:
    conn, _ = connection_with_channels()
    for i in range(5):
        lose(conn, 10.0 * (i + 1))
        channels = subscribed_channels(reconnect(conn, socket_id=f"{i}.9"))
        assert Counter(channels) == Counter(CHANNELS)


def test_subscribe_during_outage_is_sent_once_on_reconnect() -> None:
    conn, _ = connection_with_channels()
    lose(conn, 1.0)
    conn.subscribe("extra")
    conn.subscribe("extra")
    assert take(conn) == []
    assert subscribed_channels(reconnect(conn)) == [*CHANNELS, "extra"]


def test_unsubscribed_channel_is_not_resubscribed() -> None:
    conn, _ = connection_with_channels()
    conn.unsubscribe("sport")
    take(conn)
    lose(conn, 5.0)
    assert subscribed_channels(reconnect(conn)) == ["news", "weather"]
    assert "sport" not in conn.channels


def test_unsubscribed_during_outage_is_not_resubscribed_and_nothing_is_sent() -> None:
    conn, _ = connection_with_channels()
    lose(conn, 5.0)
    conn.unsubscribe("news")
    assert take(conn) == []
    assert subscribed_channels(reconnect(conn)) == ["sport", "weather"]


def test_subscribing_an_already_subscribed_channel_sends_nothing() -> None:
    conn = connected()
    conn.subscribe("news")
    take(conn)
    first = conn.subscribe("news")  # still SUBSCRIBING
    assert take(conn) == []
    conn.receive(subscription_succeeded("news"), 1.0)
    take(conn)
    second = conn.subscribe("news")  # SUBSCRIBED
    assert take(conn) == []
    assert first is second
    assert first.status is ChannelStatus.SUBSCRIBED


def test_unsubscribe_while_subscribed_sends_unsubscribe() -> None:
    conn = connected()
    conn.subscribe("news")
    conn.receive(subscription_succeeded("news"), 1.0)
    take(conn)
    conn.unsubscribe("news")
    assert sent(take(conn)) == [{"event": "pusher:unsubscribe", "data": {"channel": "news"}}]
    assert "news" not in conn.channels


def test_unsubscribe_while_subscribing_sends_unsubscribe() -> None:
    conn = connected()
    conn.subscribe("news")
    take(conn)
    conn.unsubscribe("news")
    assert sent(take(conn)) == [{"event": "pusher:unsubscribe", "data": {"channel": "news"}}]


def test_unsubscribe_of_unknown_channel_or_when_disconnected_sends_nothing() -> None:
    conn = connected()
    conn.unsubscribe("never")
    assert take(conn) == []
    offline = make_connection()
    offline.subscribe("news")
    offline.unsubscribe("news")
    assert take(offline) == []
    assert len(offline.channels) == 0


def test_unsubscribe_of_failed_channel_sends_nothing() -> None:
    conn = connected()
    conn.subscribe("news")
    conn.receive(frame("pusher:subscription_error", {"error": "no"}, channel="news"), 1.0)
    take(conn)
    conn.unsubscribe("news")
    assert take(conn) == []


def test_events_for_unsubscribed_channel_are_dropped() -> None:
    conn = connected()
    conn.subscribe("news")
    conn.receive(subscription_succeeded("news"), 1.0)
    take(conn)
    assert conn.receive(frame("update", "{}", channel="news"), 1.5) is not None
    conn.unsubscribe("news")
    take(conn)
    assert conn.receive(frame("update", "{}", channel="news"), 2.0) is None
    assert conn.receive(subscription_succeeded("news"), 2.1) is None
    assert conn.receive(frame("update", "{}", channel="never-subscribed"), 2.2) is None
    assert take(conn) == []


def test_failed_channel_is_retried_by_subscribe_and_on_reconnect() -> None:
    conn = connected()
    conn.subscribe("news")
    conn.receive(frame("pusher:subscription_error", {"error": "busy"}, channel="news"), 1.0)
    take(conn)
    conn.subscribe("news")
    assert subscribed_channels(take(conn)) == ["news"]
    conn.receive(frame("pusher:subscription_error", {"error": "busy"}, channel="news"), 1.5)
    lose(conn, 2.0)
    assert subscribed_channels(reconnect(conn)) == ["news"]


# ----------------------------------------------------------------- authorization


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("private-a", ChannelKind.PRIVATE),
        ("presence-a", ChannelKind.PRESENCE),
        ("private-encrypted-a", ChannelKind.PRIVATE_ENCRYPTED),
        ("private-cache-a", ChannelKind.PRIVATE),
        ("news", ChannelKind.PUBLIC),
    ],
)
def test_channel_kinds(name: str, kind: ChannelKind) -> None:
    conn = make_connection()
    assert conn.subscribe(name).kind is kind


def test_private_channel_asks_for_authorization_with_the_socket_id() -> None:
    conn = connected(socket_id="123.456")
    record = conn.subscribe("private-chat")
    assert take(conn) == [AuthorizeChannel("private-chat", "123.456")]
    assert record.status is ChannelStatus.AUTHORIZING
    # Asking again while authorizing does not ask twice.
    conn.subscribe("private-chat")
    assert take(conn) == []


def test_private_channels_subscribed_before_connect_are_authorized_on_established() -> None:
    conn = make_connection()
    conn.subscribe("news")
    conn.subscribe("private-chat")
    outputs = connect_and_establish(conn, socket_id="9.9")
    assert subscribed_channels(outputs) == ["news"]
    assert of_type(outputs, AuthorizeChannel) == [AuthorizeChannel("private-chat", "9.9")]


def test_authorization_sends_subscribe_with_auth() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"})
    assert sent(take(conn)) == [
        {"event": "pusher:subscribe", "data": {"channel": "private-chat", "auth": "key:sig"}}
    ]
    record = conn.channels.get("private-chat")
    assert record is not None
    assert record.status is ChannelStatus.SUBSCRIBING
    # A second answer for the same request is ignored.
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"})
    assert take(conn) == []


def test_authorization_for_an_old_socket_id_is_ignored() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    lose(conn, 1.0)
    outputs = reconnect(conn, socket_id="3.4")
    assert of_type(outputs, AuthorizeChannel) == [AuthorizeChannel("private-chat", "3.4")]

    conn.channel_authorized("private-chat", "1.2", {"auth": "key:old-sig"})
    assert take(conn) == []
    record = conn.channels.get("private-chat")
    assert record is not None
    assert record.status is ChannelStatus.AUTHORIZING

    conn.channel_authorized("private-chat", "3.4", {"auth": "key:new-sig"})
    assert sent(take(conn)) == [
        {"event": "pusher:subscribe", "data": {"channel": "private-chat", "auth": "key:new-sig"}}
    ]


def test_authorization_arriving_while_disconnected_is_ignored() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    lose(conn, 1.0)
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"})
    conn.channel_authorization_failed(
        "private-chat", "1.2", AuthorizationError("x", "private-chat")
    )
    assert take(conn) == []


def test_authorization_for_an_unsubscribed_channel_is_ignored() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    conn.unsubscribe("private-chat")
    assert take(conn) == []  # nothing was sent to the server yet
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"})
    assert take(conn) == []


def test_authorization_failure_fails_the_subscription() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    error = AuthorizationError("endpoint said 403", "private-chat", status=403)
    conn.channel_authorization_failed("private-chat", "1.2", error)
    outputs = take(conn)
    assert outputs == [SubscriptionFailed(error)]
    failed = of_type(outputs, SubscriptionFailed)[0]
    assert failed.error.channel_name == "private-chat"
    assert failed.error.status == 403
    record = conn.channels.get("private-chat")
    assert record is not None
    assert record.status is ChannelStatus.FAILED
    assert conn.state is ConnectionState.CONNECTED


def test_authorization_failure_for_an_old_socket_is_ignored() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    take(conn)
    conn.channel_authorization_failed(
        "private-chat", "0.0", AuthorizationError("x", "private-chat")
    )
    assert take(conn) == []


def test_presence_authorization_sends_channel_data_verbatim() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("presence-room")
    take(conn)
    channel_data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
    conn.channel_authorized(
        "presence-room", "1.2", {"auth": "key:sig", "channel_data": channel_data}
    )
    messages = sent(take(conn))
    assert messages == [
        {
            "event": "pusher:subscribe",
            "data": {"channel": "presence-room", "auth": "key:sig", "channel_data": channel_data},
        }
    ]
    record = conn.channels.get("presence-room")
    assert record is not None
    assert record.my_user_id == "10"


@pytest.mark.parametrize(
    "auth",
    [
        {"auth": "key:sig"},
        {"auth": "key:sig", "channel_data": {"user_id": "1"}},
        {"auth": "key:sig", "channel_data": "not json"},
        {"auth": "key:sig", "channel_data": '{"user_info":{}}'},
        {"auth": "key:sig", "channel_data": '{"user_id":[1]}'},
    ],
)
def test_presence_authorization_without_usable_channel_data_fails(auth: dict[str, object]) -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("presence-room")
    take(conn)
    conn.channel_authorized("presence-room", "1.2", auth)
    outputs = take(conn)
    assert of_type(outputs, SendMessage) == []
    failures = of_type(outputs, SubscriptionFailed)
    assert len(failures) == 1
    assert isinstance(failures[0].error, AuthorizationError)
    assert failures[0].error.channel_name == "presence-room"


def test_authorization_arriving_while_disconnecting_sends_nothing() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-chat")
    conn.subscribe("presence-room")
    take(conn)
    conn.disconnect(1.0)
    take(conn)
    assert conn.state is ConnectionState.DISCONNECTING
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"})
    conn.channel_authorization_failed(
        "presence-room", "1.2", AuthorizationError("x", "presence-room")
    )
    # The socket is closing: nothing may be sent on it, and nothing is reported.
    assert take(conn) == []


def test_transient_authorization_failures_are_retried_with_backoff() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-retry")
    assert take(conn) == [AuthorizeChannel("private-retry", "1.2")]
    delays = []
    now = 10.0
    for _ in range(3):
        error = AuthorizationError("HTTP 503", "private-retry", status=503, retryable=True)
        conn.channel_authorization_failed("private-retry", "1.2", error, now)
        [failure] = [o for o in take(conn) if isinstance(o, SubscriptionFailed)]
        assert failure.retry_in is not None
        delays.append(failure.retry_in)
        deadline = conn.next_deadline()
        assert deadline == now + failure.retry_in
        conn.handle_timer(deadline - 0.01)
        assert take(conn) == []
        now = deadline
        conn.handle_timer(now)
        assert take(conn) == [AuthorizeChannel("private-retry", "1.2")]
    assert delays == [0.5, 1.0, 2.0]


def test_each_failed_attempt_says_which_attempt_it_is_and_when_the_next_comes() -> None:
    """on_subscription_error is called per failed attempt: the error says which one
    (counted per connection) and when the next is, or that there is none (a final
    failure after retries)."""
    # A quiet server for the minutes of retries: no heartbeat in the way.
    conn = connected(socket_id="1.2", server_timeout=None, activity_timeout=1000.0)
    conn.subscribe("private-retry")
    take(conn)
    seen = []
    now = 10.0
    for attempt in range(1, 13):
        retryable = attempt < 12
        error = AuthorizationError(
            "authorization failed: HTTP 503" if retryable else "authorization failed: HTTP 403",
            "private-retry",
            status=503 if retryable else 403,
            retryable=retryable,
        )
        conn.channel_authorization_failed("private-retry", "1.2", error, now)
        [failure] = [o for o in take(conn) if isinstance(o, SubscriptionFailed)]
        assert failure.error is error
        assert error.retry_in == failure.retry_in
        seen.append((error.attempt, error.retry_in, error.message))
        if failure.retry_in is not None:
            now += failure.retry_in
            conn.handle_timer(now)
            take(conn)
    assert [attempt for attempt, _, _ in seen] == list(range(1, 13))
    assert seen[0] == (
        1,
        0.5,
        "authorization failed: HTTP 503 (attempt 1, retrying in 0.5 s)",
    )
    assert seen[2][2] == "authorization failed: HTTP 503 (attempt 3, retrying in 2.0 s)"
    assert seen[10][2] == "authorization failed: HTTP 503 (attempt 11, retrying in 8.0 s)"
    last_attempt, last_retry_in, last_message = seen[-1]
    assert last_retry_in is None
    assert last_message == (
        f"authorization failed: HTTP 403 (attempt {last_attempt}, no more retries on this "
        "connection)"
    )
    assert str(error) == last_message


def run_auth_outage(
    conn: Connection, channel: str, outage_ends: float, until: float
) -> tuple[float | None, list[float]]:
    """Feed the core its clock from 0 to ``until``: every authorization asked before
    ``outage_ends`` fails as an unreachable endpoint does (retryable), the first one
    after it is answered. Return when the channel was subscribed (``None``: never),
    and the retry delays announced."""
    now = 0.0
    delays: list[float] = []
    while now <= until:
        for output in take(conn):
            assert not isinstance(output, OpenSocket | CloseSocket), "no reconnection"
            if isinstance(output, AuthorizeChannel) and now < outage_ends:
                error = AuthorizationError("cannot reach the endpoint", channel, retryable=True)
                conn.channel_authorization_failed(channel, "1.2", error, now)
            elif isinstance(output, AuthorizeChannel):
                conn.channel_authorized(channel, "1.2", {"auth": "key:sig"})
            elif isinstance(output, SubscriptionFailed):
                assert output.retry_in is not None, f"given up at {now:g} s: {output.error}"
                delays.append(output.retry_in)
            elif isinstance(output, SendMessage) and b"pusher:subscribe" in output.payload:
                conn.receive(subscription_succeeded(channel), now)
            elif isinstance(output, SubscriptionSucceeded):
                return now, delays
        if conn.has_outputs:
            continue
        deadline = conn.next_deadline()
        assert deadline is not None
        now = max(now, deadline)
        conn.handle_timer(now)
    assert conn.state is ConnectionState.CONNECTED
    return None, delays


def test_a_retryable_failure_is_retried_for_as_long_as_the_channel_is_wanted() -> None:
    """A 100 s auth-backend outage on a healthy connection: the channel is subscribed
    within 35 s of the endpoint's recovery, on the same connection (issue 20, item 1)."""
    conn = connected(
        socket_id="1.2",
        server_timeout=None,
        activity_timeout=10_000.0,  # a quiet server: no heartbeat in the way
        backoff=Backoff(maximum=30.0, jitter=0.5),
    )
    conn.subscribe("private-orders")
    subscribed_at, delays = run_auth_outage(conn, "private-orders", 100.0, until=1_000.0)
    assert subscribed_at is not None, f"never subscribed; retried {len(delays)} times"
    assert 100.0 <= subscribed_at <= 135.0
    assert conn.state is ConnectionState.CONNECTED
    assert max(delays) == 30.0  # the maximum reconnection gap caps the backoff


def test_authorization_retries_back_off_with_jitter_up_to_the_maximum_gap() -> None:
    """0.5 s doubling, scaled by the reconnection backoff's jitter, capped at its
    maximum; thousands of retries later the delay is still the maximum (no overflow)."""
    conn = connected(
        socket_id="1.2",
        server_timeout=None,
        activity_timeout=10_000_000.0,
        backoff=Backoff(maximum=4.0, jitter=0.5),
        random_value=lambda: 0.5,  # takes a quarter off each delay
    )
    conn.subscribe("private-orders")
    _, delays = run_auth_outage(conn, "private-orders", 1e9, until=12_000.0)
    assert delays[:6] == [0.375, 0.75, 1.5, 3.0, 3.0, 3.0]
    assert len(delays) > 2000
    assert set(delays[4:]) == {3.0}


def test_a_failure_that_is_not_retried_keeps_its_message() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-denied")
    take(conn)
    error = AuthorizationError("HTTP 403", "private-denied", status=403)
    conn.channel_authorization_failed("private-denied", "1.2", error, 5.0)
    take(conn)
    assert (error.attempt, error.retry_in, error.message) == (1, None, "HTTP 403")


def test_permanent_authorization_failures_are_not_retried() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("private-denied")
    take(conn)
    error = AuthorizationError("HTTP 403", "private-denied", status=403)
    conn.channel_authorization_failed("private-denied", "1.2", error, 5.0)
    [failure] = [o for o in take(conn) if isinstance(o, SubscriptionFailed)]
    assert failure.retry_in is None
    conn.handle_timer(1000.0)
    assert [o for o in take(conn) if isinstance(o, AuthorizeChannel)] == []


def test_a_connection_with_many_channels_subscribes_them_a_turn_at_a_time() -> None:
    """So that 100,000 channels never hold the event loop for the whole list: the
    core asks for the timer at once (a deadline already past) and goes on there."""
    from pusher_channels.protocol.subscriptions import STARTS_PER_TURN

    turn = STARTS_PER_TURN
    conn = make_connection()
    names = [f"feed-{n}" for n in range(2 * turn + turn // 2)]
    for name in names:
        conn.subscribe(name)
    conn.unsubscribe(names[turn + turn // 2])  # gone before the connection: never sent
    names.remove(names[turn + turn // 2])
    first = connect_and_establish(conn, now=5.0)
    assert subscribed_channels(first) == names[:turn]
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline <= 5.0

    again, gone = names[2 * turn + 10], names[turn + 10]
    conn.subscribe(again)  # asked again while waiting: subscribed at once
    conn.subscribe("late-comer")  # new while connected: subscribed at once
    conn.unsubscribe(gone)  # gone while waiting: never sent
    assert subscribed_channels(take(conn)) == [again, "late-comer"]

    conn.handle_timer(5.0)
    second = subscribed_channels(take(conn))
    assert second == [n for n in names[turn : 2 * turn] if n != gone]
    conn.handle_timer(5.0)
    third = subscribed_channels(take(conn))
    assert third == [n for n in names[2 * turn :] if n != again]
    deadline = conn.next_deadline()
    assert deadline is not None
    assert deadline > 5.0, "back to the heartbeat once every channel is started"


def test_channels_still_waiting_when_the_connection_drops_wait_for_the_next_one() -> None:
    from pusher_channels.protocol.subscriptions import STARTS_PER_TURN

    conn = make_connection()
    names = [f"feed-{n}" for n in range(STARTS_PER_TURN + 10)]
    for name in names:
        conn.subscribe(name)
    connect_and_establish(conn)
    lose(conn, now=1.0)
    conn.handle_timer(1.0)  # nothing left to start on a lost connection
    assert subscribed_channels(take(conn)) == []
    outputs = reconnect(conn)
    assert subscribed_channels(outputs) == names[:STARTS_PER_TURN]
    conn.handle_timer(conn.next_deadline() or 0.0)
    assert subscribed_channels(take(conn)) == names[STARTS_PER_TURN:]


def test_only_presence_and_encrypted_records_have_containers_of_their_own() -> None:
    """The others share one empty members dict and one empty list, never written."""
    from pusher_channels.protocol.channels import ChannelRegistry

    registry = ChannelRegistry()
    public, _ = registry.add("news")
    private, _ = registry.add("private-a")
    room, _ = registry.add("presence-a")
    other_room, _ = registry.add("presence-b")
    vault, _ = registry.add("private-encrypted-a")
    assert public.members is private.members is vault.members
    assert room.members is not other_room.members
    assert public.held_events is room.held_events
    assert vault.held_events is not public.held_events
    registry.reset_all()
    assert public.members == {}
    assert public.held_events == []


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        (
            "private-a",
            "Invalid signature: Expected HMAC SHA256 hex digest of 1.2:private-a, but got abc",
        ),
        (
            "presence-room,1",
            "Invalid signature: Expected HMAC SHA256 hex digest of 1.2:presence-room,1:"
            '{"user_id":"u"}, but got abc',
        ),
        ("private-a", "Existing subscription to channel private-a"),
    ],
)
def test_a_refusal_worded_as_the_hosted_service_does_fails_that_channel(
    channel: str, message: str
) -> None:
    """Pusher answers a bad signature with ``pusher:error`` and no channel field: the
    channel must not wait for an answer that will never come."""
    conn = connected()
    conn.subscribe("private-other")
    conn.subscribe(channel)
    take(conn)
    for name in ("private-other", channel):
        conn.channel_authorized(name, "1.2", {"auth": "k:sig", "channel_data": '{"user_id":"u"}'})
    take(conn)
    conn.receive(frame("pusher:error", {"message": message, "code": None}), 0.0)
    outputs = take(conn)
    failed = of_type(outputs, SubscriptionFailed)
    assert [f.error.channel_name for f in failed] == [channel]
    assert message in failed[0].error.message
    assert failed[0].retry_in is None
    assert of_type(outputs, ErrorReported) == []
    other = conn.channels.get("private-other")
    assert other is not None
    assert other.status is ChannelStatus.SUBSCRIBING


def test_an_error_naming_no_waiting_channel_is_reported_as_it_is() -> None:
    conn = connected()
    conn.receive(frame("pusher:error", {"message": "Existing subscription to channel nobody"}), 0.0)
    assert len(of_type(take(conn), ErrorReported)) == 1


def test_a_channel_retried_by_itself_keeps_its_last_failure_and_is_not_refused() -> None:
    """What ``wait_subscribed()`` and the health view read: a retried channel is not
    refused, and its last failure stays known through the retry until the outcome."""
    conn = connected(socket_id="1.2")
    conn.subscribe("private-retry")
    take(conn)
    record = conn.channels.get("private-retry")
    assert record is not None
    error = AuthorizationError("HTTP 503", "private-retry", status=503, retryable=True)
    conn.channel_authorization_failed("private-retry", "1.2", error, 1.0)
    assert (record.status, record.failure, record.refused) == (ChannelStatus.FAILED, error, False)
    conn.handle_timer(conn.next_deadline() or 0.0)
    assert take(conn)[-1] == AuthorizeChannel("private-retry", "1.2", record.incarnation)
    assert (record.status, record.failure, record.refused) == (
        ChannelStatus.AUTHORIZING,
        error,
        False,
    )
    conn.channel_authorized("private-retry", "1.2", {"auth": "key:sig"})
    conn.receive(subscription_succeeded("private-retry"), 3.0)
    assert (record.status, record.failure, record.refused) == (
        ChannelStatus.SUBSCRIBED,
        None,
        False,
    )

    refusal = AuthorizationError("HTTP 403", "private-denied", status=403)
    conn.subscribe("private-denied")
    take(conn)
    conn.channel_authorization_failed("private-denied", "1.2", refusal, 4.0)
    denied = conn.channels.get("private-denied")
    assert denied is not None
    assert (denied.failure, denied.refused) == (refusal, True)
