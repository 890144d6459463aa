"""The command's names, exit codes, timeouts and environment variables."""

from __future__ import annotations

from typing import Final

PROG: Final = "pusher-channels"
EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
DISCONNECT_TIMEOUT: Final = 5.0
"""Seconds a clean disconnect may take on the way out before the command exits anyway."""
DEFAULT_TRIGGER_TIMEOUT: Final = 10.0

ENV_KEY: Final = "PUSHER_APP_KEY"
ENV_CLUSTER: Final = "PUSHER_CLUSTER"
ENV_HOST: Final = "PUSHER_HOST"
ENV_PORT: Final = "PUSHER_PORT"
ENV_HEADERS: Final = "PUSHER_CHANNELS_HEADERS"
"""Headers for the auth endpoint, one ``Name: value`` a line: off the command line,
which ``ps`` shows to every user of the machine."""

LIBRARY_LOGGER: Final = "pusher_channels"
"""The library logs why a socket could not be opened under this message, and only there."""
