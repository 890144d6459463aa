"""A real soketi server for the tests and the demo: on 127.0.0.1, stopped by its PID.

soketi is installed from npm by the project's set-up (``devtools/package.json``). If it or
Node is missing, :func:`soketi_command` raises: the suite fails loudly, never skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypedDict

SERVERS_DIR = Path(__file__).resolve().parent
SOKETI_SCRIPT = SERVERS_DIR / "node_modules" / "@soketi" / "soketi" / "bin" / "server.js"

APP_ID = "12345"
APP_KEY = "app-key"
APP_SECRET = "app-secret"
MASTER_KEY_BASE64 = "OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk="
"""The encryption master key (32 bytes, base64) for private-encrypted channels."""


class ServerOptions(TypedDict):
    """The keywords that point a client at a local server: part of the client's
    ``OptionKeywords``, each one given, so that more keywords can follow them."""

    api_key: str
    host: str
    ws_port: int
    use_tls: bool


class MissingServerError(RuntimeError):
    """Node or soketi is not installed: the README's commands install them."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def soketi_command() -> list[str]:
    """The command that runs soketi; raises :class:`MissingServerError` if absent."""
    node = shutil.which("node")
    if node is None:
        raise MissingServerError("Node.js is not installed: soketi needs it (Node 20)")
    if not SOKETI_SCRIPT.exists():
        raise MissingServerError(
            f"soketi is not installed at {SOKETI_SCRIPT}: run the README's test or demo command, "
            "which runs 'npm ci' in devtools/"
        )
    return [node, str(SOKETI_SCRIPT), "start"]


@dataclass
class SoketiServer:
    """One soketi process on 127.0.0.1:``port`` (restartable on the same port)."""

    port: int = field(default_factory=free_port)
    app_id: str = APP_ID
    key: str = APP_KEY
    secret: str = APP_SECRET
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    scheme: str = "http"
    """``https`` when soketi serves TLS (``SOKETI_SSL_CERT`` / ``SOKETI_SSL_KEY``)."""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment soketi runs with."""
        env = dict(os.environ)
        env.update(
            {
                "SOKETI_HOST": "127.0.0.1",
                "SOKETI_PORT": str(self.port),
                "SOKETI_METRICS_HOST": "127.0.0.1",
                "SOKETI_METRICS_SERVER_PORT": str(free_port()),
                "SOKETI_DEFAULT_APP_ID": self.app_id,
                "SOKETI_DEFAULT_APP_KEY": self.key,
                "SOKETI_DEFAULT_APP_SECRET": self.secret,
                "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES": "true",
                "SOKETI_SHUTDOWN_GRACE_PERIOD": "0",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> None:
        """Start soketi and wait until it answers HTTP on its port."""
        command = soketi_command()
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=SERVERS_DIR,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"soketi exited with {self.process.returncode} at start")
            try:
                if self._answers_http():
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"soketi did not start within {timeout} s")

    def _answers_http(self) -> bool:
        if self.scheme == "http":
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=1):
                return True
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self) -> None:
        """Stop soketi (SIGTERM, then SIGKILL) and wait for it to exit."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            self._signal(process, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill soketi at once (SIGKILL): sockets drop without a close frame."""
        process = self.process
        if process is None:
            return
        self.process = None
        process.kill()
        process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self) -> None:
        """Freeze soketi (SIGSTOP): its sockets stay open but nothing answers."""
        assert self.process is not None
        self._signal(self.process, signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze soketi (SIGCONT)."""
        assert self.process is not None
        self._signal(self.process, signal.SIGCONT)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
        if process.poll() is None:
            os.kill(process.pid, signum)

    def client_options(self) -> ServerOptions:
        """The keywords that point a client at this server."""
        return {"api_key": self.key, "host": "127.0.0.1", "ws_port": self.port, "use_tls": False}

    def server_sdk(self) -> Any:
        """The official ``pusher`` server SDK, pointed at this server."""
        import pusher

        return pusher.Pusher(
            app_id=self.app_id,
            key=self.key,
            secret=self.secret,
            host="127.0.0.1",
            port=self.port,
            ssl=self.scheme == "https",
            encryption_master_key_base64=MASTER_KEY_BASE64,
        )
