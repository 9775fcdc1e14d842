"""The diagnosis questions (zapjobs doctor) on SQLite: what an embedded file can answer. It has
no server (no settings, no connections, no clock of its own) and no notifications between
processes; its pending and running runs are read through their partial indexes."""

from __future__ import annotations

from datetime import datetime, timedelta

from zapjobs.models import (
    ConnectionBudget,
    NotifyRoundTrip,
    QueueBacklog,
    RetentionFacts,
    RunningJobType,
    ServerFacts,
    TableFacts,
)
from zapjobs.stores.sqlite import rows
from zapjobs.stores.sqlite.database import Database


class DiagnosisMixin:
    _db: Database

    def connection_budget(self) -> ConnectionBudget | None:
        return None

    async def server_facts(self) -> ServerFacts | None:
        return None

    async def table_facts(self) -> list[TableFacts] | None:
        return None

    async def queue_backlog(
        self, *, overdue_after: timedelta, now: datetime | None = None
    ) -> list[QueueBacklog]:
        at = rows.now_us(now)
        params = {"now": at, "overdue_before": at - rows.duration_us(overdue_after)}
        found = await self._db.call(lambda s: s.rows("queue_backlog", params))
        return [
            QueueBacklog(
                queue=r["queue"],
                pending=int(r["pending"]),
                due=int(r["due"] or 0),
                overdue=int(r["overdue"] or 0),
                oldest_due_at=rows.opt_from_us(r["oldest_due_at"]),
            )
            for r in found
        ]

    async def running_by_job_type(self) -> list[RunningJobType]:
        found = await self._db.call(lambda s: s.rows("running_by_job_type", {}))
        return [
            RunningJobType(
                job_type=r["job_type"],
                running=int(r["running"]),
                oldest_run_id=int(r["oldest_run_id"]),
                oldest_started_at=rows.from_us(r["oldest_started_at"]),
            )
            for r in found
        ]

    async def retention_facts(self) -> RetentionFacts:
        row = await self._db.call(lambda s: s.one("retention_facts", {}))
        assert row is not None
        return RetentionFacts(
            oldest_finished_at=rows.opt_from_us(row["oldest_finished_at"]),
            oldest_log_at=rows.opt_from_us(row["oldest_log_at"]),
        )

    async def notify_round_trip(self, *, timeout: timedelta) -> NotifyRoundTrip | None:
        return None
