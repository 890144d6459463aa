"""No secret in logs above DEBUG, nor in any error: a whole session captured and scanned.

At DEBUG the frames are logged, without the signatures and the sign-in's user data
(DEBUG logs get shipped to log stores too).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure, RecordedRequest
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
    assert_frames_logged_without(capture, {*signatures, *shared_secrets, *raw_shared}, server.key)


def assert_frames_logged_without(capture: Capture, secrets: set[str], app_key: str) -> None:
    """No record shows any of ``secrets``, DEBUG included, and the frames are logged
    at DEBUG with their channel signatures hidden."""
    leaks = [
        (record.name, record.levelname, secret)
        for record in capture.records
        for secret in secrets
        if secret in record_text(record)
    ]
    assert leaks == []
    frames = [record_text(r) for r in capture.records if r.name == "pusher_channels.frames"]
    shown_auth = f'"auth":"{app_key}:***"'
    assert any("pusher:subscribe" in f and shown_auth in f for f in frames), frames


SIGNIN_MARKER = "signer-7c2e91@example.test"
"""Only in the sign-in's ``user_data`` (the presence channel's member is another user)."""


@pytest.mark.parametrize(
    ("endpoint", "through_proxy"),
    [
        pytest.param("http://LOCALHOST:{port}/pusher/auth?token={token}", False, id="upper-case"),
        pytest.param("http://LOCALHOST:80/pusher/auth?token={token}", True, id="default-port"),
        pytest.param(
            'http://127.0.0.1:{port}/pusher/auth?token={token} é&quoted="{token}"',
            False,
            id="percent-encoded",
        ),
    ],
)
async def test_an_endpoint_token_stays_out_of_the_logs_however_the_url_is_spelled(
    signin_soketi: SoketiServer,
    capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    through_proxy: bool,
) -> None:
    """httpx logs the URL as it normalised it (host in lower case, no default port,
    query percent-encoded), not as it was given: the token is hidden all the same.
    And at DEBUG, the frames show neither signatures nor the sign-in's user data.

    An endpoint on port 80 is reached without listening there: the auth server
    stands as the HTTP proxy too (``HTTP_PROXY``), and a forward proxy is sent the
    whole URL, which it answers as it would the path.
    """
    server = signin_soketi
    auth = AuthServer(server.server_sdk())
    auth.users = {
        "member": {"user_id": "m-1", "user_info": {"name": "M"}},
        "signer": {"user_id": "s-1", "user_info": {"email": SIGNIN_MARKER}},
    }
    auth.start()
    if through_proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{auth.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # soketi and the sign-in endpoint
    signatures: set[str] = set()
    original_sign = auth._sign

    def spying_sign(request: RecordedRequest) -> dict[str, Any]:
        answer = original_sign(request)
        signatures.add(answer["auth"].split(":", 1)[1])
        return answer

    auth._sign = spying_sign  # type: ignore[method-assign]
    recorder = Recorder()
    try:
        async with PusherChannelsClient(
            **server.client_options(),
            auth_endpoint=endpoint.format(port=auth.port, token=QUERY_TOKEN),
            auth_params={"params": {"user": "member"}},
            user_auth_endpoint=auth.user_auth_url,
            user_auth_params={"params": {"user": "signer"}},
            log_to_console=False,
            **recorder.callbacks(),
        ) as client:
            for name in ("private-logged", "presence-logged"):
                await client.subscribe(name)
            await wait_until(lambda: len(recorder.succeeded) == 2, what="subscriptions")
            user_data = await client.signin()
    finally:
        auth.stop()

    assert user_data is not None
    assert user_data["user_info"]["email"] == SIGNIN_MARKER
    [request] = auth.requests_for("private-logged")
    assert QUERY_TOKEN in request.path, "the endpoint was called as spelled, token included"
    assert len(signatures) == 3, "two channels and the sign-in were signed"
    assert_frames_logged_without(capture, {QUERY_TOKEN, SIGNIN_MARKER, *signatures}, server.key)
    http_lines = [record_text(r) for r in capture.records if r.name == "httpx"]
    assert any("/pusher/auth?***" in line for line in http_lines), http_lines
    frames = [record_text(r) for r in capture.records if r.name == "pusher_channels.frames"]
    assert any("pusher:signin" in f and '"user_data":"***"' in f for f in frames), frames
