"""What the command prints: events and member lists on stdout, its own lines on stderr."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from typing import Any, Final, TextIO

from ..protocol.actions import ConnectionState
from ..protocol.messages import PusherEvent
from .constants import PROG


def wants_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def printable(text: str) -> str:
    """Escape control characters, so that remote data cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def decoded(event: PusherEvent) -> Any:
    """The event's data decoded from JSON, or as it came when it is not JSON."""
    try:
        return event.json()
    except ValueError:
        return event.data


class Output:
    """Lines for stdout (events, member lists) and stderr (the command's own lines)."""

    _STYLES: Final = {
        "dim": "2",
        "bold": "1",
        "channel": "36",
        "event": "1;33",
        "user": "35",
        "good": "32",
        "warn": "33",
        "error": "1;31",
    }

    def __init__(self, json_mode: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.json_mode = json_mode
        self.stdout = stdout
        self.stderr = stderr
        self.colour_out = not json_mode and wants_colour(stdout)
        self.colour_err = wants_colour(stderr)
        self.on_closed: Callable[[], None] | None = None
        self._closed = False
        if isinstance(stdout, io.TextIOWrapper):
            if json_mode:
                stdout.reconfigure(encoding="utf-8", errors="strict")
            else:
                stdout.reconfigure(errors="backslashreplace")
        if isinstance(stderr, io.TextIOWrapper):
            stderr.reconfigure(errors="backslashreplace")

    def style(self, text: str, style: str, *, err: bool = False) -> str:
        """``text`` in a colour, when that stream shows colours."""
        if not (self.colour_err if err else self.colour_out):
            return text
        return f"\x1b[{self._STYLES[style]}m{text}\x1b[0m"

    def line(self, text: str) -> None:
        """One line on stdout, flushed; a closed pipe (``| head``) ends the command."""
        if self._closed:
            return
        try:
            self.stdout.write(text + "\n")
            self.stdout.flush()
        except BrokenPipeError:
            self._closed = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stdout.fileno())  # nothing to flush at exit
            if self.on_closed is not None:
                self.on_closed()

    def json_line(self, value: Any) -> None:
        """One compact JSON object on stdout."""
        self.line(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def note(self, text: str) -> None:
        """A status line on stderr."""
        self._err(self.style(printable(text), "dim", err=True))

    def state(self, current: ConnectionState, reason: str | None) -> None:
        """A connection state line on stderr."""
        style = {
            ConnectionState.CONNECTED: "good",
            ConnectionState.RECONNECTING: "warn",
        }.get(current, "dim")
        text = self.style(f"connection: {current.value}", style, err=True)
        if reason:
            text += self.style(f" ({printable(reason)})", "dim", err=True)
        self._err(text)

    def warn(self, text: str) -> None:
        """A warning line on stderr."""
        self._err(self.style(f"{PROG}: warning: ", "warn", err=True) + printable(text))

    def error(self, text: str) -> None:
        """The one-line reason of a failure, on stderr."""
        self._err(self.style(f"{PROG}: error: ", "error", err=True) + printable(text))

    def _err(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stderr.write(text + "\n")
            self.stderr.flush()
