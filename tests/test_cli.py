"""The ``pusher-channels`` command, run as a subprocess against a real soketi."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from devtools.auth_server import AuthServer, Failure
from devtools.soketi import SoketiServer, free_port

from pusher_channels import PusherChannelsClient, __version__
from tests.support.recorder import Recorder, wait_until

pytestmark = pytest.mark.timeout(30)

_names = itertools.count()
COMMAND = [sys.executable, "-m", "pusher_channels"]


def unique(prefix: str) -> str:
    """A channel name that no other test (or earlier run on the session's soketi) uses."""
    return f"{prefix}-cli-{next(_names)}-{os.getpid()}-{int(time.time() * 1000) % 100000}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any PUSHER_* or NO_COLOR of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_") and k != "NO_COLOR"}
    env.update(extra)
    return env


def server_flags(soketi: SoketiServer, auth: AuthServer | None = None) -> list[str]:
    """The flags that point the command at the session's soketi (and auth endpoint)."""
    flags = ["--key", soketi.key, "--host", "127.0.0.1", "--port", str(soketi.port), "--no-tls"]
    if auth is not None:
        flags += ["--auth-endpoint", auth.url]
    return flags


def run(args: Sequence[str], timeout: float = 10.0, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command to completion."""
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(**env),
        check=False,
    )


class Cli:
    """A long-running command, its stdout and stderr read line by line by two threads."""

    def __init__(self, args: Sequence[str], **env: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(**env),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds; fail (showing stderr) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; stderr: {self.stderr}")
            if self.process.poll() is not None and not condition():
                time.sleep(0.1)  # let the readers catch up with the last lines
                if not condition():
                    raise AssertionError(
                        f"exited with {self.process.returncode} before {what}; "
                        f"stderr: {self.stderr}"
                    )
            time.sleep(0.01)

    def wait_for_stderr(self, text: str, timeout: float = 10.0) -> None:
        """Wait for a stderr line containing ``text``."""
        self.wait_for(lambda: any(text in line for line in self.stderr), repr(text), timeout)

    def json_lines(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Wait for ``count`` stdout lines and decode each as JSON."""
        self.wait_for(lambda: len(self.stdout) >= count, f"{count} stdout lines", timeout)
        return [json.loads(line) for line in self.stdout[:count]]

    def stop(self, signum: int = signal.SIGINT, timeout: float = 5.0) -> tuple[int, float]:
        """Send ``signum``; return the exit code and the seconds it took to exit."""
        start = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=2)
        return code, time.monotonic() - start

    def finish(self, timeout: float = 10.0) -> int:
        """Wait for the command to exit by itself."""
        code = self.process.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=2)
        return code

    def kill(self) -> None:
        """Kill the process by its PID if it still runs."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@pytest.fixture
def cli() -> Iterator[Callable[..., Cli]]:
    """Start commands; every one still running at the end is killed by its PID."""
    started: list[Cli] = []

    def start(*args: str, **env: str) -> Cli:
        command = Cli(args, **env)
        started.append(command)
        return command

    try:
        yield start
    finally:
        for command in started:
            command.kill()


def error_lines(lines: Sequence[str]) -> list[str]:
    """The command's error lines."""
    return [line for line in lines if line.startswith("pusher-channels: error: ")]


# ----------------------------------------------------------------------- usage


def test_version_and_help_exit_0() -> None:
    version = run(["--version"])
    assert (version.returncode, version.stdout.strip()) == (0, f"pusher-channels {__version__}")
    top = run(["--help"])
    assert top.returncode == 0
    assert all(word in top.stdout for word in ("listen", "trigger", "members", "PUSHER_APP_KEY"))
    listen = run(["listen", "--help"])
    assert listen.returncode == 0
    assert all(flag in listen.stdout for flag in ("--json", "--event", "--header", "--no-tls"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "required"),
        (["shout"], "invalid choice"),
        (["listen"], "CHANNEL"),
        (["listen", "news", "--host", "127.0.0.1"], "PUSHER_APP_KEY"),
        (["listen", "news", "--key", "k"], "--cluster or --host"),
        (["listen", "news", "--key", "k", "--cluster", "eu", "--host", "h"], "not allowed"),
        (["listen", "news", "--key", "k", "--host", "h", "--port", "99999"], "port"),
        (["listen", "news", "--key", "k", "--host", "h", "--header", "no-colon"], "Name: value"),
        (["listen", "private-x", "--key", "k", "--host", "h"], "--auth-endpoint"),
        (["listen", "bad#name", "--key", "k", "--host", "h"], "characters"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run(args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "usage:" in result.stderr
    assert message in result.stderr


# ---------------------------------------------------------------------- listen


def test_listen_json_prints_events_and_exits_0_on_sigint(
    soketi: SoketiServer, cli: Callable[..., Cli]
) -> None:
    channel = unique("news")
    command = cli("listen", channel, "--json", *server_flags(soketi))
    command.wait_for_stderr(f"subscribed: {channel}")
    sdk = soketi.server_sdk()
    sdk.trigger(channel, "object", {"price": 12, "tags": ["a", "é"]})
    sdk.trigger(channel, "json-text", '{"nested": true}')
    sdk.trigger(channel, "plain", "not json at all")
    assert command.json_lines(3) == [
        {"channel": channel, "event": "object", "data": {"price": 12, "tags": ["a", "é"]},
         "user_id": None},
        {"channel": channel, "event": "json-text", "data": {"nested": True}, "user_id": None},
        {"channel": channel, "event": "plain", "data": "not json at all", "user_id": None},
    ]  # fmt: skip
    code, seconds = command.stop(signal.SIGINT)
    assert code == 0
    assert seconds < 3
    assert len(command.stdout) == 3
    assert "connection: CONNECTED" in command.stderr
    assert command.stderr[-1] == "connection: DISCONNECTED"
    assert error_lines(command.stderr) == []


def test_listen_on_a_pipe_prints_json_without_the_flag_and_filters_events(
    soketi: SoketiServer, cli: Callable[..., Cli]
) -> None:
    first, second = unique("a"), unique("b")
    command = cli(
        "listen", first, second, "--event", "keep", "--event", "also-*", *server_flags(soketi)
    )
    command.wait_for_stderr(f"subscribed: {first}")
    command.wait_for_stderr(f"subscribed: {second}")
    sdk = soketi.server_sdk()
    for channel, event in [(first, "drop"), (first, "keep"), (second, "also-this"), (second, "x")]:
        sdk.trigger(channel, event, {"n": 1})
    sdk.trigger(first, "keep", {"n": "last"})
    lines = command.json_lines(3)
    assert [(line["channel"], line["event"], line["data"]) for line in lines] == [
        (first, "keep", {"n": 1}),
        (second, "also-this", {"n": 1}),
        (first, "keep", {"n": "last"}),
    ]
    assert command.stop(signal.SIGTERM)[0] == 0
    assert len(command.stdout) == 3


def test_environment_variables_stand_in_for_flags(
    soketi: SoketiServer, cli: Callable[..., Cli]
) -> None:
    channel = unique("env")
    command = cli(
        "listen",
        channel,
        "--no-tls",
        PUSHER_APP_KEY=soketi.key,
        PUSHER_HOST="127.0.0.1",
        PUSHER_PORT=str(soketi.port),
        PUSHER_CLUSTER="eu",  # a host given wins over a cluster
    )
    command.wait_for_stderr(f"subscribed: {channel}")
    soketi.server_sdk().trigger(channel, "hello", {"from": "env"})
    assert command.json_lines(1)[0]["data"] == {"from": "env"}
    assert command.stop(signal.SIGTERM)[0] == 0


def test_listen_reconnects_after_the_server_restarts(
    own_soketi: SoketiServer, cli: Callable[..., Cli]
) -> None:
    channel = unique("news")
    command = cli("listen", channel, *server_flags(own_soketi))
    command.wait_for_stderr(f"subscribed: {channel}")
    own_soketi.kill()
    command.wait_for_stderr("connection: RECONNECTING")
    own_soketi.start()
    command.wait_for(
        lambda: sum(line == f"subscribed: {channel}" for line in command.stderr) == 2,
        "the second subscription",
        timeout=15,
    )
    own_soketi.server_sdk().trigger(channel, "after", {"restarted": True})
    assert command.json_lines(1)[0]["data"] == {"restarted": True}
    assert command.stop()[0] == 0
    assert error_lines(command.stderr) == []


def test_unknown_app_key_exits_1_with_the_reason(soketi: SoketiServer) -> None:
    flags = server_flags(soketi)
    flags[flags.index("--key") + 1] = "no-such-key"
    start = time.monotonic()
    result = run(["listen", unique("news"), *flags])
    assert result.returncode == 1
    assert time.monotonic() - start < 5
    [error] = error_lines(result.stderr.splitlines())
    assert "4001" in error
    assert result.stderr.splitlines()[-1] == error
    assert result.stdout == ""


def test_refused_connection_exits_1_at_once() -> None:
    port = free_port()  # nothing listens there
    args = ["listen", "news", "--key", "k", "--host", "127.0.0.1", "--port", str(port), "--no-tls"]
    start = time.monotonic()
    result = run(args)
    assert result.returncode == 1
    assert time.monotonic() - start < 5
    [error] = error_lines(result.stderr.splitlines())
    assert f"cannot connect to ws://127.0.0.1:{port}/" in error
    assert "refused" in error.lower()


def test_failed_authorization_exits_1_with_the_status(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.failure = Failure(status=403, body="nope")
    public, private = unique("news"), unique("private")
    result = run(["listen", public, private, *server_flags(soketi, auth_server)])
    assert result.returncode == 1
    [error] = error_lines(result.stderr.splitlines())
    assert "403" in error
    assert private in error
    assert "nope" in error


def test_headers_and_params_reach_the_auth_endpoint(
    soketi: SoketiServer, auth_server: AuthServer, cli: Callable[..., Cli]
) -> None:
    channel = unique("private")
    command = cli(
        "listen",
        channel,
        *server_flags(soketi, auth_server),
        "--header",
        "X-Token: abc",
        "--header",
        "Authorization: Bearer t0k",
        "--auth-param",
        "team=blue",
    )
    command.wait_for_stderr(f"subscribed: {channel}")
    [request] = auth_server.requests_for(channel)
    assert request.headers["x-token"] == "abc"
    assert request.headers["authorization"] == "Bearer t0k"
    assert request.form["team"] == "blue"
    soketi.server_sdk().trigger(channel, "secret", {"ok": True})
    assert command.json_lines(1)[0]["data"] == {"ok": True}
    assert command.stop()[0] == 0


def test_headers_from_the_environment_and_a_file_stay_off_the_command_line(
    soketi: SoketiServer, auth_server: AuthServer, cli: Callable[..., Cli], tmp_path: Path
) -> None:
    """``PUSHER_CHANNELS_HEADERS`` and ``--header-file`` (one ``Name: value`` a line):
    a token there is not in the process's arguments, which ``ps`` shows to anyone.
    The file wins over the environment, and ``--header`` over both, name by name."""
    channel = unique("private")
    header_file = tmp_path / "headers"
    header_file.write_text(
        "# the bearer token, rotated by the deploy\n"
        "\n"
        "Authorization: Bearer from-the-file\n"
        "X-Level:   file  \n"
        "x-flag-wins: file\n"
    )
    command = cli(
        "listen",
        channel,
        *server_flags(soketi, auth_server),
        "--header-file",
        str(header_file),
        "--header",
        "X-Flag-Wins: flag",
        PUSHER_CHANNELS_HEADERS="X-Level: env\nX-From-Env: yes\n",
    )
    command.wait_for_stderr(f"subscribed: {channel}")
    [request] = auth_server.requests_for(channel)
    assert request.headers["authorization"] == "Bearer from-the-file"
    assert request.headers["x-level"] == "file"
    assert request.headers["x-from-env"] == "yes"
    assert request.headers["x-flag-wins"] == "flag"
    assert isinstance(command.process.args, list)
    assert not any("from-the-file" in str(arg) for arg in command.process.args)
    assert command.stop()[0] == 0


@pytest.mark.parametrize("source", ["file", "environment"])
def test_a_malformed_header_line_is_a_usage_error_that_shows_no_value(
    tmp_path: Path, source: str
) -> None:
    text = "X-Ok: fine\nAuthorization Bearer s3cret-token\n"
    args = ["listen", "private-x", "--key", "k", "--host", "h", "--auth-endpoint", "http://a.test/"]
    env: dict[str, str] = {}
    if source == "file":
        header_file = tmp_path / "headers"
        header_file.write_text(text)
        args += ["--header-file", str(header_file)]
    else:
        env["PUSHER_CHANNELS_HEADERS"] = text
    result = run(args, 10.0, **env)
    assert result.returncode == 2, result.stderr
    assert "line 2" in result.stderr
    assert "Name: value" in result.stderr
    assert "s3cret" not in result.stderr
    assert (str(tmp_path / "headers") if source == "file" else "PUSHER_CHANNELS_HEADERS") in (
        result.stderr
    )


def test_header_file_usage_errors(tmp_path: Path) -> None:
    base = ["listen", "private-x", "--key", "k", "--host", "h"]
    missing = run([*base, "--auth-endpoint", "http://a.test/", "--header-file", "/nonexistent"])
    assert missing.returncode == 2
    assert "/nonexistent" in missing.stderr
    header_file = tmp_path / "headers"
    header_file.write_text("X-A: b\n")
    without_endpoint = run([*base, "--header-file", str(header_file)])
    assert without_endpoint.returncode == 2
    assert "--auth-endpoint" in without_endpoint.stderr


def test_environment_headers_without_an_auth_endpoint_are_ignored() -> None:
    """They only go to an auth endpoint; set for a whole shell, they do not stop a
    public channel's listener (here: a refused connection, exit 1, not a usage error)."""
    port = free_port()
    args = ["listen", "news", "--key", "k", "--host", "127.0.0.1", "--port", str(port), "--no-tls"]
    result = run(args, PUSHER_CHANNELS_HEADERS="Authorization: Bearer t")
    assert result.returncode == 1, result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses a Linux pseudo-terminal")
@pytest.mark.parametrize("no_color", [False, True])
def test_a_terminal_gets_readable_lines(soketi: SoketiServer, no_color: bool) -> None:
    import pty

    channel = unique("tty")
    master, slave = pty.openpty()
    env = clean_env(**({"NO_COLOR": "1"} if no_color else {}))
    process = subprocess.Popen(
        [*COMMAND, "listen", channel, *server_flags(soketi)],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 10
        while b"subscribed" not in process.stderr.readline():
            assert time.monotonic() < deadline
            assert process.poll() is None
        soketi.server_sdk().trigger(channel, "greeting", {"text": "hi \x1b[2J"})
        output = b""
        while b"\n" not in output and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                output += os.read(master, 4096)
        text = output.decode()
        assert channel in text
        assert "greeting" in text
        assert '{"text": "hi \\u001b[2J"}' in text  # no escape sequence from the network
        assert ("\x1b[" in text) is not no_color
        assert not text.lstrip().startswith("{")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        os.close(master)


# --------------------------------------------------------------------- trigger


async def test_trigger_sends_a_client_event(soketi: SoketiServer, auth_server: AuthServer) -> None:
    channel = unique("private")
    recorder = Recorder()
    client = PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    )
    async with client:
        subscribed = await client.subscribe(channel)
        await wait_until(lambda: subscribed.subscribed, what="the in-test subscription")
        flags = server_flags(soketi, auth_server)
        sent = await asyncio.to_thread(
            run, ["trigger", channel, "client-moved", '{"x": 1, "y": [2]}', *flags]
        )
        assert sent.returncode == 0, sent.stderr
        assert error_lines(sent.stderr.splitlines()) == []
        text = await asyncio.to_thread(run, ["trigger", channel, "client-said", "hello", *flags])
        assert text.returncode == 0, text.stderr
        await wait_until(lambda: len(recorder.events) == 2, what="both client events")
    moved, said = recorder.events
    assert (moved.channel_name, moved.event_name, moved.json()) == (
        channel,
        "client-moved",
        {"x": 1, "y": [2]},
    )
    assert (said.event_name, said.data) == ("client-said", "hello")  # not JSON: a string


@pytest.mark.parametrize(
    ("channel", "event", "reason"),
    [
        ("news", "client-x", "private or presence"),
        ("private-room", "moved", "must start with 'client-'"),
        ("private-encrypted-room", "client-x", "encrypted"),
    ],
)
def test_trigger_breaking_the_rules_exits_1(
    soketi: SoketiServer, auth_server: AuthServer, channel: str, event: str, reason: str
) -> None:
    result = run(["trigger", channel, event, "{}", *server_flags(soketi, auth_server)])
    assert result.returncode == 1
    [error] = error_lines(result.stderr.splitlines())
    assert reason in error
    assert auth_server.requests == []  # refused before connecting


def test_trigger_times_out_when_the_subscription_hangs(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    auth_server.failure = Failure(delay=5)
    flags = server_flags(soketi, auth_server)
    result = run(["trigger", unique("private"), "client-x", "1", "--timeout", "0.5", *flags])
    assert result.returncode == 1
    [error] = error_lines(result.stderr.splitlines())
    assert "within 0.5 s" in error


# --------------------------------------------------------------------- members


async def test_members_shows_the_list_and_every_change(
    soketi: SoketiServer, auth_server: AuthServer, cli: Callable[..., Cli]
) -> None:
    auth_server.users["alice"] = {"user_id": "1", "user_info": {"name": "Alice"}}
    auth_server.users["bob"] = {"user_id": "2", "user_info": {"name": "Bob"}}
    channel = unique("presence")
    flags = server_flags(soketi, auth_server)
    command = cli("members", channel, "--json", *flags, "--auth-param", "user=alice")
    alice = {"user_id": "1", "user_info": {"name": "Alice"}}
    bob = {"user_id": "2", "user_info": {"name": "Bob"}}
    [first] = await asyncio.to_thread(command.json_lines, 1)
    assert first == {"channel": channel, "me": "1", "members": [alice]}

    client = PusherChannelsClient(
        **soketi.client_options(),
        auth_endpoint=auth_server.url,
        auth_params={"params": {"user": "bob"}},
    )
    async with client:
        await client.subscribe(channel)
        lines = await asyncio.to_thread(command.json_lines, 2)
        assert lines[1]["members"] == [alice, bob]
    lines = await asyncio.to_thread(command.json_lines, 3)
    assert lines[2]["members"] == [alice]
    await asyncio.to_thread(command.wait_for_stderr, f"member joined: {channel} 2")
    await asyncio.to_thread(command.wait_for_stderr, f"member left: {channel} 2")
    code, _ = await asyncio.to_thread(command.stop)
    assert code == 0


def test_members_needs_a_presence_channel(soketi: SoketiServer, auth_server: AuthServer) -> None:
    result = run(["members", "private-room", *server_flags(soketi, auth_server)])
    assert result.returncode == 1
    assert "presence" in error_lines(result.stderr.splitlines())[0]


def test_trigger_event_is_seen_by_listen_with_the_user_id(
    soketi: SoketiServer, auth_server: AuthServer, cli: Callable[..., Cli]
) -> None:
    auth_server.users["carol"] = {"user_id": "3", "user_info": {"name": "Carol"}}
    channel = unique("presence")
    flags = server_flags(soketi, auth_server)
    listener = cli("listen", channel, *flags)
    listener.wait_for_stderr(f"subscribed: {channel}")
    sent = run(["trigger", channel, "client-wave", "[1, 2]", *flags, "--auth-param", "user=carol"])
    assert sent.returncode == 0, sent.stderr
    assert listener.json_lines(1) == [
        {"channel": channel, "event": "client-wave", "data": [1, 2], "user_id": "3"}
    ]
    listener.wait_for_stderr(f"member left: {channel} 3")
    assert listener.stop()[0] == 0


def run_with_stdin(args: Sequence[str], stdin: str) -> subprocess.CompletedProcess[str]:
    """Run the command to completion with ``stdin`` as its standard input."""
    return subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=10.0,
        env=clean_env(),
        check=False,
    )


async def test_trigger_dash_sends_the_data_read_from_stdin(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    channel = unique("private")
    recorder = Recorder()
    client = PusherChannelsClient(
        **soketi.client_options(), auth_endpoint=auth_server.url, **recorder.callbacks()
    )
    async with client:
        subscribed = await client.subscribe(channel)
        await wait_until(lambda: subscribed.subscribed, what="the in-test subscription")
        flags = server_flags(soketi, auth_server)
        sent = await asyncio.to_thread(
            run_with_stdin, ["trigger", channel, "client-piped", "-", *flags], '{"from": "stdin"}\n'
        )
        assert sent.returncode == 0, sent.stderr
        await wait_until(lambda: len(recorder.events) == 1, what="the client event")
    assert recorder.events[0].json() == {"from": "stdin"}


def test_ctrl_c_stops_trigger_while_it_waits_for_stdin(
    soketi: SoketiServer, auth_server: AuthServer
) -> None:
    """Scenario 17: ``trigger -`` read stdin inside the running event loop.

    The blocking read stopped the loop, and with it the heartbeat and the signal
    handlers: Ctrl-C while the data was still being typed cut the read short and
    sent the event with what had been read (nothing), instead of stopping.
    """
    flags = server_flags(soketi, auth_server)
    process = subprocess.Popen(
        [*COMMAND, "trigger", unique("private"), "client-typed", "-", *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        time.sleep(2.0)  # long enough to connect and subscribe, were that done first
        assert process.poll() is None, "it waits for the data"
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=3.0)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not stop `trigger -` while it waited for stdin")
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "sent:" not in stderr, "nothing is sent without the data"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
