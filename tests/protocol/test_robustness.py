"""Robustness: whatever a server sends, in whatever state, nothing escapes the core.

Errors must come out as ``ErrorReported`` outputs, never as exceptions, and the
state machine must stay consistent under any order of inputs.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from nacl.secret import SecretBox

from pusher_channels.exceptions import AuthorizationError, PusherError, PusherProtocolError
from pusher_channels.protocol.actions import (
    AuthorizeChannel,
    CloseSocket,
    ConnectionState,
    DecryptionFailed,
    ErrorRepeated,
    ErrorReported,
    MemberAdded,
    MemberRemoved,
    OpenSocket,
    SendMessage,
    StateChanged,
    SubscriptionCountChanged,
    SubscriptionFailed,
    SubscriptionSucceeded,
)
from pusher_channels.protocol.channels import ChannelStatus
from pusher_channels.protocol.connection import Connection
from pusher_channels.protocol.messages import PusherEvent, decode_frame

from .helpers import (
    connect_and_establish,
    established,
    make_connection,
    presence_payload,
    subscription_succeeded,
    take,
)

OUTPUT_TYPES = (
    OpenSocket,
    SendMessage,
    CloseSocket,
    AuthorizeChannel,
    StateChanged,
    SubscriptionSucceeded,
    SubscriptionFailed,
    ErrorReported,
    ErrorRepeated,
    MemberAdded,
    MemberRemoved,
    SubscriptionCountChanged,
    DecryptionFailed,
    PusherEvent,
)

KEY = bytes(range(32))
CHANNEL_NAMES = [
    "news",
    "sport",
    "failed-one",
    "private-a",
    "private-b",
    "presence-room",
    "private-encrypted-x",
    "private-cache-c",
]
EVENT_NAMES = [
    "pusher:connection_established",
    "pusher:error",
    "pusher:ping",
    "pusher:pong",
    "pusher:subscribe",
    "pusher:unsubscribe",
    "pusher:subscription_error",
    "pusher:cache_miss",
    "pusher:signin_success",
    "pusher:signin",
    "pusher_internal:subscription_succeeded",
    "pusher_internal:member_added",
    "pusher_internal:member_removed",
    "pusher_internal:subscription_count",
    "pusher_internal:watchlist_events",
    "pusher_internal:unknown",
    "pusher:",
    "pusher_internal:",
    "client-typing",
    "my-event",
    "",
]

# ------------------------------------------------------------------- strategies

_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "1", "1.2", "presence-room", "{}", "[]", "null"])
)
JSON = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
MIXED = st.one_of(
    _LEAVES,
    st.lists(_LEAVES, max_size=3),
    st.dictionaries(st.text(max_size=5), _LEAVES, max_size=3),
)


def _ciphertext(plaintext: bytes) -> dict[str, str]:
    box = SecretBox(KEY).encrypt(plaintext, b"n" * 24)
    return {
        "nonce": base64.b64encode(box.nonce).decode(),
        "ciphertext": base64.b64encode(box.ciphertext).decode(),
    }


def _encoded(value: Any) -> str:
    return orjson.dumps(value).decode()


# Payloads shaped like the real ones, with fields of mixed types (or real values).
USER_IDS = st.one_of(st.sampled_from(["1", "2", "7", "", 3, -1, 2**63]), MIXED)
SHAPED_BY_EVENT: dict[str, st.SearchStrategy[Any]] = {
    "pusher:connection_established": st.fixed_dictionaries(
        {
            "socket_id": st.one_of(st.sampled_from(["1.2", "9.9", ""]), MIXED),
            "activity_timeout": st.one_of(st.sampled_from([30, 0, -1, 1e-9, 10**18]), MIXED),
        }
    ),
    "pusher:error": st.fixed_dictionaries(
        {
            "message": MIXED,
            "code": st.one_of(st.sampled_from([4001, 4100, 4200, 4301, None]), MIXED),
        }
    ),
    "pusher:subscription_error": st.fixed_dictionaries(
        {"type": MIXED, "error": MIXED, "status": st.one_of(st.sampled_from([401, 403]), MIXED)}
    ),
    "pusher_internal:member_added": st.fixed_dictionaries(
        {"user_id": USER_IDS, "user_info": MIXED}
    ),
    "pusher_internal:member_removed": st.fixed_dictionaries({"user_id": USER_IDS}),
    "pusher_internal:subscription_count": st.fixed_dictionaries(
        {"subscription_count": st.one_of(st.sampled_from([0, 5, -1, 2**64 - 1]), MIXED)}
    ),
    "pusher_internal:subscription_succeeded": st.one_of(
        st.fixed_dictionaries({"presence": MIXED}),
        st.fixed_dictionaries(
            {
                "presence": st.fixed_dictionaries(
                    {
                        "ids": st.one_of(st.lists(USER_IDS, max_size=4), MIXED),
                        "hash": st.one_of(
                            st.dictionaries(
                                st.sampled_from(["1", "2", "", "x"]) | st.text(max_size=3),
                                MIXED,
                                max_size=4,
                            ),
                            MIXED,
                        ),
                        "count": MIXED,
                    }
                )
            }
        ),
    ),
    # Events on the encrypted channel.
    "client-typing": st.one_of(
        st.fixed_dictionaries({"nonce": MIXED, "ciphertext": MIXED}),
        st.binary(max_size=40).map(_ciphertext),
        st.builds(
            lambda nonce, ct: {"nonce": nonce, "ciphertext": ct},
            st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
            st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
        ),
    ),
}
SHAPED = st.one_of(*SHAPED_BY_EVENT.values())
DATA = st.one_of(JSON, SHAPED, st.one_of(JSON, SHAPED).map(_encoded))

# Most generated frames use real event and channel names, so that the system-event
# handlers are reached often; the rest is anything at all.
EVENTS = st.one_of(
    st.sampled_from(EVENT_NAMES),
    st.sampled_from(EVENT_NAMES),
    st.sampled_from(EVENT_NAMES),
    st.text(max_size=12),
    MIXED,
)
CHANNELS = st.one_of(
    st.sampled_from(CHANNEL_NAMES), st.sampled_from(CHANNEL_NAMES), st.none(), MIXED
)


@st.composite
def frame_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Any JSON object, loosely shaped like a frame."""
    message: dict[str, Any] = {}
    if draw(st.integers(0, 20)) > 0:
        message["event"] = draw(EVENTS)
    if draw(st.integers(0, 3)) > 0:
        message["channel"] = draw(CHANNELS)
    if draw(st.integers(0, 5)) > 0:
        message["data"] = draw(DATA)
    if draw(st.booleans()):
        message["user_id"] = draw(MIXED)
    if draw(st.integers(0, 10)) == 0:
        message.update(draw(st.dictionaries(st.text(max_size=6), MIXED, max_size=2)))
    return message


# Where each targeted event is most interesting.
_FAVOURITE_CHANNEL = {
    "pusher_internal:member_added": "presence-room",
    "pusher_internal:member_removed": "presence-room",
    "pusher_internal:subscription_succeeded": "presence-room",
    "client-typing": "private-encrypted-x",
}


@st.composite
def targeted_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A real event name on a real channel, with a payload shaped for that event."""
    event = draw(st.sampled_from(sorted(SHAPED_BY_EVENT)))
    data = draw(st.one_of(SHAPED_BY_EVENT[event], SHAPED_BY_EVENT[event], MIXED))
    if draw(st.booleans()):
        data = _encoded(data)
    message: dict[str, Any] = {"event": event, "data": data}
    if event not in ("pusher:connection_established", "pusher:error") or draw(st.booleans()):
        favourite = _FAVOURITE_CHANNEL.get(event)
        if favourite is not None and draw(st.booleans()):
            message["channel"] = favourite
        else:
            message["channel"] = draw(st.sampled_from(CHANNEL_NAMES))
    if draw(st.integers(0, 3)) == 0:
        message["user_id"] = draw(USER_IDS)
    return message


def _as_buffer(payload: bytes, kind: int) -> str | bytes | bytearray | memoryview:
    if kind == 0:
        return payload.decode()
    if kind == 1:
        return payload
    if kind == 2:
        return bytearray(payload)
    return memoryview(payload)


@st.composite
def any_frames(draw: st.DrawFn) -> str | bytes | bytearray | memoryview:
    """Mostly targeted frames; also any text, bytes, JSON, or loosely shaped objects."""
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(st.text())
    if roll == 1:
        return draw(st.binary())
    if roll == 2:
        payload = orjson.dumps(draw(JSON))
    elif roll == 3:
        payload = orjson.dumps(draw(frame_dicts()))
    else:
        payload = orjson.dumps(draw(targeted_frames()))
    return _as_buffer(payload, draw(st.integers(0, 3)))


FRAMES = any_frames()


# ----------------------------------------------------------- connections by state


def _full_registry(conn: Connection) -> None:
    for name in CHANNEL_NAMES:
        conn.subscribe(name)


def connection_in(state: ConnectionState) -> Connection:
    """A connection in ``state`` with channels of every kind, in various statuses."""
    conn = make_connection(random_value=lambda: 0.25)
    _full_registry(conn)
    if state is ConnectionState.DISCONNECTED:
        take(conn)
        return conn
    if state is ConnectionState.CONNECTING:
        conn.connect(0.0)
        conn.socket_opened(0.0)
        take(conn)
        return conn
    connect_and_establish(conn, socket_id="1.2")
    conn.channel_authorized("private-b", "1.2", {"auth": "k:s"})
    conn.channel_authorized(
        "presence-room", "1.2", {"auth": "k:s", "channel_data": '{"user_id":"1"}'}
    )
    conn.channel_authorized("private-encrypted-x", "1.2", {"auth": "k:s", "shared_secret": KEY})
    conn.receive(subscription_succeeded("news"), 0.1)
    conn.receive(subscription_succeeded("private-b"), 0.1)
    conn.receive(
        subscription_succeeded("presence-room", presence_payload({"1": {"n": 1}, "2": None})), 0.1
    )
    conn.receive(subscription_succeeded("private-encrypted-x"), 0.1)
    conn.receive('{"event":"pusher:subscription_error","channel":"failed-one","data":"{}"}', 0.1)
    take(conn)
    if state is ConnectionState.RECONNECTING:
        conn.socket_closed(1006, "", 1.0)
    elif state is ConnectionState.DISCONNECTING:
        conn.disconnect(1.0)
    take(conn)
    assert conn.state is state
    return conn


def check_outputs(outputs: list[Any]) -> None:
    for output in outputs:
        assert isinstance(output, OUTPUT_TYPES), output
        if isinstance(output, ErrorReported | ErrorRepeated):
            assert isinstance(output.error, PusherError)
        elif isinstance(output, SendMessage):
            message = orjson.loads(output.payload)
            assert isinstance(message, dict)
            assert isinstance(message["event"], str)
        elif isinstance(output, PusherEvent):
            assert isinstance(output.channel_name, str)
            assert isinstance(output.event_name, str)
            assert output.user_id is None or isinstance(output.user_id, str)


def is_valid_frame(text: Any) -> bool:
    try:
        decode_frame(text)
    except PusherProtocolError:
        return False
    return True


# --------------------------------------------------------------------- the tests


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(FRAMES, min_size=1, max_size=4))
def test_receive_never_raises_in_any_state(frames: list[Any]) -> None:
    for state in ConnectionState:
        check_receive_in_state(state, frames)


def check_receive_in_state(state: ConnectionState, frames: list[Any]) -> None:
    conn = connection_in(state)
    now = 2.0
    for text in frames:
        before = conn.state
        valid = is_valid_frame(text)
        result = conn.receive(text, now)
        outputs = take(conn)

        assert conn.state in set(ConnectionState)
        # Receiving never opens or closes a socket; only a handshake changes state.
        assert conn.state is before or (
            before is ConnectionState.CONNECTING and conn.state is ConnectionState.CONNECTED
        )
        assert not any(isinstance(o, OpenSocket | CloseSocket) for o in outputs)
        assert result is None or isinstance(result, PusherEvent)
        check_outputs(outputs)
        if not valid:
            assert result is None
            assert len(outputs) == 1
            assert isinstance(outputs[0], ErrorReported)
            assert isinstance(outputs[0].error, PusherProtocolError)
        if result is not None:
            assert conn.state is ConnectionState.CONNECTED
            assert result.channel_name in conn.channels
        now += 0.5
        conn.handle_timer(now)
        check_outputs(take(conn))


@settings(max_examples=300)
@given(st.one_of(st.text(), st.binary()))
def test_receive_of_arbitrary_text_when_connected(text: str | bytes) -> None:
    conn = connection_in(ConnectionState.CONNECTED)
    result = conn.receive(text, 3.0)
    outputs = take(conn)
    assert conn.state is ConnectionState.CONNECTED
    check_outputs(outputs)
    if not is_valid_frame(text):
        assert result is None
        assert [type(o) for o in outputs] == [ErrorReported]


def test_known_nasty_frames_in_every_state() -> None:
    nasty: list[Any] = [
        "",
        "\ud800",
        b"\xff",
        "[" * 5000,
        "null",
        "[]",
        '"text"',
        "1e400",
        '{"event":"pusher:connection_established","data":"{\\"socket_id\\":5}"}',
        '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"\\"}"}',
        '{"event":"pusher:connection_established","data":{"socket_id":"1.1","activity_timeout":1e308}}',
        '{"event":"pusher:error","data":{"code":99999999999999999999,"message":[]}}',
        '{"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"\\"x\\""}',
        '{"event":"pusher_internal:subscription_succeeded","channel":"presence-room",'
        '"data":{"presence":{"ids":[1,true],"hash":{"":1}}}}',
        '{"event":"pusher_internal:member_added","channel":"presence-room","data":"[]"}',
        '{"event":"pusher_internal:member_removed","channel":"presence-room","data":{"user_id":{}}}',
        '{"event":"pusher_internal:subscription_count","channel":"news","data":"{\\"subscription_count\\":1.0}"}',
        '{"event":"x","channel":"private-encrypted-x","data":{"nonce":"","ciphertext":""}}',
        '{"event":"x","channel":"private-encrypted-x","data":"{\\"nonce\\":\\"AAAA\\",\\"ciphertext\\":1}"}',
        '{"event":"x","channel":["news"],"data":"{}"}',
        '{"event":"x","channel":"news","user_id":{"a":[1]}}',
    ]
    for state in ConnectionState:
        conn = connection_in(state)
        for text in nasty:
            before = conn.state
            conn.receive(text, 5.0)
            check_outputs(take(conn))
            assert conn.state is before or (
                before is ConnectionState.CONNECTING and conn.state is ConnectionState.CONNECTED
            )


# ------------------------------------------------------------- stateful machine


class ConnectionMachine(RuleBasedStateMachine):
    """Drives the core like a runtime would, with a hostile server, and checks the
    invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.conn = make_connection()
        self.now = 0.0
        self.socket_open = False
        self.state = ConnectionState.DISCONNECTED
        self.subscribed_now: set[str] = set()
        self.pending_auth: list[AuthorizeChannel] = []
        self.old_socket_ids: list[str] = ["0.0"]
        self.next_socket = 1

    @initialize(
        limit=st.sampled_from([None, None, None, None, 0, 2]),
        random=st.floats(0.0, 1.0, exclude_max=True),
        channels=st.lists(st.sampled_from(CHANNEL_NAMES), unique=True),
    )
    def setup(self, limit: int | None, random: float, channels: list[str]) -> None:
        self.conn = make_connection(random_value=lambda: random, max_reconnection_attempts=limit)
        for name in channels:
            self.conn.subscribe(name)
        self.absorb()

    # -- bookkeeping

    def absorb(self) -> None:
        """Check the outputs of the last input, in order, against the model."""
        outputs = take(self.conn)
        check_outputs(outputs)
        for output in outputs:
            if isinstance(output, StateChanged):
                assert output.previous is self.state
                assert output.current is not output.previous
                if self.state is ConnectionState.CONNECTED:
                    # Requests in flight stay pending: the runtime answers them late.
                    self.subscribed_now.clear()
                self.state = output.current
            elif isinstance(output, OpenSocket):
                assert not self.socket_open, "a second socket opened while one exists"
                assert self.state is ConnectionState.CONNECTING
                self.socket_open = True
            elif isinstance(output, CloseSocket):
                assert self.socket_open
                if output.abort:
                    self.socket_open = False
            elif isinstance(output, SendMessage):
                assert self.state is ConnectionState.CONNECTED
                message = orjson.loads(output.payload)
                if message["event"] == "pusher:subscribe":
                    channel = message["data"]["channel"]
                    assert channel not in self.subscribed_now, f"{channel} subscribed twice"
                    self.subscribed_now.add(channel)
                elif message["event"] == "pusher:unsubscribe":
                    self.subscribed_now.discard(message["data"]["channel"])
            elif isinstance(output, SubscriptionFailed):
                # Only answers on the live connection can fail a subscription.
                assert self.state is ConnectionState.CONNECTED
                self.subscribed_now.discard(output.error.channel_name)
            elif isinstance(output, AuthorizeChannel):
                assert self.state is ConnectionState.CONNECTED
                assert output.socket_id == self.conn.socket_id
                self.pending_auth = [*self.pending_auth[-7:], output]
        assert self.state is self.conn.state

    def tick(self, dt: float) -> float:
        self.now += dt
        return self.now

    # -- user inputs

    @rule(dt=st.floats(0, 5))
    def connect(self, dt: float) -> None:
        self.conn.connect(self.tick(dt))
        self.absorb()

    @precondition(lambda self: self.state is ConnectionState.DISCONNECTED)
    @rule(dt=st.floats(0, 5))
    def connect_and_handshake(self, dt: float) -> None:
        self.connect(dt)
        self.handshake(0.0)

    @rule(dt=st.floats(0, 5), roll=st.integers(0, 3))
    def disconnect(self, dt: float, roll: int) -> None:
        if roll == 0:  # rarer than the other inputs, so that connections live a while
            self.conn.disconnect(self.tick(dt))
        self.absorb()

    @rule(name=st.sampled_from(CHANNEL_NAMES))
    def subscribe(self, name: str) -> None:
        self.conn.subscribe(name)
        self.absorb()

    @rule(name=st.sampled_from(CHANNEL_NAMES))
    def unsubscribe(self, name: str) -> None:
        self.conn.unsubscribe(name)
        self.absorb()

    @precondition(lambda self: bool(self.pending_auth))
    @rule(data=st.data(), succeed=st.booleans(), stale=st.integers(0, 3))
    def answer_authorization(self, data: st.DataObject, succeed: bool, stale: int) -> None:
        # Counted from the newest request: recent ones are the interesting ones.
        newest_first = data.draw(st.integers(0, len(self.pending_auth) - 1))
        request = self.pending_auth.pop(-1 - newest_first)
        socket_id = (
            data.draw(st.sampled_from(self.old_socket_ids)) if stale == 0 else request.socket_id
        )
        if succeed:
            self.conn.channel_authorized(
                request.channel_name,
                socket_id,
                {"auth": "k:s", "channel_data": '{"user_id":"7"}', "shared_secret": KEY},
            )
        else:
            self.conn.channel_authorization_failed(
                request.channel_name, socket_id, AuthorizationError("no", request.channel_name)
            )
        self.absorb()

    # -- socket inputs (only for a socket that exists, as a runtime would)

    @precondition(lambda self: self.socket_open)
    @rule(dt=st.floats(0, 2))
    def socket_opened(self, dt: float) -> None:
        self.conn.socket_opened(self.tick(dt))
        self.absorb()

    @precondition(lambda self: self.socket_open)
    @rule(
        dt=st.floats(0, 2),
        code=st.one_of(
            st.none(),
            st.sampled_from([1000, 1001, 1006, 1006, 4001, 4100, 4200, 4201, 4301, 4999]),
        ),
    )
    def socket_closed(self, dt: float, code: int | None) -> None:
        self.socket_open = False
        self.conn.socket_closed(code, "", self.tick(dt))
        self.absorb()

    @precondition(lambda self: self.socket_open and self.state is ConnectionState.CONNECTING)
    @rule(dt=st.floats(0, 1))
    def handshake(self, dt: float) -> None:
        self.conn.socket_opened(self.tick(dt))
        self.absorb()
        self.server_established(dt)

    @precondition(lambda self: self.socket_open)
    @rule(dt=st.floats(0, 1))
    def server_established(self, dt: float) -> None:
        socket_id = f"{self.next_socket}.{self.next_socket}"
        self.next_socket += 1
        if self.conn.socket_id is not None:
            self.old_socket_ids.append(self.conn.socket_id)
        self.conn.receive(established(socket_id, activity_timeout=30), self.tick(dt))
        self.absorb()

    @precondition(lambda self: self.socket_open)
    @rule(dt=st.floats(0, 1), message=targeted_frames())
    def server_channel_event(self, dt: float, message: dict[str, Any]) -> None:
        result = self.conn.receive(orjson.dumps(message), self.tick(dt))
        assert result is None or result.channel_name == message.get("channel")
        self.absorb()

    @precondition(lambda self: self.socket_open)
    @rule(dt=st.floats(0, 1), text=FRAMES)
    def server_anything(self, dt: float, text: Any) -> None:
        self.conn.receive(text, self.tick(dt))
        self.absorb()

    # -- time

    @rule()
    def fire_next_deadline(self) -> None:
        deadline = self.conn.next_deadline()
        if deadline is not None:
            self.now = max(self.now, deadline)
        self.conn.handle_timer(self.now)
        self.absorb()

    @rule(dt=st.floats(0, 60))
    def timer_at(self, dt: float) -> None:
        self.conn.handle_timer(self.tick(dt))
        self.absorb()

    # -- invariants

    @invariant()
    def consistent(self) -> None:
        conn = self.conn
        state = conn.state
        assert state in set(ConnectionState)
        deadline = conn.next_deadline()
        if state is ConnectionState.DISCONNECTED:
            assert deadline is None
            assert not self.socket_open
            assert conn.socket_id is None
        else:
            assert deadline is not None
        if state is ConnectionState.CONNECTED:
            assert conn.socket_id is not None
            assert self.socket_open
        if state in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING):
            assert conn.socket_id is None
        if state is ConnectionState.RECONNECTING:
            assert not self.socket_open
        if state in (ConnectionState.CONNECTING, ConnectionState.DISCONNECTING):
            assert self.socket_open
        if conn.fatal_error is not None:
            assert state is ConnectionState.DISCONNECTED


TestConnectionMachine = ConnectionMachine.TestCase
TestConnectionMachine.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------ late authorization answers

LIFE_EVENTS = st.sampled_from(
    [
        "disconnect",
        "socket_closed",
        "close_timeout",
        "retry",
        "established",
        "unsubscribe",
        "subscribe",
        "connect",
    ]
)


@settings(max_examples=300)
@given(
    channel=st.sampled_from(["private-a", "presence-room", "private-encrypted-x"]),
    events=st.lists(LIFE_EVENTS, max_size=4),
    succeed=st.booleans(),
)
def test_authorization_answer_counts_only_on_its_own_live_connection(
    channel: str, events: list[str], succeed: bool
) -> None:
    conn = make_connection()
    connect_and_establish(conn, socket_id="1.2")
    conn.subscribe(channel)
    [request] = take(conn)
    assert request == AuthorizeChannel(channel, "1.2")
    assert isinstance(request, AuthorizeChannel)
    now = 1.0
    for event in events:
        now += 1.0
        if event == "disconnect":
            conn.disconnect(now)
        elif event == "socket_closed":
            conn.socket_closed(1006, "", now)
        elif event in ("close_timeout", "retry"):
            deadline = conn.next_deadline()
            if deadline is not None and conn.state is not ConnectionState.CONNECTED:
                now = max(now, deadline)
                conn.handle_timer(now)
        elif event == "established":
            conn.receive(established(f"{now:g}.9"), now)
        elif event == "unsubscribe":
            conn.unsubscribe(channel)
        elif event == "subscribe":
            conn.subscribe(channel)
        else:
            conn.connect(now)
        take(conn)

    record = conn.channels.get(channel)
    waiting = (
        record is not None
        and record.status is ChannelStatus.AUTHORIZING
        and record.incarnation == request.incarnation
    )
    if succeed:
        conn.channel_authorized(
            channel,
            "1.2",
            {"auth": "k:s", "channel_data": '{"user_id":"7"}', "shared_secret": KEY},
            incarnation=request.incarnation,
        )
    else:
        conn.channel_authorization_failed(
            channel, "1.2", AuthorizationError("no", channel), incarnation=request.incarnation
        )
    outputs = take(conn)
    if conn.state is ConnectionState.CONNECTED and conn.socket_id == "1.2" and waiting:
        # Still the live connection and the incarnation the request was made for:
        # the answer counts.
        expected = SendMessage if succeed else SubscriptionFailed
        assert [type(o) for o in outputs] == [expected]
    else:
        # Another socket, no socket, another incarnation, or no longer waiting:
        # nothing at all happens.
        assert outputs == [], (events, conn.state)
