"""Private encrypted channels: NaCl secretbox encryption and decryption of event data.

The server sends ``data`` as ``{"nonce": b64(24 bytes), "ciphertext": b64(...)}``,
encrypted with XSalsa20-Poly1305 under the channel's 32-byte shared secret. A wrong
key and a malformed payload are told apart: only the first is worth fetching a new
key for. :func:`encrypt_data` is what a server SDK does before triggering.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import orjson
from nacl.bindings import crypto_secretbox_open_easy
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

_MAC_BYTES: Final = SecretBox.MACBYTES
_NONCE_BYTES: Final = SecretBox.NONCE_SIZE
_KEY_BYTES: Final = SecretBox.KEY_SIZE
_FIRST_CAPACITY: Final = 512

# libsodium through PyNaCl's own cffi module, without the layers of its bindings.
_open_into: Any = None
_new_buffer: Any = None
_view: Any = None
try:
    from nacl import _sodium
except ImportError:  # pragma: no cover - PyNaCl without its cffi module
    pass
else:
    _open_into = _sodium.lib.crypto_secretbox_open_easy
    _new_buffer = _sodium.ffi.new
    _view = _sodium.ffi.buffer

__all__ = [
    "Decryptor",
    "MalformedEncryptedDataError",
    "WrongKeyError",
    "decrypt_data",
    "encrypt_data",
]


class MalformedEncryptedDataError(Exception):
    """The payload is not ``{nonce, ciphertext}`` in base64 of the right sizes."""


class WrongKeyError(Exception):
    """The payload is well formed but does not open with the key: fetch a new key."""


class Decryptor:
    """Decrypts encrypted channels' events, reusing one plaintext buffer.

    libsodium's ``crypto_secretbox_open_easy`` is called through PyNaCl's own cffi
    module, into a buffer kept from one event to the next and decoded from there:
    about half the time per event of ``SecretBox.decrypt``. One decryptor serves one
    thread at a time (a connection's core owns one); the buffer grows to the largest
    message seen.
    """

    __slots__ = ("_buffer", "_capacity")

    def __init__(self) -> None:
        self._buffer: Any = None
        self._capacity = 0

    def decrypt(self, data: Any, key: bytes) -> str:
        """Decrypt an encrypted channel's ``data`` into the plaintext (UTF-8 text).

        Raises:
            MalformedEncryptedDataError: not a ``{nonce, ciphertext}`` object of
                base64, or not UTF-8 inside.
            WrongKeyError: the message does not authenticate under ``key``.
        """
        if type(data) is str:
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                payload = None
        else:
            payload = data
        if type(payload) is not dict:
            raise MalformedEncryptedDataError("encrypted data is not a {nonce, ciphertext} object")
        nonce_text, ciphertext_text = payload.get("nonce"), payload.get("ciphertext")
        if type(nonce_text) is not str or type(ciphertext_text) is not str:
            raise MalformedEncryptedDataError(
                "encrypted data lacks 'nonce' or 'ciphertext' strings"
            )
        try:
            nonce = binascii.a2b_base64(nonce_text, strict_mode=True)
            ciphertext = binascii.a2b_base64(ciphertext_text, strict_mode=True)
        except (binascii.Error, ValueError):
            raise MalformedEncryptedDataError("'nonce' or 'ciphertext' is not base64") from None
        if len(nonce) != _NONCE_BYTES:
            raise MalformedEncryptedDataError(f"nonce is {len(nonce)} bytes, not {_NONCE_BYTES}")
        length = len(ciphertext)
        if length < _MAC_BYTES:
            raise MalformedEncryptedDataError("ciphertext is shorter than its authentication tag")
        if len(key) != _KEY_BYTES:
            raise WrongKeyError(f"the channel's shared secret is not {_KEY_BYTES} bytes")
        size = length - _MAC_BYTES
        try:
            if _open_into is None:  # pragma: no cover - PyNaCl without its cffi module
                try:
                    return crypto_secretbox_open_easy(ciphertext, nonce, key).decode("utf-8")
                except CryptoError:
                    raise WrongKeyError(
                        "message does not decrypt with the channel's shared secret"
                    ) from None
            buffer = self._buffer
            if buffer is None or size > self._capacity:
                self._capacity = max(size, _FIRST_CAPACITY)
                buffer = self._buffer = _new_buffer("unsigned char[]", self._capacity)
            if _open_into(buffer, ciphertext, length, nonce, key):
                raise WrongKeyError("message does not decrypt with the channel's shared secret")
            return str(_view(buffer, size), "utf-8")
        except UnicodeDecodeError:
            raise MalformedEncryptedDataError("decrypted data is not UTF-8 text") from None


def decrypt_data(data: Any, key: bytes) -> str:
    """Decrypt an encrypted channel's ``data`` into the plaintext (UTF-8 text).

    Raises:
        MalformedEncryptedDataError: not a ``{nonce, ciphertext}`` object of base64.
        WrongKeyError: the message does not authenticate under ``key``.
    """
    return Decryptor().decrypt(data, key)


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
