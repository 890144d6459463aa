"""TLS: verification on by default, a custom CA through ``ssl_context``."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer

from pusher_channels import (
    ConnectionState,
    OptionKeywords,
    PusherChannelsClient,
    PusherConnectionError,
)
from tests.support.recorder import Recorder, wait_until


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_soketi(tmp_path: Path, certificate_authority: trustme.CA) -> Iterator[SoketiServer]:
    """soketi serving wss with a certificate for 127.0.0.1 from a private CA."""
    certificate = certificate_authority.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_pem.write_to_path(str(key_path))
    certificate.cert_chain_pems[0].write_to_path(str(cert_path))
    server = SoketiServer(
        log_path=tmp_path / "soketi.log",
        extra_env={"SOKETI_SSL_CERT": str(cert_path), "SOKETI_SSL_KEY": str(key_path)},
        scheme="https",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tls_options(server: SoketiServer) -> OptionKeywords:
    return {"api_key": server.key, "host": "127.0.0.1", "wss_port": server.port}


async def test_custom_ca_through_ssl_context(
    tls_soketi: SoketiServer, certificate_authority: trustme.CA
) -> None:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    options: OptionKeywords = {
        **tls_options(tls_soketi),
        "ssl_context": context,
        "secret": tls_soketi.secret,
    }
    recorder = Recorder()
    async with (
        PusherChannelsClient(**options, **recorder.callbacks()) as receiver,
        PusherChannelsClient(**options) as sender,
    ):
        assert receiver.connection_state is ConnectionState.CONNECTED
        inbox = await receiver.subscribe("private-over-tls")
        outbox = await sender.subscribe("private-over-tls")
        await wait_until(lambda: inbox.subscribed and outbox.subscribed)
        await outbox.trigger(event_name="client-secure", data={"ok": True})
        await wait_until(lambda: len(recorder.events) == 1, what="an event over wss")
    assert recorder.events[0].json() == {"ok": True}


async def test_unknown_ca_fails_at_once_with_a_clear_error(tls_soketi: SoketiServer) -> None:
    recorder = Recorder()
    client = PusherChannelsClient(**tls_options(tls_soketi), **recorder.callbacks())
    started = time.monotonic()
    with pytest.raises(PusherConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await client.connect(timeout=10)
    assert time.monotonic() - started < 5, "not retried: a retry cannot fix a certificate"
    assert client.connection_state is ConnectionState.DISCONNECTED
    assert any("CERTIFICATE_VERIFY_FAILED" in message for message, _, _ in recorder.errors)


async def test_tls_to_a_plain_text_websocket_port_fails_fast_and_says_why(
    soketi: SoketiServer,
) -> None:
    """``use_tls=True`` against soketi's plain port: soketi ignores the TLS handshake
    until its own idle timeout (about 10 s) and then resets the connection. The client
    asks the port in plain text meanwhile, finds a WebSocket server there, and stops at
    once: retrying with TLS cannot work."""
    recorder = Recorder()
    client = PusherChannelsClient(
        api_key=soketi.key, host="127.0.0.1", wss_port=soketi.port, **recorder.callbacks()
    )
    started = time.monotonic()
    with pytest.raises(PusherConnectionError) as caught:
        await client.connect(timeout=15)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert f"127.0.0.1:{soketi.port}" in message
    assert "does not speak TLS" in message
    assert "use_tls=False" in message
    assert elapsed < 3, f"took {elapsed:.1f} s"
    assert client.connection_state is ConnectionState.DISCONNECTED
    assert [m for m, _, _ in recorder.errors if "does not speak TLS" in m], recorder.errors


async def test_tls_to_a_plain_http_port_says_the_server_may_not_speak_tls(
    auth_server: AuthServer,
) -> None:
    """A plain HTTP server answers the TLS handshake in plain text: the client says at
    once that the server may not speak TLS (not a bare SSL error), and keeps trying,
    since this port is no WebSocket server that it could be sure of."""
    recorder = Recorder()
    client = PusherChannelsClient(
        api_key="app-key", host="127.0.0.1", wss_port=auth_server.port, **recorder.callbacks()
    )
    started = time.monotonic()
    with pytest.raises(PusherConnectionError):
        await client.connect(timeout=2)
    [first, *_] = [message for message, _, _ in recorder.errors]
    assert "may not speak TLS" in first
    assert f"127.0.0.1:{auth_server.port}" in first
    assert "use_tls=False" in first
    assert time.monotonic() - started < 3
