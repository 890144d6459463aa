"""Which proxy a connection takes: ``proxy=``, else the environment, one rule for the
WebSocket and the auth endpoints (the real proxies are in
``tests/integration/test_proxies.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from pusher_channels import PusherChannelsClient, PusherConfigError
from pusher_channels._proxies import no_proxy_matches, proxy_route
from pusher_channels.options import parse_options

WSS = "wss://ws.example.test:443/app/key?protocol=7"
WS = "ws://ws.example.test:80/app/key?protocol=7"
HTTPS = "https://api.example.test/pusher/auth"
HTTP = "http://api.example.test/pusher/auth"


def chosen(url: str, *, proxy: str | None = None, trust_env: bool = True) -> str | None:
    return proxy_route(url, proxy=proxy, trust_env=trust_env).url


def test_no_variable_means_direct() -> None:
    assert chosen(WSS) is None
    assert chosen(HTTP) is None


def test_the_scheme_picks_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.test:3128")
    assert chosen(WSS) == "http://secure-proxy.test:3128"
    assert chosen(HTTPS) == "http://secure-proxy.test:3128"
    assert chosen(WS) == "http://plain-proxy.test:3128"
    assert chosen(HTTP) == "http://plain-proxy.test:3128"


def test_one_schemes_variable_does_not_serve_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.test:3128")
    assert chosen(WSS) is None
    assert chosen(HTTPS) is None


def test_all_proxy_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://socks.test:1080")
    assert chosen(WSS) == chosen(WS) == chosen(HTTP) == "socks5://socks.test:1080"
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.test:3128")
    assert chosen(WSS) == "http://secure-proxy.test:3128"
    assert chosen(WS) == "socks5://socks.test:1080"


def test_lower_case_names_count_and_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://lower.test:3128")
    assert chosen(WSS) == "http://lower.test:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.test:3128")
    assert chosen(WSS) == "http://lower.test:3128"
    monkeypatch.setenv("all_proxy", "socks5://lower-all.test:1080")
    assert chosen(WS) == "socks5://lower-all.test:1080"


def test_an_empty_variable_is_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "")
    assert chosen(WSS) is None


def test_a_host_and_port_means_an_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.test:3128")
    assert chosen(WSS) == "http://proxy.test:3128"


def test_socks5h_means_socks5_which_resolves_names_at_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5h://socks.test:1080")
    assert chosen(WSS) == "socks5://socks.test:1080"


def test_cgi_programs_ignore_upper_case_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As urllib: under CGI, HTTP_PROXY may come from a request's Proxy header."""
    monkeypatch.setenv("REQUEST_METHOD", "GET")
    monkeypatch.setenv("HTTP_PROXY", "http://from-a-request-header.test:3128")
    assert chosen(WS) is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", WSS, True),
        ("ws.example.test", WSS, True),
        ("example.test", WSS, True),
        (".example.test", WSS, True),
        ("*.example.test", WSS, True),
        ("EXAMPLE.TEST", WSS, True),
        ("other.test, example.test", WSS, True),
        ("ample.test", WSS, False),
        ("other.test", WSS, False),
        ("ws.example.test:443", WSS, True),
        ("ws.example.test:8443", WSS, False),
        ("api.example.test:443", HTTPS, True),
        ("localhost,*", WSS, False),
        ("127.0.0.1", "ws://127.0.0.1:6001/app/k", True),
        ("10.0.0.0/8", "wss://10.1.2.3:443/app/k", True),
        ("10.0.0.0/8", "wss://11.1.2.3:443/app/k", False),
        ("::1", "ws://[::1]:6001/app/k", True),
        ("[::1]", "ws://[::1]:6001/app/k", True),
        ("[::1]:6001", "ws://[::1]:6001/app/k", True),
        ("[::1]:80", "ws://[::1]:6001/app/k", False),
        ("", WSS, False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, bypassed: bool) -> None:
    assert no_proxy_matches(url, no_proxy) is bypassed


def test_no_proxy_sends_a_host_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("no_proxy", "example.test")
    route = proxy_route(WSS, proxy=None, trust_env=True)
    assert route.url is None
    assert route.source == "NO_PROXY"
    assert chosen("wss://ws.elsewhere.test:443/app/k") == "http://proxy.test:3128"


def test_trust_env_false_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("ALL_PROXY", "socks5://socks.test:1080")
    assert chosen(WSS, trust_env=False) is None
    assert chosen(HTTP, trust_env=False) is None


def test_the_proxy_option_always_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "*")
    for trust_env in (True, False):
        assert chosen(WSS, proxy="socks5://mine.test:1080", trust_env=trust_env) == (
            "socks5://mine.test:1080"
        )
    assert chosen(WS, proxy="mine.test:3128") == "http://mine.test:3128"


def test_a_route_shows_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret@proxy.test:3128")
    route = proxy_route(WSS, proxy=None, trust_env=True)
    assert route.url == "http://user:s3cret@proxy.test:3128"
    for shown in (repr(route), str(route), route.describe()):
        assert "s3cret" not in shown
        assert "proxy.test:3128" in shown
    assert "HTTPS_PROXY" in route.describe()


# --------------------------------------------------------------- at init()


def parse(**options: Any) -> Any:
    return parse_options({"api_key": "k", "cluster": "eu", **options})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HTTPS_PROXY", "ftp://user:s3cret@proxy.test:21", "HTTPS_PROXY"),
        ("https_proxy", "http://user:s3cret@proxy.test:99999", "HTTPS_PROXY"),
        ("ALL_PROXY", "socks5://user:s3cret@proxy.test", "ALL_PROXY"),
    ],
)
def test_an_unusable_proxy_in_the_environment_is_refused_at_init(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """Connecting directly instead would bypass the proxy the environment asks for."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(PusherConfigError, match=message) as caught:
        parse()
    assert "s3cret" not in str(caught.value)
    assert "trust_env=False" in str(caught.value)
    parse(trust_env=False)
    parse(proxy="http://proxy.test:3128")


def test_an_environment_proxy_is_checked_for_the_auth_endpoint_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks4://proxy.test:1080")
    parse()  # the WebSocket alone can go through SOCKS4
    with pytest.raises(PusherConfigError, match="socks4"):
        parse(auth_endpoint="https://api.example.test/auth")
    parse(auth_endpoint="http://api.example.test/auth")  # HTTP_PROXY: none
    monkeypatch.setenv("NO_PROXY", "api.example.test")
    parse(auth_endpoint="https://api.example.test/auth")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trust_env": "no"}, "trust_env"),
        ({"trust_env": 0}, "trust_env"),
        ({"max_handshake_redirects": -1}, "max_handshake_redirects"),
        ({"max_handshake_redirects": 1.5}, "max_handshake_redirects"),
        ({"max_handshake_redirects": True}, "max_handshake_redirects"),
    ],
)
def test_the_network_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PusherConfigError, match=message):
        parse(**options)


def test_the_network_options_defaults_and_init() -> None:
    options = parse()
    assert options.trust_env is True
    assert options.max_handshake_redirects == 0
    client = PusherChannelsClient(
        api_key="k", cluster="eu", trust_env=False, max_handshake_redirects=2
    )
    accepted = client._options
    assert accepted is not None
    assert (accepted.trust_env, accepted.max_handshake_redirects) == (False, 2)
