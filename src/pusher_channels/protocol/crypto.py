"""Private encrypted channels: NaCl secretbox encryption and decryption of event data.

The server sends ``data`` as ``{"nonce": b64(24 bytes), "ciphertext": b64(...)}``,
encrypted with XSalsa20-Poly1305 under the channel's 32-byte shared secret. A wrong
key and a malformed payload are told apart: only the first is worth fetching a new
key for. :func:`encrypt_data` is what a server SDK does before triggering.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Final

import orjson
from nacl.bindings import crypto_secretbox_open_easy
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

from .messages import decode_data

_MAC_BYTES: Final = SecretBox.MACBYTES
_NONCE_BYTES: Final = SecretBox.NONCE_SIZE


def _opener() -> Callable[[bytes, bytes, bytes], bytes | None]:
    """``open(ciphertext, nonce, key)``: the plaintext, or ``None`` if it does not
    authenticate. libsodium called through PyNaCl's own binding, without the Python
    layers of ``SecretBox.decrypt`` (half the time per event); the public binding
    if that one is not there."""
    try:
        from nacl import _sodium as sodium  # PyNaCl's cffi module
    except ImportError:  # pragma: no cover - PyNaCl without its cffi module

        def open_public(ciphertext: bytes, nonce: bytes, key: bytes) -> bytes | None:
            try:
                return crypto_secretbox_open_easy(ciphertext, nonce, key)
            except CryptoError:
                return None

        return open_public
    new, buffer = sodium.ffi.new, sodium.ffi.buffer
    open_easy = sodium.lib.crypto_secretbox_open_easy

    def open_direct(ciphertext: bytes, nonce: bytes, key: bytes) -> bytes | None:
        size = len(ciphertext) - _MAC_BYTES
        plaintext = new("unsigned char[]", max(1, size))
        if open_easy(plaintext, ciphertext, len(ciphertext), nonce, key) != 0:
            return None
        return bytes(buffer(plaintext, size))

    return open_direct


_open = _opener()

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
        nonce = binascii.a2b_base64(nonce_text, strict_mode=True)
        ciphertext = binascii.a2b_base64(ciphertext_text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedEncryptedDataError("'nonce' or 'ciphertext' is not base64") from None
    if len(nonce) != _NONCE_BYTES:
        raise MalformedEncryptedDataError(f"nonce is {len(nonce)} bytes, not {_NONCE_BYTES}")
    if len(ciphertext) < _MAC_BYTES:
        raise MalformedEncryptedDataError("ciphertext is shorter than its authentication tag")
    if len(key) != SecretBox.KEY_SIZE:
        raise WrongKeyError(f"the channel's shared secret is not {SecretBox.KEY_SIZE} bytes")
    plaintext = _open(ciphertext, nonce, key)
    if plaintext is None:
        raise WrongKeyError("message does not decrypt with the channel's shared secret")
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
