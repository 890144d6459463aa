"""What may carry a secret is shown without it: URLs' passwords and query strings,
header values, and the signatures and user data in the frames logged at DEBUG."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pusher_channels
from pusher_channels._redaction import (
    REDACTED,
    UrlRedaction,
    hide_from_http_logs,
    redact_frame,
    redact_headers,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:s3cret@proxy:3128", "http://user:***@proxy:3128"),
        ("socks5://token@proxy:1080", "socks5://***@proxy:1080"),
        ("https://api.example.com/auth?token=abc&x=1", "https://api.example.com/auth?***"),
        ("https://api.example.com/pusher/auth", "https://api.example.com/pusher/auth"),
        ("http://u:p@h:1/p?q=1#frag", "http://u:***@h:1/p?***"),
        (None, "None"),
    ],
)
def test_urls_lose_their_passwords_and_query_strings(url: str | None, shown: str) -> None:
    assert redact_url(url) == shown


def test_an_unparsable_url_is_redacted_whole() -> None:
    assert redact_url("http://[::1") == "***"


def test_header_values_are_redacted_but_harmless_ones() -> None:
    headers = {"Authorization": "Bearer abc", "X-Api-Key": "k", "Content-Type": "text/plain"}
    assert redact_headers(headers) == {
        "Authorization": "***",
        "X-Api-Key": "***",
        "Content-Type": "text/plain",
    }
    make = lambda: headers  # noqa: E731
    assert redact_headers(make) is make


# ------------------------------------------------- URLs in log records, parsed

TOKEN = "qtok-6b1e0d2f"
"""A token in an auth endpoint's query string: it must not reach httpx's INFO line."""


class Capture(logging.Handler):
    """Keeps every record that reaches it, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


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


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("http://localhost:8080/{unique}/auth?token={token}", id="as-given"),
        pytest.param("http://LOCALHOST:8080/{unique}/auth?token={token}", id="upper-case-host"),
        pytest.param("http://Api.Example.COM/{unique}/auth?token={token}", id="mixed-case-host"),
        pytest.param("http://localhost:80/{unique}/auth?token={token}", id="default-http-port"),
        pytest.param("https://localhost:443/{unique}/auth?token={token}", id="default-https-port"),
        pytest.param("HTTP://localhost:8080/{unique}/auth?token={token}", id="upper-case-scheme"),
        pytest.param("http://localhost:8080/{unique}/auth?token={token} é", id="encoded-query"),
        pytest.param('http://localhost:8080/{unique}/auth?token="{token}"', id="encoded-quotes"),
        pytest.param("http://localhost:8080/{unique}/./x/../auth?token={token}", id="dot-segments"),
        pytest.param("http://localhost:8080/{unique}/%61uth?token={token}", id="encoded-path"),
        pytest.param("http://localhost:8080/{unique}/the auth?token={token}", id="path-to-encode"),
        pytest.param("http://bücher.example/{unique}/auth?token={token}", id="idna-host"),
        pytest.param("http://user:{token}@localhost:8080/{unique}/auth", id="password"),
        pytest.param(
            "http://localhost:8080/{unique}/auth?other=1&token={token}", id="second-param"
        ),
    ],
)
async def test_httpx_never_logs_an_endpoint_token_however_it_spells_the_url(
    endpoint: str, capture: Capture
) -> None:
    """httpx logs each request's URL at INFO as it normalised it (host in lower case,
    default port dropped, query percent-encoded): the endpoint is recognised by its
    parsed URL, whatever the spelling. (Each case has a path of its own: the
    endpoints registered by other cases do not count.)"""
    endpoint = endpoint.format(unique=uuid.uuid4().hex, token=TOKEN)
    hide_from_http_logs(endpoint)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport) as http:
        await http.post(endpoint, data={"socket_id": "1.2"})
    [line] = [line for line in capture.lines if line.startswith("httpx ")]
    assert "HTTP Request: POST" in line
    assert TOKEN not in line
    assert REDACTED in line


async def test_httpx_lines_of_other_urls_are_left_alone(capture: Capture) -> None:
    """The application's own requests (another path, host or port) keep their query."""
    hide_from_http_logs(f"http://localhost:8080/pusher/auth?token={TOKEN}")
    hide_from_http_logs(f"http://localhost:8080/search/?token={TOKEN}")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport) as http:
        for url in (
            "http://localhost:8080/search?page=2",
            "http://localhost:8081/pusher/auth?page=2",
            "http://elsewhere/pusher/auth?page=2",
            "https://localhost:8080/pusher/auth?page=2",
        ):
            await http.get(url)
    shown = [line for line in capture.lines if line.startswith("httpx ")]
    assert len(shown) == 4
    assert all("?page=2" in line for line in shown), shown


@pytest.mark.parametrize(
    "logger_name", ["pusher_channels", "pusher_channels.frames", "pusher_channels.websocket"]
)
def test_the_library_loggers_show_no_query_value_nor_password_of_any_url(
    logger_name: str, capture: Capture
) -> None:
    logger = logging.getLogger(logger_name)
    logger.warning(
        "to %s via %s (%s)",
        f"https://Api.Example.com:443/x?token={TOKEN}",
        f"http://user:{TOKEN}@proxy:3128",
        {"url": f"wss://ws.example/app/k?sig={TOKEN}"},
    )
    [line] = capture.lines
    assert TOKEN not in line
    assert "https://Api.Example.com:443/x?***" in line
    assert "http://user:***@proxy:3128" in line


def test_every_logger_of_the_library_redacts_urls() -> None:
    """Each logger the source names is one the redaction is installed on."""
    source = Path(pusher_channels.__file__).parent
    named = {
        match
        for path in source.rglob("*.py")
        if "testing" not in path.relative_to(source).parts
        for match in re.findall(r'getLogger\("([^"]+)"\)', path.read_text("utf-8"))
    }
    library = {name for name in named if name.startswith("pusher_channels")}
    assert library >= {"pusher_channels", "pusher_channels.frames"}
    for name in library:
        assert any(
            isinstance(installed, UrlRedaction) for installed in logging.getLogger(name).filters
        ), name


# ------------------------------------------------------- frames shown at DEBUG

SIGNATURE = "4f9e3b2a1c0d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"


@pytest.mark.parametrize(
    ("frame", "shown"),
    [
        pytest.param(
            b'{"event":"pusher:subscribe","data":{"auth":"app-key:' + SIGNATURE.encode() + b'",'
            b'"channel":"private-a"}}',
            b'{"event":"pusher:subscribe","data":{"auth":"app-key:***","channel":"private-a"}}',
            id="subscribe-private",
        ),
        pytest.param(
            b'{"event":"pusher:subscribe","data":{"auth":"app-key:' + SIGNATURE.encode() + b'",'
            b'"channel_data":"{\\"user_id\\":\\"u-1\\"}","channel":"presence-a"}}',
            b'{"event":"pusher:subscribe","data":{"auth":"app-key:***",'
            b'"channel_data":"{\\"user_id\\":\\"u-1\\"}","channel":"presence-a"}}',
            id="subscribe-presence",
        ),
        pytest.param(
            b'{"event":"pusher:signin","data":{"auth":"app-key:' + SIGNATURE.encode() + b'",'
            b'"user_data":"{\\"id\\":\\"u-1\\",\\"user_info\\":{\\"e\\":\\"a\\\\\\"b\\"}}"}}',
            b'{"event":"pusher:signin","data":{"auth":"app-key:***","user_data":"***"}}',
            id="signin",
        ),
        pytest.param(
            b'{"event":"pusher:signin_success","data":"{\\"user_data\\":'
            b'\\"{\\\\\\"id\\\\\\":\\\\\\"u-1\\\\\\"}\\"}"}',
            b'{"event":"pusher:signin_success","data":"{\\"user_data\\":\\"***\\"}"}',
            id="signin-success-data-as-string",
        ),
        pytest.param(
            b'{ "event" : "pusher:subscribe", "data" : { "auth" : "'
            + SIGNATURE.encode()
            + b'" } }',
            b'{ "event" : "pusher:subscribe", "data" : { "auth" : "***" } }',
            id="spaced",
        ),
        pytest.param(  # cut short by the log's size limit: hidden to the end
            b'{"event":"pusher:signin","data":{"user_data":"{\\"id\\":\\"u-1\\",\\"inf',
            b'{"event":"pusher:signin","data":{"user_data":"***',
            id="cut-short",
        ),
        pytest.param(
            b'{"event":"e","channel":"c","data":"{\\"author\\":\\"x\\",\\"auth\\":null}"}',
            b'{"event":"e","channel":"c","data":"{\\"author\\":\\"x\\",\\"auth\\":null}"}',
            id="no-secret-value",
        ),
        pytest.param(
            b'{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\"}"}',
            b'{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\"}"}',
            id="no-secret-key",
        ),
    ],
)
def test_frames_are_shown_without_signatures_nor_user_data(frame: bytes, shown: bytes) -> None:
    assert redact_frame(frame) == shown
    assert SIGNATURE.encode() not in redact_frame(frame)
