"""Job definitions and recurring schedules on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zapjobs.errors import UnknownJobTypeError
from zapjobs.models import JobDefinition, NewRun, Schedule
from zapjobs.stores.sql_common import schedule_params, upserted_definition
from zapjobs.stores.sqlite import notify, rows
from zapjobs.stores.sqlite.database import Database, Session
from zapjobs.stores.sqlite.rows import Row


class DefinitionsMixin:
    _db: Database

    async def register_definitions(self, definitions: Sequence[JobDefinition]) -> None:
        if not definitions:
            return
        now = rows.now_us(None)
        params = [rows.definition_params(d, now) for d in definitions]  # later duplicates win
        await self._db.write(lambda s: s.many("register_definition", params))

    async def get_definition(self, job_type: str) -> JobDefinition | None:
        row = await self._db.call(lambda s: s.one("get_definition", {"job_type": job_type}))
        return None if row is None else rows.definition_from_row(row)

    async def list_definitions(self) -> list[JobDefinition]:
        found = await self._db.call(lambda s: s.rows("list_definitions"))
        return [rows.definition_from_row(r) for r in found]

    async def set_overrides(
        self, job_type: str, *, max_retries: int | None, timeout_seconds: float | None
    ) -> JobDefinition:
        params = {
            "job_type": job_type,
            "max_retries": max_retries,
            "timeout_seconds": timeout_seconds,
            "now": rows.now_us(None),
        }

        def override(s: Session) -> Row | None:
            row = s.one("set_overrides", params)
            if row is not None:
                budget = rows.definition_from_row(row).max_attempts
                s.execute("rebudget_runs", {"job_type": job_type, "max_attempts": budget})
            return row

        return upserted_definition(await self._db.write(override), rows.DECODERS, "set_overrides")

    async def set_enabled(self, job_type: str, enabled: bool) -> JobDefinition:
        params = {"job_type": job_type, "enabled": int(enabled), "now": rows.now_us(None)}
        row = await self._db.write(lambda s: s.one("set_enabled", params))
        if row is None:
            known = [d.job_type for d in await self.list_definitions()]
            raise UnknownJobTypeError(job_type, known)
        return rows.definition_from_row(row)

    async def set_schedule(
        self, job_type: str, schedule: Schedule | None, next_due_at: datetime | None
    ) -> JobDefinition:
        params = {
            "job_type": job_type,
            "next_due_at": rows.opt_us(next_due_at),
            "now": rows.now_us(None),
            **schedule_params(schedule),
        }
        return await self._upserted("set_schedule", params)

    async def _upserted(self, name: str, params: dict[str, Any]) -> JobDefinition:
        row = await self._db.write(lambda s: s.one(name, params))
        return upserted_definition(row, rows.DECODERS, name)

    async def due_schedules(self, now: datetime | None = None) -> list[JobDefinition]:
        params = {"now": rows.now_us(now)}
        found = await self._db.call(lambda s: s.rows("due_schedules", params))
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
        now = rows.now_us(None)
        advance = {
            "job_type": job_type,
            "expected_next_due_at": rows.opt_us(expected_next_due_at),
            "new_next_due_at": rows.to_us(new_next_due_at),
            "now": now,
        }
        insert = {"runs": rows.new_runs_param(runs), "now": now}

        def fire(s: Session) -> tuple[list[int], set[str]]:
            if s.one("advance_schedule", advance) is None or not runs:
                return [], set()
            inserted = sorted(s.rows("insert_scheduled_runs", insert), key=lambda r: r["id"])
            if inserted:
                latest = inserted[-1]
                s.execute(
                    "mark_schedule_fired",
                    {
                        "job_type": job_type,
                        "last_due_at": latest["schedule_due_at"],
                        "last_run_id": latest["id"],
                    },
                )
            return [r["id"] for r in inserted], {r["queue"] for r in inserted}

        ids, queues = await self._db.write(fire)
        notify.publish(self._db.notify_key, notify.runs_in(queues))
        return ids
