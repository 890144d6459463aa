"""A scaled-out server: two soketi nodes sharing Redis, behind HAProxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.auth_server import AuthServer
from devtools.cluster import SoketiCluster

from pusher_channels import PusherChannelsClient
from tests.support.recorder import Recorder, wait_until


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SoketiCluster]:
    cluster = SoketiCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


async def test_events_and_presence_span_nodes_and_survive_a_node_loss(
    cluster: SoketiCluster,
) -> None:
    node_a, node_b = cluster.nodes
    auth = AuthServer(node_a.server_sdk())
    auth.users = {
        "a": {"user_id": "a", "user_info": {"node": "A"}},
        "b": {"user_id": "b", "user_info": {"node": "B"}},
    }
    auth.start()
    log_a, log_b = Recorder(), Recorder()
    channel_name = "presence-cluster"

    def client(user: str, recorder: Recorder) -> PusherChannelsClient:
        return PusherChannelsClient(
            **cluster.balanced_options(),
            auth_endpoint=auth.url,
            auth_params={"params": {"user": user}},
            **recorder.callbacks(),
        )

    try:
        async with client("a", log_a) as first, client("b", log_b) as second:
            # Round robin puts the two connections on different nodes.
            # One after the other: soketi's cross-node member query races a member
            # joining on the other node at the same instant (a server-side limit).
            channel_a = await first.subscribe(channel_name)
            await wait_until(lambda: channel_a.subscribed, timeout=20, what="a subscribed")
            channel_b = await second.subscribe(channel_name)
            try:
                await wait_until(
                    lambda: set(channel_a.members) == {"a", "b"} == set(channel_b.members),
                    timeout=20,
                    what="presence across both nodes",
                )
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}: a sees {sorted(channel_a.members)}, b sees {sorted(channel_b.members)}"
                    f", subscribed {channel_a.subscribed}/{channel_b.subscribed}"
                ) from None
            for node in (node_a, node_b):
                sdk = node.server_sdk()
                await asyncio.to_thread(sdk.trigger, channel_name, "from-node", {"port": node.port})
            await wait_until(
                lambda: len(log_a.events) == 2 and len(log_b.events) == 2,
                timeout=20,
                what="each client gets the events triggered on either node",
            )

            node_a.kill()
            await wait_until(
                lambda: len(log_a.succeeded) + len(log_b.succeeded) == 3,
                timeout=20,
                what="the client of the dead node back through the balancer",
            )
            await wait_until(
                lambda: set(channel_a.members) == {"a", "b"} == set(channel_b.members),
                timeout=20,
                what="presence exact again",
            )
            sdk_b = node_b.server_sdk()
            await asyncio.to_thread(sdk_b.trigger, channel_name, "after-failover", {})
            await wait_until(
                lambda: (
                    len(log_a.events_named("after-failover")) == 1
                    and len(log_b.events_named("after-failover")) == 1
                ),
                what="events after the failover",
            )
    finally:
        auth.stop()
