"""No secret in logs above DEBUG, nor in any error: a whole session captured and scanned."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import MASTER_KEY_BASE64, SoketiServer

from pusher_channels import PusherChannelsClient, PusherError
from tests.support.recorder import Recorder, wait_until

BEARER = "Bearer tok-3f9a8c1d5e7b"
COOKIE = "session=cookie-77e1b0c9a4"
QUERY_TOKEN = "qtok-6b1e0d2f"
"""A token in the auth endpoint's query string, as some backends take it."""


class Capture(logging.Handler):
    """Keeps every log record of every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += " " + repr(record.exc_info[1]) + " " + str(record.exc_info[1])
    return text


async def test_a_full_session_logs_no_secret_above_debug(
    signin_soketi: SoketiServer, capture: Capture
) -> None:
    server = signin_soketi
    auth = AuthServer(server.server_sdk())
    auth.users = {"u": {"user_id": "u-1", "user_info": {"name": "U"}}}
    auth.start()
    recorder = Recorder()
    errors: list[PusherError] = []
    signatures: set[str] = set()
    shared_secrets: set[str] = set()
    original_sign = auth._sign

    def spying_sign(request: Any) -> dict[str, Any]:
        answer = original_sign(request)
        signatures.add(answer["auth"].split(":", 1)[1])
        if "shared_secret" in answer:
            shared_secrets.add(answer["shared_secret"])
        return answer

    auth._sign = spying_sign  # type: ignore[method-assign]
    headers = {"Authorization": BEARER, "Cookie": COOKIE}
    try:
        async with PusherChannelsClient(
            **server.client_options(),
            auth_endpoint=f"{auth.url}?token={QUERY_TOKEN}",
            user_auth_endpoint=auth.user_auth_url,
            auth_params={"params": {"user": "u"}, "headers": headers},
            log_to_console=False,
            **recorder.callbacks(),
        ) as client:
            for name in ("private-s", "presence-s", "private-encrypted-s"):
                await client.subscribe(name)
            await wait_until(lambda: len(recorder.succeeded) == 3, what="subscriptions")
            await client.signin()
            await asyncio.to_thread(server.server_sdk().trigger, "private-encrypted-s", "e", {})
            await wait_until(lambda: len(recorder.events) == 1, what="the encrypted event")
            auth.failure = Failure(status=403, body="denied")
            await client.subscribe("private-denied")
            await wait_until(lambda: len(recorder.subscription_errors) == 1, what="the denial")
            # Lift the denial before the restart: the client reconnects and
            # re-authorizes as soon as soketi answers, before start() has returned.
            auth.failure = None
            server.kill()  # a reconnection re-authorizes everything
            await asyncio.to_thread(server.start)
            await wait_until(lambda: len(recorder.succeeded) >= 6, timeout=20, what="resubscribe")
            errors.extend(error for _, _, error in recorder.errors)
            errors.extend(error for _, error in recorder.subscription_errors)
    finally:
        auth.stop()

    assert signatures
    assert shared_secrets
    raw_shared = {base64.b64decode(s).hex() for s in shared_secrets}
    master = base64.b64decode(MASTER_KEY_BASE64)
    secrets = {
        server.secret,
        MASTER_KEY_BASE64,
        master.hex(),
        BEARER,
        "tok-3f9a8c1d5e7b",
        COOKIE,
        "cookie-77e1b0c9a4",
        QUERY_TOKEN,
        hashlib.sha256(b"private-encrypted-s" + master).hexdigest(),
        *signatures,
        *shared_secrets,
        *raw_shared,
    }
    above_debug = [r for r in capture.records if r.levelno > logging.DEBUG]
    assert above_debug, "the session logged at INFO and above"
    leaks = [
        (record.name, record.levelname, secret)
        for record in above_debug
        for secret in secrets
        if secret in record_text(record)
    ]
    assert leaks == []
    assert errors, "the session reported errors, which are scanned too"
    for error in errors:
        text = f"{error} {error!r} {error.message}"
        assert not [secret for secret in secrets if secret in text]
    debug_frames = [r for r in capture.records if r.name == "pusher_channels.frames"]
    assert any(signature in record_text(r) for r in debug_frames for signature in signatures), (
        "frames, signatures included, are logged at DEBUG (and only there)"
    )
