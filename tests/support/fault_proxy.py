"""A TCP proxy on 127.0.0.1 that breaks the path between a client and a server on demand.

::

    client ──> FaultProxy (127.0.0.1, a free port) ──> upstream (e.g. soketi)

Each accepted connection opens its own upstream connection; bytes are copied both
ways, in order. On demand the proxy can:

- :meth:`FaultProxy.cut`: close every live connection, both sides (a FIN each way,
  no WebSocket close frame), as when a NAT or a load balancer forgets its state.
- :meth:`FaultProxy.blackhole`: stop forwarding in both directions while the sockets
  stay open, so that neither end hears anything (a half-open, silent path). New
  connections are accepted and held the same way. By default the bytes are held and
  delivered once the path returns, as TCP retransmission would; with ``drop=True``
  they are lost for good.
- :attr:`FaultProxy.latency`: seconds added to every chunk, in each direction,
  keeping their order.
- :meth:`FaultProxy.reset_mid_frame`: the next server-to-client chunk of every live
  connection is forwarded only up to the middle of its first WebSocket frame; then
  the client side is reset (RST, ``SO_LINGER`` 0) and the upstream side closed.

Everything is bounded: at most ``max_connections`` connections at once (others are
closed as soon as accepted), at most ``QUEUE_CHUNKS`` chunks queued per direction (a
reader waits when its queue is full), and :meth:`FaultProxy.stop` closes every socket
and waits for every task, within a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Final

__all__ = ["FaultProxy", "ProxyStats"]

CHUNK_SIZE: Final = 65536
QUEUE_CHUNKS: Final = 256
MAX_LATENCY: Final = 10.0
_RESET_PAUSE: Final = 0.05
"""Seconds between forwarding the first half of a frame and the reset, so that the
client has read those bytes before the RST arrives."""
_EOF: Final = b""


@dataclass
class ProxyStats:
    """What the proxy did, for tests to check and report."""

    accepted: int = 0
    refused: int = 0
    """Connections closed at once: over ``max_connections``, or upstream unreachable."""
    cut: int = 0
    """Connections closed by :meth:`FaultProxy.cut`."""
    reset: int = 0
    """Connections reset in the middle of a frame."""
    dropped_bytes: int = 0
    """Bytes discarded by a ``drop=True`` blackhole."""
    bytes_to_server: int = 0
    bytes_to_client: int = 0


def _cut_offset(data: bytes) -> int | None:
    """An offset strictly inside the first WebSocket frame of ``data``, or ``None``.

    Server frames are not masked: two header bytes, then 0, 2 or 8 bytes of
    extended length. The cut falls in the middle of the payload (inside the header
    for an empty payload), and before the end of ``data``.
    """
    if len(data) < 2:
        return None
    length = data[1] & 0x7F
    header = 2
    if length == 126:
        header = 4
        length = int.from_bytes(data[2:4], "big") if len(data) >= 4 else 0
    elif length == 127:
        header = 10
        length = int.from_bytes(data[2:10], "big") if len(data) >= 10 else 0
    offset = header + length // 2 if length else 1
    return max(1, min(offset, len(data) - 1))


class _Pipe:
    """One proxied connection: the client's socket, the upstream socket, four tasks."""

    def __init__(
        self,
        proxy: FaultProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.upstream_reader, self.upstream_writer = upstream
        self.closed = False
        self.reset_armed = False
        self._handshake_seen = False
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Copy both ways until either side closes, or the proxy closes the pipe."""
        up: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        down: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        self._tasks = [
            asyncio.create_task(self._read(self.client_reader, up)),
            asyncio.create_task(self._write(up, self.upstream_writer, to_client=False)),
            asyncio.create_task(self._read(self.upstream_reader, down)),
            asyncio.create_task(self._write(down, self.client_writer, to_client=True)),
        ]
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.close()

    def close(self, *, abort: bool = False) -> None:
        """Close both sides (FIN, or RST with ``abort``) and stop the tasks."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if abort:
                writer.transport.abort()
            else:
                writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def reset_client(self) -> None:
        """Reset the client side (RST) and close the upstream side."""
        if self.closed:
            return
        sock = self.client_writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.client_writer.transport.abort()
        self.upstream_writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def _read(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    data = await reader.read(CHUNK_SIZE)
                except OSError:
                    data = _EOF
                await queue.put((loop.time() + self.proxy.latency, data))
                if not data:
                    return
        except asyncio.CancelledError:
            return

    async def _write(
        self,
        queue: asyncio.Queue[tuple[float, bytes]],
        writer: asyncio.StreamWriter,
        *,
        to_client: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if proxy.blackholed:
                    if proxy.blackhole_drops and data:
                        proxy.stats.dropped_bytes += len(data)
                        continue
                    await proxy.path_restored()
                if not data:
                    self.close()
                    return
                if to_client and self.reset_armed and self._handshake_seen:
                    offset = _cut_offset(data)
                    if offset is not None:
                        await self._reset_after(writer, data[:offset])
                        return
                if to_client and not self._handshake_seen and b"\r\n\r\n" in data:
                    self._handshake_seen = True
                writer.write(data)
                await writer.drain()
                if to_client:
                    proxy.stats.bytes_to_client += len(data)
                else:
                    proxy.stats.bytes_to_server += len(data)
        except asyncio.CancelledError:
            return
        except OSError:
            self.close()

    async def _reset_after(self, writer: asyncio.StreamWriter, head: bytes) -> None:
        writer.write(head)
        await writer.drain()
        self.proxy.stats.bytes_to_client += len(head)
        await asyncio.sleep(_RESET_PAUSE)
        self.proxy.stats.reset += 1
        self.reset_client()


class FaultProxy:
    """The proxy. ``await start()``, point the client at :attr:`port`, ``await stop()``.

    Also an async context manager (``async with FaultProxy(port) as proxy:``).
    """

    def __init__(
        self,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        *,
        max_connections: int = 64,
        connect_timeout: float = 5.0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.stats = ProxyStats()
        self.blackhole_drops = False
        self._latency = 0.0
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._path_open = asyncio.Event()
        self._path_open.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, reset every connection and wait for every task."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._path_open.set()
        for pipe in list(self._pipes):
            pipe.close(abort=True)
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=timeout)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active_connections(self) -> int:
        """Connections open right now."""
        return sum(1 for pipe in self._pipes if not pipe.closed)

    # --------------------------------------------------------------------- faults

    def cut(self) -> int:
        """Close every live connection, both sides; return how many were cut."""
        pipes = [pipe for pipe in self._pipes if not pipe.closed]
        for pipe in pipes:
            pipe.close()
        self.stats.cut += len(pipes)
        return len(pipes)

    def blackhole(self, on: bool, *, drop: bool = False) -> None:
        """Stop (``on``) or resume forwarding, in both directions, on every connection.

        Sockets stay open and nothing is closed: neither end hears anything. Bytes
        are held until the path returns, unless ``drop``: then they are discarded.
        """
        if on:
            self.blackhole_drops = drop
            self._path_open.clear()
        else:
            self._path_open.set()

    @property
    def blackholed(self) -> bool:
        """Whether the path is blackholed now."""
        return not self._path_open.is_set()

    async def path_restored(self) -> None:
        """Wait until the path is no longer blackholed."""
        await self._path_open.wait()

    @property
    def latency(self) -> float:
        """Seconds added to every chunk in each direction (0 by default)."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if not 0.0 <= seconds <= MAX_LATENCY:
            raise ValueError(f"latency must be within 0 and {MAX_LATENCY} s, got {seconds}")
        self._latency = seconds

    def reset_mid_frame(self) -> int:
        """Arm every live connection: its next server frame is cut, then reset.

        Returns how many connections were armed. The reset happens when the server
        next sends something (an event, a pong): :attr:`stats` ``.reset`` counts them.
        """
        pipes = [pipe for pipe in self._pipes if not pipe.closed]
        for pipe in pipes:
            pipe.reset_armed = True
        return len(pipes)

    # ------------------------------------------------------------------ internals

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or self.active_connections >= self.max_connections:
            self.stats.refused += 1
            writer.transport.abort()
            return
        try:
            upstream = await asyncio.wait_for(
                asyncio.open_connection(self.upstream_host, self.upstream_port),
                self.connect_timeout,
            )
        except (OSError, TimeoutError):
            self.stats.refused += 1
            writer.transport.abort()
            return
        except asyncio.CancelledError:
            writer.transport.abort()
            return
        self.stats.accepted += 1
        pipe = _Pipe(self, (reader, writer), upstream)
        self._pipes.add(pipe)
        try:
            await pipe.run()
        except asyncio.CancelledError:
            pipe.close(abort=True)
        finally:
            self._pipes.discard(pipe)
