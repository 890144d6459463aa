"""The garbage collector in tests: where it runs, and what its finalizers did."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pusher_channels._delivery import Delivery


def record_stream_closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads on which a delivery closes a stream, in order."""
    threads: list[str] = []
    close_stream = Delivery.close_stream

    def recording(self: Delivery, *args: Any) -> None:
        threads.append(threading.current_thread().name)
        close_stream(self, *args)

    monkeypatch.setattr(Delivery, "close_stream", recording)
    return threads


@contextlib.contextmanager
def only_explicit_collections() -> Iterator[None]:
    """The garbage collector runs where the test runs it (``gc.collect()``), only."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
