"""Job definitions and recurring schedules on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zapjobs.errors import UnknownJobTypeError
from zapjobs.models import JobDefinition, NewRun, Schedule
from zapjobs.stores.postgres import rows
from zapjobs.stores.postgres.database import Database, run
from zapjobs.stores.sql_common import schedule_params, upserted_definition


class DefinitionsMixin:
    _db: Database

    async def register_definitions(self, definitions: Sequence[JobDefinition]) -> None:
        if definitions:
            await self._db.fetch("register_definitions", rows.definition_params(definitions))

    async def get_definition(self, job_type: str) -> JobDefinition | None:
        row = await self._db.fetch_one("get_definition", {"job_type": job_type})
        return None if row is None else rows.definition_from_row(row)

    async def list_definitions(self) -> list[JobDefinition]:
        return [rows.definition_from_row(r) for r in await self._db.fetch("list_definitions")]

    async def set_overrides(
        self, job_type: str, *, max_retries: int | None, timeout_seconds: float | None
    ) -> JobDefinition:
        params = {
            "job_type": job_type,
            "max_retries": max_retries,
            "timeout_seconds": timeout_seconds,
        }
        return await self._upserted("set_overrides", params)

    async def set_enabled(self, job_type: str, enabled: bool) -> JobDefinition:
        row = await self._db.fetch_one("set_enabled", {"job_type": job_type, "enabled": enabled})
        if row is None:
            known = [d.job_type for d in await self.list_definitions()]
            raise UnknownJobTypeError(job_type, known)
        return rows.definition_from_row(row)

    async def set_schedule(
        self, job_type: str, schedule: Schedule | None, next_due_at: datetime | None
    ) -> JobDefinition:
        params = {"job_type": job_type, "next_due_at": next_due_at}
        return await self._upserted("set_schedule", {**params, **schedule_params(schedule)})

    async def _upserted(self, name: str, params: dict[str, Any]) -> JobDefinition:
        row = await self._db.fetch_one(name, params)
        return upserted_definition(row, rows.DECODERS, name)

    async def due_schedules(self, now: datetime | None = None) -> list[JobDefinition]:
        found = await self._db.fetch("due_schedules", {"now": now})
        return [rows.definition_from_row(r) for r in found]

    async def fire_schedule(
        self,
        job_type: str,
        expected_next_due_at: datetime | None,
        new_next_due_at: datetime,
        runs: Sequence[NewRun],
    ) -> list[int]:
        """Compare-and-set the due time, then insert (skipping taken due times), in one
        transaction: a scheduler that lost the race changes nothing."""
        db = self._db
        advance = {
            "job_type": job_type,
            "expected_next_due_at": expected_next_due_at,
            "new_next_due_at": new_next_due_at,
        }
        insert = {
            "job_type": job_type,
            "now": None,
            "runs_seq": db.runs_seq,
            "channel": db.channel,
            **rows.new_run_params(runs),
        }
        async with db.connection() as conn, conn.transaction():
            if not await run(conn, db.queries["advance_schedule"], advance) or not runs:
                return []
            inserted = await run(conn, db.queries["insert_scheduled_runs"], insert)
        return [r["id"] for r in inserted]
