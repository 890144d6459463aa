"""Private encrypted channels: NaCl secretbox encryption and decryption of event data.

The server sends ``data`` as ``{"nonce": b64(24 bytes), "ciphertext": b64(...)}``,
encrypted with XSalsa20-Poly1305 under the channel's 32-byte shared secret. A wrong
key and a malformed payload are told apart: only the first is worth fetching a new
key for. :func:`encrypt_data` is what a server SDK does before triggering.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

from .messages import decode_data

__all__ = ["MalformedEncryptedDataError", "WrongKeyError", "decrypt_data", "encrypt_data"]


class MalformedEncryptedDataError(Exception):
    """The payload is not ``{nonce, ciphertext}`` in base64 of the right sizes."""


class WrongKeyError(Exception):
    """The payload is well formed but does not open with the key: fetch a new key."""


def decrypt_data(data: Any, key: bytes) -> str:
    """Decrypt an encrypted channel's ``data`` into the plaintext (UTF-8 text).

    Raises:
        MalformedEncryptedDataError: not a ``{nonce, ciphertext}`` object of base64.
        WrongKeyError: the message does not authenticate under ``key``.
    """
    payload = decode_data(data)
    if not isinstance(payload, dict):
        raise MalformedEncryptedDataError("encrypted data is not a {nonce, ciphertext} object")
    nonce_text, ciphertext_text = payload.get("nonce"), payload.get("ciphertext")
    if not isinstance(nonce_text, str) or not isinstance(ciphertext_text, str):
        raise MalformedEncryptedDataError("encrypted data lacks 'nonce' or 'ciphertext' strings")
    try:
        nonce = base64.b64decode(nonce_text, validate=True)
        ciphertext = base64.b64decode(ciphertext_text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEncryptedDataError("'nonce' or 'ciphertext' is not base64") from None
    if len(nonce) != SecretBox.NONCE_SIZE:
        raise MalformedEncryptedDataError(
            f"nonce is {len(nonce)} bytes, not {SecretBox.NONCE_SIZE}"
        )
    if len(ciphertext) < SecretBox.MACBYTES:
        raise MalformedEncryptedDataError("ciphertext is shorter than its authentication tag")
    try:
        plaintext = SecretBox(key).decrypt(ciphertext, nonce)
    except CryptoError:
        raise WrongKeyError("message does not decrypt with the channel's shared secret") from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEncryptedDataError("decrypted data is not UTF-8 text") from None


def encrypt_data(plaintext: str, key: bytes, nonce: bytes | None = None) -> str:
    """Encrypt an event's data for an encrypted channel, as the server SDKs do.

    Returns the JSON text ``{"nonce": b64, "ciphertext": b64}`` that is sent as the
    event's ``data``; ``nonce`` (24 bytes) is random unless given (for test vectors).
    """
    if nonce is None:
        nonce = random_bytes(SecretBox.NONCE_SIZE)
    encrypted = SecretBox(key).encrypt(plaintext.encode("utf-8"), nonce)
    payload = {
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(encrypted.ciphertext).decode("ascii"),
    }
    return orjson.dumps(payload).decode("utf-8")
