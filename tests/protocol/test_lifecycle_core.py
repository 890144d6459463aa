"""Channel lifecycles at scale and across incarnations, driven on the core by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pusher_channels.exceptions import AuthorizationError
from pusher_channels.protocol import channels as channels_module
from pusher_channels.protocol.actions import (
    AuthorizeChannel,
    Output,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from pusher_channels.protocol.channels import (
    ChannelKind,
    ChannelRecord,
    ChannelStatus,
    channel_kind,
)
from pusher_channels.protocol.connection import Connection

from .helpers import (
    connected,
    frame,
    lose,
    of_type,
    reconnect,
    sent,
    sent_events,
    subscribed_channels,
    subscription_succeeded,
    take,
)


def status_of(conn: Connection, name: str) -> ChannelStatus:
    record = conn.channels.get(name)
    assert record is not None
    return record.status


# ----------------------------------------------------------------- work per action


class RecordTouches:
    """Which channel records the core reads or writes, counted per action."""

    def __init__(self) -> None:
        self.touched: set[int] = set()

    def per_action(self, action: Iterator[None]) -> list[int]:
        """Run each step of ``action``; return how many records each step touched."""
        counts: list[int] = []
        while True:
            self.touched.clear()
            try:
                next(action)
            except StopIteration:
                return counts
            counts.append(len(self.touched))


@pytest.fixture
def touches(monkeypatch: pytest.MonkeyPatch) -> RecordTouches:
    """Records created from now on report every attribute read and write."""
    counter = RecordTouches()
    touched = counter.touched

    class TouchCountingRecord(ChannelRecord):
        __slots__ = ()

        def __getattribute__(self, name: str) -> object:
            touched.add(id(self))
            return super().__getattribute__(name)

        def __setattr__(self, name: str, value: object) -> None:
            touched.add(id(self))
            super().__setattr__(name, value)

    monkeypatch.setattr(channels_module, "ChannelRecord", TouchCountingRecord)
    return counter


def act_like_the_runtime(conn: Connection, now: float) -> None:
    """What the runtime does after every input: take outputs, re-arm the timer."""
    take(conn)
    deadline = conn.next_deadline()
    if deadline is not None and deadline <= now:
        conn.handle_timer(now)
        take(conn)


CHANNEL_COUNT = 3000


def test_subscribing_touches_a_bounded_number_of_records_whatever_the_count(
    touches: RecordTouches,
) -> None:
    """Scenario 13: every subscribe used to scan every channel (16,000 took 1 s)."""
    conn = connected(now=0.0, socket_id="1.2")
    now = 1.0

    def subscribe_many() -> Iterator[None]:
        for index in range(CHANNEL_COUNT):
            # Every tenth channel waits for a retry of its authorization.
            name = f"private-{index}" if index % 10 == 0 else f"public-{index}"
            conn.subscribe(name)
            if index % 10 == 0:
                error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
                conn.channel_authorization_failed(name, "1.2", error, now)
            act_like_the_runtime(conn, now)
            yield

    counts = touches.per_action(subscribe_many())
    assert len(counts) == CHANNEL_COUNT
    assert max(counts) <= 2, f"the last subscribe touched {counts[-1]} records"


def test_due_retries_touch_only_the_due_channels(touches: RecordTouches) -> None:
    conn = connected(now=0.0, socket_id="1.2")
    for index in range(CHANNEL_COUNT):
        conn.subscribe(f"private-{index}")
    take(conn)
    for index in range(CHANNEL_COUNT):
        name = f"private-{index}"
        error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
        # Failures spread over time (before the first ping): retries fall due one by one.
        conn.channel_authorization_failed(name, "1.2", error, index / 1000)
    take(conn)

    def fire_each_retry() -> Iterator[None]:
        for _ in range(CHANNEL_COUNT):
            deadline = conn.next_deadline()
            assert deadline is not None
            conn.handle_timer(deadline)
            assert len(of_type(take(conn), AuthorizeChannel)) == 1
            yield

    counts = touches.per_action(fire_each_retry())
    assert max(counts) <= 2, f"a retry touched up to {max(counts)} records"


def test_unsubscribing_touches_a_bounded_number_of_records(touches: RecordTouches) -> None:
    conn = connected(now=0.0, socket_id="1.2")
    for index in range(CHANNEL_COUNT):
        conn.subscribe(f"public-{index}")
        if index % 10 == 0:
            name = f"private-{index}"
            conn.subscribe(name)
            error = AuthorizationError("HTTP 503", name, status=503, retryable=True)
            conn.channel_authorization_failed(name, "1.2", error, 1.0)
    take(conn)

    def unsubscribe_all() -> Iterator[None]:
        for index in range(CHANNEL_COUNT):
            conn.unsubscribe(f"public-{index}")
            if index % 10 == 0:
                conn.unsubscribe(f"private-{index}")
            act_like_the_runtime(conn, 1.0)
            yield

    counts = touches.per_action(unsubscribe_all())
    # At most the two channels let go, and the next retry the timer is set for.
    assert max(counts) <= 3, f"an unsubscribe touched up to {max(counts)} records"
    assert conn.next_deadline() == 30.0  # only the heartbeat is left


# ------------------------------------------------------- incarnations of a channel


def frame_for_old_subscribe(channel: str) -> str:
    """The server's answer to a ``pusher:subscribe`` sent before an unsubscribe."""
    return subscription_succeeded(channel, {"incarnation": "old"})


def resubscribed_while_subscribing(name: str = "news") -> Connection:
    """subscribe, unsubscribe before the answer, subscribe again: two answers are due."""
    conn = connected(socket_id="1.2")
    conn.subscribe(name)
    conn.unsubscribe(name)
    conn.subscribe(name)
    assert sent_events(take(conn)) == ["pusher:subscribe", "pusher:unsubscribe", "pusher:subscribe"]
    return conn


def test_the_answer_to_an_unsubscribed_incarnation_is_not_applied_to_the_new_one() -> None:
    """Scenario 10: on_subscription_succeeded fired twice for one subscription."""
    conn = resubscribed_while_subscribing()
    conn.receive(frame_for_old_subscribe("news"), 1.0)
    assert take(conn) == []
    assert status_of(conn, "news") is ChannelStatus.SUBSCRIBING
    conn.receive(subscription_succeeded("news", {"incarnation": "new"}), 1.0)
    assert take(conn) == [SubscriptionSucceeded("news", {"incarnation": "new"})]
    assert status_of(conn, "news") is ChannelStatus.SUBSCRIBED


def test_a_refusal_of_an_unsubscribed_incarnation_does_not_fail_the_new_one() -> None:
    conn = resubscribed_while_subscribing()
    conn.receive(frame("pusher:subscription_error", {"error": "old"}, channel="news"), 1.0)
    assert of_type(take(conn), SubscriptionFailed) == []
    conn.receive(subscription_succeeded("news"), 1.0)
    assert of_type(take(conn), SubscriptionSucceeded) == [SubscriptionSucceeded("news", {})]


def test_the_answer_to_an_unsubscribed_channel_is_skipped_even_without_a_new_one() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("news")
    conn.unsubscribe("news")
    conn.receive(frame_for_old_subscribe("news"), 1.0)  # nobody wants it
    conn.subscribe("news")
    take(conn)
    conn.receive(subscription_succeeded("news"), 2.0)  # the answer to the new subscribe
    assert take(conn) == [SubscriptionSucceeded("news", {})]


def test_unsubscribing_a_subscribed_channel_leaves_no_answer_due() -> None:
    """Pusher never answers ``pusher:unsubscribe``: the next answer is the new one's."""
    conn = connected(socket_id="1.2")
    conn.subscribe("news")
    conn.receive(subscription_succeeded("news"), 1.0)
    conn.unsubscribe("news")
    conn.subscribe("news")
    take(conn)
    conn.receive(subscription_succeeded("news"), 2.0)
    assert take(conn) == [SubscriptionSucceeded("news", {})]


def test_answers_due_on_a_lost_connection_are_forgotten() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe("news")
    conn.unsubscribe("news")
    lose(conn, 1.0)
    conn.subscribe("news")
    reconnect(conn, socket_id="3.4")
    conn.receive(subscription_succeeded("news"), 5.0)
    assert take(conn) == [SubscriptionSucceeded("news", {})]


def resubscribed_while_authorizing(name: str = "private-chat") -> tuple[Connection, int, int]:
    """Two authorization requests for ``name`` on one socket: the first one is stale.

    Returns the connection and the two requests' incarnations, old then new.
    """
    conn = connected(socket_id="1.2")
    conn.subscribe(name)
    conn.unsubscribe(name)
    conn.subscribe(name)
    old, new = of_type(take(conn), AuthorizeChannel)
    assert (old.channel_name, old.socket_id) == (new.channel_name, new.socket_id)
    assert old.incarnation != new.incarnation
    return conn, old.incarnation, new.incarnation


def failure(name: str = "private-chat", message: str = "HTTP 403") -> AuthorizationError:
    return AuthorizationError(message, name, status=403)


def test_an_authorization_failure_for_an_unsubscribed_incarnation_is_not_applied() -> None:
    conn, old, new = resubscribed_while_authorizing()
    conn.channel_authorization_failed(
        "private-chat", "1.2", failure(message="old"), 1.0, incarnation=old
    )
    assert take(conn) == []
    assert status_of(conn, "private-chat") is ChannelStatus.AUTHORIZING
    conn.channel_authorized("private-chat", "1.2", {"auth": "key:sig"}, incarnation=new)
    assert subscribed_channels(take(conn)) == ["private-chat"]


@pytest.mark.parametrize("old_first", [True, False])
@pytest.mark.parametrize("old_succeeds", [True, False])
def test_only_the_answer_of_the_current_incarnation_is_applied(
    old_first: bool, old_succeeds: bool
) -> None:
    """The two answers may come in either order: the old one is never applied."""
    conn, old, new = resubscribed_while_authorizing()

    def answer_old() -> None:
        if old_succeeds:
            conn.channel_authorized("private-chat", "1.2", {"auth": "old:sig"}, incarnation=old)
        else:
            conn.channel_authorization_failed(
                "private-chat", "1.2", failure(message="old"), 1.0, incarnation=old
            )

    def answer_new() -> None:
        conn.channel_authorized("private-chat", "1.2", {"auth": "new:sig"}, incarnation=new)

    answers: list[Callable[[], None]] = [answer_old, answer_new]
    if not old_first:
        answers.reverse()
    outputs: list[Output] = []
    for answer in answers:
        answer()
        outputs += take(conn)
    assert of_type(outputs, SubscriptionFailed) == []
    [subscribe] = [m for m in sent(outputs) if m["event"] == "pusher:subscribe"]
    assert subscribe["data"]["auth"] == "new:sig"
    assert status_of(conn, "private-chat") is ChannelStatus.SUBSCRIBING


def test_a_failure_of_the_current_incarnation_fails_it_once() -> None:
    conn, old, new = resubscribed_while_authorizing()
    conn.channel_authorization_failed(
        "private-chat", "1.2", failure(message="one"), 1.0, incarnation=old
    )
    conn.channel_authorization_failed(
        "private-chat", "1.2", failure(message="two"), 1.0, incarnation=new
    )
    [failed] = of_type(take(conn), SubscriptionFailed)
    assert failed.error.message == "two"
    assert status_of(conn, "private-chat") is ChannelStatus.FAILED


# -------------------------------------------------------------------- heartbeat


@pytest.mark.parametrize("server_timeout", [0.001, 1e-9, 0.5])
def test_a_tiny_server_activity_timeout_is_raised_to_one_second(server_timeout: float) -> None:
    """Scenario 17: ``activity_timeout: 0.001`` from the server made a ping busy loop."""
    conn = connected(now=0.0, server_timeout=server_timeout)
    assert conn.activity_timeout == 1.0
    pings = 0
    now = 0.0
    while now < 10.0:  # ten seconds of a server that answers every ping at once
        deadline = conn.next_deadline()
        assert deadline is not None
        now = deadline
        conn.handle_timer(now)
        sent_now = sent_events(take(conn))
        if "pusher:ping" in sent_now:
            pings += 1
            conn.receive(frame("pusher:pong", {}), now)
    assert pings == 10


def test_a_server_activity_timeout_above_the_floor_is_kept() -> None:
    assert connected(server_timeout=1.5, activity_timeout=120.0).activity_timeout == 1.5
    assert connected(server_timeout=0.001, activity_timeout=120.0).next_deadline() == 1.0


# ------------------------------------------------------------------ channel kinds


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cache-prices", ChannelKind.PUBLIC),
        ("private-cache-chat", ChannelKind.PRIVATE),
        ("private-encrypted-cache-chat", ChannelKind.PRIVATE_ENCRYPTED),
        ("presence-cache-room", ChannelKind.PRESENCE),
    ],
)
def test_cache_channels_are_of_their_base_kind(name: str, kind: ChannelKind) -> None:
    assert channel_kind(name) is kind
