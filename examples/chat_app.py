"""Pusher Channels in the terminal: the Python twin of the Flutter client's example app.

A Textual application: fill in the API key and either a Pusher cluster or the host
and port of a self-hosted server (soketi, Laravel Reverb), optionally an
authorization endpoint (and the ``user`` form field it is sent, for presence
channels), the channel, then press Connect. The log shows every state change,
event, error and subscription result; the member list follows the presence
channel; the form at the bottom sends client events (``client-*``) on private and
presence channels.

Install the example's dependency and run it, e.g. against a local soketi::

    pip install -e ".[example]"
    python examples/chat_app.py --host 127.0.0.1 --port 6001 --key app-key --no-tls

Every command-line option only fills in a field; ``--connect`` also presses Connect.
The client runs on the application's own asyncio loop, so its callbacks update the
widgets directly.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    RichLog,
    Static,
)

from pusher_channels import (
    ConnectionState,
    PusherChannel,
    PusherChannelsClient,
    PusherError,
    PusherEvent,
    PusherMember,
)

__all__ = ["PusherApp", "Settings", "main", "parse_args"]


@dataclass
class Settings:
    """What the fields start with (from the command line)."""

    key: str = ""
    cluster: str = ""
    host: str = ""
    port: int | None = None
    tls: bool = True
    auth_endpoint: str = ""
    user: str = ""
    channel: str = "presence-chatbox"
    event_name: str = "client-message"
    event_data: str = '{"text": "hello"}'
    connect: bool = False


HELP = (
    "Give a cluster for Pusher, or the host and port of your own server. "
    "Private and presence channels need the auth URL. Enter in a field connects."
)

LOG_STYLES = {
    "state": "bold cyan",
    "event": "green",
    "error": "bold red",
    "subscribe": "magenta",
    "member": "yellow",
    "sent": "blue",
    "info": "dim",
}


class PusherApp(App[None]):
    """Connect to a channel, watch what happens, send client events."""

    TITLE = "Pusher Channels"
    SUB_TITLE = "DISCONNECTED"

    CSS = """
    #body { height: 1fr; }
    #settings {
        width: 40;
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
    }
    .field { height: 1; margin-bottom: 1; }
    .field Label { width: 10; color: $text-muted; }
    .field Input { width: 1fr; }
    #tls { margin-bottom: 1; }
    #connect { width: 100%; }
    #help { color: $text-muted; margin-top: 1; }
    #main { width: 1fr; }
    #log {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-background: $surface;
        border: round $secondary;
        border-title-color: $secondary;
    }
    #bottom { height: 9; }
    #members {
        width: 1fr;
        height: 100%;
        border: round $accent;
        border-title-color: $accent;
    }
    #send {
        width: 1fr;
        border: round $success;
        border-title-color: $success;
        padding: 0 1;
    }
    #send .field Label { width: 8; }
    #trigger { width: 100%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "clear_log", "Clear log"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.client: PusherChannelsClient | None = None
        self.channel: PusherChannel | None = None
        self.history: list[str] = []
        self._starting = False
        self._stopped_by_user = False
        """Every log line as plain text (``"state CONNECTING -> CONNECTED"``), in order."""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        s = self.settings
        yield Header(icon="●")
        with Horizontal(id="body"):
            with Vertical(id="settings") as settings:
                settings.border_title = "Connection"
                yield _field("API key", Input(s.key, id="key", placeholder="app key"))
                yield _field("Cluster", Input(s.cluster, id="cluster", placeholder="e.g. eu"))
                yield _field("Host", Input(s.host, id="host", placeholder="or a host"))
                port = "" if s.port is None else str(s.port)
                yield _field("Port", Input(port, id="port", type="integer", placeholder="443"))
                yield Checkbox("TLS (wss://)", s.tls, id="tls", compact=True)
                yield _field(
                    "Auth URL", Input(s.auth_endpoint, id="auth-endpoint", placeholder="optional")
                )
                yield _field("Auth user", Input(s.user, id="user", placeholder="optional"))
                yield _field("Channel", Input(s.channel, id="channel"))
                yield Button("Connect", id="connect", variant="primary")
                yield Static(HELP, id="help")
            with Vertical(id="main"):
                log = RichLog(id="log", wrap=True, markup=False, min_width=20, max_lines=2000)
                log.border_title = "Log"
                yield log
                with Horizontal(id="bottom"):
                    members: DataTable[str] = DataTable(id="members", cursor_type="none")
                    members.border_title = "Members"
                    yield members
                    with Vertical(id="send") as send:
                        send.border_title = "Trigger a client event"
                        yield _field("Event", Input(s.event_name, id="event-name"))
                        yield _field("Data", Input(s.event_data, id="event-data"))
                        yield Button("Trigger", id="trigger", variant="success")
        yield Footer()

    def on_mount(self) -> None:
        table = self.members_table
        table.add_column("user id", key="user_id")
        table.add_column("user info", key="user_info")
        self.log_line("info", "fill in the fields and press Connect")
        if self.settings.connect:
            self.start_connecting()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.disconnect()

    @property
    def members_table(self) -> DataTable[str]:
        """The presence member list."""
        table: DataTable[str] = self.query_one("#members", DataTable)
        return table

    def member_ids(self) -> list[str]:
        """The user ids shown in the member list, in order."""
        table = self.members_table
        return [str(key.value) for key in table.rows]

    def log_text(self) -> str:
        """What the log widget shows, as plain text."""
        return "\n".join(strip.text for strip in self.query_one("#log", RichLog).lines)

    # --------------------------------------------------------------------- log

    def log_line(self, kind: str, message: str) -> None:
        """Add a line to the log: the time, what kind of line, the message."""
        self.history.append(f"{kind} {message}")
        line = Text.assemble(
            (datetime.now().strftime("%H:%M:%S "), "dim"),
            (f"{kind:<10}", LOG_STYLES.get(kind, "")),
            message,
        )
        with suppress(NoMatches):  # the app is closing: the widgets are gone
            self.query_one("#log", RichLog).write(line)

    def action_clear_log(self) -> None:
        """Empty the log."""
        self.query_one("#log", RichLog).clear()

    # -------------------------------------------------------------- connection

    @property
    def idle(self) -> bool:
        """Whether there is no connection, nor one being made."""
        client = self.client
        return not self._starting and (
            client is None or client.connection_state is ConnectionState.DISCONNECTED
        )

    @on(Button.Pressed, "#connect")
    async def toggle_connection(self) -> None:
        """Connect when disconnected, else disconnect."""
        if self.idle:
            self.start_connecting()
        elif self.client is not None and not self._starting:
            self._stopped_by_user = True
            await self.client.disconnect()

    @on(Input.Submitted, "#settings Input")
    def submit_settings(self) -> None:
        """Enter in a connection field connects (when not connected)."""
        if self.idle:
            self.start_connecting()

    def client_options(self) -> dict[str, Any]:
        """The client's keywords, from the fields.

        Raises:
            ValueError: a required field is empty or the port is not a number.
        """

        def value(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        key = value("key")
        if not key:
            raise ValueError("the API key is required")
        tls = self.query_one("#tls", Checkbox).value
        options: dict[str, Any] = {"api_key": key, "use_tls": tls}
        host, cluster = value("host"), value("cluster")
        if host and cluster:
            raise ValueError("give a cluster or a host, not both")
        if host:
            options["host"] = host
        elif cluster:
            options["cluster"] = cluster
        else:
            raise ValueError("give a cluster, or the host of your server")
        if port := value("port"):
            try:
                options["wss_port" if tls else "ws_port"] = int(port)
            except ValueError:
                raise ValueError(f"the port is not a number: {port!r}") from None
        if endpoint := value("auth-endpoint"):
            options["auth_endpoint"] = endpoint
        if user := value("user"):
            options["auth_params"] = {"params": {"user": user}}
        return options

    def start_connecting(self) -> None:
        """Make a client from the fields, subscribe to the channel, and connect."""
        try:
            options = self.client_options()
        except ValueError as exc:
            self.log_line("error", str(exc))
            return
        channel_name = self.query_one("#channel", Input).value.strip()
        # Until the worker has started the client, presses of Connect are ignored.
        self._starting, self._stopped_by_user = True, False
        self.run_worker(self._connect(options, channel_name), group="connection")

    async def _connect(self, options: dict[str, Any], channel_name: str) -> None:
        self.clear_members()
        self.channel = None
        self._starting = False  # nothing below waits before connect() starts connecting
        try:
            client = PusherChannelsClient(
                **options,
                on_connection_state_change=self.on_state_change,
                on_event=self.on_pusher_event,
                on_error=self.on_pusher_error,
                on_subscription_succeeded=self.on_subscription_succeeded,
                on_subscription_error=self.on_subscription_error,
                on_member_added=self.on_member_added,
                on_member_removed=self.on_member_removed,
            )
            self.client = client
            if channel_name:
                self.channel = await client.subscribe(channel_name)
        except PusherError as exc:
            self.log_line("error", str(exc))
            return
        where = _describe(options)
        self.log_line("info", f"connecting to {where}")
        self.query_one("#connect", Button).label = "Disconnect"
        try:
            await client.connect()
        except PusherError as exc:
            if self._stopped_by_user:
                self.log_line("info", "stopped connecting")
            else:
                self.log_line("error", f"connect: {exc}")
            return
        self.log_line("info", f"socket id {await client.get_socket_id()}")

    # --------------------------------------------------------------- callbacks

    def on_state_change(self, current: ConnectionState, previous: ConnectionState) -> None:
        """Log the change; the button and the subtitle follow the state."""
        self.log_line("state", f"{previous} -> {current}")
        self.sub_title = str(current)
        with suppress(NoMatches):  # the app is closing: the widgets are gone
            button = self.query_one("#connect", Button)
            if current is ConnectionState.DISCONNECTED:
                button.label, button.variant = "Connect", "primary"
            else:
                button.label, button.variant = "Disconnect", "error"
        if current is not ConnectionState.CONNECTED:
            self.clear_members()

    def on_pusher_event(self, event: PusherEvent) -> None:
        """Log every event of every channel (not the member ones: they have their own)."""
        if event.event_name in ("pusher:member_added", "pusher:member_removed"):
            return
        if event.event_name == "pusher:subscription_succeeded":
            return
        sender = f" from {event.user_id}" if event.user_id is not None else ""
        data = event.data if event.data is not None else ""
        self.log_line("event", f"{event.channel_name} {event.event_name}{sender}: {data}")

    def on_pusher_error(self, message: str, code: int | None, error: object) -> None:
        """Log errors, with the code the server gave, if any."""
        self.log_line("error", message if code is None else f"{message} (code {code})")

    def on_subscription_succeeded(self, channel_name: str, data: Any) -> None:
        """Log the subscription and, for presence, fill the member list."""
        channel = self.client.get_channel(channel_name) if self.client else None
        if channel is not None and channel_name.startswith("presence-"):
            me = channel.me.user_id if channel.me else "?"
            count = len(channel.members)
            self.log_line("subscribe", f"{channel_name}: {count} member(s), you are {me}")
            self.refresh_members()
        else:
            self.log_line("subscribe", f"{channel_name}")

    def on_subscription_error(self, message: str, error: object) -> None:
        """Log a subscription that failed (authorization refused, ...)."""
        self.log_line("error", f"subscription failed: {message}")

    def on_member_added(self, channel_name: str, member: PusherMember) -> None:
        """Log the member and show it in the list."""
        info = _info(member)
        self.log_line(
            "member", f"{member.user_id} joined {channel_name}" + (f" ({info})" if info else "")
        )
        self.refresh_members()

    def on_member_removed(self, channel_name: str, member: PusherMember) -> None:
        """Log the member and take it off the list."""
        self.log_line("member", f"{member.user_id} left {channel_name}")
        self.refresh_members()

    # ----------------------------------------------------------------- members

    def clear_members(self) -> None:
        """Empty the member list."""
        with suppress(NoMatches):  # the app is closing: the widgets are gone
            self.members_table.clear()

    def refresh_members(self) -> None:
        """Show the channel's members, this connection's own marked "(you)"."""
        channel = self.channel
        try:
            table = self.members_table
        except NoMatches:  # the app is closing: the widgets are gone
            return
        table.clear()
        if channel is None:
            return
        me = channel.me.user_id if channel.me else None
        for user_id, member in sorted(channel.members.items()):
            label = f"{user_id} (you)" if user_id == me else user_id
            table.add_row(label, _info(member), key=user_id)

    # ----------------------------------------------------------- client events

    @on(Button.Pressed, "#trigger")
    @on(Input.Submitted, "#send Input")
    async def trigger_event(self) -> None:
        """Send the form's client event on the channel."""
        name = self.query_one("#event-name", Input).value.strip()
        raw = self.query_one("#event-data", Input).value
        try:
            data: Any = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            data = raw
        if not isinstance(data, dict | list | str):
            data = raw
        if self.channel is None:
            self.log_line("error", "connect to a channel first")
            return
        try:
            await self.channel.trigger(event_name=name, data=data)
        except PusherError as exc:
            self.log_line("error", f"trigger: {exc}")
            return
        shown = data if isinstance(data, str) else json.dumps(data)
        self.log_line("sent", f"{self.channel.channel_name} {name}: {shown}")


def _field(label: str, widget: Input) -> Horizontal:
    """A one-line row: a label and a compact input."""
    widget.compact = True
    return Horizontal(Label(label), widget, classes="field")


def _describe(options: dict[str, Any]) -> str:
    """Where the client connects, for the log: ``ws://127.0.0.1:6001``."""
    scheme = "wss" if options["use_tls"] else "ws"
    host = options.get("host") or f"ws-{options['cluster']}.pusher.com"
    port = options.get("wss_port" if options["use_tls"] else "ws_port")
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _info(member: PusherMember) -> str:
    info = member.user_info
    if info is None:
        return ""
    if isinstance(info, dict) and set(info) == {"name"}:
        return str(info["name"])
    return json.dumps(info)


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """The settings from the command line; every option fills in a field."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--key", default="", help="the app key")
    parser.add_argument("--cluster", default="", help="the Pusher cluster, e.g. eu")
    parser.add_argument("--host", default="", help="the server's host (instead of a cluster)")
    parser.add_argument("--port", type=int, default=None, help="the server's port")
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="connect with wss:// (default) or ws:// (--no-tls)",
    )
    parser.add_argument("--auth-endpoint", default="", help="the channel authorization URL")
    parser.add_argument("--user", default="", help="the 'user' form field sent to it")
    parser.add_argument("--channel", default=Settings.channel, help="the channel to subscribe")
    parser.add_argument("--event-name", default=Settings.event_name, help="client event name")
    parser.add_argument("--data", default=Settings.event_data, help="client event data (JSON)")
    parser.add_argument("--connect", action="store_true", help="connect at start")
    args = parser.parse_args(argv)
    return Settings(
        key=args.key,
        cluster=args.cluster,
        host=args.host,
        port=args.port,
        tls=args.tls,
        auth_endpoint=args.auth_endpoint,
        user=args.user,
        channel=args.channel,
        event_name=args.event_name,
        event_data=args.data,
        connect=args.connect,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the app with the command line's settings."""
    PusherApp(parse_args(argv)).run()


if __name__ == "__main__":
    main()
