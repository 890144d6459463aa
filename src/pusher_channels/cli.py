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
import contextlib
import fnmatch
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

from ._version import __version__
from .callbacks import CallbackKeywords
from .client import PusherChannelsClient
from .exceptions import ClientEventError, PusherConfigError, PusherConnectionError, PusherError
from .options import build_url, parse_options
from .protocol.actions import ConnectionState
from .protocol.channels import ChannelKind, channel_kind, validate_channel_name
from .protocol.messages import CLIENT_EVENT_PREFIX, PusherEvent, PusherMember

__all__ = ["build_parser", "main"]

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

_LIBRARY_LOGGER: Final = "pusher_channels"
"""The library logs why a socket could not be opened under this message, and only there."""

_EPILOG: Final = f"""\
environment:
  {ENV_KEY}, {ENV_CLUSTER}, {ENV_HOST}, {ENV_PORT} stand in for --key, --cluster,
  --host and --port; flags win. {ENV_HEADERS} holds headers for the auth
  endpoint, one "Name: value" a line (--header-file, then --header, win name by
  name). HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured.
  NO_COLOR turns colours off.

exit status:
  0 success (also after Ctrl-C, SIGINT or SIGTERM), 1 runtime failure (connection
  refused, authorization failed, client event refused), 2 usage error.

examples:
  {PROG} listen my-channel --key KEY --cluster eu
  {PROG} listen orders --host 127.0.0.1 --port 6001 --no-tls --key app-key | jq .data
  {PROG} listen private-chat --key KEY --cluster eu \\
      --auth-endpoint https://example.com/pusher/auth --header-file ~/.pusher-headers
  {PROG} trigger private-chat client-typing '{{"typing": true}}' --key KEY --cluster eu \\
      --auth-endpoint https://example.com/pusher/auth
  {PROG} members presence-room --key KEY --cluster eu --auth-endpoint URL --json
"""


class UsageError(Exception):
    """An argument is missing or invalid: exit 2 with the command's usage."""


class RuleError(Exception):
    """The arguments are well formed but break a Pusher rule: exit 1 with the reason."""


# --------------------------------------------------------------------- arguments


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', got {text!r}")
    return name, value.strip()


def _param(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"a parameter is 'name=value', got {text!r}")
    return name, value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pusher-channels`` and its three commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Listen to Pusher Channels, send client events, watch presence members.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")

    common = argparse.ArgumentParser(add_help=False)
    server = common.add_argument_group("server")
    server.add_argument("--key", metavar="KEY", help=f"the app key (or ${ENV_KEY})")
    where = server.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster", metavar="C", help=f"Pusher cluster such as eu or mt1 (or ${ENV_CLUSTER})"
    )
    where.add_argument(
        "--host", metavar="H", help=f"a self-hosted server such as soketi (or ${ENV_HOST})"
    )
    server.add_argument(
        "--port",
        metavar="P",
        type=_port,
        help=f"the server's port, with or without TLS (or ${ENV_PORT}; default 443, or 80 "
        "with --no-tls)",
    )
    server.add_argument(
        "--no-tls",
        dest="use_tls",
        action="store_false",
        help="connect with ws:// instead of wss://",
    )
    auth = common.add_argument_group("authorization (private and presence channels)")
    auth.add_argument(
        "--auth-endpoint", metavar="URL", help="the endpoint that authorizes channels"
    )
    auth.add_argument(
        "--header",
        metavar='"NAME: VALUE"',
        dest="headers",
        type=_header,
        action="append",
        default=[],
        help="an HTTP header sent to the auth endpoint (repeatable; visible in ps: "
        f"keep secrets in --header-file or ${ENV_HEADERS})",
    )
    auth.add_argument(
        "--header-file",
        metavar="PATH",
        help='headers for the auth endpoint from a file, one "Name: value" a line',
    )
    auth.add_argument(
        "--auth-param",
        metavar="NAME=VALUE",
        dest="auth_params",
        type=_param,
        action="append",
        default=[],
        help="a form field sent to the auth endpoint (repeatable)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's activity to stderr (-vv: also every frame)",
    )

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line (the default when stdout is not a terminal)",
    )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listen = commands.add_parser(
        "listen",
        parents=[output, common],
        help="subscribe to channels and print their events",
        description="Subscribe to channels and print every event, one per line, until "
        "interrupted. With --json (or when stdout is not a terminal) each line is "
        '{"channel", "event", "data", "user_id"}, with data decoded from JSON when it is '
        "JSON. Connection states and presence joins and leaves go to stderr.",
    )
    listen.add_argument("channels", metavar="CHANNEL", nargs="+", help="channels to listen to")
    listen.add_argument(
        "--event",
        metavar="NAME",
        dest="events",
        action="append",
        default=[],
        help="print only events with this name; shell wildcards allowed (repeatable)",
    )
    listen.set_defaults(command_class=_Listen, parser=listen)

    trigger = commands.add_parser(
        "trigger",
        parents=[common],
        help="send one client event and exit",
        description="Subscribe to a private or presence channel, send one client event "
        "(its name starts with client-), disconnect and exit.",
    )
    trigger.add_argument("channel", metavar="CHANNEL", help="a private- or presence- channel")
    trigger.add_argument("event", metavar="EVENT", help="the event name, client-...")
    trigger.add_argument(
        "data",
        metavar="DATA",
        help="the data: sent as JSON if it parses as JSON, else as a string; - reads stdin",
    )
    trigger.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TRIGGER_TIMEOUT,
        help="give up if not subscribed within this time (default %(default)g)",
    )
    trigger.set_defaults(command_class=_Trigger, parser=trigger)

    members = commands.add_parser(
        "members",
        parents=[output, common],
        help="show a presence channel's live member list",
        description="Subscribe to a presence channel and print its member list once "
        'subscribed and after every join or leave. With --json: {"channel", "me", '
        '"members": [{"user_id", "user_info"}, ...]} per line.',
    )
    members.add_argument("channel", metavar="CHANNEL", help="a presence- channel")
    members.set_defaults(command_class=_Members, parser=members)
    return parser


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _headers(args: argparse.Namespace) -> dict[str, str]:
    """The auth endpoint's headers: ``$PUSHER_CHANNELS_HEADERS``, then
    ``--header-file``, then each ``--header``; a later one replaces an earlier one
    of the same name (whatever its case).

    Raises:
        UsageError: a line that is not ``Name: value`` (its value never shown), or
            a file that cannot be read.
    """
    by_name: dict[str, tuple[str, str]] = {}
    sources: list[list[tuple[str, str]]] = []
    environment = os.environ.get(ENV_HEADERS)
    if environment:
        sources.append(_header_lines(environment, f"${ENV_HEADERS}"))
    if args.header_file:
        try:
            with open(args.header_file, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"--header-file: cannot read {args.header_file}: {reason}") from None
        sources.append(_header_lines(text, args.header_file))
    sources.append(args.headers)
    for headers in sources:
        for name, value in headers:
            by_name[name.lower()] = (name, value)
    return dict(by_name.values())


def _header_lines(text: str, source: str) -> list[tuple[str, str]]:
    """``Name: value`` lines; blank lines and lines starting with ``#`` are skipped."""
    headers = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            headers.append(_header(line))
        except argparse.ArgumentTypeError:
            raise UsageError(
                f"{source}, line {number}: a header is 'Name: value' (the line is not "
                "shown: it may hold a secret)"
            ) from None
    return headers


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The client keywords for the parsed arguments, environment variables filling in.

    Raises:
        UsageError: no key, no cluster or host, a bad ``PUSHER_PORT``, or an option
            the library refuses.
    """
    key = args.key or _env(ENV_KEY)
    if not key:
        raise UsageError(f"the app key is required: give --key or set ${ENV_KEY}")
    options: dict[str, Any] = {"api_key": key, "use_tls": args.use_tls}
    if args.cluster:
        options["cluster"] = args.cluster
    elif args.host:
        options["host"] = args.host
    elif _env(ENV_HOST):
        options["host"] = _env(ENV_HOST)
    elif _env(ENV_CLUSTER):
        options["cluster"] = _env(ENV_CLUSTER)
    else:
        raise UsageError(
            f"say where the server is: give --cluster or --host (or set ${ENV_CLUSTER} "
            f"or ${ENV_HOST})"
        )
    port = args.port
    if port is None and _env(ENV_PORT):
        try:
            port = _port(str(_env(ENV_PORT)))
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"${ENV_PORT}: {exc}") from None
    if port is not None:
        options["ws_port"] = options["wss_port"] = port
    if args.auth_endpoint:
        options["auth_endpoint"] = args.auth_endpoint
        auth_params: dict[str, dict[str, str]] = {}
        headers = _headers(args)
        if headers:
            auth_params["headers"] = headers
        if args.auth_params:
            auth_params["params"] = dict(args.auth_params)
        if auth_params:
            options["auth_params"] = auth_params
    elif args.headers or args.auth_params or args.header_file:
        raise UsageError("--header, --header-file and --auth-param need --auth-endpoint")
    try:
        parse_options(options)
    except PusherConfigError as exc:
        raise UsageError(exc.message) from None
    return options


def _check_channels(names: Sequence[str], options: dict[str, Any]) -> list[str]:
    unique: list[str] = []
    for name in names:
        try:
            validate_channel_name(name)
        except PusherConfigError as exc:
            raise UsageError(exc.message) from None
        if channel_kind(name).needs_authorization and "auth_endpoint" not in options:
            raise UsageError(f"channel {name!r} needs authorization: give --auth-endpoint")
        if name not in unique:
            unique.append(name)
    return unique


# ------------------------------------------------------------------------ output


def _wants_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _printable(text: str) -> str:
    """Escape control characters, so that remote data cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _decoded(event: PusherEvent) -> Any:
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
        self.colour_out = not json_mode and _wants_colour(stdout)
        self.colour_err = _wants_colour(stderr)
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
        self._err(self.style(_printable(text), "dim", err=True))

    def state(self, current: ConnectionState, reason: str | None) -> None:
        """A connection state line on stderr."""
        style = {
            ConnectionState.CONNECTED: "good",
            ConnectionState.RECONNECTING: "warn",
        }.get(current, "dim")
        text = self.style(f"connection: {current.value}", style, err=True)
        if reason:
            text += self.style(f" ({_printable(reason)})", "dim", err=True)
        self._err(text)

    def warn(self, text: str) -> None:
        """A warning line on stderr."""
        self._err(self.style(f"{PROG}: warning: ", "warn", err=True) + _printable(text))

    def error(self, text: str) -> None:
        """The one-line reason of a failure, on stderr."""
        self._err(self.style(f"{PROG}: error: ", "error", err=True) + _printable(text))

    def _err(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stderr.write(text + "\n")
            self.stderr.flush()


# ---------------------------------------------------------------------- commands


class _Command:
    """What every command shares: connecting, failing with a reason, stopping cleanly."""

    def __init__(self, args: argparse.Namespace, options: dict[str, Any], output: Output) -> None:
        self.args = args
        self.options = options
        self.out = output
        self.url = build_url(parse_options(options)).partition("?")[0]
        self.client: PusherChannelsClient | None = None
        self.finished: asyncio.Future[int] | None = None
        self.connected_once = False
        self.stopping = False
        self.interrupted = False
        self.error_reason: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self.failure: str | None = None
        output.on_closed = lambda: self.finish(EXIT_OK)

    @staticmethod
    def check(args: argparse.Namespace) -> None:
        """Check the command's rules before connecting.

        Raises:
            RuleError: the arguments break a Pusher rule.
        """

    def read_input(self) -> None:
        """Read what the command needs before the event loop starts.

        Blocking reads belong here: inside the running loop they would stop it, and
        with it the heartbeat and the signal handlers.
        """

    def channel_names(self) -> list[str]:
        """The channels to subscribe to."""
        raise NotImplementedError

    def callbacks(self) -> CallbackKeywords:
        """The client callbacks; commands add theirs."""
        return {
            "on_connection_state_change": self.on_state_change,
            "on_error": self.on_error,
            "on_subscription_error": self.on_subscription_error,
            "on_decryption_failure": lambda name, reason: self.out.warn(
                f"event {name!r} skipped: {reason}"
            ),
        }

    async def work(self, client: PusherChannelsClient) -> int:
        """The command's job once subscribing has started; by default, wait until done."""
        assert self.finished is not None
        return await self.finished

    def finish(self, code: int, message: str | None = None) -> None:
        """End the command with ``code``; the first call wins."""
        if self.finished is None or self.finished.done():
            return
        self.failure = message
        self.stopping = True
        self.finished.set_result(code)

    async def run(self) -> int:
        """Connect, subscribe, do the work, disconnect; return the exit code."""
        loop = asyncio.get_running_loop()
        self.finished = loop.create_future()
        self._task = asyncio.current_task()
        signals = _install_signal_handlers(loop, self._on_signal)
        try:
            client = self.client = PusherChannelsClient(**self.options, **self.callbacks())
            for name in self.channel_names():
                await client.subscribe(name)
            connecting = loop.create_task(client.connect(), name="pusher-channels connect")
            connecting.add_done_callback(self._connect_done)
            try:
                return await self.work(client)
            finally:
                self.stopping = True
                with contextlib.suppress(TimeoutError, PusherError):
                    async with asyncio.timeout(DISCONNECT_TIMEOUT):
                        await client.disconnect()
                if not connecting.done():
                    connecting.cancel()
                await asyncio.wait([connecting], timeout=1.0)
                if self.failure:
                    self.out.error(self.failure)  # the last line on stderr
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    def _on_signal(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.finish(EXIT_OK)
            return
        if self._task is not None:  # a second signal: stop waiting for the disconnect
            self._task.cancel()

    def _connect_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not self.stopping:
            self.finish(EXIT_FAILURE, f"cannot connect to {self.url}: {_message(error)}")

    def _take_reason(self) -> str | None:
        reason, self.error_reason = self.error_reason, None
        return reason

    def on_state_change(self, current: ConnectionState, previous: ConnectionState) -> None:
        """Report the state on stderr; fail when the connection cannot be made or is refused."""
        reason = None
        if current is ConnectionState.CONNECTED:
            self.connected_once = True
            self.error_reason = None
        elif current in (ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED):
            reason = self._take_reason()
        if self.stopping:
            self.out.state(current, reason)
            return
        if current is ConnectionState.RECONNECTING and not self.connected_once:
            if reason and reason.startswith("cannot connect: "):
                reason = reason.removeprefix("cannot connect: ")
            self.finish(
                EXIT_FAILURE,
                f"cannot connect to {self.url}: {reason or 'the connection attempt failed'}",
            )
        elif current is ConnectionState.DISCONNECTED and self.connected_once:
            self.finish(EXIT_FAILURE, f"disconnected from {self.url}: {reason or 'gave up'}")
        elif current is ConnectionState.DISCONNECTED:
            self.out.state(current, None)  # the connect() failure gives the reason
        else:
            self.out.state(current, reason)

    def on_error(self, message: str, code: int | None, error: PusherError) -> None:
        """Keep connection problems for the state lines; show other errors as warnings."""
        if isinstance(error, PusherConnectionError) or (code is not None and 4000 <= code < 4300):
            self.error_reason = _message(error)
        else:
            self.out.warn(_message(error))

    def on_subscription_error(self, message: str, error: PusherError) -> None:
        """Any channel that cannot be subscribed (authorization included) ends the command."""
        self.finish(EXIT_FAILURE, _message(error))


def _message(error: BaseException) -> str:
    if isinstance(error, PusherError):
        text = error.message
        if error.code is not None and str(error.code) not in text:
            text += f" (code {error.code})"
        return text
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
) -> list[int]:
    installed: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, handler)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or Windows: KeyboardInterrupt still exits 0
        installed.append(signum)
    return installed


class _Listen(_Command):
    """``listen``: every event of the channels on stdout."""

    def channel_names(self) -> list[str]:
        return list(self.args.channels)

    def callbacks(self) -> CallbackKeywords:
        return {
            **super().callbacks(),
            "on_event": self.on_event,
            "on_subscription_succeeded": self.on_subscribed,
            "on_member_added": lambda name, member: self.out.note(
                f"member joined: {name} {_member_text(member)}"
            ),
            "on_member_removed": lambda name, member: self.out.note(
                f"member left: {name} {member.user_id}"
            ),
        }

    def on_subscribed(self, channel_name: str, data: Any) -> None:
        """Note the subscription on stderr (with the member count of a presence channel)."""
        text = f"subscribed: {channel_name}"
        channel = self.client.get_channel(channel_name) if self.client else None
        if channel is not None and channel.kind is ChannelKind.PRESENCE:
            count = len(channel.members)
            text += f" ({count} member{'' if count == 1 else 's'})"
        self.out.note(text)

    def on_event(self, event: PusherEvent) -> None:
        """Print one event, unless ``--event`` filters it out."""
        patterns: list[str] = self.args.events
        if patterns and not any(fnmatch.fnmatchcase(event.event_name, p) for p in patterns):
            return
        data = _decoded(event)
        if self.out.json_mode:
            self.out.json_line(
                {
                    "channel": event.channel_name,
                    "event": event.event_name,
                    "data": data,
                    "user_id": event.user_id,
                }
            )
            return
        out = self.out
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        parts = [
            out.style(time.strftime("%H:%M:%S"), "dim"),
            out.style(_printable(event.channel_name), "channel"),
            out.style(_printable(event.event_name), "event"),
            _printable(text),
        ]
        if event.user_id is not None:
            parts.append(out.style(f"(user {_printable(event.user_id)})", "user"))
        out.line(" ".join(parts))


class _Trigger(_Command):
    """``trigger``: one client event, then disconnect."""

    def __init__(self, args: argparse.Namespace, options: dict[str, Any], output: Output) -> None:
        super().__init__(args, options, output)
        self.subscribed: asyncio.Future[None] | None = None
        self.data: Any = None

    @staticmethod
    def check(args: argparse.Namespace) -> None:
        """The rules for client events, before connecting.

        Raises:
            RuleError: the event name does not start with ``client-`` or the channel
                is not a private or presence channel.
        """
        if not args.event.startswith(CLIENT_EVENT_PREFIX):
            raise RuleError(f"client event names must start with 'client-': {args.event!r}")
        kind = channel_kind(args.channel)
        if kind is ChannelKind.PRIVATE_ENCRYPTED:
            raise RuleError("client events are not supported on encrypted channels")
        if kind is ChannelKind.PUBLIC:
            raise RuleError(
                f"client events need a private or presence channel, not {args.channel!r}"
            )

    def read_input(self) -> None:
        """The event's data, from stdin for ``-`` (read to its end before connecting)."""
        self.data = _parse_data(self.args.data)

    def channel_names(self) -> list[str]:
        return [self.args.channel]

    def callbacks(self) -> CallbackKeywords:
        self.subscribed = asyncio.get_running_loop().create_future()
        return {**super().callbacks(), "on_subscription_succeeded": self.on_subscribed}

    def on_subscribed(self, channel_name: str, data: Any) -> None:
        """The channel is ready for client events."""
        if self.subscribed is not None and not self.subscribed.done():
            self.subscribed.set_result(None)

    async def work(self, client: PusherChannelsClient) -> int:
        assert self.finished is not None
        assert self.subscribed is not None
        timeout: float = self.args.timeout
        waiting: list[asyncio.Future[Any]] = [self.finished, self.subscribed]
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self.finished.done():
            return self.finished.result()
        if not done:
            self.finish(
                EXIT_FAILURE,
                f"not subscribed to {self.args.channel!r} within {timeout:g} s",
            )
            return EXIT_FAILURE
        try:
            await client.trigger(PusherEvent(self.args.channel, self.args.event, self.data))
        except ClientEventError as exc:
            self.finish(EXIT_FAILURE, exc.message)
            return EXIT_FAILURE
        self.out.note(f"sent: {self.args.event} on {self.args.channel}")
        self.finish(EXIT_OK)
        return EXIT_OK


def _parse_data(text: str) -> Any:
    """DATA as the JSON value it spells, or else the string itself."""
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Members(_Command):
    """``members``: a presence channel's member list, again after every change."""

    @staticmethod
    def check(args: argparse.Namespace) -> None:
        """Only presence channels have members.

        Raises:
            RuleError: the channel is not a ``presence-`` channel.
        """
        if channel_kind(args.channel) is not ChannelKind.PRESENCE:
            raise RuleError(
                f"members needs a presence channel (presence-...), not {args.channel!r}"
            )

    def channel_names(self) -> list[str]:
        return [self.args.channel]

    def callbacks(self) -> CallbackKeywords:
        return {
            **super().callbacks(),
            "on_subscription_succeeded": self.on_subscribed,
            "on_member_added": self.on_member_added,
            "on_member_removed": self.on_member_removed,
        }

    def on_subscribed(self, channel_name: str, data: Any) -> None:
        """Note the subscription, then show the list."""
        self.out.note(f"subscribed: {channel_name}")
        self.show()

    def on_member_added(self, channel_name: str, member: PusherMember) -> None:
        """Note the join, then show the list."""
        self.out.note(f"member joined: {channel_name} {_member_text(member)}")
        self.show()

    def on_member_removed(self, channel_name: str, member: PusherMember) -> None:
        """Note the leave, then show the list."""
        self.out.note(f"member left: {channel_name} {member.user_id}")
        self.show()

    def show(self) -> None:
        """Print the member list as it is now."""
        channel = self.client.get_channel(self.args.channel) if self.client else None
        if channel is None:
            return
        members = list(channel.members.values())
        me = channel.me.user_id if channel.me is not None else None
        out = self.out
        if out.json_mode:
            out.json_line(
                {
                    "channel": channel.channel_name,
                    "me": me,
                    "members": [{"user_id": m.user_id, "user_info": m.user_info} for m in members],
                }
            )
            return
        count = len(members)
        lines = [
            out.style(_printable(channel.channel_name), "channel")
            + f": {count} member{'' if count == 1 else 's'}"
        ]
        for member in members:
            text = "  " + out.style(_printable(member.user_id), "bold")
            if member.user_info is not None:
                text += "  " + _printable(json.dumps(member.user_info, ensure_ascii=False))
            if member.user_id == me:
                text += "  " + out.style("(you)", "dim")
            lines.append(text)
        out.line("\n".join(lines))


def _member_text(member: PusherMember) -> str:
    if member.user_info is None:
        return member.user_id
    return f"{member.user_id} {json.dumps(member.user_info, ensure_ascii=False)}"


# -------------------------------------------------------------------------- main


def _configure_logging(verbosity: int) -> Callable[[], None]:
    """Library logs on stderr only with ``-v``; return what undoes the set-up."""
    loggers = [logging.getLogger(_LIBRARY_LOGGER), logging.getLogger("httpx")]
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
        args.channels = _check_channels(names, options)
    except UsageError as exc:
        command_parser.error(str(exc))
    json_mode = bool(getattr(args, "json", False)) or not _is_terminal(sys.stdout)
    output = Output(json_mode, sys.stdout, sys.stderr)
    command_class: type[_Command] = args.command_class
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
