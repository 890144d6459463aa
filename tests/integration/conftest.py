"""Fixtures of the integration tests: the real proxies (Debian's tinyproxy and
microsocks; a missing one fails the test, it is never skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.proxies import MicroSocks, TinyProxy


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[TinyProxy]:
    """tinyproxy on 127.0.0.1, logging every request it gets."""
    proxy = TinyProxy(tmp_path)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def microsocks(tmp_path: Path) -> Iterator[MicroSocks]:
    """microsocks on 127.0.0.1 with a user and password, logging where it connects."""
    proxy = MicroSocks(directory=tmp_path)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
