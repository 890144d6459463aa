"""The three commands (listen, trigger, members) and what they share: connecting,
failing with a one-line reason, stopping cleanly on a signal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from ..callbacks import CallbackKeywords
from ..client import PusherChannelsClient
from ..exceptions import ClientEventError, PusherConnectionError, PusherError
from ..options import build_url, parse_options
from ..protocol.actions import ConnectionState
from ..protocol.channels import ChannelKind, channel_kind
from ..protocol.messages import CLIENT_EVENT_PREFIX, PusherEvent, PusherMember
from .constants import DISCONNECT_TIMEOUT, EXIT_FAILURE, EXIT_OK
from .output import Output, decoded, printable


class RuleError(Exception):
    """The arguments are well formed but break a Pusher rule: exit 1 with the reason."""


class Command:
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
        signals = install_signal_handlers(loop, self._on_signal)
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
            self.finish(EXIT_FAILURE, f"cannot connect to {self.url}: {error_text(error)}")

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
            self.error_reason = error_text(error)
        else:
            self.out.warn(error_text(error))

    def on_subscription_error(self, message: str, error: PusherError) -> None:
        """Any channel that cannot be subscribed (authorization included) ends the command."""
        self.finish(EXIT_FAILURE, error_text(error))


def error_text(error: BaseException) -> str:
    if isinstance(error, PusherError):
        text = error.message
        if error.code is not None and str(error.code) not in text:
            text += f" (code {error.code})"
        return text
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def install_signal_handlers(
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


class Listen(Command):
    """``listen``: every event of the channels on stdout."""

    def channel_names(self) -> list[str]:
        return list(self.args.channels)

    def callbacks(self) -> CallbackKeywords:
        return {
            **super().callbacks(),
            "on_event": self.on_event,
            "on_subscription_succeeded": self.on_subscribed,
            "on_member_added": lambda name, member: self.out.note(
                f"member joined: {name} {member_text(member)}"
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
        data = decoded(event)
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
            out.style(printable(event.channel_name), "channel"),
            out.style(printable(event.event_name), "event"),
            printable(text),
        ]
        if event.user_id is not None:
            parts.append(out.style(f"(user {printable(event.user_id)})", "user"))
        out.line(" ".join(parts))


class Trigger(Command):
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
        self.data = parse_data(self.args.data)

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


def parse_data(text: str) -> Any:
    """DATA as the JSON value it spells, or else the string itself."""
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError:
        return text


class Members(Command):
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
        self.out.note(f"member joined: {channel_name} {member_text(member)}")
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
            out.style(printable(channel.channel_name), "channel")
            + f": {count} member{'' if count == 1 else 's'}"
        ]
        for member in members:
            text = "  " + out.style(printable(member.user_id), "bold")
            if member.user_info is not None:
                text += "  " + printable(json.dumps(member.user_info, ensure_ascii=False))
            if member.user_id == me:
                text += "  " + out.style("(you)", "dim")
            lines.append(text)
        out.line("\n".join(lines))


def member_text(member: PusherMember) -> str:
    if member.user_info is None:
        return member.user_id
    return f"{member.user_id} {json.dumps(member.user_info, ensure_ascii=False)}"
