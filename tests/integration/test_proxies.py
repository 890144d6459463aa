"""Proxies, for the WebSocket and the auth requests alike: the ``proxy`` option, and
the environment's ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``.

Each test asks the real proxies' own logs whether the traffic went through them
(tinyproxy's request lines, microsocks's connections), for the socket and for the
endpoint.
"""

from __future__ import annotations

import logging

import pytest
from devtools.auth_server import AuthServer
from devtools.proxies import MicroSocks, TinyProxy
from devtools.soketi import SoketiServer, free_port

from pusher_channels import PusherChannelsClient, PusherTimeoutError
from tests.support.recorder import Recorder, wait_until


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


# ------------------------------------------------------------ the environment


def tunnel(server: SoketiServer) -> str:
    """tinyproxy's request line for the WebSocket's tunnel to ``server``."""
    return f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"


def forwarded(url: str) -> str:
    """tinyproxy's request line for an auth request it forwarded to ``url``."""
    return f"POST {url} HTTP/1.1"


async def subscribe_private(client: PusherChannelsClient, channel_name: str) -> None:
    channel = await client.subscribe(channel_name)
    await wait_until(lambda: channel.subscribed, what=f"{channel_name} subscribed")


async def test_http_proxy_from_the_environment_carries_websocket_and_auth(
    soketi: SoketiServer,
    auth_server: AuthServer,
    tinyproxy: TinyProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set only in the environment: ``ws://`` and ``http://`` both take HTTP_PROXY."""
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        await subscribe_private(client, "private-env-http-proxy")
    assert tinyproxy.requests() == [tunnel(soketi), forwarded(auth_server.url)]
    [request] = auth_server.requests_for("private-env-http-proxy")
    assert "tinyproxy" in request.headers.get("via", "")


async def test_lower_case_all_proxy_socks5_carries_websocket_and_auth(
    soketi: SoketiServer,
    auth_server: AuthServer,
    microsocks: MicroSocks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("all_proxy", microsocks.url)
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        await subscribe_private(client, "private-env-socks")
    assert microsocks.connections() == [
        f"127.0.0.1:{soketi.port}",
        f"127.0.0.1:{auth_server.port}",
    ]


async def test_user_authentication_follows_the_same_rule(
    signin_soketi: SoketiServer, tinyproxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", tinyproxy.url)
    auth = AuthServer(signin_soketi.server_sdk())
    auth.users = {"ada": {"user_id": "ada-1", "user_info": {"name": "Ada"}}}
    auth.start()
    endpoint = auth.user_auth_url
    try:
        async with PusherChannelsClient(
            **signin_soketi.client_options(),
            user_auth_endpoint=endpoint,
            user_auth_params={"params": {"user": "ada"}},
        ) as client:
            user = await client.signin()
            assert user is not None
    finally:
        auth.stop()
    assert tinyproxy.requests() == [tunnel(signin_soketi), forwarded(endpoint)]


def set_both_proxies(
    monkeypatch: pytest.MonkeyPatch, tinyproxy: TinyProxy, microsocks: MicroSocks
) -> None:
    """``HTTP_PROXY`` naming tinyproxy and ``ALL_PROXY`` naming microsocks."""
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    monkeypatch.setenv("ALL_PROXY", microsocks.url)


def assert_went_direct(
    tinyproxy: TinyProxy, microsocks: MicroSocks, auth_server: AuthServer, channel: str
) -> None:
    """Neither proxy saw a connection, and the channel's auth request came direct."""
    assert tinyproxy.requests() == []
    assert microsocks.connections() == []
    [request] = auth_server.requests_for(channel)
    assert "via" not in request.headers


@pytest.fixture(params=["127.0.0.1", "localhost, .example.test,127.0.0.1", "*"])
def no_proxy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``NO_PROXY`` naming 127.0.0.1, in a list, or ``*``."""
    value: str = request.param
    monkeypatch.setenv("NO_PROXY", value)
    return value


@pytest.mark.usefixtures("no_proxy")
async def test_no_proxy_sends_websocket_and_auth_direct(
    soketi: SoketiServer,
    auth_server: AuthServer,
    tinyproxy: TinyProxy,
    microsocks: MicroSocks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_both_proxies(monkeypatch, tinyproxy, microsocks)
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url
    ) as client:
        await subscribe_private(client, "private-no-proxy")
    assert_went_direct(tinyproxy, microsocks, auth_server, "private-no-proxy")


async def test_trust_env_false_ignores_the_environment(
    soketi: SoketiServer,
    auth_server: AuthServer,
    tinyproxy: TinyProxy,
    microsocks: MicroSocks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_both_proxies(monkeypatch, tinyproxy, microsocks)
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, trust_env=False
    ) as client:
        await subscribe_private(client, "private-trust-env-false")
    assert_went_direct(tinyproxy, microsocks, auth_server, "private-trust-env-false")


async def test_the_proxy_option_wins_over_the_environment(
    soketi: SoketiServer,
    auth_server: AuthServer,
    tinyproxy: TinyProxy,
    microsocks: MicroSocks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    monkeypatch.setenv("NO_PROXY", "*")
    async with PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, proxy=microsocks.url
    ) as client:
        await subscribe_private(client, "private-option-wins")
    assert tinyproxy.requests() == []
    assert microsocks.connections() == [
        f"127.0.0.1:{soketi.port}",
        f"127.0.0.1:{auth_server.port}",
    ]


async def test_a_proxy_from_the_environment_that_is_down_stops_the_socket_too(
    soketi: SoketiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket no longer goes around a proxy the environment names."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing there
    recorder = Recorder()
    client = PusherChannelsClient(**soketi.client_options(), **recorder.callbacks())
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=1.5)
    assert recorder.errors, "the failure was reported"


async def test_an_environment_proxy_password_is_never_shown(
    soketi: SoketiServer,
    microsocks: MicroSocks,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong password: refused by the proxy, reported, logged, and never shown."""
    password = "env-wrong-pass-1"
    url = f"socks5://{microsocks.user}:{password}@127.0.0.1:{microsocks.port}"
    monkeypatch.setenv("ALL_PROXY", url)
    recorder = Recorder()
    caplog.set_level(logging.INFO, logger="pusher_channels")
    client = PusherChannelsClient(**soketi.client_options(), **recorder.callbacks())
    with pytest.raises(PusherTimeoutError) as caught:
        await client.connect(timeout=1.5)
    assert recorder.errors, "the failure was reported"
    shown = [str(caught.value), repr(caught.value)]
    shown += [f"{message} {error!r} {error}" for message, _, error in recorder.errors]
    shown += [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert any("socks-user:***@" in line and "ALL_PROXY" in line for line in shown), shown
    assert not [line for line in shown if password in line]
    assert microsocks.connections() == [], "refused at the proxy"
