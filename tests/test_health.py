"""The health snapshot's rules, from chosen inputs (the soketi tests are in
tests/integration/test_health.py): what makes a client unhealthy, and the times."""

from __future__ import annotations

import json
from typing import Any

from pusher_channels import AuthorizationError, ConnectionState, Health, PusherChannelsClient
from pusher_channels.health import ChannelHealth, assess
from pusher_channels.protocol.channels import ChannelRecord, ChannelStatus, channel_kind

WALL = 1_700_000_000.0
"""Epoch seconds at ``NOW`` on the loop's clock."""
NOW = 500.0


def record(name: str, status: ChannelStatus, **rare: Any) -> ChannelRecord:
    channel = ChannelRecord(name, channel_kind(name))
    channel.status = status
    for field, value in rare.items():
        setattr(channel, field, value)
    return channel


def snapshot(records: list[ChannelRecord], **overrides: Any) -> Health:
    values: dict[str, Any] = {
        "state": ConnectionState.CONNECTED,
        "state_since": WALL - 100.0,
        "connection_changed_at": NOW - 100.0,
        "connection_changed_at_wall": WALL - 100.0,
        "now": NOW,
        "wall_now": WALL,
        "last_frame_at": NOW - 1.0,
        "reconnections": 2,
        "repeated_errors": 3,
        "records": records,
        "waiting_since": {},
        "frame_limit": 150.0,
        "max_gap": 30.0,
    }
    values.update(overrides)
    return assess(**values)


def test_connected_subscribed_and_recently_heard_from_is_healthy() -> None:
    health = snapshot([record("news", ChannelStatus.SUBSCRIBED)])
    assert health.healthy
    assert health.problems == ()
    assert health.seconds_since_last_frame == 1.0
    assert health.reconnections == 2
    assert health.state_since == WALL - 100.0
    assert health.checked_at == WALL
    assert health.channels == (ChannelHealth("news", "subscribed"),)


def test_a_connection_silent_for_longer_than_activity_and_pong_timeouts_is_not_healthy() -> None:
    assert snapshot([], last_frame_at=NOW - 150.0).healthy
    health = snapshot([], last_frame_at=NOW - 151.0)
    assert not health.healthy
    assert health.problems == (
        "no frame from the server for 151.0 s (a healthy connection has one within 150 s)",
    )


def test_a_channel_pending_for_longer_than_one_gap_is_not_healthy() -> None:
    """Since the connection, or since its own subscribe() when later."""
    old = record("private-old", ChannelStatus.AUTHORIZING)
    new = record("private-new", ChannelStatus.SUBSCRIBING)
    health = snapshot([old, new], waiting_since={"private-new": NOW - 10.0})
    assert [(c.name, c.status, c.unsubscribed_since) for c in health.channels] == [
        ("private-old", "pending", WALL - 100.0),
        ("private-new", "pending", WALL - 10.0),
    ]
    assert health.problems == (
        "channel 'private-old' not subscribed for 100.0 s (more than one maximum gap, 30 s)",
    )
    assert snapshot([new], waiting_since={"private-new": NOW - 10.0}).healthy


def test_a_retrying_channel_tells_its_error_and_next_retry_and_a_refused_one_is_a_problem() -> None:
    retried = AuthorizationError("HTTP 503", "private-a", status=503, retryable=True)
    refusal = AuthorizationError("HTTP 403", "private-b", status=403)
    retrying = record("private-a", ChannelStatus.FAILED, failure=retried, retry_at=NOW + 4.0)
    under_way = record("private-c", ChannelStatus.AUTHORIZING, failure=retried)
    refused = record("private-b", ChannelStatus.FAILED, failure=refusal)
    waiting = dict.fromkeys(("private-a", "private-b", "private-c"), NOW - 5.0)
    health = snapshot([retrying, under_way, refused], waiting_since=waiting)
    assert health.channels == (
        ChannelHealth("private-a", "retrying", WALL - 5.0, "HTTP 503", WALL + 4.0),
        ChannelHealth("private-c", "retrying", WALL - 5.0, "HTTP 503", None),
        ChannelHealth("private-b", "refused", WALL - 5.0, "HTTP 403", None),
    )
    assert health.problems == ("channel 'private-b' refused: HTTP 403",)
    assert not health.healthy


def test_not_connected_is_not_healthy_and_channels_wait_since_the_loss() -> None:
    health = snapshot(
        [record("news", ChannelStatus.UNSUBSCRIBED)],
        state=ConnectionState.RECONNECTING,
        connection_changed_at=NOW - 3.0,
        connection_changed_at_wall=WALL - 3.0,
        last_frame_at=NOW - 40.0,
    )
    assert not health.healthy
    assert health.problems == ("the connection is RECONNECTING, not CONNECTED",)
    assert health.channels == (ChannelHealth("news", "pending", WALL - 3.0),)
    assert health.seconds_since_last_frame == 40.0


def test_as_dict_is_json_with_channels_by_name() -> None:
    retried = AuthorizationError("HTTP 503", "private-a", status=503, retryable=True)
    health = snapshot(
        [
            record("news", ChannelStatus.SUBSCRIBED),
            record("private-a", ChannelStatus.FAILED, failure=retried, retry_at=NOW + 1.0),
        ],
        waiting_since={"private-a": NOW - 2.0},
    )
    assert json.loads(json.dumps(health.as_dict())) == {
        "healthy": True,
        "state": "CONNECTED",
        "state_since": WALL - 100.0,
        "seconds_since_last_frame": 1.0,
        "reconnections": 2,
        "repeated_errors": 3,
        "channels": {
            "news": {
                "status": "subscribed",
                "unsubscribed_since": None,
                "error": None,
                "next_retry_at": None,
            },
            "private-a": {
                "status": "retrying",
                "unsubscribed_since": WALL - 2.0,
                "error": "HTTP 503",
                "next_retry_at": WALL + 1.0,
            },
        },
        "problems": [],
        "checked_at": WALL,
    }


def test_a_client_not_configured_yet_is_not_healthy_and_nothing_raises() -> None:
    health = PusherChannelsClient().health()
    assert not health.healthy
    assert health.state is ConnectionState.DISCONNECTED
    assert health.problems == ("the client is not configured: call init()",)
    configured = PusherChannelsClient(api_key="key", cluster="eu").health()
    assert configured.problems == ("the connection is DISCONNECTED, not CONNECTED",)
    assert configured.seconds_since_last_frame is None
