"""Putting the simulated network where the client opens its sockets and posts its
authorization requests.

The runtime opens every socket through the module attribute
``pusher_channels._transport.connect_websocket(sink, url, *, ssl_context, proxy,
handshake_timeout, max_redirects, receive_buffer)``; :func:`simulated_network` replaces it with
:meth:`SimNetwork.connect` for the duration of a ``with`` block.

The auth endpoints post through an ``httpx.AsyncClient`` they make themselves (the
client has no option to pass one, and needs none): :func:`simulated_http` makes
every ``httpx.AsyncClient`` made within its block send through a given transport,
so that the library's whole HTTP path (form, headers, status, body, size limit,
timeouts, the retry after a 401) runs, and only the socket is simulated.

:func:`lane_capacity` lowers the number of queued calls at which an async callback
holds the socket (10,000, which a simulation never reaches), so that callbacks fill
up as iterators do. :func:`note_full_stream` and :func:`note_full_queues` let the
driver know the moment a consumer fills up, as it tells flow control.

Runtimes from before that seam (``_runtime.open_websocket(make_socket, ...)`` with a
``WebSocket(runtime)`` listener) are adapted by :class:`_LegacySocket`, so that the
same simulation runs against both.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from .sim_server import SimNetwork, SimSocket

__all__ = [
    "lane_capacity",
    "note_full_queues",
    "note_full_stream",
    "seam_kind",
    "simulated_http",
    "simulated_network",
]


def seam_kind() -> str:
    """``"connect_websocket"`` for the seam of the contract, ``"legacy"`` before it."""
    runtime = importlib.import_module("pusher_channels._runtime")
    if hasattr(runtime, "open_websocket"):
        return "legacy"
    return "connect_websocket"


@contextlib.contextmanager
def simulated_network(network: SimNetwork) -> Iterator[None]:
    """Within the block, every socket the client opens is one of ``network``'s."""
    transport = importlib.import_module("pusher_channels._transport")
    runtime = importlib.import_module("pusher_channels._runtime")
    patches: list[tuple[Any, str, Any]]
    if seam_kind() == "legacy":
        patches = [
            (runtime, "open_websocket", _legacy_opener(network)),
            (runtime, "WebSocket", _LegacySocket),
        ]
    else:
        patches = [(transport, "connect_websocket", network.connect)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


@contextlib.contextmanager
def simulated_http(transport: Any) -> Iterator[None]:
    """Within the block, every ``httpx.AsyncClient`` sends through ``transport`` (no
    proxy, no TLS: the transport is the endpoint)."""
    import httpx

    real = httpx.AsyncClient

    class SimulatedAsyncClient(real):  # type: ignore[misc,valid-type]
        def __init__(self, **kwargs: Any) -> None:
            kwargs.pop("proxy", None)
            kwargs.pop("verify", None)
            super().__init__(transport=transport, **kwargs)

    httpx.AsyncClient = SimulatedAsyncClient  # type: ignore[misc]
    try:
        yield
    finally:
        httpx.AsyncClient = real  # type: ignore[misc]


@contextlib.contextmanager
def lane_capacity(capacity: int) -> Iterator[None]:
    """Within the block, a new client's async callbacks hold the socket at
    ``capacity`` queued calls."""
    dispatch = importlib.import_module("pusher_channels._dispatch")
    init = dispatch.Dispatcher.__init__
    defaults = init.__defaults__
    if defaults is None or defaults[-1] != dispatch.DEFAULT_LANE_CAPACITY:
        raise RuntimeError("Dispatcher(reporter, flow, capacity=...) changed: update the seam")
    init.__defaults__ = (*defaults[:-1], capacity)
    try:
        yield
    finally:
        init.__defaults__ = defaults


class _FullnessReports:
    """Stands for the flow control a dispatcher tells when a callback's queue is
    full, noting when before passing it on."""

    __slots__ = ("_flow", "_noted")

    def __init__(self, flow: Any, noted: Callable[[Any], None]) -> None:
        self._flow = flow
        self._noted = noted

    def hold(self, holder: Any) -> None:
        self._noted(holder)
        self._flow.hold(holder)

    def release(self, holder: Any) -> None:
        self._flow.release(holder)


def note_full_queues(dispatcher: Any, noted: Callable[[Any], None]) -> None:
    """Have ``noted(lane)`` called whenever one of ``dispatcher``'s callback queues
    fills up (once per dispatcher)."""
    flow = dispatcher._flow
    if flow is not None and not isinstance(flow, _FullnessReports):
        dispatcher._flow = _FullnessReports(flow, noted)


def note_full_stream(stream: Any, noted: Callable[[Any], None]) -> None:
    """Have ``noted(stream)`` called whenever an ``events()`` buffer fills up."""
    tell_flow = stream._on_full

    def on_full(full: Any) -> None:
        noted(full)
        if tell_flow is not None:
            tell_flow(full)

    stream._on_full = on_full


class _LegacySocket:
    """The old runtime's ``WebSocket(runtime)``: a sink and a transport in one object."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._transport: SimSocket | None = None

    # the sink, for the simulated network
    def opened(self, transport: SimSocket) -> None:
        self._transport = transport
        self._runtime.socket_opened(self)

    def text_received(self, payload: bytes) -> None:
        self._runtime.text_received(self, payload)

    def binary_received(self, size: int) -> None:
        self._runtime.binary_received(self, size)

    def closed(self, code: int | None, reason: str) -> None:
        self._runtime.socket_closed(self, code, reason)

    # the transport, for the runtime
    def send(self, payload: bytes) -> None:
        if self._transport is not None:
            self._transport.send(payload)

    def close(self, code: int, reason: str) -> None:
        if self._transport is not None:
            self._transport.close(code, reason)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()


def _legacy_opener(network: SimNetwork) -> Callable[..., Any]:
    async def open_websocket(
        make_socket: Callable[[], _LegacySocket],
        url: str,
        *,
        ssl_context: Any,
        proxy: str | None,
        handshake_timeout: float,
    ) -> _LegacySocket:
        socket = make_socket()
        await network.connect(
            socket,
            url,
            ssl_context=ssl_context,
            proxy=proxy,
            handshake_timeout=handshake_timeout,
        )
        return socket

    return open_websocket
