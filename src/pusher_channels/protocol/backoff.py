"""Reconnection delays: capped exponential backoff with jitter.

The first ``quick_attempts`` consecutive failed attempts wait ``quick_delay``
seconds each: a server restart is usually over within a second or two, and coming
back quickly matters more than a few refused connections, which cost the server
nothing. After them, attempt ``n`` waits ``min(maximum, initial * 2 ** k)`` seconds,
``k`` counting from 0 after the quick ones. Every delay is scaled by a random factor
in ``[1 - jitter, 1]`` so that many clients dropped at once do not come back in
step. The random value comes in as an argument: the core has no hidden randomness.

A channel's authorization that failed in a way that may pass (see
:attr:`~pusher_channels.AuthorizationError.retryable`) is retried on the same
policy's cap and jitter: retry ``n`` waits ``min(maximum, 0.5 * 2 ** (n - 1))``
seconds, scaled the same way, for as long as the channel is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .close import CloseAction

__all__ = ["FIRST_AUTHORIZATION_RETRY", "Backoff"]

FIRST_AUTHORIZATION_RETRY: Final = 0.5
"""Seconds before the first retry of a failed channel authorization (before jitter)."""
_MAX_EXPONENT: Final = 30
"""Doublings beyond this change nothing (any cap is reached) and could overflow."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """The reconnection delay policy.

    Attributes:
        initial: the first delay after the quick attempts, in seconds.
        maximum: the cap on any delay (``max_reconnect_gap_in_seconds``).
        jitter: the fraction of the delay that is random, in ``[0, 1]``.
        quick_attempts: how many first attempts wait only ``quick_delay``.
        quick_delay: their delay, in seconds.
    """

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.5
    quick_attempts: int = 0
    quick_delay: float = 0.25

    def delay(self, attempt: int, action: CloseAction, random_value: float) -> float:
        """Seconds to wait before reconnection attempt number ``attempt`` (1-based).

        ``random_value`` is a number in ``[0, 1)``. ``RECONNECT_NOW`` waits 0 s on
        the first attempt (then backs off, so a server that keeps asking for an
        immediate reconnect cannot cause a busy loop); ``BACKOFF_AT_LEAST_1S``
        never waits less than one second; ``BACKOFF_SLOWLY`` skips the quick
        attempts and never waits less than one second either.
        """
        if action is CloseAction.RECONNECT_NOW and attempt <= 1:
            return 0.0
        if action is CloseAction.BACKOFF_SLOWLY:
            exponent = max(0, min(attempt - 1, _MAX_EXPONENT))
            base = min(self.maximum, self.initial * (2.0**exponent))
            return max(1.0, base * (1.0 - self.jitter * random_value))
        if attempt <= self.quick_attempts:
            base = min(self.maximum, self.quick_delay)
        else:
            exponent = max(0, min(attempt - 1 - self.quick_attempts, _MAX_EXPONENT))
            base = min(self.maximum, self.initial * (2.0**exponent))
        delay = base * (1.0 - self.jitter * random_value)
        if action is CloseAction.BACKOFF_AT_LEAST_1S:
            delay = max(1.0, delay)
        return delay

    def authorization_retry_delay(self, retry: int, random_value: float) -> float:
        """Seconds before authorization retry number ``retry`` (1-based) of a channel.

        :data:`FIRST_AUTHORIZATION_RETRY` doubling, capped at :attr:`maximum` (the
        longest wait between reconnection attempts), scaled by the same jitter;
        ``random_value`` is a number in ``[0, 1)``.
        """
        exponent = max(0, min(retry - 1, _MAX_EXPONENT))
        base = min(self.maximum, FIRST_AUTHORIZATION_RETRY * (2.0**exponent))
        return base * (1.0 - self.jitter * random_value)
