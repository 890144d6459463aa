"""Private encrypted channels: decryption, and fetching a new key after a wrong one."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest
from nacl.secret import SecretBox

from pusher_channels.exceptions import AuthorizationError
from pusher_channels.protocol.actions import (
    AuthorizeChannel,
    DecryptionFailed,
    SendMessage,
    SubscriptionFailed,
)
from pusher_channels.protocol.channels import ChannelStatus
from pusher_channels.protocol.connection import Connection
from pusher_channels.protocol.crypto import (
    Decryptor,
    MalformedEncryptedDataError,
    WrongKeyError,
    decrypt_data,
)
from pusher_channels.protocol.messages import PusherEvent

from .helpers import connected, frame, of_type, sent, take

CHANNEL = "private-encrypted-x"
KEY = bytes(range(32))
NEW_KEY = bytes(range(1, 33))
NONCE = b"N" * 24


def encrypted(plaintext: str, key: bytes = KEY, nonce: bytes = NONCE) -> str:
    """The ``data`` string a server sends on an encrypted channel."""
    box = SecretBox(key).encrypt(plaintext.encode(), nonce)
    return orjson.dumps(
        {
            "nonce": base64.b64encode(box.nonce).decode(),
            "ciphertext": base64.b64encode(box.ciphertext).decode(),
        }
    ).decode()


def test_decrypt_verified_vector_from_pusher_http_python() -> None:
    data = {
        "nonce": "WEFKSTBZNkRQQkhTQUhYVEhWM0EzWk1G",
        "ciphertext": "tsYJa2JgGDOpVIYFe4aNVWAvZlpB7z7CjN9mpIdbATE0Yc4izN8aM8D6VigBxnIQ",
    }
    key = hashlib.sha256(
        b"pvUPIk0YG6MnxCEMIUUVFrbDmQwbhICXUcy" + b"OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"
    ).digest()
    assert decrypt_data(data, key) == "kkkT5OOkOkO5kT5TOO5TkOT5TTk5O55T"


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1]",
        {"nonce": 1, "ciphertext": "x"},
        {"nonce": "!!!", "ciphertext": "AAAA"},
        {"nonce": base64.b64encode(b"short").decode(), "ciphertext": "A" * 44},
        {"nonce": base64.b64encode(NONCE).decode(), "ciphertext": "AAAA"},
    ],
)
def test_malformed_payloads(data: object) -> None:
    with pytest.raises(MalformedEncryptedDataError):
        decrypt_data(data, KEY)


def test_wrong_key() -> None:
    with pytest.raises(WrongKeyError):
        decrypt_data(encrypted("hi", KEY), NEW_KEY)


def test_one_decryptor_gives_each_message_its_own_plaintext_whatever_the_sizes() -> None:
    decryptor = Decryptor()
    long, short, empty = "x" * 2000, "é" * 3, ""
    assert decryptor.decrypt(encrypted(short), KEY) == short
    assert decryptor.decrypt(encrypted(long), KEY) == long  # the buffer grows
    assert decryptor.decrypt(encrypted(short), KEY) == short  # none of the longer one left
    assert decryptor.decrypt(encrypted(empty), KEY) == empty
    with pytest.raises(WrongKeyError):
        decryptor.decrypt(encrypted(short), NEW_KEY)
    assert decryptor.decrypt(encrypted("after"), KEY) == "after"


def test_an_empty_plaintext_first_is_decrypted() -> None:
    assert Decryptor().decrypt(encrypted(""), KEY) == ""


def test_plaintext_that_is_not_utf8_is_malformed_not_a_wrong_key() -> None:
    box = SecretBox(KEY).encrypt(b"\xff\xfe", NONCE)
    data = {
        "nonce": base64.b64encode(box.nonce).decode(),
        "ciphertext": base64.b64encode(box.ciphertext).decode(),
    }
    with pytest.raises(MalformedEncryptedDataError, match="UTF-8"):
        Decryptor().decrypt(data, KEY)


def test_a_shared_secret_of_the_wrong_length_is_a_wrong_key() -> None:
    with pytest.raises(WrongKeyError, match="32 bytes"):
        decrypt_data(encrypted("hi"), KEY[:31])


def subscribed_encrypted() -> Connection:
    conn = connected(socket_id="1.2")
    conn.subscribe(CHANNEL)
    assert take(conn) == [AuthorizeChannel(CHANNEL, "1.2")]
    conn.channel_authorized(CHANNEL, "1.2", {"auth": "k:s", "shared_secret": KEY})
    assert sent(take(conn)) == [
        {"event": "pusher:subscribe", "data": {"channel": CHANNEL, "auth": "k:s"}}
    ]
    return conn


def test_encrypted_event_is_decrypted() -> None:
    conn = subscribed_encrypted()
    event = conn.receive(frame("secret", encrypted('{"msg":"hi"}'), channel=CHANNEL), 1.0)
    assert event == PusherEvent(CHANNEL, "secret", '{"msg":"hi"}', None)


def test_encrypted_authorization_without_secret_fails() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe(CHANNEL)
    take(conn)
    conn.channel_authorized(CHANNEL, "1.2", {"auth": "k:s"})
    outputs = take(conn)
    assert of_type(outputs, SendMessage) == []
    assert len(of_type(outputs, SubscriptionFailed)) == 1


def test_malformed_encrypted_event_is_skipped_without_reauthorizing() -> None:
    conn = subscribed_encrypted()
    assert conn.receive(frame("secret", "plain", channel=CHANNEL), 1.0) is None
    outputs = take(conn)
    assert of_type(outputs, AuthorizeChannel) == []
    (failure,) = of_type(outputs, DecryptionFailed)
    assert (failure.channel_name, failure.event_name) == (CHANNEL, "secret")


def test_wrong_key_fetches_a_new_key_once_and_releases_held_events_in_order() -> None:
    conn = subscribed_encrypted()
    assert conn.receive(frame("one", encrypted("1", NEW_KEY), channel=CHANNEL), 1.0) is None
    assert take(conn) == [AuthorizeChannel(CHANNEL, "1.2")]
    assert conn.receive(frame("two", encrypted("2", NEW_KEY), channel=CHANNEL), 1.1) is None
    assert take(conn) == []  # held, no second request

    conn.channel_authorized(CHANNEL, "1.2", {"auth": "k:s2", "shared_secret": NEW_KEY})
    outputs = take(conn)
    assert of_type(outputs, SendMessage) == []  # no second subscribe
    assert outputs == [
        PusherEvent(CHANNEL, "one", "1", None),
        PusherEvent(CHANNEL, "two", "2", None),
    ]
    event = conn.receive(frame("three", encrypted("3", NEW_KEY), channel=CHANNEL), 2.0)
    assert event == PusherEvent(CHANNEL, "three", "3", None)


def test_wrong_key_even_after_reauthorization_reports_decryption_failed() -> None:
    conn = subscribed_encrypted()
    conn.receive(frame("one", encrypted("1", b"z" * 32), channel=CHANNEL), 1.0)
    take(conn)
    conn.channel_authorized(CHANNEL, "1.2", {"auth": "k:s2", "shared_secret": NEW_KEY})
    (failure,) = of_type(take(conn), DecryptionFailed)
    assert failure.event_name == "one"
    assert "even after re-authorization" in failure.reason


def test_failed_reauthorization_reports_held_events() -> None:
    conn = subscribed_encrypted()
    conn.receive(frame("one", encrypted("1", NEW_KEY), channel=CHANNEL), 1.0)
    take(conn)
    conn.channel_authorization_failed(CHANNEL, "1.2", AuthorizationError("503", CHANNEL))
    outputs = take(conn)
    assert of_type(outputs, SubscriptionFailed) == []
    (failure,) = of_type(outputs, DecryptionFailed)
    assert "re-authorization failed" in failure.reason


def test_system_events_on_encrypted_channels_are_not_decrypted() -> None:
    conn = subscribed_encrypted()
    conn.receive(frame("pusher_internal:subscription_succeeded", {}, channel=CHANNEL), 1.0)
    outputs = take(conn)
    assert of_type(outputs, DecryptionFailed) == []
    record = conn.channels.get(CHANNEL)
    assert record is not None
    assert record.status is ChannelStatus.SUBSCRIBED


def test_stray_encrypted_event_while_authorizing_does_not_lose_the_subscription() -> None:
    conn = connected(socket_id="1.2")
    conn.subscribe(CHANNEL)
    assert take(conn) == [AuthorizeChannel(CHANNEL, "1.2")]
    # An event before the key is known (pusher-js drops it): must not disturb the
    # authorization under way, nor ask for a second one.
    assert conn.receive(frame("early", encrypted("x"), channel=CHANNEL), 0.5) is None
    assert of_type(take(conn), AuthorizeChannel) == []
    conn.channel_authorized(CHANNEL, "1.2", {"auth": "k:s", "shared_secret": KEY})
    assert sent(take(conn)) == [
        {"event": "pusher:subscribe", "data": {"channel": CHANNEL, "auth": "k:s"}}
    ]
