"""The ``proxy`` option through real proxies, for the WebSocket and the auth requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.auth_server import AuthServer
from devtools.proxies import MicroSocks, TinyProxy
from devtools.soketi import SoketiServer

from pusher_channels import PusherChannelsClient, PusherTimeoutError
from tests.support.recorder import Recorder, wait_until


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[TinyProxy]:
    proxy = TinyProxy(tmp_path)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def microsocks() -> Iterator[MicroSocks]:
    proxy = MicroSocks()
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


async def test_http_connect_proxy_carries_websocket_and_auth(
    soketi: SoketiServer, auth_server: AuthServer, tinyproxy: TinyProxy
) -> None:
    recorder = Recorder()
    proxy_address = f"127.0.0.1:{tinyproxy.port}"  # the Java client's "host:port" form
    async with PusherChannelsClient(
        **soketi.client_options(),
        proxy=proxy_address,
        auth_endpoint=auth_server.url,
        **recorder.callbacks(),
    ) as client:
        channel = await client.subscribe("private-via-http-proxy")
        await wait_until(lambda: channel.subscribed, what="subscription through the proxy")
    log = tinyproxy.log()
    assert f"CONNECT 127.0.0.1:{soketi.port}" in log or f"127.0.0.1:{soketi.port}" in log
    [request] = auth_server.requests_for("private-via-http-proxy")
    assert "tinyproxy" in request.headers.get("via", ""), "the auth request went via tinyproxy"


async def test_socks5_proxy_carries_websocket_and_auth(
    soketi: SoketiServer, auth_server: AuthServer, microsocks: MicroSocks
) -> None:
    recorder = Recorder()
    async with PusherChannelsClient(
        **soketi.client_options(),
        proxy=microsocks.url,
        auth_endpoint=auth_server.url,
        **recorder.callbacks(),
    ) as client:
        channel = await client.subscribe("private-via-socks")
        await wait_until(lambda: channel.subscribed, what="subscription through SOCKS5")
    assert auth_server.requests_for("private-via-socks")


async def test_wrong_socks_password_does_not_connect(
    soketi: SoketiServer, microsocks: MicroSocks
) -> None:
    """The traffic really goes through the proxy: bad credentials stop it there."""
    wrong = f"socks5://{microsocks.user}:wrong@127.0.0.1:{microsocks.port}"
    recorder = Recorder()
    client = PusherChannelsClient(**soketi.client_options(), proxy=wrong, **recorder.callbacks())
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=2)
    assert recorder.errors, "the failure was reported"
    assert all("wrong" not in message for message, _, _ in recorder.errors)
