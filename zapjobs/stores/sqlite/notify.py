"""Wake-ups for SQLite, which has no NOTIFY.

In this process: a module-level registry keyed by (resolved file path, table prefix): a write
through any SQLiteStore instance on that file in this process wakes every listener on it, with
the queue and due time of its runs. Handlers run on the event loop that called ``listen`` (via
``call_soon_threadsafe``, since a write may come from another loop or thread).

From other processes: while a key has listeners, one watcher thread reads ``PRAGMA
data_version`` on a connection of its own. The value changes when any other connection commits
to the file; the watcher then delivers one ``Notification("runs", queue=None)`` ("something
changed: look again"). Writes of this process change the value too (the watcher's connection is
another connection): they cost one extra look, never a lost wake-up.

When it reads: on Linux, when inotify (through ctypes, no dependency) reports a write to a file
of the database's folder (a commit appends to the -wal file, or writes the file itself), and every
``SAFETY_INTERVAL_SECONDS`` anyway; elsewhere, or when inotify cannot be set up, every
``WATCH_INTERVAL_SECONDS``. Measured (bench/README.md, "SQLite across processes"): the 10 ms
poll cost an idle worker process about 2% of a core on this VM (the thread waking 100 times a
second), a 50 ms poll misses the 25 ms pickup target, and inotify costs about nothing idle with a
pickup as fast as the 10 ms poll's. The folder, not the -wal file, is watched: SQLite deletes and
recreates the -wal file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import sqlite3
import sys
import threading
from collections.abc import Iterable

from zapjobs.models import Notification
from zapjobs.stores.base import NotificationHandler

logger = logging.getLogger("zapjobs.stores.sqlite")

Key = tuple[str, str]

#: How often the watcher looks for commits of other processes without inotify.
WATCH_INTERVAL_SECONDS = 0.01
#: With inotify: how often it looks anyway (a missed event costs at most this).
SAFETY_INTERVAL_SECONDS = 1.0
#: After a write event, the version is read again every RECHECK_SECONDS, up to RECHECKS times,
#: until it changes: the event comes with the write of the -wal frames, and the commit becomes
#: visible a moment later (without this, such a commit waited for the next write: p99 23 ms).
RECHECK_SECONDS = 0.002
RECHECKS = 5
#: Whether to try inotify (tests set False to exercise the poll).
USE_INOTIFY = sys.platform.startswith("linux")

_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000


def _inotify_folder(path: str) -> int | None:
    """A non-blocking inotify descriptor watching the writes in ``path``'s folder, or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
        if fd < 0:
            return None
        folder = os.path.dirname(os.path.abspath(path)) or "."
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        if int(libc.inotify_add_watch(fd, os.fsencode(folder), mask)) < 0:
            os.close(fd)
            return None
        return fd
    except (OSError, AttributeError):
        return None


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
        self._rechecks = 0  # short re-reads left after a write was seen
        self._stop_r, self._stop_w = os.pipe()  # wakes a thread blocked on inotify
        self._thread = threading.Thread(target=self._run, name="zapjobs-sqlite-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            os.close(self._stop_r)
            os.close(self._stop_w)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.key[0], timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            logger.warning("cannot watch %s for other processes' writes: %s", self.key[0], exc)
            return
        events = _inotify_folder(self.key[0]) if USE_INOTIFY else None
        try:
            seen = self._version(conn)
            while self._wait(events):
                version = self._version(conn)
                if version is not None and version != seen:
                    seen = version
                    self._rechecks = 0
                    publish(self.key, [Notification(kind="runs")])
        finally:
            conn.close()
            if events is not None:
                os.close(events)

    def _wait(self, events: int | None) -> bool:
        """Until it is time to read the version again; False once stopped."""
        if events is None:
            return not self._stop.wait(self._interval)
        if self._rechecks > 0:
            self._rechecks -= 1
            return not self._stop.wait(RECHECK_SECONDS)
        try:
            ready, _, _ = select.select([events, self._stop_r], [], [], SAFETY_INTERVAL_SECONDS)
        except OSError:
            return not self._stop.wait(self._interval)
        if events in ready:
            try:
                while os.read(events, 65536):  # drain: one look covers every write so far
                    pass
            except BlockingIOError:
                pass
            self._rechecks = RECHECKS
        return not self._stop.is_set()

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
    interval: float | None = None,
) -> SQLiteListener:
    listener = SQLiteListener(key, handler, asyncio.get_running_loop())
    with _lock:
        _registry.setdefault(key, []).append(listener)
        if key not in _watchers:
            every = WATCH_INTERVAL_SECONDS if interval is None else interval
            watcher = _watchers[key] = _Watcher(key, data_version_sql, every)
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
