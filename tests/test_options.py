"""Options: validation, defaults and the WebSocket URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pusher_channels import PusherChannelsClient, PusherConfigError, __version__
from pusher_channels.options import build_url, parse_options


def url_for(**options: Any) -> str:
    return build_url(parse_options({"api_key": "KEY", **options}))


def test_cluster_url_defaults_to_wss_on_443_with_protocol_7() -> None:
    url = urlsplit(url_for(cluster="eu"))
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "wss",
        "ws-eu.pusher.com",
        443,
        "/app/KEY",
    )
    assert parse_qs(url.query) == {
        "protocol": ["7"],
        "client": ["pusher-channels-python"],
        "version": [__version__],
    }


def test_use_tls_false_uses_ws_on_80() -> None:
    url = urlsplit(url_for(cluster="mt1", use_tls=False))
    assert (url.scheme, url.hostname, url.port) == ("ws", "ws-mt1.pusher.com", 80)


def test_host_ports_and_path_override() -> None:
    assert url_for(host="example.test", wss_port=8443, path="/pusher").startswith(
        "wss://example.test:8443/pusher/app/KEY?"
    )
    assert url_for(host="127.0.0.1", ws_port=6001, use_tls=False).startswith(
        "ws://127.0.0.1:6001/app/KEY?"
    )
    assert url_for(host="::1", ws_port=6001, use_tls=False).startswith("ws://[::1]:6001/app/")


def test_transports_are_honoured() -> None:
    assert url_for(cluster="eu", use_tls=False, disabled_transports=["ws"]).startswith("wss://")
    assert url_for(cluster="eu", use_tls=False, enabled_transports=["wss"]).startswith("wss://")
    assert url_for(cluster="eu", enabled_transports=["ws", "wss", "xhr_polling"]).startswith(
        "wss://"
    )
    with pytest.raises(PusherConfigError, match="use_tls"):
        url_for(cluster="eu", disabled_transports=["wss"])
    with pytest.raises(PusherConfigError, match="neither"):
        url_for(cluster="eu", enabled_transports=["sockjs"])
    with pytest.raises(PusherConfigError, match="unknown transports"):
        url_for(cluster="eu", enabled_transports=["carrier-pigeon"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cluster": "eu"}, "api_key"),
        ({"api_key": "k"}, "cluster"),
        ({"api_key": "k", "cluster": "eu", "activity_timeout": 0}, "activity_timeout"),
        ({"api_key": "k", "cluster": "eu", "pong_timeout": -1}, "pong_timeout"),
        ({"api_key": "k", "cluster": "eu", "ws_port": 70000}, "ws_port"),
        ({"api_key": "k", "cluster": "eu", "max_reconnection_attempts": -2}, "attempts"),
        ({"api_key": "k", "cluster": "eu", "on_event": "not callable"}, "on_event"),
        ({"api_key": "k", "cluster": "eu", "colour": "blue"}, "unknown option"),
        ({"api_key": "k", "cluster": "eu", "auth_transport": "carrier"}, "auth_transport"),
    ],
)
def test_invalid_options_raise_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PusherConfigError, match=message):
        parse_options(options)


def test_defaults_follow_the_documentation() -> None:
    options = parse_options({"api_key": "k", "cluster": "eu"})
    assert options.activity_timeout == 120
    assert options.pong_timeout == 30
    assert options.max_reconnection_attempts is None
    assert options.max_reconnect_gap_in_seconds == 30
    assert options.use_tls is True
    assert options.max_client_event_bytes == 10_240  # Pusher's 10 KB
    settings = options.connection_settings()
    assert settings.backoff.maximum == 30
    assert settings.max_reconnection_attempts is None


def test_browser_only_options_are_accepted() -> None:
    options = parse_options(
        {
            "api_key": "k",
            "cluster": "eu",
            "enable_stats": True,
            "ignore_null_origin": True,
            "auth_transport": "jsonp",
        }
    )
    assert options.enable_stats is True


def test_proxy_as_host_port_becomes_an_http_url() -> None:
    assert parse_options({"api_key": "k", "cluster": "eu", "proxy": "p.test:3128"}).proxy_url == (
        "http://p.test:3128"
    )
    socks = parse_options({"api_key": "k", "cluster": "eu", "proxy": "socks5://p.test:1080"})
    assert socks.proxy_url == "socks5://p.test:1080"


def test_secret_is_not_in_the_options_repr() -> None:
    options = parse_options({"api_key": "k", "cluster": "eu", "secret": "top-secret-value"})
    assert "top-secret-value" not in repr(options)


async def test_methods_before_init_raise_a_clear_error() -> None:
    client = PusherChannelsClient()
    with pytest.raises(PusherConfigError, match="init"):
        await client.connect()
    with pytest.raises(PusherConfigError, match="init"):
        await client.subscribe("x")
    assert client.connection_state == "DISCONNECTED"
    await client.disconnect()  # harmless


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encryption_master_key_base64": "not base64!"}, "not base64"),
        ({"encryption_master_key_base64": "YWJj"}, "32 bytes"),
        ({"auth_params": {"header": {"X": "y"}}}, "not header"),
        ({"auth_params": {"headers": 5}}, "mapping or a callable"),
        ({"user_auth_params": [1]}, "user_auth_params"),
    ],
)
def test_auth_options_are_checked_at_init(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PusherConfigError, match=message):
        parse_options({"api_key": "k", "cluster": "eu", **options})
