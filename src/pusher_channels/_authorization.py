"""Authorization and sign-in requests: one task each, bounded, cancelled on close.

The core asks for an authorization (:class:`AuthorizeChannel`) or a user
authentication (:class:`AuthenticateUser`); this module runs the authorizer with
``auth_timeout``, turns every way it can end (answer, refusal, timeout, exception)
into one answer for the runtime, and cancels whatever is still running when the
client disconnects. An answer always carries the socket id it was asked for, so
the core discards answers for an earlier connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol

from .exceptions import AuthorizationError, SigninError
from .protocol.actions import AuthenticateUser, AuthorizeChannel

__all__ = ["Authorizations", "Authorizer", "UserAuthenticator"]

Authorizer = Callable[[str, str], Awaitable[dict[str, Any]]]
"""``(channel_name, socket_id) -> {"auth", "channel_data"?, "shared_secret"?: bytes}``."""
UserAuthenticator = Callable[[str], Awaitable[dict[str, str]]]
"""``(socket_id) -> {"auth", "user_data"}``."""


_LOCAL_OS_ERRORS: Final = (
    PermissionError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    ProcessLookupError,
    ChildProcessError,
)
"""The ``OSError``s of this machine's files, permissions and processes: waiting does
not mend them (a ``PermissionError`` raised by an authorizer is its refusal)."""


def _may_pass(exc: Exception) -> bool:
    """Whether an authorizer's exception may pass by itself: a network failure
    (``ConnectionError``, ``TimeoutError``, ``socket.gaierror`` or any other
    ``OSError`` of the network), not a refusal nor a local error."""
    return isinstance(exc, OSError) and not isinstance(exc, _LOCAL_OS_ERRORS)


class AuthorizationAnswers(Protocol):
    """Where the answers go (the runtime, which feeds them to the core)."""

    def channel_authorized(self, request: AuthorizeChannel, auth: dict[str, Any]) -> None:
        """The authorizer answered."""

    def channel_authorization_failed(
        self, request: AuthorizeChannel, error: AuthorizationError
    ) -> None:
        """The authorizer failed (``error.retryable`` tells whether to try again)."""

    def user_authenticated(self, socket_id: str, answer: dict[str, str]) -> None:
        """The user authenticator answered."""

    def user_authentication_failed(self, socket_id: str, error: SigninError) -> None:
        """The user authenticator failed."""


class Authorizations:
    """Runs the authorizer and the user authenticator for the runtime."""

    __slots__ = ("_answers", "_authorizer", "_loop", "_tasks", "_timeout", "_user_authenticator")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        answers: AuthorizationAnswers,
        authorizer: Authorizer | None,
        user_authenticator: UserAuthenticator | None,
        timeout: float,
    ) -> None:
        self._loop = loop
        self._answers = answers
        self._authorizer = authorizer
        self._user_authenticator = user_authenticator
        self._timeout = timeout
        # Requests under way; None when there are none (an empty set would cost 216
        # bytes on every idle connection).
        self._tasks: set[asyncio.Task[None]] | None = None

    def authorize(self, request: AuthorizeChannel) -> None:
        """Fetch an authorization for a channel."""
        if self._authorizer is None:
            self._answers.channel_authorization_failed(
                request,
                AuthorizationError(
                    f"channel {request.channel_name!r} needs authorization: "
                    "give auth_endpoint=, on_authorizer= or secret=",
                    request.channel_name,
                ),
            )
            return
        self._start(self._authorize(self._authorizer, request))

    def authenticate_user(self, request: AuthenticateUser) -> None:
        """Fetch a user authentication for the sign-in."""
        if self._user_authenticator is None:
            self._answers.user_authentication_failed(
                request.socket_id,
                SigninError(
                    "signin() needs user_auth_endpoint=, on_user_authenticator= or secret="
                ),
            )
            return
        self._start(self._authenticate_user(self._user_authenticator, request.socket_id))

    async def cancel_all(self) -> None:
        """Cancel every request under way and wait until they have ended."""
        tasks = set(self._tasks or ())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def aclose(self, superseded: Callable[[], bool] = lambda: False) -> None:
        """Cancel what runs and release the HTTP pools (they belong to this loop).

        ``superseded()`` tells whether a new connection has begun meanwhile (at any
        await here): its authorizations use the pools, which then stay open for it.
        An authenticator's ``aclose()`` takes its pool and batches at once, so that
        what begins later gets new ones.
        """
        await self.cancel_all()
        for authenticator in (self._authorizer, self._user_authenticator):
            close = getattr(authenticator, "aclose", None)
            if close is not None and not superseded():
                await close()

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
            if not self._tasks:
                self._tasks = None

    async def _authorize(self, authorizer: Authorizer, request: AuthorizeChannel) -> None:
        name = request.channel_name
        try:
            async with asyncio.timeout(self._timeout):
                auth = await authorizer(name, request.socket_id)
        except AuthorizationError as exc:
            self._answers.channel_authorization_failed(request, exc)
        except TimeoutError:
            error = AuthorizationError(
                f"authorization of {name!r} timed out after {self._timeout:g} s",
                name,
                retryable=True,
            )
            self._answers.channel_authorization_failed(request, error)
        except asyncio.CancelledError as exc:
            if _cancelled_from_outside():
                raise  # disconnect(): nobody waits for the answer
            # The authorizer's own work was cancelled under it: a failure like a
            # timeout, not the end of the request (which would leave it unanswered).
            error = AuthorizationError(
                f"authorization of {name!r} failed: the authorizer raised CancelledError",
                name,
                retryable=True,
            )
            error.__cause__ = exc
            self._answers.channel_authorization_failed(request, error)
        except Exception as exc:
            error = AuthorizationError(
                f"authorization of {name!r} failed: {type(exc).__name__}: {exc}",
                name,
                # A network failure inside the callback may pass; a refusal will not.
                retryable=_may_pass(exc),
            )
            error.__cause__ = exc
            self._answers.channel_authorization_failed(request, error)
        else:
            self._answers.channel_authorized(request, auth)

    async def _authenticate_user(self, authenticator: UserAuthenticator, socket_id: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                answer = await authenticator(socket_id)
        except SigninError as exc:
            self._answers.user_authentication_failed(socket_id, exc)
        except TimeoutError:
            self._answers.user_authentication_failed(
                socket_id,
                SigninError(f"user authentication timed out after {self._timeout:g} s"),
            )
        except asyncio.CancelledError as exc:
            if _cancelled_from_outside():
                raise
            error = SigninError(
                "user authentication failed: the authenticator raised CancelledError"
            )
            error.__cause__ = exc
            self._answers.user_authentication_failed(socket_id, error)
        except Exception as exc:
            error = SigninError(f"user authentication failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            self._answers.user_authentication_failed(socket_id, error)
        else:
            self._answers.user_authenticated(socket_id, answer)


def _cancelled_from_outside() -> bool:
    """Whether the running task is being cancelled (rather than code it awaited
    raising ``CancelledError`` by itself)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
