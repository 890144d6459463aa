"""The typed surface, checked by mypy: options, callbacks and read-only types.

Two small programs are type-checked with ``mypy --strict`` against this checkout's
``src``: one that uses the API as documented must pass; in the other, each line that
follows a ``# E: <text>`` comment must be reported, with that text, and nothing else
may be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pusher_channels
from pusher_channels import ClientKeywords, OptionKeywords
from pusher_channels.callbacks import CallbackKeywords, ChannelCallbackKeywords
from pusher_channels.options import CALLBACK_NAMES, ClientOptions

SRC = Path(pusher_channels.__file__).resolve().parents[1]

WELL_TYPED = """
from typing import Any

from pusher_channels import (
    ConnectionState,
    OptionKeywords,
    PusherChannelsClient,
    PusherError,
    PusherEvent,
    PusherMember,
    SubscriptionError,
)
from pusher_channels import sync
from pusher_channels.callbacks import EventCallback


def on_event(event: PusherEvent) -> None:
    print(event.data)


async def on_event_later(event: PusherEvent) -> None:
    print(event.json())


def on_error(message: str, code: int | None, error: PusherError) -> None:
    print(message, code, error)


def on_subscription_error(message: str, error: PusherError) -> None:
    print(message, error)  # a wider type for the error is fine


async def on_authorizer(channel_name: str, socket_id: str, options: Any) -> dict[str, str]:
    return {"auth": "key:signature"}


def on_state(current: ConnectionState, previous: ConnectionState) -> None:
    print(current == "CONNECTED", previous)


options: OptionKeywords = {"api_key": "KEY", "cluster": "eu", "activity_timeout": 30}
handler: EventCallback = on_event
later = PusherChannelsClient()
client = PusherChannelsClient(
    **options,
    on_event=on_event,
    on_error=on_error,
    on_authorizer=on_authorizer,
    on_connection_state_change=on_state,
    on_subscription_error=on_subscription_error,
    on_member_added=lambda channel_name, member: print(channel_name, member.user_id),
    on_subscription_count=None,
)
blocking = sync.PusherChannelsClient(api_key="KEY", cluster="eu", on_event=print)
blocking.subscribe("my-channel", on_event=lambda event: print(event.event_name))


async def main() -> None:
    await later.init(
        api_key="KEY",
        host="127.0.0.1",
        ws_port=6001,
        use_tls=False,
        auth_params={"params": {"user": "ann"}, "headers": lambda: {"X-Token": "t"}},
        presence_channel_data=lambda channel_name: {"user_id": "1"},
        on_event=on_event_later,
    )
    channel = await client.subscribe(
        "presence-room",
        on_member_added=lambda member: print(member.user_info),
        on_subscription_error=lambda message, error: print(error.attempt, error.retry_in),
        on_subscription_succeeded=lambda data: print(data),
    )
    me: PusherMember | None = channel.me
    for user_id, member in channel.members.items():
        print(user_id.upper(), member.user_id, me)
    event = PusherEvent("private-x", "client-x", {"any": "json"})
    text: str | None = event.data
    failure: SubscriptionError | None = None
    print(text, failure)
"""

BADLY_TYPED = """
from pusher_channels import OptionKeywords, PusherChannelsClient, PusherEvent
from pusher_channels import sync


def on_error_too_few(message: str) -> None: ...


# E: Unexpected keyword argument "activty_timeout"
client = PusherChannelsClient(api_key="KEY", cluster="eu", activty_timeout=30)
# E: Unexpected keyword argument "clustr"
blocking = sync.PusherChannelsClient(api_key="KEY", clustr="eu")
# E: expected "bool"
PusherChannelsClient(api_key="KEY", cluster="eu", use_tls="yes")
# E: expected "int"
PusherChannelsClient(api_key="KEY", ws_port="6001")
# E: Argument "on_error" to "PusherChannelsClient" has incompatible type
PusherChannelsClient(api_key="KEY", on_error=on_error_too_few)
# E: Argument "on_event" to "PusherChannelsClient" has incompatible type
PusherChannelsClient(api_key="KEY", on_event=lambda: None)
# E: Extra key "clustr"
options: OptionKeywords = {"api_key": "KEY", "clustr": "eu"}


async def main(event: PusherEvent) -> None:
    # E: Argument "auth_transport" to "init"
    await client.init(api_key="KEY", cluster="eu", auth_transport="carrier-pigeon")
    # E: Argument "on_member_added" to "subscribe"
    channel = await client.subscribe("presence-room", on_member_added=lambda n, m: None)
    # E: Unsupported target for indexed assignment
    channel.members["x"] = channel.members["y"]
    # E: Property "data" defined in "PusherEvent" is read-only
    event.data = "changed"
    # E: Unexpected keyword argument "on_evnt"
    blocking.subscribe("my-channel", on_evnt=print)
"""


def mypy(tmp_path: Path, **files: str) -> list[str]:
    """Run ``mypy --strict`` on the given files against this checkout; return its lines."""
    paths = []
    for name, text in files.items():
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        paths.append(str(path))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            *paths,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(SRC)},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert not result.stderr.strip(), result.stderr
    return [line for line in result.stdout.splitlines() if ": note:" not in line]


def test_the_documented_uses_type_check_and_mistakes_are_type_errors(tmp_path: Path) -> None:
    lines = mypy(tmp_path, well_typed=WELL_TYPED, badly_typed=BADLY_TYPED)
    assert [line for line in lines if "well_typed.py" in line] == []
    reported: dict[int, str] = {}
    for line in lines:
        match = re.match(r".*badly_typed\.py:(\d+): error: (.*)", line)
        assert match is not None, f"unexpected mypy output: {line}"
        number = int(match.group(1))
        reported[number] = reported.get(number, "") + match.group(2)
    expected = {
        number + 1: marker.split("# E: ", 1)[1]
        for number, marker in enumerate(textwrap.dedent(BADLY_TYPED).lstrip().splitlines(), 1)
        if "# E: " in marker
    }
    assert set(reported) == set(expected), "\n".join(lines)
    for number, text in expected.items():
        assert text in reported[number], f"line {number}: {reported[number]}"


def test_the_typed_keywords_are_exactly_the_options_and_callbacks() -> None:
    options = set(ClientOptions.__dataclass_fields__) - {"callbacks"}
    assert set(OptionKeywords.__annotations__) == options
    assert set(CallbackKeywords.__annotations__) == set(CALLBACK_NAMES)
    assert set(ClientKeywords.__annotations__) == options | set(CALLBACK_NAMES)
    assert ClientKeywords.__required_keys__ == frozenset()  # PusherChannelsClient() works
    assert set(ChannelCallbackKeywords.__annotations__) == {
        "on_subscription_succeeded",
        "on_subscription_error",
        "on_member_added",
        "on_member_removed",
        "on_event",
        "on_subscription_count",
        "on_resubscribed",
    }
