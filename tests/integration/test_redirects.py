"""HTTP redirects of the WebSocket handshake: none followed unless
``max_handshake_redirects`` allows them.

The redirecting server is a small real HTTP server on 127.0.0.1 that answers every
request with a 301 or 302 to a ``Location`` of the test's choosing (soketi will not
redirect); where it points, a real soketi or a TCP listener that counts connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from devtools.soketi import ServerOptions, SoketiServer

from pusher_channels import ConnectionState, PusherChannelsClient, PusherTimeoutError
from tests.support.recorder import Recorder, wait_until


@dataclass
class RedirectingServer:
    """Answers each HTTP request with ``status`` and ``Location: location``."""

    status: int
    location: str
    requests: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            self.requests.append(head.split(b"\r\n", 1)[0].decode())
            reason = {301: "Moved Permanently", 302: "Found"}[self.status]
            writer.write(
                f"HTTP/1.1 {self.status} {reason}\r\nLocation: {self.location}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()


@dataclass
class CountingListener:
    """A TCP listener that only counts the connections it gets (another host's port)."""

    accepted: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._count, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _count(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


Redirector = Callable[[int, str], Awaitable[RedirectingServer]]


@pytest.fixture
async def redirecting() -> AsyncIterator[Redirector]:
    """Start redirecting servers; each is stopped at the end of the test."""
    started: list[RedirectingServer] = []

    async def start(status: int, location: str) -> RedirectingServer:
        server = RedirectingServer(status, location)
        await server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            await server.stop()


@pytest.fixture
async def elsewhere() -> AsyncIterator[CountingListener]:
    listener = CountingListener()
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


def app_path(soketi: SoketiServer) -> str:
    return f"/app/{soketi.key}?protocol=7&client=test&version=1"


def options_for(server: RedirectingServer) -> ServerOptions:
    return {"api_key": "app-key", "host": "127.0.0.1", "ws_port": server.port, "use_tls": False}


@pytest.mark.parametrize("status", [301, 302])
async def test_a_redirect_is_not_followed_by_default(
    redirecting: Redirector, elsewhere: CountingListener, status: int
) -> None:
    """picows would follow it to any host; the client does not, and says why."""
    redirect = await redirecting(status, f"ws://localhost:{elsewhere.port}/app/app-key")
    recorder = Recorder()
    client = PusherChannelsClient(**options_for(redirect), **recorder.callbacks())
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=1.5)
    assert redirect.requests, "the upgrade request was sent"
    assert redirect.requests[0].startswith("GET /app/app-key?")
    assert elsewhere.accepted == 0, "the redirect was not followed"
    message = recorder.errors[0][0]
    assert str(status) in message
    assert f"localhost:{elsewhere.port}" in message
    assert "max_handshake_redirects" in message


async def test_max_handshake_redirects_allows_following(
    redirecting: Redirector, soketi: SoketiServer
) -> None:
    redirect = await redirecting(302, f"ws://localhost:{soketi.port}{app_path(soketi)}")
    async with PusherChannelsClient(**options_for(redirect), max_handshake_redirects=1) as client:
        assert client.connection_state is ConnectionState.CONNECTED
        channel = await client.subscribe("after-a-redirect")
        await wait_until(lambda: channel.subscribed, what="a subscription on the new host")
    assert len(redirect.requests) == 1


async def test_a_chain_longer_than_allowed_is_not_followed(
    redirecting: Redirector, soketi: SoketiServer
) -> None:
    last = await redirecting(301, f"ws://127.0.0.1:{soketi.port}{app_path(soketi)}")
    first = await redirecting(301, f"{last.url}/app/app-key")
    recorder = Recorder()
    client = PusherChannelsClient(
        **options_for(first), max_handshake_redirects=1, **recorder.callbacks()
    )
    with pytest.raises(PusherTimeoutError):
        await client.connect(timeout=1.5)
    assert "max_handshake_redirects=1 allows no more" in recorder.errors[0][0]
    async with PusherChannelsClient(**options_for(first), max_handshake_redirects=2) as client:
        assert client.connection_state is ConnectionState.CONNECTED
