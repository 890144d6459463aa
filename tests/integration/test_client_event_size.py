"""Client events over the servers' size limit are refused at ``trigger()``.

Pusher accepts 10 KB of event data: the UTF-8 bytes of the ``data`` string (of its
JSON when an object was sent), 10,240 bytes. soketi measures the same way; its limit
is set to 10 KB here (``SOKETI_EVENT_MAX_SIZE_IN_KB``), as on Pusher's hosted service,
so that the client's boundary can be checked against a real server's.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.soketi import SoketiServer

from pusher_channels import ClientEventError, PusherChannelsClient, PusherEvent
from pusher_channels.protocol.messages import encode_message, json_text
from tests.support.recorder import Recorder, wait_until

_names = itertools.count()


@pytest.fixture
def soketi_10_kb(tmp_path: Path) -> Iterator[SoketiServer]:
    """A soketi that accepts 10 KB of event data, as Pusher does."""
    server = SoketiServer(
        log_path=tmp_path / "soketi.log", extra_env={"SOKETI_EVENT_MAX_SIZE_IN_KB": "10"}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sized(size: int) -> dict[str, str]:
    """An object whose JSON text is ``size`` bytes of UTF-8 (two-byte characters
    included, so that characters are not counted instead of bytes)."""
    overhead = len(b'{"text":""}')
    text = "é" * ((size - overhead) // 2) + "a" * ((size - overhead) % 2)
    data = {"text": text}
    assert len(json_text(data).encode("utf-8")) == size
    return data


async def test_client_event_data_over_10_kb_raises_and_is_not_sent(
    soketi_10_kb: SoketiServer,
) -> None:
    name = f"private-big-{next(_names)}-{int(time.time() * 1000) % 100000}"
    sender_log, receiver_log = Recorder(), Recorder()
    server, secret = soketi_10_kb.client_options(), soketi_10_kb.secret
    async with (
        PusherChannelsClient(**server, secret=secret, **sender_log.callbacks()) as sender,
        PusherChannelsClient(**server, secret=secret, **receiver_log.callbacks()) as receiver,
    ):
        theirs = await receiver.subscribe(name)
        ours = await sender.subscribe(name)
        await wait_until(lambda: theirs.subscribed and ours.subscribed, what="subscriptions")

        # 10,240 bytes: the server takes it, the other client receives it.
        await ours.trigger(event_name="client-at-limit", data=sized(10_240))
        await sender.trigger(PusherEvent(name, "client-at-limit", "x" * 10_240))
        await wait_until(
            lambda: len(receiver_log.events_named("client-at-limit")) == 2,
            what="the events at the limit",
        )
        assert receiver_log.events_named("client-at-limit")[0].json() == sized(10_240)

        # One byte more: refused at trigger(), with the sizes in the message.
        with pytest.raises(ClientEventError, match=r"10,241 bytes.*10 KB"):
            await ours.trigger(event_name="client-over", data=sized(10_241))
        with pytest.raises(ClientEventError, match="10,241 bytes"):
            await sender.trigger(PusherEvent(name, "client-over", "x" * 10_241))

        # What the check spares: sent anyway (past the client's check), the same data
        # is refused by the server, later, through on_error only.
        assert sender_log.errors == []
        sender._live.send(encode_message("client-over", json_text(sized(10_241)), name))
        await wait_until(lambda: bool(sender_log.errors), what="the server's refusal")
        [(message, code, _)] = sender_log.errors
        assert code == 4301
        assert "10 KB" in message
    assert receiver_log.events_named("client-over") == []


async def test_a_server_that_accepts_more_can_be_given_its_limit(soketi: SoketiServer) -> None:
    """soketi's default limit is 100 KB: ``max_client_event_bytes`` lets a client use it."""
    name = f"private-bigger-{next(_names)}-{int(time.time() * 1000) % 100000}"
    receiver_log = Recorder()
    server, secret = soketi.client_options(), soketi.secret
    async with (
        PusherChannelsClient(**server, secret=secret, max_client_event_bytes=100 * 1024) as sender,
        PusherChannelsClient(**server, secret=secret, **receiver_log.callbacks()) as receiver,
    ):
        theirs = await receiver.subscribe(name)
        ours = await sender.subscribe(name)
        await wait_until(lambda: theirs.subscribed and ours.subscribed, what="subscriptions")
        await ours.trigger(event_name="client-50-kb", data=sized(50 * 1024))
        await wait_until(
            lambda: bool(receiver_log.events_named("client-50-kb")), what="the 50 KB event"
        )
        with pytest.raises(ClientEventError, match=r"100 KB \(102,400 bytes\)"):
            await ours.trigger(event_name="client-too-big", data=sized(100 * 1024 + 1))
    assert receiver_log.errors == []
