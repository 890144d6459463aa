"""Configuration mistakes are refused by init(), not retried forever (scenario 14).

Each row is one rule: a value that could only fail later, on every connection
attempt or every authorization, is a :class:`PusherConfigError` at parse time.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

import pytest

from pusher_channels import PusherConfigError
from pusher_channels.options import build_url, parse_options


def parse(**options: Any) -> Any:
    """Parse ``options`` with a key and, unless a host is given, a cluster."""
    where = {} if "host" in options else {"cluster": "eu"}
    return parse_options({"api_key": "k", **where, **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # proxy: what picows (http, https; socks4, socks5 through python-socks) opens
        ({"proxy": "ftp://p.test:21"}, "proxy scheme 'ftp'"),
        ({"proxy": "socks4a://p.test:1080"}, "proxy scheme 'socks4a'"),
        ({"proxy": "http://:3128"}, "proxy has no host"),
        ({"proxy": "http://p.test:99999"}, "proxy port"),
        ({"proxy": "p.test:0"}, "proxy port"),
        ({"proxy": "p.test:port"}, "proxy port"),
        ({"proxy": "socks5://p.test"}, "needs a port"),
        ({"proxy": "http://p.test:3128/path"}, "scheme://host:port"),
        ({"proxy": "http://p.test:3128?x=1"}, "scheme://host:port"),
        ({"proxy": ""}, "proxy must be"),
        ({"proxy": 3128}, "proxy must be"),
        (
            {"proxy": "socks4://p.test:1080", "auth_endpoint": "https://a.test/auth"},
            "socks4",
        ),
        (
            {"proxy": "socks4://p.test:1080", "user_auth_endpoint": "https://a.test/user"},
            "socks4",
        ),
        # host: a host name or an IP address, nothing else
        ({"host": "wss://ws.example.test"}, "not a URL"),
        ({"host": "ws.example.test/pusher"}, "bare host name"),
        ({"host": "ws.example.test?x=1"}, "bare host name"),
        ({"host": "user@ws.example.test"}, "bare host name"),
        ({"host": "ws example.test"}, "bare host name"),
        ({"host": "ws.example.test:6001"}, "ws_port"),
        ({"host": "[not-ipv6]"}, "ws_port"),
        ({"host": ""}, "host must be"),
        ({"host": 127001}, "host must be"),
        # cluster or host: one of them, not both (host used to win, silently)
        ({"host": "h.test", "cluster": "eu"}, "cluster= or host=, not both"),
        ({"host": "127.0.0.1", "cluster": "mt1", "ws_port": 6001}, "not both"),
        # cluster: a name such as eu or mt1, not a host
        ({"cluster": "ws-eu.pusher.com"}, "cluster"),
        ({"cluster": "eu/1"}, "cluster"),
        ({"cluster": 1}, "cluster"),
        # ports
        ({"ws_port": 0}, "ws_port"),
        ({"wss_port": 65536}, "wss_port"),
        ({"ws_port": "6001"}, "ws_port"),
        ({"wss_port": True}, "wss_port"),
        # path
        ({"path": "ws"}, "start with '/'"),
        ({"path": "/ws?x=1"}, "path"),
        ({"path": "/w s"}, "path"),
        ({"path": 5}, "path"),
        # timeouts
        ({"activity_timeout": 0}, "activity_timeout"),
        ({"activity_timeout": 0.5}, "at least 1"),
        ({"activity_timeout": math.inf}, "activity_timeout"),
        ({"pong_timeout": -1}, "pong_timeout"),
        ({"pong_timeout": math.nan}, "pong_timeout"),
        ({"pong_timeout": "30"}, "pong_timeout"),
        ({"auth_timeout": 0}, "auth_timeout"),
        ({"auth_timeout": math.nan}, "auth_timeout"),
        ({"max_reconnect_gap_in_seconds": -3}, "max_reconnect_gap_in_seconds"),
        ({"max_reconnect_gap_in_seconds": math.inf}, "max_reconnect_gap_in_seconds"),
        ({"max_reconnection_attempts": 1.5}, "max_reconnection_attempts"),
        # the client event size limit: a positive number of bytes
        ({"max_client_event_bytes": 0}, "max_client_event_bytes"),
        ({"max_client_event_bytes": True}, "max_client_event_bytes"),
        ({"max_client_event_bytes": "10k"}, "max_client_event_bytes"),
        ({"max_client_event_bytes": 10.5}, "max_client_event_bytes"),
        # callbacks
        ({"on_event": "print"}, "on_event must be callable"),
        ({"on_authorizer": 42}, "on_authorizer must be callable"),
        # endpoints: absolute http(s) URLs
        ({"auth_endpoint": "/pusher/auth"}, "auth_endpoint must be an absolute"),
        ({"auth_endpoint": "ftp://a.test/auth"}, "auth_endpoint must be an absolute"),
        ({"auth_endpoint": "https:///auth"}, "auth_endpoint must be an absolute"),
        ({"auth_endpoint": "https://a.test:99999/auth"}, "auth_endpoint"),
        ({"user_auth_endpoint": "a.test/user"}, "user_auth_endpoint must be an absolute"),
        ({"auth_endpoint": 5}, "auth_endpoint must be an absolute"),
        # switches are booleans (a string "false" would be true)
        ({"use_tls": "false"}, "use_tls"),
        ({"log_to_console": 1}, "log_to_console"),
        ({"enable_stats": "no"}, "enable_stats"),
        ({"ignore_null_origin": None, "use_tls": 0}, "use_tls"),
        # local signing
        ({"secret": ""}, "secret"),
        ({"secret": b"bytes"}, "secret"),
        ({"user_data": {"name": "no id"}}, "user_data"),
        ({"user_data": {"id": 7}}, "user_data"),
        ({"user_data": "alice"}, "user_data"),
        ({"presence_channel_data": {"user_info": {}}}, "presence_channel_data"),
        ({"presence_channel_data": "alice"}, "presence_channel_data"),
    ],
)
def test_a_configuration_mistake_is_refused_at_init(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PusherConfigError, match=message.replace("?", r"\?")):
        parse(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"proxy": "p.test:3128"},
        {"proxy": "p.test"},
        {"proxy": "http://user:pass@p.test:3128"},
        {"proxy": "HTTPS://p.test"},
        {"proxy": "http://p.test:3128/"},
        {"proxy": "socks4://p.test:1080"},
        {"proxy": "socks5://user:pass@[::1]:1080", "auth_endpoint": "http://a.test/auth"},
        {"host": "ws.example.test"},
        {"host": "127.0.0.1"},
        {"host": "::1"},
        {"host": "[::1]"},
        {"host": "soketi_1.local"},
        {"cluster": "mt1"},
        {"cluster": "ap-southeast-1"},
        {"path": ""},
        {"path": "/"},
        {"path": "/ws/"},
        {"activity_timeout": 1},
        {"pong_timeout": 0.25},
        {"auth_endpoint": "http://127.0.0.1:8080/pusher/auth"},
        {"user_auth_endpoint": "https://a.test/pusher/user-auth?x=1"},
        {"use_tls": False, "log_to_console": False, "enable_stats": True},
        {"secret": "s", "user_data": {"id": "7", "name": "x"}},
        {"presence_channel_data": {"user_id": "7"}},
        {"presence_channel_data": lambda channel: {"user_id": "7"}},
    ],
)
def test_good_configurations_are_accepted(options: dict[str, Any]) -> None:
    build_url(parse(**options))


def test_the_proxy_error_does_not_show_its_password() -> None:
    with pytest.raises(PusherConfigError) as caught:
        parse(proxy="ftp://user:hunter2@p.test:21")
    assert "hunter2" not in str(caught.value)


# -------------------------------------------- where the client connects (issue 13)

_REFUSED_SERVERS = [
    {"cluster": "attacker.example/x?"},
    {"cluster": "attacker.example#"},
    {"cluster": "attacker.example"},
    {"cluster": "eu@attacker.example"},
    {"cluster": "eu\n"},
    {"cluster": "-"},
    {"host": "attacker.example\\@ws-eu.pusher.com"},
    {"host": "ws.example.test\x00.attacker.example"},
    {"host": "ws.example.test\x01"},
    {"host": "h%2fattacker.example"},
    {"host": "h;x.test"},
    {"host": "h..test"},
    {"host": "h\uff20attacker.example"},  # a full-width @, an @ after NFKC
    {"host": "h\uff0fx"},  # a full-width /
    {"path": "/x\x00"},
    {"path": "/x\x7f"},
    {"path": "//attacker.example/x"},
]


@pytest.mark.parametrize("server", _REFUSED_SERVERS, ids=ascii)
def test_a_cluster_host_or_path_that_could_lead_elsewhere_is_refused(
    server: dict[str, Any],
) -> None:
    """``cluster="attacker.example/x?"`` must never connect to ``ws-attacker.example``:
    only a plain name or address reaches the URL, or nothing does."""
    with pytest.raises(PusherConfigError, match=r"cluster|host|path"):
        parse_options({"api_key": "k", **({"cluster": "eu"} if "path" in server else {}), **server})


@pytest.mark.parametrize(
    ("server", "host"),
    [
        ({"cluster": "eu"}, "ws-eu.pusher.com"),
        ({"cluster": "ap-southeast-1"}, "ws-ap-southeast-1.pusher.com"),
        ({"host": "ws.example.test"}, "ws.example.test"),
        ({"host": "ws.example.test."}, "ws.example.test."),
        ({"host": "soketi_1.local"}, "soketi_1.local"),
        ({"host": "bücher.example"}, "bücher.example"),
        ({"host": "10.0.0.7"}, "10.0.0.7"),
        ({"host": "::1"}, "::1"),
    ],
)
def test_the_url_reaches_exactly_the_host_given(server: dict[str, Any], host: str) -> None:
    url = build_url(parse_options({"api_key": "k", **server}))
    assert urlsplit(url).hostname == host
