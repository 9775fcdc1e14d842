"""The production store: PostgreSQL through psycopg 3 (async) and a connection pool.

Every statement comes from queries.sql. The protocol's methods are grouped by subject in the
mixins below (definitions, run writes, run reads, maintenance, queues, migrations); this class
adds the lifecycle and LISTEN.
"""

from __future__ import annotations

from collections.abc import Mapping

from zapjobs.stores.base import Listener, NotificationHandler
from zapjobs.stores.postgres.database import Database
from zapjobs.stores.postgres.definitions import DefinitionsMixin
from zapjobs.stores.postgres.diagnosis import DiagnosisMixin
from zapjobs.stores.postgres.flow import FlowMixin, Grants
from zapjobs.stores.postgres.maintenance import MaintenanceMixin
from zapjobs.stores.postgres.migrations import MigrationsMixin
from zapjobs.stores.postgres.notify import WAKE_SHARDS, PostgresListener
from zapjobs.stores.postgres.queues import QueuesMixin
from zapjobs.stores.postgres.reads import RunReadsMixin
from zapjobs.stores.postgres.runs import RunWritesMixin
from zapjobs.stores.sql_common import SQLStoreBase, TrackedListener
from zapjobs.stores.sql_flow import LimitedClaims


class ShardedTrackedListener(TrackedListener[PostgresListener]):
    shard_count = WAKE_SHARDS

    async def follow_shards(self, shards: frozenset[int] | None) -> None:
        await self.listener.follow_shards(shards)


class PostgresStore(
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
    """The Store protocol on PostgreSQL; ``cross_process_notify`` through LISTEN/NOTIFY."""

    backend = "postgres"
    cross_process_notify = True

    def __init__(
        self,
        dsn: str,
        *,
        prefix: str = "zapjobs_",
        min_size: int = 1,
        max_size: int = 10,
        single_connection: bool = False,
    ) -> None:
        """``single_connection``: one connection, made on first use and again after it broke,
        instead of pools (see ``sibling``)."""
        self._db = Database(
            dsn, prefix=prefix, min_size=min_size, max_size=max_size, single=single_connection
        )
        self.prefix = self._db.prefix
        self._listeners: set[PostgresListener] = set()
        self._limited_claims = LimitedClaims()
        self._flow_grants = Grants()

    async def open(self) -> None:
        """Connect: probe once (a one-line ConnectionFailedError on failure), then the pool."""
        await self._db.open()

    async def close(self) -> None:
        for listener in list(self._listeners):
            await listener.close()
        self._listeners.clear()
        await self._db.close()

    def sibling(self) -> PostgresStore:
        """The same DSN and installation on one connection of its own (no pool, so no pool
        reconnection backoff delays a heartbeat after an outage)."""
        return PostgresStore(self._db.dsn, prefix=self.prefix, single_connection=True)

    async def listen(self, handler: NotificationHandler) -> Listener:
        self._db.require_open()
        listener = PostgresListener(
            connect=self._db.connect,
            dsn=self._db.dsn,
            listen_sql=self._db.queries["listen"],
            unlisten_sql=self._db.queries["unlisten"],
            ping_sql=self._db.queries["ping"],
            channel=self._db.channel,
            handler=handler,
            deadline=self._db.deadline,
        )
        await listener.start()
        self._listeners.add(listener)
        return ShardedTrackedListener(self._listeners, listener)

    @property
    def channel(self) -> str:
        """The NOTIFY channel of this installation (a hash of schema and prefix)."""
        return self._db.channel

    @property
    def queries(self) -> Mapping[str, str]:
        """The rendered statements, for diagnostics and the schema drift test."""
        return dict(self._db.queries)
