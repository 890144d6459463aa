"""Signatures and encryption against the documented and SDK test vectors."""

from __future__ import annotations

import base64
import json

from pusher_channels.protocol.crypto import decrypt_data, encrypt_data
from pusher_channels.protocol.signatures import (
    authorization,
    channel_string_to_sign,
    hex_signature,
    http_string_to_sign,
    shared_secret,
    signatures_match,
    user_string_to_sign,
)

KEY, SECRET = "278d425bdf160c739803", "7ad3773142a6692b25b8"


def test_channel_and_user_vectors_of_the_auth_signature_docs() -> None:
    private = channel_string_to_sign("1234.1234", "private-foobar", None)
    assert authorization(KEY, SECRET, private) == (
        f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )
    user = user_string_to_sign("1234.1234", '{"id":"12345"}')
    assert hex_signature(SECRET, user) == (
        "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    )
    presence = channel_string_to_sign(
        "1234.1234", "presence-foobar", '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
    )
    assert hex_signature(SECRET, presence) == (
        "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
    )


def test_http_vector_of_the_rest_api_docs() -> None:
    query = [
        ("auth_version", "1.0"),
        ("auth_key", KEY),
        ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
        ("auth_timestamp", "1353088179"),
        ("auth_signature", "left out of what is signed"),
    ]
    to_sign = http_string_to_sign("post", "/apps/3/events", query)
    assert to_sign == (
        "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
        "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
    )
    assert hex_signature(SECRET, to_sign) == (
        "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    )
    assert http_string_to_sign("GET", "/x", [("Name", "Something else")]).endswith(
        "name=Something else"
    )


def test_signatures_match_only_the_same_string() -> None:
    assert signatures_match("k:abc", "k:abc")
    assert not signatures_match("k:abc", "k:abd")
    assert not signatures_match("k:abc", None)
    assert not signatures_match("k:abc", b"k:abc")


def test_shared_secret_and_encryption_match_the_sdk_vectors() -> None:
    master = base64.b64decode("OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk=")
    assert base64.b64encode(shared_secret("private-encrypted-channel", master)).decode() == (
        "VmIsNZtCSteh8kazd2toc+ofhohBtUouQRSDtRvuyVI="
    )
    key = shared_secret("pvUPIk0YG6MnxCEMIUUVFrbDmQwbhICXUcy", b"OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5")
    data = encrypt_data("kkkT5OOkOkO5kT5TOO5TkOT5TTk5O55T", key, b"XAJI0Y6DPBHSAHXTHV3A3ZMF")
    assert json.loads(data) == {
        "nonce": "WEFKSTBZNkRQQkhTQUhYVEhWM0EzWk1G",
        "ciphertext": "tsYJa2JgGDOpVIYFe4aNVWAvZlpB7z7CjN9mpIdbATE0Yc4izN8aM8D6VigBxnIQ",
    }


def test_encrypted_data_decrypts_with_a_fresh_nonce_each_time() -> None:
    key = bytes(range(32))
    first, second = encrypt_data("héllo ✓", key), encrypt_data("héllo ✓", key)
    assert first != second
    assert decrypt_data(first, key) == decrypt_data(second, key) == "héllo ✓"
