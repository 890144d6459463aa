"""A scaled-out soketi: two nodes sharing Redis, behind HAProxy, all on 127.0.0.1.

Redis (Debian's ``redis-server``) carries events and presence between the nodes
(``SOKETI_ADAPTER_DRIVER=redis``); HAProxy (Debian's ``haproxy``) balances
WebSocket connections over them in TCP mode, with fast health checks so that a
dead node is taken out of rotation within a second. Every process is stopped by
its PID.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.proxies import _stop, _wait_for_port
from devtools.soketi import ServerOptions, SoketiServer, free_port

__all__ = ["SoketiCluster"]


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{name} is not installed: run 'apt-get install -y {name}'")
    return path


@dataclass
class SoketiCluster:
    """Redis, two soketi nodes and HAProxy in front of them."""

    directory: Path
    redis_port: int = field(default_factory=free_port)
    balancer_port: int = field(default_factory=free_port)
    nodes: list[SoketiServer] = field(default_factory=list)
    _redis: subprocess.Popen[bytes] | None = None
    _haproxy: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Redis, the two nodes, then the balancer."""
        self._redis = subprocess.Popen(
            [
                _binary("redis-server"),
                "--bind", "127.0.0.1",
                "--port", str(self.redis_port),
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.redis_port, self._redis)
        env = {
            "SOKETI_ADAPTER_DRIVER": "redis",
            "SOKETI_DB_REDIS_HOST": "127.0.0.1",
            "SOKETI_DB_REDIS_PORT": str(self.redis_port),
            "SOKETI_ADAPTER_REDIS_REQUESTS_TIMEOUT": "5000",
        }
        for index in range(2):
            node = SoketiServer(
                extra_env=dict(env), log_path=self.directory / f"soketi-{index}.log"
            )
            node.start()
            self.nodes.append(node)
        self.start_balancer()

    def start_balancer(self) -> None:
        """Start HAProxy in front of the nodes."""
        servers = "\n".join(
            f"    server node{i} 127.0.0.1:{node.port} check inter 200ms fall 1 rise 1"
            for i, node in enumerate(self.nodes)
        )
        config = self.directory / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 1000\n"
            "defaults\n    mode tcp\n    timeout connect 2s\n"
            "    timeout client 120s\n    timeout server 120s\n"
            f"frontend pusher\n    bind 127.0.0.1:{self.balancer_port}\n"
            "    default_backend soketi\n"
            f"backend soketi\n    balance roundrobin\n{servers}\n"
        )
        self._haproxy = subprocess.Popen(
            [_binary("haproxy"), "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.balancer_port, self._haproxy)
        time.sleep(0.5)  # the first health checks

    def balanced_options(self) -> ServerOptions:
        """Client keywords that go through the balancer."""
        return {**self.nodes[0].client_options(), "ws_port": self.balancer_port}

    def stop(self) -> None:
        """Stop everything, balancer first."""
        _stop(self._haproxy)
        self._haproxy = None
        for node in self.nodes:
            node.stop()
        self.nodes.clear()
        _stop(self._redis)
        self._redis = None
