"""The HTTP API alone: requests signed by the official SDK's own request builder, and by hand.

The official ``pusher`` SDK builds each request (path, query, signature, body) as
it would send it; the test hands that to the API without a socket, so a
signature or encoding mismatch with the SDK fails here first.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pusher
import pytest

from pusher_channels.protocol.signatures import hex_signature, http_string_to_sign
from pusher_channels.testing.http_api import HttpApi, HttpRequest, HttpResponse
from tests.testing.harness import Harness


def sdk_for(harness: Harness) -> Any:
    settings = harness.settings
    return pusher.Pusher(
        app_id=settings.app_id,
        key=settings.key,
        secret=settings.secret,
        host="127.0.0.1",
        port=1,
        ssl=False,
        encryption_master_key_base64=settings.encryption_master_key_base64,
    )


def as_request(sdk_request: Any) -> HttpRequest:
    """The SDK's ``pusher.http.Request`` as the server would receive it."""
    return HttpRequest(
        method=sdk_request.method,
        path=sdk_request.path,
        query=tuple(sdk_request.query_params.items()),
        body=sdk_request.body,
        raw_path=sdk_request.path,
    )


def call(harness: Harness, request: HttpRequest, wall_time: float | None = None) -> HttpResponse:
    api = HttpApi(harness.core)
    response, outputs = api.handle(
        request, time.time() if wall_time is None else wall_time, harness.now
    )
    harness.take(outputs)
    return response


def via_sdk(harness: Harness, method: str, *args: Any) -> HttpResponse:
    """Call one SDK method (``trigger``, ``channel_info``...) against the API."""
    request_method = getattr(sdk_for(harness)._pusher_client, method)
    return call(harness, as_request(request_method.make_request(*args)))


def body(response: HttpResponse) -> Any:
    assert response.status == 200, response.body
    return json.loads(response.body)


def signed(
    harness: Harness, method: str, path: str, payload: Any = None, **params: str
) -> HttpRequest:
    """A request signed by hand (for what the SDK will not send)."""
    raw = json.dumps(payload).encode() if payload is not None else b""
    query = {"auth_key": harness.settings.key, "auth_timestamp": str(int(time.time()))}
    query.update(auth_version="1.0", **params)
    if raw:
        query["body_md5"] = hashlib.md5(raw).hexdigest()
    to_sign = http_string_to_sign(method, path, query.items())
    query["auth_signature"] = hex_signature(harness.settings.secret, to_sign)
    return HttpRequest(method, path, tuple(query.items()), raw, raw_path=path)


# ------------------------------------------------------------------- signatures


def test_the_documented_worked_example_is_accepted() -> None:
    """The HTTP API reference's example: app 3, its key, secret, timestamp and signature."""
    harness = Harness(app_id="3", key="278d425bdf160c739803", secret="7ad3773142a6692b25b8")
    raw = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    query = (
        ("auth_key", "278d425bdf160c739803"),
        ("auth_timestamp", "1353088179"),
        ("auth_version", "1.0"),
        ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
        ("auth_signature", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"),
    )
    request = HttpRequest("POST", "/apps/3/events", query, raw)
    assert call(harness, request, wall_time=1353088179 + 60).status == 200
    late = call(harness, request, wall_time=1353088179 + 601)
    assert late.status == 401
    assert b"Timestamp expired" in late.body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth_signature": "0" * 64}, b"Invalid signature"),
        ({"auth_key": "someone-else"}, b"Unknown auth_key"),
        ({"auth_version": "2.0"}, b"auth_version"),
        ({"auth_timestamp": "yesterday"}, b"auth_timestamp"),
        ({"body_md5": "0" * 32}, b"body_md5"),
    ],
)
def test_requests_with_a_wrong_signature_part_are_refused_with_401(
    change: dict[str, str], message: bytes
) -> None:
    harness = Harness()
    request = signed(
        harness, "POST", "/apps/123456/events", {"name": "e", "data": "d", "channel": "x"}
    )
    query = dict(request.query) | change
    response = call(harness, HttpRequest("POST", request.path, tuple(query.items()), request.body))
    assert response.status == 401
    assert message in response.body


@pytest.mark.parametrize(
    "timestamp",
    [
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1e309",
        "-1",
        "-{now}",
        "",
        "soon",
        "{now}.5",
        "{now:_}",
        " {now} ",
        "{fullwidth}",
        "9" * 25,
    ],
)
def test_an_auth_timestamp_that_is_not_whole_seconds_is_refused_with_401(timestamp: str) -> None:
    """``auth_timestamp`` is the time in whole seconds since the epoch, as every SDK
    sends it: anything else is refused, even with a signature that covers it
    (``nan`` compared with the clock used to pass the 600 s window)."""
    harness = Harness()
    subscriber = harness.connect()
    harness.subscribe(subscriber, "x")
    now = int(time.time())
    fullwidth = str(now).translate({ord("0") + d: 0xFF10 + d for d in range(10)})
    given = timestamp.format(now=now, fullwidth=fullwidth)
    request = signed(
        harness,
        "POST",
        "/apps/123456/events",
        {"name": "e", "data": "d", "channel": "x"},
        auth_timestamp=given,
    )
    response = call(harness, request, wall_time=now)
    assert response.status == 401
    assert response.body.decode() == (
        f"auth_timestamp must be the time in whole seconds since the epoch, got {given!r}"
    )
    assert [f["event"] for f in harness.inbox[subscriber]] == [
        "pusher_internal:subscription_succeeded"
    ], "nothing was published"


def test_the_sdk_signature_of_every_method_is_accepted() -> None:
    harness = Harness()
    assert body(via_sdk(harness, "trigger", "orders", "created", {"id": 1})) == {}
    assert (
        body(via_sdk(harness, "trigger_batch", [{"channel": "a", "name": "e", "data": "d"}])) == {}
    )
    assert body(via_sdk(harness, "channels_info", "presence-", ["user_count"])) == {"channels": {}}
    assert body(via_sdk(harness, "channel_info", "orders", ["subscription_count"])) == {
        "occupied": False,
        "subscription_count": 0,
    }
    assert body(via_sdk(harness, "users_info", "presence-room")) == {"users": []}
    assert body(via_sdk(harness, "terminate_user_connections", "42")) == {}


def test_paths_of_another_app_and_unknown_routes() -> None:
    harness = Harness()
    assert call(harness, signed(harness, "GET", "/apps/999/channels")).status == 404
    assert call(harness, signed(harness, "GET", "/apps/123456/nothing")).status == 404
    assert call(harness, signed(harness, "GET", "/apps/123456/events")).status == 405
    ready = call(harness, HttpRequest("GET", "/ready"))
    assert (ready.status, ready.body) == (200, b"OK")


# ------------------------------------------------------------------------ events


def test_trigger_reaches_subscribers_except_the_excluded_socket() -> None:
    harness = Harness()
    one, two = harness.connect(), harness.connect()
    for socket_id in (one, two):
        harness.subscribe(socket_id, "orders")
        harness.pop(socket_id)
    via_sdk(harness, "trigger", ["orders", "unused"], "created", {"id": 1}, one)
    assert harness.pop(one) == []
    assert harness.pop(two) == [{"event": "created", "channel": "orders", "data": '{"id": 1}'}]


def test_encrypted_events_arrive_as_the_sdk_encrypted_them() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, "private-encrypted-vault")
    harness.pop(socket_id)
    via_sdk(harness, "trigger", "private-encrypted-vault", "secret", {"n": 1})
    [frame] = harness.pop(socket_id)
    assert set(json.loads(frame["data"])) == {"nonce", "ciphertext"}


def test_trigger_info_gives_counts_for_the_channels_they_apply_to() -> None:
    harness = Harness()
    for user in ("a", "b"):
        harness.subscribe(harness.connect(), "presence-room", {"user_id": user})
    harness.subscribe(harness.connect(), "orders")
    request = signed(
        harness,
        "POST",
        "/apps/123456/events",
        {
            "name": "e",
            "data": "d",
            "channels": ["presence-room", "orders", "empty"],
            "info": "user_count,subscription_count",
        },
    )
    assert body(call(harness, request)) == {
        "channels": {
            "presence-room": {"user_count": 2},
            "orders": {"subscription_count": 1},
            "empty": {"subscription_count": 0},
        }
    }


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"name": "e", "data": "d"}, 400, b"channels"),
        ({"name": "", "data": "d", "channel": "x"}, 400, b"name"),
        ({"name": "e" * 201, "data": "d", "channel": "x"}, 400, b"longer than 200"),
        ({"name": "e", "channel": "x"}, 400, b"data"),
        ({"name": "e", "data": "d" * 10241, "channel": "x"}, 413, b"10240"),
        ({"name": "e", "data": "d", "channels": [f"c{i}" for i in range(101)]}, 400, b"100"),
        ({"name": "e", "data": "d", "channel": "bad name"}, 400, b"Invalid channel name"),
        ({"name": "e", "data": "d", "channels": ["private-encrypted-a", "b"]}, 400, b"encrypted"),
        ({"name": "e", "data": "d", "channel": "x", "socket_id": "nope"}, 400, b"socket_id"),
        ({"name": "e", "data": "d", "channel": "x", "info": "colour"}, 400, b"colour"),
        ([1, 2], 400, b"JSON object"),
    ],
)
def test_invalid_triggers_are_refused(payload: Any, status: int, message: bytes) -> None:
    harness = Harness()
    response = call(harness, signed(harness, "POST", "/apps/123456/events", payload))
    assert response.status == status
    assert message in response.body


def test_batch_events_are_checked_then_published_with_optional_info() -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.subscribe(socket_id, "a")
    harness.pop(socket_id)
    batch = [{"channel": "a", "name": f"e{n}", "data": "d"} for n in range(11)]
    too_many = call(harness, signed(harness, "POST", "/apps/123456/batch_events", {"batch": batch}))
    assert too_many.status == 400
    batch[1]["channel"] = "bad name"
    invalid = call(
        harness, signed(harness, "POST", "/apps/123456/batch_events", {"batch": batch[:3]})
    )
    assert invalid.status == 400
    assert harness.pop(socket_id) == [], "nothing is published from a refused batch"
    good = [{"channel": "a", "name": "e", "data": "d", "info": "subscription_count"}, batch[2]]
    answer = body(
        call(harness, signed(harness, "POST", "/apps/123456/batch_events", {"batch": good}))
    )
    assert answer == {"batch": [{"subscription_count": 1}, {}]}
    assert harness.events(socket_id) == ["e", "e2"]


# ----------------------------------------------------------------------- queries


def test_channel_queries() -> None:
    harness = Harness()
    harness.subscribe(harness.connect(), "presence-room", {"user_id": "a"})
    harness.subscribe(harness.connect(), "presence-room", {"user_id": "b"})
    harness.subscribe(harness.connect(), "orders")
    assert body(via_sdk(harness, "channels_info")) == {
        "channels": {"presence-room": {}, "orders": {}}
    }
    assert body(via_sdk(harness, "channels_info", "presence-", ["user_count"])) == {
        "channels": {"presence-room": {"user_count": 2}}
    }
    assert via_sdk(harness, "channels_info", None, ["user_count"]).status == 400
    assert body(via_sdk(harness, "channel_info", "presence-room", ["user_count"])) == {
        "occupied": True,
        "user_count": 2,
    }
    assert via_sdk(harness, "channel_info", "orders", ["user_count"]).status == 400
    assert via_sdk(harness, "channel_info", "presence-room", ["subscription_count"]).status == 400
    assert body(via_sdk(harness, "users_info", "presence-room")) == {
        "users": [{"id": "a"}, {"id": "b"}]
    }
    assert via_sdk(harness, "users_info", "orders").status == 400


@pytest.mark.parametrize(
    "path", ["/apps/123456/users/ann/terminate_connections", "/users/ann/terminate_connections"]
)
def test_terminate_user_connections_on_both_paths(path: str) -> None:
    harness = Harness()
    socket_id = harness.connect()
    harness.signin(socket_id, {"id": "ann"})
    assert body(call(harness, signed(harness, "POST", path, {}))) == {}
    assert harness.closed == {socket_id: (4009, "You got disconnected by the app")}
