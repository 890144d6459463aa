"""The server core alone: the protocol's rules as plain function calls, time as numbers."""

from __future__ import annotations

import json
import re

import pytest

from pusher_channels.testing.settings import Limits
from tests.testing.harness import Harness

# ------------------------------------------------------------------ connections


def test_connection_established_gives_a_socket_id_and_the_activity_timeout() -> None:
    harness = Harness(activity_timeout=30)
    socket_id, outputs = harness.core.open_connection({"protocol": "7"}, 0.0)
    harness.take(outputs)
    [frame] = harness.pop(socket_id)
    assert frame["event"] == "pusher:connection_established"
    assert isinstance(frame["data"], str), "double encoded, as the protocol says"
    data = json.loads(frame["data"])
    assert data == {"socket_id": socket_id, "activity_timeout": 30}
    assert re.fullmatch(r"\d+\.\d+", socket_id)


@pytest.mark.parametrize(
    ("key", "query", "refusal"),
    [
        ("test-key", {"protocol": "7"}, None),
        ("test-key", {"protocol": "5", "client": "java-client"}, None),
        ("other", {"protocol": "7"}, 4001),
        ("test-key", {}, 4008),
        ("test-key", {"protocol": ""}, 4008),
        ("test-key", {"protocol": "3"}, 4007),
        ("test-key", {"protocol": "8"}, 4007),
        ("test-key", {"protocol": "seven"}, 4007),
    ],
)
def test_refusals_use_the_documented_close_codes(
    key: str, query: dict[str, str], refusal: int | None
) -> None:
    result = Harness().core.refusal(key, query)
    assert (result[0] if result else None) == refusal


def test_ping_is_answered_with_pong() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(socket_id, {"event": "pusher:ping", "data": {}})
    assert harness.pop(socket_id) == [{"event": "pusher:pong", "data": "{}"}]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"event": 42}', "{}"])
def test_malformed_frames_get_an_error_and_the_connection_stays(text: str) -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(socket_id, text)
    assert harness.error(socket_id)["code"] is None
    assert harness.core.is_open(socket_id)


def test_unknown_system_events_are_ignored_and_other_names_refused() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(socket_id, {"event": "pusher:something-new", "data": {}})
    harness.send(socket_id, {"event": "pusher:pong", "data": {}})
    assert harness.pop(socket_id) == []
    harness.send(socket_id, {"event": "hello", "channel": "x", "data": {}})
    assert "prefixed by 'client-'" in harness.error(socket_id)["message"]


# ---------------------------------------------------------------- subscriptions


def test_public_subscription_succeeds_with_empty_data_and_is_visible() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, "orders")
    assert harness.pop(socket_id) == [
        {"event": "pusher_internal:subscription_succeeded", "data": "{}", "channel": "orders"}
    ]
    info = harness.core.channel("orders")
    assert info is not None
    assert info.subscribers == (socket_id,)


def test_subscribe_data_may_be_double_encoded() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(socket_id, {"event": "pusher:subscribe", "data": '{"channel": "orders"}'})
    assert harness.events(socket_id) == ["pusher_internal:subscription_succeeded"]


def test_subscribing_twice_is_an_existing_subscription_error() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, "orders")
    harness.pop(socket_id)
    harness.subscribe(socket_id, "orders")
    assert harness.error(socket_id) == {
        "code": None,
        "message": "Existing subscription to channel orders",
    }


@pytest.mark.parametrize("name", ["has space", "x" * 165, "#foo", "é", ""])
def test_invalid_channel_names_are_refused(name: str) -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(socket_id, {"event": "pusher:subscribe", "data": {"channel": name}})
    assert harness.error(socket_id)["code"] is None
    assert harness.core.channels() == {}


def test_the_channel_name_limit_is_configurable() -> None:
    harness = Harness(limits=Limits(max_channel_name_length=200))
    socket_id = harness.connect()
    harness.subscribe(socket_id, "x" * 200)
    assert harness.events(socket_id) == ["pusher_internal:subscription_succeeded"]


@pytest.mark.parametrize("channel", ["private-chat", "private-encrypted-vault", "private-cache-x"])
def test_private_channels_need_a_valid_signature(channel: str) -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, channel)
    assert harness.events(socket_id)[0] == "pusher_internal:subscription_succeeded"


def test_a_bad_signature_is_refused_as_pusher_refuses_it() -> None:
    harness = Harness()
    socket_id = harness.connect()
    bad = "test-key:" + "0" * 64
    harness.send(
        socket_id, {"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": bad}}
    )
    assert harness.error(socket_id) == {
        "code": None,
        "message": f"Invalid signature: Expected HMAC SHA256 hex digest of {socket_id}:private-x, "
        f"but got {'0' * 64}",
    }
    assert harness.core.channels() == {}
    assert harness.core.is_open(socket_id)


def test_a_signature_for_another_socket_or_key_is_refused() -> None:
    harness = Harness()
    first, second = harness.connect(), harness.connect()
    stolen = harness.auth(first, "private-x")
    harness.send(
        second, {"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": stolen}}
    )
    assert harness.error(second)["message"].startswith("Invalid signature")
    other_key = "other-key:" + stolen.split(":")[1]
    harness.send(
        first, {"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": other_key}}
    )
    assert harness.error(first)["message"] == "Invalid key in auth data: 'other-key'"
    harness.send(first, {"event": "pusher:subscribe", "data": {"channel": "private-x"}})
    assert harness.error(first)["message"].endswith("but got None")


# --------------------------------------------------------------------- presence


def test_presence_members_join_and_leave_once_per_user() -> None:
    harness = Harness()
    ann, bob, bob_again = harness.connect(), harness.connect(), harness.connect()
    harness.subscribe(ann, "presence-room", {"user_id": "ann", "user_info": {"name": "Ann"}})
    [succeeded] = harness.pop(ann)
    assert json.loads(succeeded["data"]) == {
        "presence": {"ids": ["ann"], "hash": {"ann": {"name": "Ann"}}, "count": 1}
    }

    harness.subscribe(bob, "presence-room", {"user_id": 7, "user_info": None})
    assert harness.pop(ann) == [
        {
            "event": "pusher_internal:member_added",
            "channel": "presence-room",
            "data": '{"user_id":"7","user_info":null}',
        }
    ]
    assert harness.events(bob) == ["pusher_internal:subscription_succeeded"]

    harness.subscribe(bob_again, "presence-room", {"user_id": "7"})
    assert harness.pop(ann) == [], "a second connection of a member adds nobody"
    [succeeded] = harness.pop(bob_again)
    assert json.loads(succeeded["data"])["presence"]["count"] == 2

    harness.send(bob, {"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}})
    assert harness.pop(ann) == [], "user 7 is still there on another connection"
    harness.take(harness.core.connection_closed(bob_again))
    assert harness.pop(ann) == [
        {
            "event": "pusher_internal:member_removed",
            "channel": "presence-room",
            "data": '{"user_id":"7"}',
        }
    ]
    assert harness.core.channel("presence-room") is not None
    assert harness.core.channels()["presence-room"].members == {"ann": {"name": "Ann"}}


@pytest.mark.parametrize(
    ("channel_data", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"user_info": {}}', "user_id"),
        ('{"user_id": ""}', "user_id"),
        ('{"user_id": true}', "user_id"),
        (json.dumps({"user_id": "x" * 129}), "128"),
        (json.dumps({"user_id": "x", "user_info": {"bio": "y" * 1100}}), "1024"),
    ],
)
def test_presence_channel_data_is_checked(channel_data: str, problem: str) -> None:
    harness = Harness()
    socket_id = harness.connect()
    auth = harness.auth(socket_id, "presence-room", channel_data)
    harness.send(
        socket_id,
        {
            "event": "pusher:subscribe",
            "data": {"channel": "presence-room", "auth": auth, "channel_data": channel_data},
        },
    )
    assert problem in harness.error(socket_id)["message"]


def test_a_full_presence_channel_refuses_new_users_but_not_known_ones() -> None:
    harness = Harness(limits=Limits(max_presence_members=2))
    sockets = [harness.connect() for _ in range(4)]
    for socket_id, user in zip(sockets, ["a", "b", "c", "a"], strict=True):
        harness.subscribe(socket_id, "presence-full", {"user_id": user})
    assert "already has 2 members" in harness.error(sockets[2])["message"]
    assert harness.events(sockets[3]) == ["pusher_internal:subscription_succeeded"]


def test_presence_without_channel_data_uses_the_signed_in_user() -> None:
    harness = Harness()
    socket_id = harness.connect()
    auth = harness.auth(socket_id, "presence-room")
    subscribe = {"event": "pusher:subscribe", "data": {"channel": "presence-room", "auth": auth}}
    harness.send(socket_id, subscribe)
    assert "signed-in user" in harness.error(socket_id)["message"]
    harness.signin(socket_id, {"id": "42", "user_info": {"name": "Zed"}})
    harness.pop(socket_id)
    harness.send(socket_id, subscribe)
    [succeeded] = harness.pop(socket_id)
    assert json.loads(succeeded["data"])["presence"]["hash"] == {"42": {"name": "Zed"}}


# ---------------------------------------------------------------- client events


def test_client_events_reach_the_others_as_strings_with_user_id_on_presence() -> None:
    harness = Harness()
    one, two, outsider = harness.connect(), harness.connect(), harness.connect()
    for socket_id, user in ((one, "u1"), (two, "u2")):
        harness.subscribe(socket_id, "private-chat")
        harness.subscribe(socket_id, "presence-chat", {"user_id": user})
    harness.subscribe(outsider, "orders")
    for socket_id in (one, two, outsider):
        harness.pop(socket_id)

    harness.send(one, {"event": "client-typing", "channel": "private-chat", "data": {"a": [1]}})
    harness.send(one, {"event": "client-typing", "channel": "presence-chat", "data": "plain"})
    assert harness.pop(two) == [
        {"event": "client-typing", "channel": "private-chat", "data": '{"a":[1]}'},
        {"event": "client-typing", "channel": "presence-chat", "data": "plain", "user_id": "u1"},
    ]
    assert harness.pop(one) == [], "the sender does not get its own event"
    assert harness.pop(outsider) == []


@pytest.mark.parametrize(
    ("channel", "event", "data", "message"),
    [
        ("orders", "client-x", {}, "only supported on private and presence channels"),
        ("private-elsewhere", "client-x", {}, "not subscribed"),
        ("private-chat", "client-" + "x" * 200, {}, "event name longer than 200"),
        ("private-chat", "client-x", "y" * 10241, "data larger than 10240 bytes"),
    ],
)
def test_client_event_rules(channel: str, event: str, data: object, message: str) -> None:
    harness = Harness()
    sender, other = harness.connect(), harness.connect()
    for socket_id in (sender, other):
        harness.subscribe(socket_id, "orders")
        harness.subscribe(socket_id, "private-chat")
        harness.pop(socket_id)
    harness.send(sender, {"event": event, "channel": channel, "data": data})
    error = harness.error(sender)
    assert message in error["message"]
    assert error["code"] is None
    assert harness.pop(other) == []


def test_client_events_can_be_disabled() -> None:
    harness = Harness(client_events=False)
    socket_id = harness.connect()
    harness.subscribe(socket_id, "private-chat")
    harness.pop(socket_id)
    harness.send(socket_id, {"event": "client-x", "channel": "private-chat", "data": {}})
    assert "enable this feature" in harness.error(socket_id)["message"]


def test_more_than_ten_client_events_a_second_are_refused_with_4301() -> None:
    harness = Harness()
    sender, other = harness.connect(), harness.connect()
    for socket_id in (sender, other):
        harness.subscribe(socket_id, "private-chat")
        harness.pop(socket_id)
    for n in range(11):
        harness.send(sender, {"event": "client-n", "channel": "private-chat", "data": {"n": n}})
        harness.now += 0.05
    assert len(harness.pop(other)) == 10
    error = harness.error(sender)
    assert error["code"] == 4301
    assert harness.core.is_open(sender), "a rate-limited client stays connected"
    harness.now += 1.0
    harness.send(sender, {"event": "client-n", "channel": "private-chat", "data": {"n": 11}})
    assert len(harness.pop(other)) == 1


# ------------------------------------------------------- cache, counts, publish


def test_cache_channels_give_the_last_event_or_a_miss_until_the_ttl() -> None:
    harness = Harness(limits=Limits(cache_ttl=60))
    harness.take(harness.core.publish(["cache-prices"], "price", '{"p":1}', harness.now))
    harness.take(harness.core.publish(["cache-prices"], "price", '{"p":2}', harness.now))
    first = harness.connect()
    harness.subscribe(first, "cache-prices")
    harness.subscribe(first, "cache-empty")
    assert harness.pop(first)[1::2] == [
        {"event": "price", "channel": "cache-prices", "data": '{"p":2}'},
        {"event": "pusher:cache_miss", "channel": "cache-empty"},
    ]
    harness.now += 61
    late = harness.connect()
    harness.subscribe(late, "cache-prices")
    assert harness.events(late) == ["pusher_internal:subscription_succeeded", "pusher:cache_miss"]


def test_client_events_are_not_cached() -> None:
    harness = Harness()
    one, two = harness.connect(), harness.connect()
    harness.subscribe(one, "private-cache-x")
    harness.send(one, {"event": "client-x", "channel": "private-cache-x", "data": {}})
    harness.subscribe(two, "private-cache-x")
    assert harness.events(two)[-1] == "pusher:cache_miss"


def test_subscription_counts_are_sent_when_enabled_except_on_presence() -> None:
    harness = Harness(subscription_count=True)
    one, two = harness.connect(), harness.connect()
    harness.subscribe(one, "room")
    assert harness.pop(one)[-1] == {
        "event": "pusher_internal:subscription_count",
        "channel": "room",
        "data": '{"subscription_count":1}',
    }
    harness.subscribe(two, "room")
    assert json.loads(harness.pop(one)[-1]["data"]) == {"subscription_count": 2}
    harness.send(two, {"event": "pusher:unsubscribe", "data": {"channel": "room"}})
    assert json.loads(harness.pop(one)[-1]["data"]) == {"subscription_count": 1}
    harness.subscribe(one, "presence-room", {"user_id": "a"})
    assert harness.events(one) == ["pusher_internal:subscription_succeeded"]


def test_subscription_counts_are_off_by_default() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, "room")
    assert harness.events(socket_id) == ["pusher_internal:subscription_succeeded"]


def test_publish_skips_the_excluded_socket() -> None:
    harness = Harness()
    one, two = harness.connect(), harness.connect()
    for socket_id in (one, two):
        harness.subscribe(socket_id, "orders")
        harness.pop(socket_id)
    harness.take(harness.core.publish(["orders", "nobody"], "e", "d", harness.now, exclude=one))
    assert harness.pop(one) == []
    assert harness.pop(two) == [{"event": "e", "channel": "orders", "data": "d"}]


# ---------------------------------------------------------- sign-in, watchlist


def test_signin_success_echoes_user_data_and_opens_the_user_channel() -> None:
    harness = Harness()
    socket_id, other = harness.connect(), harness.connect()
    harness.send(
        socket_id, {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-42"}}
    )
    assert "not signed in as user 42" in harness.error(socket_id)["message"]
    harness.signin(socket_id, {"id": "42"})
    assert harness.pop(socket_id) == [
        {"event": "pusher:signin_success", "data": {"user_data": '{"id": "42"}'}}
    ]
    harness.send(
        socket_id, {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-42"}}
    )
    assert harness.events(socket_id) == ["pusher_internal:subscription_succeeded"]
    harness.send(other, {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-42"}})
    assert harness.error(other)["code"] is None


@pytest.mark.parametrize(
    ("auth", "user_data", "message"),
    [
        ("test-key:" + "0" * 64, '{"id": "1"}', "Invalid signature"),
        (None, '{"id": "1"}', "Invalid signature"),
        ("x", '{"name": "no id"}', "'id'"),
        ("x", '{"id": 1}', "'id'"),
        ("x", "not json", "not valid JSON"),
    ],
)
def test_a_refused_signin_is_an_error_and_the_connection_stays(
    auth: str | None, user_data: str, message: str
) -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.send(
        socket_id, {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}
    )
    assert message in harness.error(socket_id)["message"]
    assert harness.core.is_open(socket_id)


def test_signing_in_as_someone_else_on_the_same_connection_is_refused() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.signin(socket_id, {"id": "1"})
    harness.signin(socket_id, {"id": "1"})
    assert harness.events(socket_id) == ["pusher:signin_success", "pusher:signin_success"]
    harness.signin(socket_id, {"id": "2"})
    assert "already signed in as user 1" in harness.error(socket_id)["message"]


def test_watchlist_status_at_signin_and_on_every_change() -> None:
    harness = Harness()
    bob, ann, cid = harness.connect(), harness.connect(), harness.connect()
    harness.signin(bob, {"id": "bob"})
    harness.signin(ann, {"id": "ann", "watchlist": ["bob", "cid"]})
    assert harness.pop(ann)[1] == {
        "event": "pusher_internal:watchlist_events",
        "data": {
            "events": [
                {"name": "online", "user_ids": ["bob"]},
                {"name": "offline", "user_ids": ["cid"]},
            ]
        },
    }
    harness.signin(cid, {"id": "cid"})
    assert harness.pop(ann) == [
        {
            "event": "pusher_internal:watchlist_events",
            "data": {"events": [{"name": "online", "user_ids": ["cid"]}]},
        }
    ]
    second_cid = harness.connect()
    harness.signin(second_cid, {"id": "cid"})
    harness.take(harness.core.connection_closed(cid))
    assert harness.pop(ann) == [], "cid is still online on another connection"
    harness.take(harness.core.connection_closed(second_cid))
    assert harness.pop(ann)[0]["data"]["events"] == [{"name": "offline", "user_ids": ["cid"]}]
    harness.take(harness.core.connection_closed(ann))
    harness.take(harness.core.connection_closed(bob))
    assert harness.inbox[ann] == []


def test_a_watchlist_over_the_limit_is_cut_with_4302() -> None:
    harness = Harness(limits=Limits(max_watchlist=2))
    socket_id = harness.connect()
    harness.signin(socket_id, {"id": "me", "watchlist": ["a", "b", "c"]})
    error, success, watchlist = harness.pop(socket_id)
    assert error["data"]["code"] == 4302
    assert success["event"] == "pusher:signin_success"
    assert watchlist["data"]["events"] == [{"name": "offline", "user_ids": ["a", "b"]}]


def test_watchlist_events_can_be_disabled() -> None:
    harness = Harness(watchlist_events=False)
    socket_id = harness.connect()
    harness.signin(socket_id, {"id": "me", "watchlist": ["a"]})
    assert harness.events(socket_id) == ["pusher:signin_success"]


def test_terminating_a_user_closes_its_connections_with_4009() -> None:
    harness = Harness()
    ann, ann_again, bob = harness.connect(), harness.connect(), harness.connect()
    harness.signin(ann, {"id": "ann"})
    harness.signin(ann_again, {"id": "ann"})
    harness.subscribe(ann, "presence-room", {"user_id": "ann"})
    harness.subscribe(bob, "presence-room", {"user_id": "bob"})
    harness.pop(bob)
    harness.take(harness.core.terminate_user("ann"))
    assert harness.closed == {
        ann: (4009, "You got disconnected by the app"),
        ann_again: (4009, "You got disconnected by the app"),
    }
    assert harness.events(bob) == ["pusher_internal:member_removed"]
    assert harness.core.connection_ids() == [bob]


# ------------------------------------------------------------------------ timers


def test_a_silent_client_is_pinged_then_closed_with_4201() -> None:
    harness = Harness(activity_timeout=10, pong_timeout=5)
    quiet, chatty = harness.connect(), harness.connect()
    assert harness.core.next_deadline() == harness.now + 10
    harness.advance(9)
    harness.send(chatty, {"event": "pusher:ping"})
    harness.advance(1)
    assert harness.pings == [quiet]
    assert harness.core.next_deadline() == harness.now + 5
    harness.advance(5)
    assert harness.closed == {quiet: (4201, "Pong reply not received")}
    harness.advance(4)
    assert harness.pings == [quiet, chatty], "10 s after chatty's last frame"
    harness.core.heard(chatty, harness.now + 1)
    harness.advance(5)
    assert chatty not in harness.closed, "a pong (any frame) answers the ping"


def test_unauthorized_connections_are_closed_after_the_timeout() -> None:
    harness = Harness(authorized_connections_timeout=5)
    idle, subscriber, signed_in, public = (harness.connect() for _ in range(4))
    harness.subscribe(subscriber, "private-x")
    harness.signin(signed_in, {"id": "1"})
    harness.subscribe(public, "orders")
    harness.advance(5)
    assert harness.closed == {
        idle: (4009, "Connection not authorized within timeout"),
        public: (4009, "Connection not authorized within timeout"),
    }


def test_closed_connections_stay_inspectable_with_their_frames() -> None:
    harness = Harness()
    socket_id = harness.connect({"protocol": "7", "client": "js"})
    harness.subscribe(socket_id, "orders")
    harness.take(harness.core.connection_closed(socket_id, 1000))
    [info] = harness.core.connections(include_closed=True)
    assert not info.open
    assert info.close_code == 1000
    assert info.query == {"protocol": "7", "client": "js"}
    assert info.received_events("pusher:subscribe") == [
        {"event": "pusher:subscribe", "data": {"channel": "orders"}}
    ]
    assert [f["event"] for f in info.sent_events()] == [
        "pusher:connection_established",
        "pusher_internal:subscription_succeeded",
    ]
    assert harness.core.connections() == []
    assert harness.core.channels() == {}
