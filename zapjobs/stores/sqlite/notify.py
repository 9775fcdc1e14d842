"""Same-process wake-ups for SQLite, which has no NOTIFY.

A module-level registry keyed by (resolved file path, table prefix): a write through any
SQLiteStore instance on that file in this process wakes every listener on it. Handlers run on
the event loop that called ``listen`` (via ``call_soon_threadsafe``, since a write may come from
another loop or thread). Other processes are not told; their workers poll.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

from zapjobs.models import Notification
from zapjobs.stores.base import NotificationHandler

Key = tuple[str, str]

_lock = threading.Lock()
_registry: dict[Key, list[SQLiteListener]] = {}


class SQLiteListener:
    """Delivers this process's notifications for one file and prefix until closed."""

    def __init__(
        self, key: Key, handler: NotificationHandler, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.key = key
        self.handler = handler
        self.loop = loop

    async def close(self) -> None:
        unregister(self)


def register(key: Key, handler: NotificationHandler) -> SQLiteListener:
    listener = SQLiteListener(key, handler, asyncio.get_running_loop())
    with _lock:
        _registry.setdefault(key, []).append(listener)
    return listener


def unregister(listener: SQLiteListener) -> None:
    with _lock:
        live = _registry.get(listener.key, [])
        if listener in live:
            live.remove(listener)
        if not live:
            _registry.pop(listener.key, None)


def publish(key: Key, notifications: Iterable[Notification]) -> None:
    """Schedule each handler of ``key`` with each notification, in order; never runs them here."""
    with _lock:
        listeners = list(_registry.get(key, []))
    if not listeners:
        return
    for notification in notifications:
        for listener in listeners:
            if listener.loop.is_closed():
                continue
            try:
                listener.loop.call_soon_threadsafe(listener.handler, notification)
            except RuntimeError:  # the loop closed between the check and the call
                continue


def runs_in(queues: Iterable[str]) -> list[Notification]:
    """One "runs" notification per distinct queue, in a stable order."""
    return [Notification(kind="runs", queue=q) for q in sorted(set(queues))]
