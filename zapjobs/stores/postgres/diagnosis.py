"""The diagnosis questions (zapjobs doctor) on PostgreSQL: server settings and statistics, the
NOTIFY round trip, and cheap reads of pending and running runs (their partial indexes) and of
the oldest rows (the time indexes)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from zapjobs.models import (
    ConnectionBudget,
    NotifyRoundTrip,
    QueueBacklog,
    RetentionFacts,
    RunningJobType,
    ServerFacts,
    TableFacts,
)
from zapjobs.stores.postgres.database import Database
from zapjobs.stores.postgres.errors import connect_error

#: the installation's tables, as their names end after the prefix
TABLES = ("runs", "logs", "heartbeats", "definitions", "migrations")


class DiagnosisMixin:
    _db: Database

    def connection_budget(self) -> ConnectionBudget | None:
        general, hot = self._db.pool_sizes
        # A worker's heartbeat store is a sibling on one connection; its LISTEN one more.
        return ConnectionBudget(
            general=general, hot=hot, listen_per_worker=1, heartbeat_per_worker=1
        )

    async def server_facts(self) -> ServerFacts | None:
        row = await self._db.fetch_one(
            "server_facts", {"runs_table": f"{self._db.qualified_prefix}runs"}
        )
        assert row is not None
        return ServerFacts(
            now=row["now"],
            max_connections=int(row["max_connections"]),
            reserved_connections=int(row["reserved_connections"]),
            connections_in_use=int(row["connections_in_use"]),
            autovacuum=bool(row["autovacuum"]),
            runs_autovacuum=bool(row["runs_autovacuum"]),
            runs_vacuum_threshold=int(row["runs_vacuum_threshold"]),
            runs_vacuum_scale_factor=float(row["runs_vacuum_scale_factor"]),
            idle_in_transaction_timeout_seconds=int(row["idle_in_transaction_timeout_ms"] or 0)
            / 1000,
            oldest_transaction_started_at=row["oldest_transaction_started_at"],
        )

    async def table_facts(self) -> list[TableFacts] | None:
        names = [f"{self._db.qualified_prefix}{t}" for t in TABLES]
        found = await self._db.fetch("table_facts", {"tables": names})
        return [
            TableFacts(
                name=r["name"],
                live_rows=max(0, int(r["live_rows"])),
                dead_rows=max(0, int(r["dead_rows"])),
                table_bytes=int(r["table_bytes"]),
                index_bytes=int(r["index_bytes"]),
                invalid_indexes=tuple(r["invalid_indexes"]),
                last_vacuum_at=r["last_vacuum_at"],
            )
            for r in found
        ]

    async def queue_backlog(
        self, *, overdue_after: timedelta, now: datetime | None = None
    ) -> list[QueueBacklog]:
        found = await self._db.fetch("queue_backlog", {"overdue_after": overdue_after, "now": now})
        return [
            QueueBacklog(
                queue=r["queue"],
                pending=int(r["pending"]),
                due=int(r["due"]),
                overdue=int(r["overdue"]),
                oldest_due_at=r["oldest_due_at"],
            )
            for r in found
        ]

    async def running_by_job_type(self) -> list[RunningJobType]:
        found = await self._db.fetch("running_by_job_type")
        return [
            RunningJobType(
                job_type=r["job_type"],
                running=int(r["running"]),
                oldest_run_id=int(r["oldest_run_id"]),
                oldest_started_at=r["oldest_started_at"],
            )
            for r in found
        ]

    async def retention_facts(self) -> RetentionFacts:
        row = await self._db.fetch_one("retention_facts")
        assert row is not None
        return RetentionFacts(row["oldest_finished_at"], row["oldest_log_at"])

    async def notify_round_trip(self, *, timeout: timedelta) -> NotifyRoundTrip | None:
        """LISTEN on a fresh connection, on a channel of its own (so no worker is woken),
        NOTIFY from a pooled connection, and wait for the payload."""
        self._db.require_open()
        channel = f"{self._db.prefix}probe_{secrets.token_hex(8)}"
        payload = secrets.token_hex(8)
        listen = sql.SQL(self._db.queries["listen"]).format(channel=sql.Identifier(channel))
        conn = await self._db.connect()
        started = time.monotonic()
        try:
            try:
                await conn.execute(listen)
            except psycopg.Error as exc:
                raise connect_error(exc, self._db.dsn) from exc
            await self._db.fetch("notify_probe", {"channel": channel, "payload": payload})
            left = timeout.total_seconds() - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, left)):
                    async for notify in conn.notifies():
                        if notify.channel == channel and notify.payload == payload:
                            return NotifyRoundTrip(True, time.monotonic() - started)
            return NotifyRoundTrip(False, time.monotonic() - started)
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
