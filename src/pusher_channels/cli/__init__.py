"""The ``pusher-channels`` command: listen to channels, send a client event, watch members.

::

    pusher-channels listen CHANNEL... --key KEY (--cluster C | --host H [--port P]) [...]
    pusher-channels trigger CHANNEL EVENT DATA --key KEY ...
    pusher-channels members CHANNEL --key KEY ...

Events go to stdout, one per line: JSON objects (``channel``, ``event``, ``data``,
``user_id``) with ``--json`` or whenever stdout is not a terminal, readable coloured
lines otherwise. Everything else (connection states, subscriptions, presence joins and
leaves, errors) goes to stderr, so stdout can be piped into ``jq``.

Exit codes: 0 success, also after Ctrl-C, SIGINT or SIGTERM once disconnected; 1 a
runtime failure (the connection refused or unreachable, an authorization failed, a
client event broke the rules), with a one-line reason on stderr; 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from .arguments import UsageError, build_parser, check_channels, client_options
from .commands import Command, RuleError
from .constants import EXIT_FAILURE, EXIT_OK, LIBRARY_LOGGER
from .output import Output

__all__ = ["build_parser", "main"]


def _configure_logging(verbosity: int) -> Callable[[], None]:
    """Library logs on stderr only with ``-v``; return what undoes the set-up."""
    loggers = [logging.getLogger(LIBRARY_LOGGER), logging.getLogger("httpx")]
    saved = [(logger, logger.level) for logger in loggers]
    handler: logging.Handler | None = None
    library = loggers[0]
    if verbosity:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        level = logging.DEBUG if verbosity > 1 else logging.INFO
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(level)
    else:
        # INFO records are made (so the reason of a failed attempt is known) but the
        # library's NullHandler shows none of them.
        library.setLevel(logging.INFO)

    def undo() -> None:
        for logger, level in saved:
            logger.setLevel(level)
            if handler is not None:
                logger.removeHandler(handler)

    return undo


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pusher-channels`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command_parser: argparse.ArgumentParser = args.parser
    try:
        options = client_options(args)
        names = args.channels if args.command == "listen" else [args.channel]
        args.channels = check_channels(names, options)
    except UsageError as exc:
        command_parser.error(str(exc))
    json_mode = bool(getattr(args, "json", False)) or not _is_terminal(sys.stdout)
    output = Output(json_mode, sys.stdout, sys.stderr)
    command_class: type[Command] = args.command_class
    try:
        command_class.check(args)
    except RuleError as exc:
        output.error(str(exc))
        return EXIT_FAILURE
    command = command_class(args, options, output)
    try:
        command.read_input()
    except KeyboardInterrupt:  # Ctrl-C while the data is typed: nothing is sent
        return EXIT_OK
    undo_logging = _configure_logging(args.verbose)
    try:
        return asyncio.run(command.run())
    except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C, or no handlers
        return EXIT_OK if command.failure is None else EXIT_FAILURE
    finally:
        undo_logging()


def _is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (readable lines), not a pipe or file (JSON)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
