"""Real proxies for the tests: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5).

Both come from Debian (``apt-get install tinyproxy microsocks``; the README's test
command installs them when it runs as root). They listen on 127.0.0.1 on a free
port and are stopped by their PID. Each keeps a log of what it carried, so that a
test can tell whether a connection really went through it.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devtools.soketi import free_port

__all__ = ["MicroSocks", "TinyProxy"]


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: run 'apt-get install -y {name}' "
            "(the README's test command does it when run as root)"
        )
    return path


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited with {process.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"proxy did not listen on {port} within {timeout} s")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class TinyProxy:
    """tinyproxy as an HTTP proxy (CONNECT for WebSockets, forwarding for HTTP)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """tinyproxy's log (connections and requests)."""
        return self.directory / "tinyproxy.log"

    @property
    def url(self) -> str:
        """The proxy URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start tinyproxy in the foreground."""
        config = self.directory / "tinyproxy.conf"
        config.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 120\nAllow 127.0.0.1\n"
            f'LogFile "{self.log_path}"\nLogLevel Connect\nMaxClients 100\n'
        )
        self.process = subprocess.Popen(
            [_binary("tinyproxy"), "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        """Stop it."""
        _stop(self.process)
        self.process = None

    def log(self) -> str:
        """What tinyproxy logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def requests(self) -> list[str]:
        """The request line of every request it received, in order:
        ``CONNECT 127.0.0.1:6001 HTTP/1.1`` for a tunnel (the WebSocket),
        ``POST http://127.0.0.1:8000/pusher/auth HTTP/1.1`` for a forwarded request.
        (Its own start-up check connects without a request, and is not listed.)"""
        return re.findall(r"Request \(file descriptor \d+\): (.*)", self.log())


@dataclass
class MicroSocks:
    """microsocks as a SOCKS5 proxy that requires a user and password.

    With a ``directory``, what it logs (one line per connection it made for a
    client) goes to ``microsocks.log`` there.
    """

    user: str = "socks-user"
    password: str = "socks-pass"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    directory: Path | None = None
    _log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        """microsocks's log, if it keeps one."""
        return self.directory / "microsocks.log" if self.directory is not None else None

    @property
    def url(self) -> str:
        """The proxy URL, credentials included."""
        return f"socks5://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start microsocks."""
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                _binary("microsocks"),
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-u",
                self.user,
                "-P",
                self.password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        """Stop it."""
        _stop(self.process)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def connections(self) -> list[str]:
        """Where it connected for its clients, in order: ``["127.0.0.1:6001", ...]``
        (a client refused for its password is not listed)."""
        if self.log_path is None or not self.log_path.exists():
            return []
        text = self.log_path.read_text(errors="replace")
        return re.findall(r"connected to (\S+)", text)
