"""The public waits of one client, and the rule that they all end.

``connect()`` waits for CONNECTED, ``signin()`` for the server's answer, a
``connect()`` during DISCONNECTING for the disconnection to finish,
``wait_subscribed()`` for a channel's subscription. Each wait is a future registered
here; the runtime resolves them as the core reports, and when the client is
disconnected every one of them ends: the connects and the subscription waits with
the reason, the sign-ins with a :class:`~pusher_channels.exceptions.SigninError`,
the waits for the disconnection with success. No wait can outlive ``disconnect()``.

A subscription wait ends on the channel's success or final failure only: a failure
the client retries by itself is remembered, and told as the ``__cause__`` of the
:class:`~pusher_channels.exceptions.PusherTimeoutError` if the wait times out first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final

from .exceptions import (
    PusherConnectionError,
    PusherError,
    PusherTimeoutError,
    SigninError,
    SubscriptionError,
)
from .protocol.actions import SignedIn, SigninFailed

__all__ = ["Waits"]


_NO_SUBSCRIPTION_WAITS: Final[dict[str, list[asyncio.Future[None]]]] = {}
_NO_RETRIED_FAILURES: Final[dict[str, SubscriptionError]] = {}


class Waits:
    """Futures for the public calls that wait, by what they wait for."""

    __slots__ = ("_connected", "_disconnected", "_retried_failures", "_signed_in", "_subscribed")

    def __init__(self) -> None:
        # Each list of futures is made by the first wait of its kind and dropped when
        # settled: ``()`` while nobody waits (an idle connection keeps no list).
        self._connected: list[asyncio.Future[None]] | tuple[()] = ()
        self._disconnected: list[asyncio.Future[None]] | tuple[()] = ()
        self._signed_in: list[asyncio.Future[dict[str, Any]]] | tuple[()] = ()
        self._subscribed: dict[str, list[asyncio.Future[None]]] = _NO_SUBSCRIPTION_WAITS
        """Per channel, its waits (the shared empty dict, never written, until one)."""
        self._retried_failures: dict[str, SubscriptionError] = _NO_RETRIED_FAILURES
        """Per channel waited for, the last failure the client retries by itself
        (the shared empty dict, never written, until one)."""

    async def until_connected(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for CONNECTED; raise why the client was disconnected instead."""
        # As _registered() does, without a context manager: thousands of clients
        # may be connecting at once, each with this wait.
        waiters = self._connected
        if not waiters:
            waiters = self._connected = []
        future: asyncio.Future[None] = loop.create_future()
        waiters.append(future)
        try:
            await future
        finally:
            if future in waiters:
                waiters.remove(future)

    async def until_disconnected(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for the next DISCONNECTED (never raises)."""
        if not self._disconnected:
            self._disconnected = []
        with _registered(self._disconnected, loop) as future:
            await future

    async def until_subscribed(
        self,
        channel_name: str,
        loop: asyncio.AbstractEventLoop,
        timeout: float | None = None,
        retried_failure: SubscriptionError | None = None,
    ) -> None:
        """Wait for the channel's subscription; raise its final failure, or why it
        ended; after ``timeout`` seconds, a :class:`PusherTimeoutError` whose
        ``__cause__`` is the last failure retried meanwhile (``retried_failure``, the
        one being retried when the wait began, or a later one), if any.
        """
        if self._subscribed is _NO_SUBSCRIPTION_WAITS:
            self._subscribed = {}
        waiters = self._subscribed.setdefault(channel_name, [])
        if retried_failure is not None:
            self._remember_retried(channel_name, retried_failure)
        try:
            with _registered(waiters, loop) as future:
                async with asyncio.timeout(timeout) as deadline:
                    await future
        except TimeoutError:
            if not deadline.expired():
                raise
            cause = self._retried_failures.get(channel_name)
            message = f"{channel_name!r} not subscribed within {timeout:g} s"
            if cause is not None:
                message += f"; the last attempt failed: {cause.message}"
            raise PusherTimeoutError(message) from cause
        finally:
            if not waiters and self._subscribed.get(channel_name) is waiters:
                del self._subscribed[channel_name]
                self._retried_failures.pop(channel_name, None)

    def subscription_retrying(self, channel_name: str, error: SubscriptionError) -> None:
        """An attempt failed and the client tries again by itself: the channel's waits
        go on, and keep the failure to tell if they time out."""
        if channel_name in self._subscribed:
            self._remember_retried(channel_name, error)

    def _remember_retried(self, channel_name: str, error: SubscriptionError) -> None:
        if self._retried_failures is _NO_RETRIED_FAILURES:
            self._retried_failures = {}
        self._retried_failures[channel_name] = error

    def subscription_answered(self, channel_name: str, error: PusherError | None) -> None:
        """The channel's subscription succeeded (``error`` is ``None``) or failed for
        good (a failure retried by itself goes to :meth:`subscription_retrying`)."""
        self._retried_failures.pop(channel_name, None)
        for future in self._subscribed.pop(channel_name, ()):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def unsubscribed(self, channel_name: str) -> None:
        """The channel was unsubscribed: its waits end with a ``SubscriptionError``."""
        self.subscription_answered(
            channel_name,
            SubscriptionError("unsubscribed before the subscription succeeded", channel_name),
        )

    def signin_answer(
        self, loop: asyncio.AbstractEventLoop
    ) -> AbstractContextManager[asyncio.Future[dict[str, Any]]]:
        """A future for the sign-in's answer (the user data, or its error), registered
        at once, so that an answer given while the request is made is not missed."""
        if not self._signed_in:
            self._signed_in = []
        return _registered(self._signed_in, loop)

    def connected(self) -> None:
        """The client is connected: the connects are done."""
        _settle(self._connected, None)
        self._connected = ()

    def disconnected(self, why: PusherConnectionError) -> None:
        """The client is disconnected: end every wait."""
        connects, self._connected = self._connected, ()
        for future in connects:
            if not future.done():
                future.set_exception(why)
        _settle(self._disconnected, None)
        self._disconnected = ()
        signins, self._signed_in = self._signed_in, ()
        for waiter in signins:
            if not waiter.done():
                waiter.set_exception(SigninError("disconnect() was called before signing in"))
        subscriptions, self._subscribed = self._subscribed, _NO_SUBSCRIPTION_WAITS
        self._retried_failures = _NO_RETRIED_FAILURES
        for waiters in subscriptions.values():
            for future in waiters:
                if not future.done():
                    future.set_exception(why)

    def signin_answered(self, answer: SignedIn | SigninFailed) -> None:
        """The server (or the authenticator) answered the sign-in."""
        signins, self._signed_in = self._signed_in, ()
        for future in signins:
            if future.done():
                continue
            if isinstance(answer, SignedIn):
                future.set_result(answer.user_data)
            else:
                future.set_exception(answer.error)

    def forget(self) -> None:
        """Drop every wait: the event loop they belonged to has ended."""
        self._connected = ()
        self._disconnected = ()
        self._signed_in = ()
        self._subscribed = _NO_SUBSCRIPTION_WAITS
        self._retried_failures = _NO_RETRIED_FAILURES


@contextmanager
def _registered(
    waiters: list[asyncio.Future[Any]], loop: asyncio.AbstractEventLoop
) -> Iterator[asyncio.Future[Any]]:
    future: asyncio.Future[Any] = loop.create_future()
    waiters.append(future)
    try:
        yield future
    finally:
        if future in waiters:
            waiters.remove(future)


def _settle(futures: Iterable[asyncio.Future[None]], result: None) -> None:
    for future in futures:
        if not future.done():
            future.set_result(result)
