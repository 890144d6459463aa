"""What may carry a secret is shown without it: URLs' passwords and query strings,
and header values."""

from __future__ import annotations

import pytest

from pusher_channels._redaction import redact_headers, redact_url


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
