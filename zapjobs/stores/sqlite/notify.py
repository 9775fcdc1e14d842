"""Wake-ups for SQLite, which has no NOTIFY.

In this process: a module-level registry keyed by (resolved file path, table prefix): a write
through any SQLiteStore instance on that file in this process wakes every listener on it, with
the queue and due time of its runs. Handlers run on the event loop that called ``listen`` (via
``call_soon_threadsafe``, since a write may come from another loop or thread).

From other processes: while a key has listeners, one watcher thread reads ``PRAGMA
data_version`` on a connection of its own every ``WATCH_INTERVAL_SECONDS``. The value changes
when any other connection commits to the file; the watcher then delivers one
``Notification("runs", queue=None)`` ("something changed: look again"). The read touches no page
and takes microseconds, so an idle worker stays near 0% CPU (measured: see the README), and a
run enqueued by another process is picked up within the interval instead of a 100 ms poll.
Writes of this process change the value too (the watcher's connection is another connection):
they cost one extra look, never a lost wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterable

from zapjobs.models import Notification
from zapjobs.stores.base import NotificationHandler

logger = logging.getLogger("zapjobs.stores.sqlite")

Key = tuple[str, str]

#: How often the watcher looks for commits of other processes.
WATCH_INTERVAL_SECONDS = 0.01

_lock = threading.Lock()
_registry: dict[Key, list[SQLiteListener]] = {}
_watchers: dict[Key, _Watcher] = {}


class _Watcher:
    """One thread per key: wakes the key's listeners when another connection committed."""

    def __init__(self, key: Key, data_version_sql: str, interval: float) -> None:
        self.key = key
        self._sql = data_version_sql
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zapjobs-sqlite-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.key[0], timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            logger.warning("cannot watch %s for other processes' writes: %s", self.key[0], exc)
            return
        try:
            seen = self._version(conn)
            while not self._stop.wait(self._interval):
                version = self._version(conn)
                if version is not None and version != seen:
                    seen = version
                    publish(self.key, [Notification(kind="runs")])
        finally:
            conn.close()

    def _version(self, conn: sqlite3.Connection) -> int | None:
        try:
            row = conn.execute(self._sql).fetchone()
        except sqlite3.Error:
            return None  # busy or gone for a moment: look again at the next tick
        return None if row is None else int(row[0])


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


def register(
    key: Key,
    handler: NotificationHandler,
    data_version_sql: str,
    *,
    interval: float = WATCH_INTERVAL_SECONDS,
) -> SQLiteListener:
    listener = SQLiteListener(key, handler, asyncio.get_running_loop())
    with _lock:
        _registry.setdefault(key, []).append(listener)
        if key not in _watchers:
            watcher = _watchers[key] = _Watcher(key, data_version_sql, interval)
            watcher.start()
    return listener


def unregister(listener: SQLiteListener) -> None:
    watcher = None
    with _lock:
        live = _registry.get(listener.key, [])
        if listener in live:
            live.remove(listener)
        if not live:
            _registry.pop(listener.key, None)
            watcher = _watchers.pop(listener.key, None)
    if watcher is not None:
        watcher.stop()


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
