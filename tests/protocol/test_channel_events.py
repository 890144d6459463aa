"""Channel events and the system events of channels, presence and errors."""

from __future__ import annotations

from typing import Any

import pytest

from pusher_channels.exceptions import PusherError, PusherProtocolError, SubscriptionError
from pusher_channels.protocol.actions import (
    ConnectionState,
    ErrorReported,
    MemberAdded,
    MemberRemoved,
    SubscriptionCountChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from pusher_channels.protocol.channels import ChannelRecord, ChannelStatus
from pusher_channels.protocol.connection import Connection
from pusher_channels.protocol.messages import PusherEvent, PusherMember

from .helpers import (
    connected,
    errors,
    frame,
    make_connection,
    of_type,
    presence_payload,
    subscription_succeeded,
    take,
)


def subscribed(*names: str) -> Connection:
    conn = connected()
    for name in names:
        conn.subscribe(name)
    take(conn)
    return conn


def record_of(conn: Connection, name: str) -> ChannelRecord:
    record = conn.channels.get(name)
    assert record is not None
    return record


# ------------------------------------------------------------------ plain events


def test_channel_event_is_returned_with_its_fields() -> None:
    conn = subscribed("news")
    event = conn.receive(frame("update", '{"headline":"hi"}', channel="news"), 1.0)
    assert event == PusherEvent("news", "update", '{"headline":"hi"}', None)
    assert event is not None
    assert event.json() == {"headline": "hi"}
    assert take(conn) == []  # the hot path adds no outputs


def test_channel_event_data_object_and_missing_data() -> None:
    conn = subscribed("news")
    event = conn.receive(frame("update", {"a": 1}, channel="news", double_encode=False), 1.0)
    assert event == PusherEvent("news", "update", '{"a":1}', None)
    event = conn.receive(frame("update", channel="news"), 1.0)
    assert event == PusherEvent("news", "update", None, None)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"text": "grüße ✓", "n": [1, 2.5, None]}, '{"text":"grüße ✓","n":[1,2.5,null]}'),
        ([1, "two"], '[1,"two"]'),
        (42, "42"),
        (True, "true"),
        ("already text", "already text"),
    ],
)
def test_channel_event_data_is_always_json_text(data: Any, text: str) -> None:
    """As the seed says, ``data`` is the string representation of what was sent: a
    frame carrying a JSON value (as pusher-js sends client events) gives its JSON text."""
    conn = subscribed("presence-room")
    event = conn.receive(
        frame("client-x", data, channel="presence-room", user_id="7", double_encode=False), 1.0
    )
    assert event is not None
    assert event.data == text
    assert type(event.data) is str
    if not isinstance(data, str):
        assert event.json() == data


def test_channel_event_text_data_is_the_very_string_of_the_frame() -> None:
    """The common case, data already a string, is passed on as it is (not re-encoded)."""
    conn = subscribed("news")
    event = conn.receive(frame("update", '{"b":  2}', channel="news"), 1.0)
    assert event is not None
    assert event.data == '{"b":  2}'


@pytest.mark.parametrize(
    ("user_id", "expected"), [("42", "42"), (42, "42"), (0, "0"), (-7, "-7"), (None, None)]
)
def test_user_id_is_given_as_a_string(user_id: Any, expected: str | None) -> None:
    conn = subscribed("presence-room")
    event = conn.receive(
        frame("client-typing", '{"t":1}', channel="presence-room", user_id=user_id), 1.0
    )
    assert event is not None
    assert event.user_id == expected
    assert event.channel_name == "presence-room"
    assert event.event_name == "client-typing"


def test_events_before_connected_are_dropped() -> None:
    conn = make_connection()
    conn.subscribe("news")
    conn.connect(0.0)
    take(conn)
    assert conn.receive(frame("update", "{}", channel="news"), 0.1) is None
    assert take(conn) == []


def test_event_with_non_string_channel_is_reported() -> None:
    conn = subscribed("news")
    assert conn.receive('{"event":"update","channel":5,"data":"{}"}', 1.0) is None
    reported = errors(take(conn))
    assert len(reported) == 1
    assert isinstance(reported[0].error, PusherProtocolError)


def test_event_without_channel_is_ignored() -> None:
    conn = subscribed("news")
    assert conn.receive('{"event":"update","data":"{}"}', 1.0) is None
    assert take(conn) == []


def test_invalid_frame_is_reported_and_the_connection_stays_up() -> None:
    conn = subscribed("news")
    assert conn.receive("{not json", 1.0) is None
    outputs = take(conn)
    assert len(outputs) == 1
    assert isinstance(outputs[0], ErrorReported)
    assert isinstance(outputs[0].error, PusherProtocolError)
    assert conn.state is ConnectionState.CONNECTED


# ------------------------------------------------------------------ subscription


def test_subscription_succeeded() -> None:
    conn = subscribed("news")
    assert conn.receive(subscription_succeeded("news", {}), 1.0) is None
    assert take(conn) == [SubscriptionSucceeded("news", {})]
    assert record_of(conn, "news").status is ChannelStatus.SUBSCRIBED


def test_subscription_succeeded_with_object_data_and_without_data() -> None:
    conn = subscribed("a", "b")
    conn.receive(
        frame("pusher_internal:subscription_succeeded", {"x": 1}, channel="a", double_encode=False),
        1.0,
    )
    conn.receive(frame("pusher_internal:subscription_succeeded", channel="b"), 1.0)
    assert take(conn) == [SubscriptionSucceeded("a", {"x": 1}), SubscriptionSucceeded("b", None)]
    assert record_of(conn, "b").status is ChannelStatus.SUBSCRIBED


def test_subscription_error_soketi_shape() -> None:
    conn = subscribed("private-a")
    conn.receive(
        frame(
            "pusher:subscription_error",
            {"type": "AuthError", "error": "The connection is unauthorized.", "status": 401},
            channel="private-a",
        ),
        1.0,
    )
    failures = of_type(take(conn), SubscriptionFailed)
    assert len(failures) == 1
    error = failures[0].error
    assert isinstance(error, SubscriptionError)
    assert error.channel_name == "private-a"
    assert error.status == 401
    assert error.message == "The connection is unauthorized."
    assert record_of(conn, "private-a").status is ChannelStatus.FAILED


@pytest.mark.parametrize(
    ("data", "message", "status"),
    [
        ({"message": "nope", "status": 403}, "nope", 403),
        ({"error": "x", "status": "401"}, "x", None),
        ({"error": "x", "status": True}, "x", None),
        ("plain words", "plain words", None),
        ({}, "subscription refused by the server", None),
    ],
)
def test_subscription_error_other_shapes(data: Any, message: str, status: int | None) -> None:
    conn = subscribed("news")
    conn.receive(frame("pusher:subscription_error", data, channel="news"), 1.0)
    (failure,) = of_type(take(conn), SubscriptionFailed)
    assert failure.error.message == message
    assert failure.error.status == status
    assert failure.error.channel_name == "news"


# ------------------------------------------------------------------ pusher:error


@pytest.mark.parametrize("encoded", [False, True], ids=["object", "string-reverb"])
def test_pusher_error_is_reported_with_message_and_code(encoded: bool) -> None:
    conn = subscribed()
    conn.receive(
        frame(
            "pusher:error",
            {"code": 4301, "message": "Client event rejected due to rate limit"},
            double_encode=encoded,
        ),
        1.0,
    )
    reported = errors(take(conn))
    assert len(reported) == 1
    error = reported[0].error
    assert type(error) is PusherError
    assert error.code == 4301
    assert error.message == "Client event rejected due to rate limit"
    assert conn.state is ConnectionState.CONNECTED


@pytest.mark.parametrize(
    ("data", "message", "code"),
    [
        ({"message": "Existing subscription to channel x", "code": None}, None, None),
        ("just a sentence", "just a sentence", None),
        ({"code": 4200}, "pusher:error without a message", 4200),
        ({"code": True, "message": "m"}, "m", None),
        (None, "pusher:error without a message", None),
    ],
)
def test_pusher_error_other_shapes(data: Any, message: str | None, code: int | None) -> None:
    conn = subscribed()
    conn.receive(frame("pusher:error", data, double_encode=False), 1.0)
    (reported,) = errors(take(conn))
    assert reported.error.code == code
    assert reported.error.message == (message or data["message"])


def test_pusher_error_with_a_channel_is_still_an_error() -> None:
    conn = subscribed("private-a")
    conn.receive(
        frame(
            "pusher:error", {"code": 4301, "message": "m"}, channel="private-a", double_encode=False
        ),
        1.0,
    )
    (reported,) = errors(take(conn))
    assert reported.error.code == 4301


# -------------------------------------------------------- other internal events


def test_other_internal_channel_events_are_given_as_pusher_events() -> None:
    conn = subscribed("private-cache-a")
    event = conn.receive(
        frame("pusher_internal:something_new", '{"x":1}', channel="private-cache-a"), 1.0
    )
    assert event == PusherEvent("private-cache-a", "pusher:something_new", '{"x":1}', None)
    event = conn.receive(frame("pusher:cache_miss", channel="private-cache-a"), 1.0)
    assert event == PusherEvent("private-cache-a", "pusher:cache_miss", None, None)
    event = conn.receive(
        frame("pusher:cache_miss", {"n": 1}, channel="private-cache-a", double_encode=False), 1.0
    )
    assert event == PusherEvent("private-cache-a", "pusher:cache_miss", '{"n":1}', None)
    assert take(conn) == []


def test_system_events_for_unknown_channels_are_dropped() -> None:
    conn = subscribed()
    assert conn.receive(subscription_succeeded("nobody"), 1.0) is None
    assert (
        conn.receive(frame("pusher_internal:member_added", {"user_id": "1"}, channel="x"), 1.0)
        is None
    )
    assert conn.receive(frame("pusher:cache_miss", channel="x"), 1.0) is None
    assert take(conn) == []


def test_subscription_count() -> None:
    conn = subscribed("news")
    conn.receive(
        frame("pusher_internal:subscription_count", {"subscription_count": 5}, channel="news"), 1.0
    )
    assert take(conn) == [SubscriptionCountChanged("news", 5)]
    assert record_of(conn, "news").subscription_count == 5
    conn.receive(
        frame(
            "pusher_internal:subscription_count",
            {"subscription_count": 0},
            channel="news",
            double_encode=False,
        ),
        1.0,
    )
    assert take(conn) == [SubscriptionCountChanged("news", 0)]


@pytest.mark.parametrize("count", [-1, "5", 2.5, True, None])
def test_bad_subscription_count_is_reported(count: Any) -> None:
    conn = subscribed("news")
    conn.receive(
        frame("pusher_internal:subscription_count", {"subscription_count": count}, channel="news"),
        1.0,
    )
    outputs = take(conn)
    assert of_type(outputs, SubscriptionCountChanged) == []
    assert len(errors(outputs)) == 1
    assert record_of(conn, "news").subscription_count is None


# ----------------------------------------------------------------------- presence


def presence_connection() -> Connection:
    conn = connected(socket_id="1.2")
    conn.subscribe("presence-room")
    conn.channel_authorized(
        "presence-room", "1.2", {"auth": "k:s", "channel_data": '{"user_id":"1"}'}
    )
    take(conn)
    return conn


def test_presence_subscription_fills_members_from_hash() -> None:
    conn = presence_connection()
    payload = presence_payload({"1": {"name": "me"}, "2": {"name": "bob"}})
    conn.receive(subscription_succeeded("presence-room", payload), 1.0)
    assert take(conn) == [SubscriptionSucceeded("presence-room", payload)]
    record = record_of(conn, "presence-room")
    assert record.status is ChannelStatus.SUBSCRIBED
    assert record.members == {
        "1": PusherMember("1", {"name": "me"}),
        "2": PusherMember("2", {"name": "bob"}),
    }
    assert record.me == PusherMember("1", {"name": "me"})


def test_presence_numeric_ids_become_strings() -> None:
    conn = presence_connection()
    payload = {"presence": {"ids": [1, 2], "hash": {"1": None, "2": {"n": 2}}, "count": 2}}
    conn.receive(subscription_succeeded("presence-room", payload), 1.0)
    take(conn)
    assert record_of(conn, "presence-room").members == {
        "1": PusherMember("1", None),
        "2": PusherMember("2", {"n": 2}),
    }


def test_presence_numeric_ids_are_strings_in_the_subscription_data_too() -> None:
    """``on_subscription_succeeded`` gets ``ids`` as the keys of ``members``: strings."""
    conn = presence_connection()
    payload = {"presence": {"ids": [1, 2], "hash": {"1": None, "2": {"n": 2}}, "count": 2}}
    conn.receive(subscription_succeeded("presence-room", payload), 1.0)
    [succeeded] = of_type(take(conn), SubscriptionSucceeded)
    assert succeeded.data == {
        "presence": {"ids": ["1", "2"], "hash": {"1": None, "2": {"n": 2}}, "count": 2}
    }
    assert succeeded.data["presence"]["ids"] == list(record_of(conn, "presence-room").members)


def test_presence_member_added_and_removed() -> None:
    conn = presence_connection()
    conn.receive(subscription_succeeded("presence-room", presence_payload({"1": {}})), 1.0)
    take(conn)

    conn.receive(
        frame(
            "pusher_internal:member_added",
            {"user_id": 3, "user_info": {"n": "c"}},
            channel="presence-room",
        ),
        2.0,
    )
    assert take(conn) == [MemberAdded("presence-room", PusherMember("3", {"n": "c"}))]
    assert set(record_of(conn, "presence-room").members) == {"1", "3"}

    conn.receive(
        frame("pusher_internal:member_removed", {"user_id": "3"}, channel="presence-room"), 3.0
    )
    assert take(conn) == [MemberRemoved("presence-room", PusherMember("3", {"n": "c"}))]
    assert set(record_of(conn, "presence-room").members) == {"1"}

    # Removing someone who is not there says nothing.
    conn.receive(
        frame("pusher_internal:member_removed", {"user_id": "99"}, channel="presence-room"), 4.0
    )
    assert take(conn) == []


def test_presence_member_added_twice_is_kept_once() -> None:
    conn = presence_connection()
    conn.receive(subscription_succeeded("presence-room", presence_payload({})), 1.0)
    take(conn)
    added = frame("pusher_internal:member_added", {"user_id": "5"}, channel="presence-room")
    conn.receive(added, 2.0)
    conn.receive(added, 2.0)
    assert len(of_type(take(conn), MemberAdded)) == 2
    assert list(record_of(conn, "presence-room").members) == ["5"]


def test_presence_members_are_cleared_on_reconnect() -> None:
    conn = presence_connection()
    conn.receive(subscription_succeeded("presence-room", presence_payload({"1": {}, "2": {}})), 1.0)
    conn.socket_closed(1006, "", 2.0)
    record = record_of(conn, "presence-room")
    assert record.members == {}
    assert record.me is None


@pytest.mark.parametrize(
    "payload",
    [{}, {"presence": None}, {"presence": {"ids": [None]}}, "text", {"presence": {"ids": [""]}}],
)
def test_bad_presence_subscription_payload_is_reported(payload: Any) -> None:
    conn = presence_connection()
    conn.receive(subscription_succeeded("presence-room", payload), 1.0)
    outputs = take(conn)
    assert of_type(outputs, SubscriptionSucceeded) == []
    (reported,) = errors(outputs)
    assert isinstance(reported.error, PusherProtocolError)
    assert "presence-room" in reported.error.message


@pytest.mark.parametrize(
    "payload", [{}, {"user_id": None}, {"user_id": 1.5}, "x", {"user_id": True}]
)
def test_bad_member_payload_is_reported(payload: Any) -> None:
    conn = presence_connection()
    conn.receive(subscription_succeeded("presence-room", presence_payload({})), 1.0)
    take(conn)
    conn.receive(frame("pusher_internal:member_added", payload, channel="presence-room"), 1.0)
    outputs = take(conn)
    assert of_type(outputs, MemberAdded) == []
    assert len(errors(outputs)) == 1
    assert record_of(conn, "presence-room").members == {}


def test_member_events_on_non_presence_channels_are_ignored() -> None:
    conn = subscribed("private-a")
    conn.receive(frame("pusher_internal:member_added", {"user_id": "1"}, channel="private-a"), 1.0)
    assert take(conn) == []
    assert record_of(conn, "private-a").members == {}
