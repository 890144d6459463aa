"""The exceptions of pusher-channels: one tree, rooted at :class:`PusherError`.

::

    PusherError                      base of everything the library raises or reports
    ├── PusherConfigError            an option or argument is invalid (also a ValueError)
    ├── PusherConnectionError        the connection could not be made or was refused
    │   └── PusherTimeoutError       connect(timeout=...) expired (also a TimeoutError)
    ├── PusherProtocolError          the server sent a frame that is not valid Pusher protocol
    ├── SubscriptionError            a channel could not be subscribed
    │   └── AuthorizationError       the channel authorization (endpoint or callback) failed
    ├── SigninError                  user authentication (sign-in) failed
    ├── ClientEventError             a client event broke the rules and was not sent
    ├── SlowConsumerError            an events() iterator fell behind: events dropped
    └── CallbackError                a user callback raised; ``__cause__`` is its exception

Exceptions raised to callers are :class:`PusherConfigError`,
:class:`PusherConnectionError`, :class:`PusherTimeoutError` and
:class:`ClientEventError`. The others are passed to the ``on_error`` and
``on_subscription_error`` callbacks, as their ``error`` argument. No message of any
of them carries a secret (app secret, authorization signature or shared secret).
"""

from __future__ import annotations

__all__ = [
    "AuthorizationError",
    "CallbackError",
    "ClientEventError",
    "PusherConfigError",
    "PusherConnectionError",
    "PusherError",
    "PusherProtocolError",
    "PusherTimeoutError",
    "SigninError",
    "SlowConsumerError",
    "SubscriptionError",
]


class PusherError(Exception):
    """Base of every exception raised or reported by pusher-channels.

    ``code`` is the Pusher protocol error or close code (e.g. 4001) when there is one.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PusherConfigError(PusherError, ValueError):
    """An option or argument is invalid: raised at once, before anything is sent."""


class PusherConnectionError(PusherError):
    """The connection could not be made, or the server refused it.

    ``code`` is the close code for a refusal (4000-4099, e.g. 4001 for an unknown
    app key); ``None`` when the cause was not a Pusher close code.
    """


class PusherTimeoutError(PusherConnectionError, TimeoutError):
    """A wait expired: ``connect(timeout=...)`` before the connection was
    established, or ``wait_subscribed(timeout=...)`` before the subscription (its
    ``__cause__`` is then the last failure the client was retrying, if any)."""


class PusherProtocolError(PusherError):
    """The server sent something that is not valid Pusher protocol.

    Reported to ``on_error``; the connection stays up.
    """


class SubscriptionError(PusherError):
    """A channel could not be subscribed.

    ``channel_name`` names the channel; ``status`` is the HTTP status (authorization
    endpoint) or the server's status, when known; ``code`` the server's error code.

    ``attempt`` counts the attempts to subscribe the channel on the current
    connection (1 for the first); ``retry_in`` is the number of seconds until the
    client tries again by itself, or ``None`` when it will not. Both are in the
    message of an attempt that is retried, or that was the last of its retries:
    ``"... (attempt 3, retrying in 2.0 s)"``.
    """

    def __init__(
        self,
        message: str,
        channel_name: str,
        *,
        code: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code)
        self.channel_name = channel_name
        self.status = status
        self.attempt = 1
        self.retry_in: float | None = None

    def _note_attempt(self, attempt: int, retry_in: float | None) -> None:
        """Record which attempt failed and when the next comes, in the message too."""
        self.attempt = attempt
        self.retry_in = retry_in
        if retry_in is not None:
            self.message = f"{self.message} (attempt {attempt}, retrying in {retry_in:.1f} s)"
        else:
            self.message = f"{self.message} (attempt {attempt}, no more retries on this connection)"
        self.args = (self.message,)


class AuthorizationError(SubscriptionError):
    """The channel authorization failed (endpoint error, timeout, bad response).

    ``retryable`` is true for failures that may pass by themselves (no answer, a
    timeout, HTTP 5xx or 429): the client retries those on its own, with backoff.
    """

    def __init__(
        self,
        message: str,
        channel_name: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, channel_name, code=code, status=status)
        self.retryable = retryable


class SigninError(PusherError):
    """User authentication failed: the endpoint or callback, or the server refused.

    ``status`` is the HTTP status of the user-authentication endpoint, when known.
    """

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message, code)
        self.status = status


class ClientEventError(PusherError):
    """A client event was refused before sending: wrong name, channel or state."""


class SlowConsumerError(PusherError):
    """An ``events()`` iterator's buffer is full: new events for it are dropped."""


class CallbackError(PusherError):
    """A user callback raised. The original exception is ``__cause__``."""
