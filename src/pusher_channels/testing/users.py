"""Signed-in users and their watchlists: who is online, and who must be told.

A user is online while at least one connection is signed in as it. Each signed-in
connection may carry a watchlist (user ids); it is told the current status of
every id once it signs in, then each change (``online`` / ``offline``). This
module only keeps the sets and says which connection gets which event; the core
sends them.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["Notice", "Users"]

Notice = tuple[str, dict[str, Any]]
"""A socket id and the ``pusher_internal:watchlist_events`` message for it."""

WATCHLIST_EVENT: Final = "pusher_internal:watchlist_events"


def _watchlist_message(events: list[tuple[str, list[str]]]) -> dict[str, Any]:
    return {
        "event": WATCHLIST_EVENT,
        "data": {"events": [{"name": name, "user_ids": ids} for name, ids in events if ids]},
    }


class Users:
    """Which connections are signed in as whom, and who watches whom."""

    def __init__(self) -> None:
        self._sockets: dict[str, dict[str, None]] = {}
        self._watchers: dict[str, dict[str, None]] = {}

    def sockets_of(self, user_id: str) -> list[str]:
        """The connections signed in as ``user_id``."""
        return list(self._sockets.get(user_id, ()))

    def is_online(self, user_id: str) -> bool:
        """Whether a connection is signed in as ``user_id``."""
        return user_id in self._sockets

    def sign_in(self, socket_id: str, user_id: str, watchlist: tuple[str, ...]) -> list[Notice]:
        """Record a sign-in; return the watchlist events it causes.

        The connection gets the status of its watchlist; if the user just came
        online, its watchers get ``online``.
        """
        notices: list[Notice] = []
        came_online = user_id not in self._sockets
        self._sockets.setdefault(user_id, {})[socket_id] = None
        for watched in watchlist:
            self._watchers.setdefault(watched, {})[socket_id] = None
        if watchlist:
            online = [w for w in watchlist if w in self._sockets]
            offline = [w for w in watchlist if w not in self._sockets]
            notices.append(
                (socket_id, _watchlist_message([("online", online), ("offline", offline)]))
            )
        if came_online:
            notices.extend(self._tell_watchers(user_id, "online", skip=socket_id))
        return notices

    def sign_out(self, socket_id: str, user_id: str, watchlist: tuple[str, ...]) -> list[Notice]:
        """Forget a signed-in connection that closed; return the events it causes."""
        for watched in watchlist:
            watchers = self._watchers.get(watched)
            if watchers is not None:
                watchers.pop(socket_id, None)
                if not watchers:
                    del self._watchers[watched]
        sockets = self._sockets.get(user_id)
        if sockets is None:
            return []
        sockets.pop(socket_id, None)
        if sockets:
            return []
        del self._sockets[user_id]
        return self._tell_watchers(user_id, "offline", skip=None)

    def _tell_watchers(self, user_id: str, name: str, skip: str | None) -> list[Notice]:
        return [
            (watcher, _watchlist_message([(name, [user_id])]))
            for watcher in self._watchers.get(user_id, ())
            if watcher != skip
        ]
