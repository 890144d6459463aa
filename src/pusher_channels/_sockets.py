"""The socket lifecycle: connection attempts with an identity, one live at a time.

Each :class:`~pusher_channels.protocol.actions.OpenSocket` becomes an
:class:`Attempt`. An attempt is the sink of its own socket and passes on what the
socket reports only while it is the current one: the moment the core asks for a new
socket, a close or an abort, the previous attempt is *superseded* (its task
cancelled, its TCP connection closed, its socket aborted) and nothing it reports
reaches the core again. A late handshake can therefore never become the live socket.

Messages, the hot path, are passed on without a test per message: while an attempt
is current its ``text_received`` *is* the runtime's, and the moment it ends (in
the same step that clears ``live``) it becomes a function that ignores them.

The lifecycle also applies flow control to whichever socket is current: a socket
opened while consumers hold the flow is paused as soon as its connection is
established.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote, urlsplit

import picows

from . import _transport
from ._redaction import REDACTED, redact_url
from ._transport import Transport

__all__ = ["Attempt", "SocketEvents", "SocketLifecycle"]

logger = logging.getLogger("pusher_channels")


class SocketEvents(Protocol):
    """What the lifecycle reports about the current socket (the runtime)."""

    def socket_opened(self) -> None:
        """The current attempt's handshake finished."""

    def text_received(self, payload: bytes | memoryview) -> None:
        """The current socket delivered a text message."""

    def binary_received(self, size: int) -> None:
        """The current socket delivered a binary message."""

    def socket_closed(self, code: int | None, reason: str) -> None:
        """The current socket is gone."""

    def socket_open_failed(self, reason: str, certificate: bool, fatal: bool) -> None:
        """The current attempt could not open its socket; ``certificate``: because
        the server's TLS certificate did not verify; ``fatal``: no retry can work."""


def _ignore_text(payload: bytes | memoryview) -> None:
    """What a socket's messages go to once its attempt has ended."""


class Attempt:
    """One connection attempt: the sink of its socket while it is current."""

    __slots__ = ("_events", "_lifecycle", "live", "number", "task", "text_received", "transport")

    def __init__(self, number: int, lifecycle: SocketLifecycle, events: SocketEvents) -> None:
        self.number = number
        """The attempt's identity: 1 for the client's first, counting up."""
        self.live = True
        """Whether this is the current attempt; once ``False``, never again (set
        only by :meth:`end`)."""
        self.transport: Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self._lifecycle = lifecycle
        self._events = events
        self.text_received: Callable[[bytes | memoryview], None] = events.text_received
        """A message from the socket, the hot path: the runtime's own method while
        the attempt is current, no call in between; :func:`_ignore_text` once it
        has ended."""

    def end(self) -> None:
        """This attempt is no longer the current one: from now on its socket's
        reports go nowhere (the socket may still hand over frames it has read)."""
        self.live = False
        self.text_received = _ignore_text

    def opened(self, transport: Transport) -> None:
        """The handshake finished: adopt the socket, unless superseded meanwhile."""
        if not self.live:
            transport.abort()
            return
        self.transport = transport
        self._events.socket_opened()

    def binary_received(self, size: int) -> None:
        """A binary message: passed on while current."""
        if self.live:
            self._events.binary_received(size)

    def closed(self, code: int | None, reason: str) -> None:
        """The socket ended: passed on while current."""
        if self.live:
            self.end()
            if self._lifecycle.current is self:
                self._lifecycle.current = None
            self._events.socket_closed(code, reason)

    def supersede(self) -> None:
        """End this attempt for good: cancel its task, drop its socket, go silent."""
        self.end()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.transport is not None:
            self.transport.abort()

    def __repr__(self) -> str:
        return f"<Attempt {self.number} {'live' if self.live else 'superseded'}>"


class SocketLifecycle:
    """Opens, closes and aborts sockets for the runtime; at most one is current."""

    __slots__ = (
        "_attempts",
        "_ending",
        "_events",
        "_handshake_timeout",
        "_loop",
        "_max_redirects",
        "_proxy",
        "_reading_held",
        "_receive_buffer",
        "_ssl_context",
        "current",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        events: SocketEvents,
        *,
        ssl_context: ssl.SSLContext | None,
        proxy: str | None,
        handshake_timeout: float,
        max_redirects: int = 0,
        receive_buffer: int | None = None,
    ) -> None:
        self._loop = loop
        self._events = events
        self._ssl_context = ssl_context
        self._proxy = proxy
        self._handshake_timeout = handshake_timeout
        self._max_redirects = max_redirects
        self._receive_buffer = receive_buffer
        self._attempts = 0
        # The tasks of superseded attempts not finished yet; None when there are none
        # (an empty set would cost 216 bytes on every idle connection). The current
        # attempt's task is its own (``attempt.task``) until it is superseded.
        self._ending: set[asyncio.Task[None]] | None = None
        self._reading_held = False
        self.current: Attempt | None = None
        """The attempt whose socket the core is talking to, if any."""

    # ---------------------------------------------------------------- actions

    def open(self, url: str) -> None:
        """Start a new attempt, superseding any previous one."""
        self.abort()
        self._attempts += 1
        attempt = Attempt(self._attempts, self, self._events)
        self.current = attempt
        attempt.task = self._loop.create_task(
            self._open(attempt, url), name=f"pusher_channels connect {attempt.number}"
        )

    def send(self, payload: bytes) -> None:
        """Send on the current socket (nothing happens without one)."""
        attempt = self.current
        if attempt is not None and attempt.transport is not None:
            attempt.transport.send(payload)

    def close(self, code: int, reason: str) -> bool:
        """Close the current socket politely; ``False`` if it was not open yet.

        An attempt still opening is superseded instead (there is nobody to be
        polite to), and the caller reports the socket as closed.
        """
        attempt = self.current
        if attempt is None:
            return True
        if attempt.transport is None:
            self.abort()
            return False
        attempt.transport.close(code, reason)
        return True

    def abort(self) -> None:
        """Drop the current attempt at once; it reports nothing more."""
        attempt, self.current = self.current, None
        if attempt is not None:
            attempt.supersede()
            task = attempt.task
            if task is not None and not task.done():
                # Superseded while opening: settle() waits for its task to end.
                if self._ending is None:
                    self._ending = set()
                self._ending.add(task)
                task.add_done_callback(self._task_ended)

    async def settle(self) -> None:
        """Wait until every superseded attempt's task has ended."""
        while True:
            current = self.current.task if self.current is not None else None
            ending = {task for task in self._ending or () if task is not current}
            if not ending:
                return
            await asyncio.wait(ending)

    # ----------------------------------------------------------- flow control

    def hold_reading(self) -> None:
        """Stop reading the current socket, and every socket established later."""
        self._reading_held = True
        transport = self.current.transport if self.current is not None else None
        if transport is not None:
            transport.pause_reading()

    def release_reading(self) -> None:
        """Read the current socket again."""
        self._reading_held = False
        transport = self.current.transport if self.current is not None else None
        if transport is not None:
            transport.resume_reading()

    def connection_established(self) -> None:
        """The current socket is connected: pause it if the flow is held."""
        if self._reading_held:
            self.hold_reading()

    # -------------------------------------------------------------- internals

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if self._ending is not None:
            self._ending.discard(task)
            if not self._ending:
                self._ending = None

    async def _open(self, attempt: Attempt, url: str) -> None:
        try:
            await _transport.connect_websocket(
                attempt,
                url,
                ssl_context=self._ssl_context,
                proxy=self._proxy,
                handshake_timeout=self._handshake_timeout,
                max_redirects=self._max_redirects,
                receive_buffer=self._receive_buffer,
            )
        except asyncio.CancelledError:
            if attempt.live:  # cancelled from outside (the loop is closing)
                raise
        except Exception as exc:
            if not attempt.live:
                return
            attempt.end()
            if self.current is attempt:
                self.current = None
            reason = self._describe_failure(exc)
            logger.info("connection attempt %d failed: %s", attempt.number, reason)
            # A port seen to speak WebSocket without TLS: trying TLS again cannot work.
            fatal = isinstance(exc, _transport.NotTLSError) and exc.certain
            self._events.socket_open_failed(
                reason, certificate=isinstance(exc, ssl.SSLCertVerificationError), fatal=fatal
            )
        finally:
            attempt.task = None  # done: an idle connection keeps no finished task

    def _describe_failure(self, exc: Exception) -> str:
        """Why an attempt failed, in one line that shows no proxy password."""
        if isinstance(exc, _transport.NotTLSError):
            return _without_password(str(exc), self._proxy)  # says it all
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        response = getattr(exc, "response", None)
        if isinstance(exc, picows.WSError) and response is not None:
            location = response.headers.get("Location")
            if 300 <= response.status < 400 and location:
                reason += (
                    f" (a redirect to {redact_url(location)}; max_handshake_redirects="
                    f"{self._max_redirects} allows "
                    + ("none" if self._max_redirects == 0 else "no more")
                    + ")"
                )
        return _without_password(reason, self._proxy)


def _without_password(text: str, proxy: str | None) -> str:
    """``text`` with the proxy's URL and password (as typed or decoded) redacted.

    The errors of the proxy libraries do not show them today; this holds if one
    ever does, since the reason reaches ``on_error``, logs and exceptions. A
    password shorter than 4 characters is only redacted within the URL, so as not
    to blank out every digit of a message.
    """
    if proxy is None:
        return text
    try:
        password = urlsplit(proxy).password
    except ValueError:
        return text
    if not password:
        return text
    text = text.replace(proxy, redact_url(proxy))
    for shown in (password, unquote(password)):
        if len(shown) >= 4:
            text = text.replace(shown, REDACTED)
    return text
