"""The command line: the parser, and the client options from the arguments and the
environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any, Final

from .._version import __version__
from ..exceptions import PusherConfigError
from ..options import parse_options
from ..protocol.channels import channel_kind, validate_channel_name
from .commands import Listen, Members, Trigger
from .constants import (
    DEFAULT_TRIGGER_TIMEOUT,
    ENV_CLUSTER,
    ENV_HEADERS,
    ENV_HOST,
    ENV_KEY,
    ENV_PORT,
    PROG,
)

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
    listen.set_defaults(command_class=Listen, parser=listen)

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
    trigger.set_defaults(command_class=Trigger, parser=trigger)

    members = commands.add_parser(
        "members",
        parents=[output, common],
        help="show a presence channel's live member list",
        description="Subscribe to a presence channel and print its member list once "
        'subscribed and after every join or leave. With --json: {"channel", "me", '
        '"members": [{"user_id", "user_info"}, ...]} per line.',
    )
    members.add_argument("channel", metavar="CHANNEL", help="a presence- channel")
    members.set_defaults(command_class=Members, parser=members)
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


def check_channels(names: Sequence[str], options: dict[str, Any]) -> list[str]:
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
