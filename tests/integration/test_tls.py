"""TLS: verification on by default, a custom CA through ``ssl_context``, one trust
for the socket and the auth requests, and a certificate that fails verification
retried until it is fixed."""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest
import trustme
from devtools.auth_server import AuthServer
from devtools.proxies import TinyProxy
from devtools.soketi import SoketiServer, free_port

from pusher_channels import (
    ConnectionState,
    PusherChannelsClient,
    PusherConnectionError,
    PusherError,
    PusherTimeoutError,
)
from tests.support.recorder import Recorder, wait_until


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def tls_soketi_server(directory: Path, authority: trustme.CA, port: int) -> SoketiServer:
    """soketi serving wss on ``port`` with a certificate for 127.0.0.1 from ``authority``."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    certificate.private_key_pem.write_to_path(str(key_path))
    certificate.cert_chain_pems[0].write_to_path(str(cert_path))
    return SoketiServer(
        port=port,
        log_path=directory / "soketi.log",
        extra_env={"SOKETI_SSL_CERT": str(cert_path), "SOKETI_SSL_KEY": str(key_path)},
        scheme="https",
    )


@pytest.fixture
def tls_soketi(tmp_path: Path, certificate_authority: trustme.CA) -> Iterator[SoketiServer]:
    """soketi serving wss with a certificate for 127.0.0.1 from a private CA."""
    server = tls_soketi_server(tmp_path, certificate_authority, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_auth_server(
    tls_soketi: SoketiServer, certificate_authority: trustme.CA
) -> Iterator[AuthServer]:
    """An HTTPS auth endpoint with a certificate from the same private CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    server = AuthServer(tls_soketi.server_sdk(), tls=context)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TlsServerOptions(TypedDict):
    """The keywords that point a client at a soketi serving TLS, each one given."""

    api_key: str
    host: str
    wss_port: int


def tls_options(server: SoketiServer) -> TlsServerOptions:
    return {"api_key": server.key, "host": "127.0.0.1", "wss_port": server.port}


async def test_custom_ca_through_ssl_context(
    tls_soketi: SoketiServer, certificate_authority: trustme.CA
) -> None:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    server = tls_options(tls_soketi)
    secret = tls_soketi.secret
    recorder = Recorder()
    async with (
        PusherChannelsClient(
            **server, ssl_context=context, secret=secret, **recorder.callbacks()
        ) as receiver,
        PusherChannelsClient(**server, ssl_context=context, secret=secret) as sender,
    ):
        assert receiver.connection_state is ConnectionState.CONNECTED
        inbox = await receiver.subscribe("private-over-tls")
        outbox = await sender.subscribe("private-over-tls")
        await wait_until(lambda: inbox.subscribed and outbox.subscribed)
        await outbox.trigger(event_name="client-secure", data={"ok": True})
        await wait_until(lambda: len(recorder.events) == 1, what="an event over wss")
    assert recorder.events[0].json() == {"ok": True}


class TimedErrors:
    """``on_error``, keeping when each error came."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def __call__(self, message: str, code: int | None, error: PusherError) -> None:
        self.seen.append((time.monotonic(), message))

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.seen]


async def test_a_certificate_that_fails_verification_is_retried_and_reported_each_time(
    tls_soketi: SoketiServer,
) -> None:
    """Not stopped for good: retried with backoff (no quick attempts, at least 1 s
    apart), and each failure told to ``on_error``, since each needs someone to act."""
    errors = TimedErrors()
    client = PusherChannelsClient(**tls_options(tls_soketi), on_error=errors)
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=3.5)
    assert client.connection_state is ConnectionState.DISCONNECTED
    assert len(errors.seen) >= 3, errors.messages
    assert all("CERTIFICATE_VERIFY_FAILED" in message for message in errors.messages)
    times = [at for at, _ in errors.seen]
    assert min(later - earlier for earlier, later in itertools.pairwise(times)) > 0.9


async def test_the_client_comes_back_by_itself_once_the_certificate_is_fixed(
    tmp_path: Path, certificate_authority: trustme.CA
) -> None:
    """The server first shows a certificate from a CA the client does not trust (an
    expired or wrongly issued one), then is restarted with a good one: the client,
    left alone, connects."""
    port = free_port()
    wrong = tls_soketi_server(tmp_path / "wrong", trustme.CA(), port)
    wrong.start()
    fixed = tls_soketi_server(tmp_path / "fixed", certificate_authority, port)
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    errors = TimedErrors()
    client = PusherChannelsClient(
        api_key=wrong.key, host="127.0.0.1", wss_port=port, ssl_context=context, on_error=errors
    )
    try:
        connecting = asyncio.create_task(client.connect(timeout=20))
        await wait_until(lambda: len(errors.seen) >= 2, what="two refused certificates")
        assert not connecting.done()
        await asyncio.to_thread(wrong.stop)
        await asyncio.to_thread(fixed.start)
        await connecting
        assert client.connection_state is ConnectionState.CONNECTED
        channel = await client.subscribe("after-the-fix")
        await wait_until(lambda: channel.subscribed, what="a subscription")
    finally:
        await client.disconnect()
        wrong.stop()
        fixed.stop()
    assert all("CERTIFICATE_VERIFY_FAILED" in message for message in errors.messages)


async def test_one_trust_for_the_socket_and_the_auth_requests(
    tls_soketi: SoketiServer,
    tls_auth_server: AuthServer,
    certificate_authority: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``ssl_context`` both trust the system's store, which ``SSL_CERT_FILE``
    extends: the auth requests do not bring a CA list of their own (certifi)."""
    ca_path = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_path))
    async with PusherChannelsClient(
        **tls_options(tls_soketi), auth_endpoint=tls_auth_server.url
    ) as client:
        channel = await client.subscribe("private-one-trust")
        await wait_until(lambda: channel.subscribed, what="authorized over https")
    assert tls_auth_server.requests_for("private-one-trust")


async def test_https_proxy_from_the_environment_carries_wss_and_https(
    tls_soketi: SoketiServer,
    tls_auth_server: AuthServer,
    certificate_authority: trustme.CA,
    tinyproxy: TinyProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``wss://`` and ``https://`` take HTTPS_PROXY, not HTTP_PROXY (here a dead port)."""
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    async with PusherChannelsClient(
        **tls_options(tls_soketi), ssl_context=context, auth_endpoint=tls_auth_server.url
    ) as client:
        channel = await client.subscribe("private-via-https-proxy")
        await wait_until(lambda: channel.subscribed, what="subscribed through the proxy")
    assert tinyproxy.requests() == [
        f"CONNECT 127.0.0.1:{tls_soketi.port} HTTP/1.1",
        f"CONNECT 127.0.0.1:{tls_auth_server.port} HTTP/1.1",
    ]


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
