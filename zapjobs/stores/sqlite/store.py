"""The zero-setup store: one SQLite file on one machine, shared by any number of processes.

Only the standard library's sqlite3, kept off the event loop on one thread per store (see
database.py). Every statement comes from queries.sql. The protocol's methods are grouped by
subject in the mixins below; this class adds the lifecycle and same-process ``listen``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from zapjobs.stores.base import Listener, NotificationHandler
from zapjobs.stores.sql_common import SQLStoreBase, TrackedListener
from zapjobs.stores.sqlite import notify
from zapjobs.stores.sqlite.database import BUSY_TIMEOUT_SECONDS, Database
from zapjobs.stores.sqlite.definitions import DefinitionsMixin
from zapjobs.stores.sqlite.diagnosis import DiagnosisMixin
from zapjobs.stores.sqlite.flow import FlowMixin
from zapjobs.stores.sqlite.maintenance import MaintenanceMixin
from zapjobs.stores.sqlite.migrations import MigrationsMixin
from zapjobs.stores.sqlite.queues import QueuesMixin
from zapjobs.stores.sqlite.reads import RunReadsMixin
from zapjobs.stores.sqlite.runs import RunWritesMixin


class SQLiteStore(
    MigrationsMixin,
    DefinitionsMixin,
    RunWritesMixin,
    RunReadsMixin,
    MaintenanceMixin,
    DiagnosisMixin,
    QueuesMixin,
    FlowMixin,
    SQLStoreBase,
):
    """The Store protocol on a SQLite file (``sqlite:///relative.db``,
    ``sqlite:////absolute/path.db``). Notifications of this process carry queues and due times;
    other processes' commits are noticed within milliseconds (see notify.py)."""

    backend = "sqlite"
    cross_process_notify = True  # a watcher thread notices other processes' commits

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "zapjobs_",
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self._db = Database(url, prefix=prefix, busy_timeout=busy_timeout)
        self._busy_timeout = busy_timeout
        self.prefix = self._db.prefix
        self._listeners: set[notify.SQLiteListener] = set()

    @property
    def path(self) -> Path:
        """The database file (absolute)."""
        return self._db.path

    @property
    def queries(self) -> Mapping[str, str]:
        """The rendered statements, for diagnostics and tests."""
        return dict(self._db.queries)

    async def open(self) -> None:
        """Open the file (WAL, busy timeout, foreign keys); a one-line ConnectionFailedError
        naming the path if it cannot be opened."""
        await self._db.open()

    async def close(self) -> None:
        for listener in list(self._listeners):
            await listener.close()
        self._listeners.clear()
        await self._db.close()

    def sibling(self) -> SQLiteStore:
        """The same file (by its absolute path) through a connection and thread of its own."""
        return SQLiteStore(
            f"sqlite:///{self._db.path}", prefix=self.prefix, busy_timeout=self._busy_timeout
        )

    async def listen(self, handler: NotificationHandler) -> Listener:
        self._db.require_open()
        listener = notify.register(self._db.notify_key, handler, self._db.queries["data_version"])
        self._listeners.add(listener)
        return TrackedListener(self._listeners, listener)
