"""Frames: decoding what servers send, encoding what the client sends."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pusher_channels.exceptions import PusherError, PusherProtocolError
from pusher_channels.protocol.messages import (
    PusherEvent,
    PusherMember,
    decode_data,
    decode_frame,
    encode_message,
    public_event_name,
)

# ------------------------------------------------------------------ decode_frame


def test_decode_frame_with_data_as_json_string_keeps_the_string() -> None:
    text = '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\"}"}'
    frame = decode_frame(text)
    assert frame == {"event": "pusher:connection_established", "data": '{"socket_id":"1.2"}'}
    assert decode_data(frame["data"]) == {"socket_id": "1.2"}


def test_decode_frame_with_data_as_object() -> None:
    frame = decode_frame('{"event":"pusher:error","data":{"message":"m","code":4001}}')
    assert frame["data"] == {"message": "m", "code": 4001}
    assert decode_data(frame["data"]) == {"message": "m", "code": 4001}


def test_decode_frame_without_data() -> None:
    frame = decode_frame('{"event":"pusher:pong"}')
    assert frame == {"event": "pusher:pong"}
    assert "data" not in frame
    assert decode_data(frame.get("data")) is None


def test_decode_frame_with_non_json_string_data_keeps_the_string() -> None:
    frame = decode_frame('{"event":"e","channel":"c","data":"hello, not json {"}')
    assert frame["data"] == "hello, not json {"
    assert decode_data(frame["data"]) == "hello, not json {"


def test_decode_frame_keeps_channel_and_user_id() -> None:
    frame = decode_frame('{"event":"client-x","channel":"presence-a","data":"{}","user_id":"7"}')
    assert frame == {"event": "client-x", "channel": "presence-a", "data": "{}", "user_id": "7"}


@pytest.mark.parametrize(
    "text",
    [
        b'{"event":"e","data":"x"}',
        bytearray(b'{"event":"e","data":"x"}'),
        memoryview(b'{"event":"e","data":"x"}'),
        '{"event":"e","data":"x"}',
    ],
    ids=["bytes", "bytearray", "memoryview", "str"],
)
def test_decode_frame_accepts_text_and_binary_buffers(text: Any) -> None:
    assert decode_frame(text) == {"event": "e", "data": "x"}


def test_decode_frame_utf8_bytes() -> None:
    assert decode_frame('{"event":"é","data":"ü"}'.encode()) == {"event": "é", "data": "ü"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "not json",
        "{",
        '{"event": "e",}',
        "{'event': 'e'}",
        b"\xff\xfe\x00",
        b'{"event":"\xff"}',
        "\ud800",
        '{"event":"\\ud800"}',
        "[" * 2000 + "]" * 2000,
        "1e999",
        memoryview(b'{"event":"e"}')[::2],
    ],
    ids=[
        "empty",
        "blank",
        "word",
        "truncated",
        "trailing-comma",
        "single-quotes",
        "binary-garbage",
        "invalid-utf8-inside",
        "lone-surrogate",
        "escaped-lone-surrogate",
        "too-deep",
        "infinite-number",
        "non-contiguous-memoryview",
    ],
)
def test_decode_frame_rejects_non_json(text: Any) -> None:
    with pytest.raises(PusherProtocolError, match="not valid JSON"):
        decode_frame(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('[{"event":"e"}]', "list"),
        ("42", "int"),
        ("4.5", "float"),
        ('"{\\"event\\":\\"e\\"}"', "str"),
        ("null", "NoneType"),
        ("true", "bool"),
    ],
)
def test_decode_frame_rejects_non_objects(text: str, kind: str) -> None:
    with pytest.raises(PusherProtocolError, match=f"not a JSON object but {kind}"):
        decode_frame(text)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"data":"x"}',
        '{"event":null}',
        '{"event":1}',
        '{"event":["e"]}',
        '{"event":{"name":"e"}}',
        '{"event":true}',
        '{"Event":"e"}',
    ],
)
def test_decode_frame_requires_a_string_event(text: str) -> None:
    with pytest.raises(PusherProtocolError, match="no string 'event'"):
        decode_frame(text)


def test_protocol_error_is_a_pusher_error_with_no_code() -> None:
    with pytest.raises(PusherProtocolError) as info:
        decode_frame("[]")
    assert isinstance(info.value, PusherError)
    assert info.value.code is None
    assert info.value.__cause__ is None


@settings(max_examples=300)
@given(st.one_of(st.text(), st.binary()))
def test_decode_frame_raises_only_protocol_errors(text: str | bytes) -> None:
    try:
        frame = decode_frame(text)
    except PusherProtocolError:
        return
    assert type(frame) is dict
    assert type(frame["event"]) is str


# ------------------------------------------------------------------- decode_data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"a":1}', {"a": 1}),
        ("[1,2]", [1, 2]),
        ('"quoted"', "quoted"),
        ("12", 12),
        ("plain text", "plain text"),
        ("", ""),
        ("{broken", "{broken"),
        ({"a": 1}, {"a": 1}),
        ([1], [1]),
        (None, None),
        (7, 7),
    ],
)
def test_decode_data(data: Any, expected: Any) -> None:
    assert decode_data(data) == expected


def test_decode_data_returns_objects_unchanged() -> None:
    payload = {"a": [1, 2]}
    assert decode_data(payload) is payload


# ---------------------------------------------------------------- encode_message


def test_encode_message_subscribe_sends_data_as_an_object() -> None:
    payload = encode_message("pusher:subscribe", {"channel": "my-channel"})
    assert isinstance(payload, bytes)
    assert orjson.loads(payload) == {"event": "pusher:subscribe", "data": {"channel": "my-channel"}}


def test_encode_message_leaves_out_none_data_and_channel() -> None:
    assert orjson.loads(encode_message("pusher:ping")) == {"event": "pusher:ping"}


def test_encode_message_with_channel_and_string_data() -> None:
    payload = encode_message("client-typing", "hi", channel="private-chat")
    assert orjson.loads(payload) == {
        "event": "client-typing",
        "data": "hi",
        "channel": "private-chat",
    }


def test_encode_message_rejects_unserializable_data_with_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_message("client-x", {"when": object()}, channel="private-a")


def test_encode_message_rejects_integers_beyond_64_bits() -> None:
    with pytest.raises(TypeError):
        encode_message("client-x", 2**70, channel="private-a")


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200)
@given(
    event=st.text(),
    data=JSON_VALUES,
    channel=st.none() | st.text(),
)
def test_encode_message_round_trips_through_decode_frame(
    event: str, data: Any, channel: str | None
) -> None:
    frame = decode_frame(encode_message(event, data, channel))
    expected: dict[str, Any] = {"event": event}
    if data is not None:
        expected["data"] = data
    if channel is not None:
        expected["channel"] = channel
    assert frame == expected


# -------------------------------------------------------------- PusherEvent.json


def test_event_json_parses_a_string() -> None:
    event = PusherEvent("c", "e", '{"message":"hi","n":[1,2]}')
    assert event.json() == {"message": "hi", "n": [1, 2]}


def test_event_data_given_as_bytes_is_kept_as_text() -> None:
    event = PusherEvent("c", "e", b'{"a":1}')
    assert event.data == '{"a":1}'
    assert event.json() == {"a": 1}


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"myName": "Bob", "n": [1, 2.5]}, '{"myName":"Bob","n":[1,2.5]}'),
        (["é", None], '["é",null]'),
        (7, "7"),
        (False, "false"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_event_data_is_the_string_representation_of_what_was_passed(data: Any, text: str) -> None:
    """The seed: "If you passed an object then that object will have been serialized
    to JSON"; a string is kept as it is."""
    event = PusherEvent("c", "e", data)
    assert event.data == text
    assert type(event.data) is str


def test_event_json_decodes_what_was_passed() -> None:
    payload = {"already": "decoded", "n": [1, None]}
    assert PusherEvent("c", "e", payload).json() == payload
    assert PusherEvent("c", "e").json() is None


def test_event_with_data_that_is_not_json_serializable_is_refused() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        PusherEvent("c", "e", {"when": object()})
    with pytest.raises(TypeError, match="not JSON serializable"):
        PusherEvent("c", "e", 2**70)


def test_event_is_frozen_and_hashable() -> None:
    event = PusherEvent("c", "e", "d", "u")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del event.user_id
    assert hash(event) == hash(PusherEvent("c", "e", "d", "u"))
    assert {event, PusherEvent("c", "e", "d", "u")} == {event}
    assert dataclasses.replace(event, event_name="f") == PusherEvent("c", "f", "d", "u")
    assert copy.copy(event) == event
    assert pickle.loads(pickle.dumps(event)) == event


def test_member_is_frozen() -> None:
    member = PusherMember("1", {"name": "Ann"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.user_id = "2"  # type: ignore[misc]


def test_event_json_raises_value_error_on_non_json_string() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the documented contract is ValueError
        PusherEvent("c", "e", "not json").json()


def test_event_defaults() -> None:
    event = PusherEvent("c", "e")
    assert (event.channel_name, event.event_name, event.data, event.user_id) == (
        "c",
        "e",
        None,
        None,
    )


# ------------------------------------------------------------- public_event_name


@pytest.mark.parametrize(
    ("name", "public"),
    [
        ("pusher_internal:member_added", "pusher:member_added"),
        ("pusher_internal:subscription_succeeded", "pusher:subscription_succeeded"),
        ("pusher_internal:", "pusher:"),
        ("pusher:cache_miss", "pusher:cache_miss"),
        ("client-typing", "client-typing"),
        ("my-event", "my-event"),
        ("x-pusher_internal:y", "x-pusher_internal:y"),
        ("PUSHER_INTERNAL:y", "PUSHER_INTERNAL:y"),
        ("", ""),
    ],
)
def test_public_event_name(name: str, public: str) -> None:
    assert public_event_name(name) == public
