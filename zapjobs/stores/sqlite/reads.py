"""Reading runs on SQLite: lookups, keyset pages, counts, logs and dashboard aggregates."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from zapjobs.models import (
    Backlog,
    ErrorGroup,
    FailureCount,
    JobRun,
    JobTypeStats,
    LogEntry,
    LogLevel,
    Page,
    RunFilter,
    RunSort,
    Stats,
    ThroughputPoint,
)
from zapjobs.stores.sql_common import (
    backlog_from_rows,
    error_groups_from_rows,
    failures_from_rows,
    job_type_stats_from_rows,
    sorted_listing,
    stats_from_rows,
)
from zapjobs.stores.sqlite import rows
from zapjobs.stores.sqlite.database import Database, Session


class RunReadsMixin:
    _db: Database

    async def get_runs(self, run_ids: Sequence[int]) -> list[JobRun]:
        if not run_ids:
            return []
        params = {"ids": json.dumps(list(dict.fromkeys(run_ids)))}
        found = await self._db.call(lambda s: s.rows("get_runs", params))
        return [rows.run_from_row(r) for r in found]

    async def latest_runs(self, job_types: Sequence[str]) -> list[JobRun]:
        if not job_types:
            return []
        params = {"job_types": json.dumps(list(dict.fromkeys(job_types)))}
        found = await self._db.call(lambda s: s.rows("latest_runs", params))
        return [rows.run_from_row(r) for r in found]

    async def latest_failures(self, limit: int) -> list[JobRun]:
        if limit <= 0:
            return []
        found = await self._db.call(lambda s: s.rows("latest_failures", {"limit": limit}))
        return [rows.run_from_row(r) for r in found]

    async def list_runs(self, selection: RunFilter, page: Page) -> list[JobRun]:
        if page.limit <= 0:
            return []
        filtered = rows.filter_params(selection, rows.now_us(None))
        if page.sort is RunSort.CREATED and not page.ascending:
            params = {"before_id": page.before_id, "limit": page.limit, **filtered}
            name = f"list_runs:{rows.drive_variant(selection)}"
            found = await self._db.call(lambda s: s.rows(name, params))
            return [rows.run_from_row(r) for r in found]
        steps = sorted_listing(page, rows.to_us)

        def listed(s: Session) -> list[sqlite3.Row]:
            found: list[sqlite3.Row] = []
            for name, cursor in steps:  # in one call: one snapshot of the table
                found += s.rows(name, {**filtered, **cursor, "limit": page.limit - len(found)})
                if len(found) >= page.limit:
                    break
            return found

        return [rows.run_from_row(r) for r in await self._db.call(listed)]

    async def count_runs(self, selection: RunFilter) -> int:
        params = rows.filter_params(selection, rows.now_us(None))
        name = f"count_runs:{rows.drive_variant(selection)}"
        row = await self._db.call(lambda s: s.one(name, params))
        return 0 if row is None else int(row["n"])

    async def list_logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[LogEntry]:
        if limit <= 0:
            return []
        params = {
            "run_id": run_id,
            "after_id": after_id,
            "before_id": before_id,
            "min_level": None if min_level is None else int(min_level),
            "search": search or None,
            "limit": limit,
        }
        name = "list_logs_newest" if newest_first else "list_logs"
        found = await self._db.call(lambda s: s.rows(name, params))
        return [rows.log_from_row(r) for r in found]

    async def count_logs(self, run_id: int, *, min_level: LogLevel | None = None) -> int:
        params = {"run_id": run_id, "min_level": None if min_level is None else int(min_level)}
        row = await self._db.call(lambda s: s.one("count_logs", params))
        return 0 if row is None else int(row["n"])

    async def stats(self, *, now: datetime | None = None) -> Stats:
        params = {"now": rows.now_us(now)}
        found = await self._db.call(lambda s: s.rows("stats", params))
        return stats_from_rows(found, rows.opt_from_us)

    async def throughput(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[ThroughputPoint]:
        params = {"since": rows.to_us(since), "now": rows.now_us(now)}
        found = await self._db.call(lambda s: s.rows("throughput", params))
        return [
            ThroughputPoint(rows.from_us(r["minute"]), r["succeeded"], r["failed"]) for r in found
        ]

    async def job_type_stats(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[JobTypeStats]:
        params = {"since": rows.to_us(since), "now": rows.now_us(now)}
        return job_type_stats_from_rows(
            await self._db.call(lambda s: s.rows("job_type_stats", params))
        )

    async def backlog(self, *, now: datetime | None = None) -> list[Backlog]:
        params = {"now": rows.now_us(now)}
        found = await self._db.call(lambda s: s.rows("run_backlog", params))
        return backlog_from_rows(found, rows.opt_from_us)

    async def failures_since(self, *, since: datetime) -> list[FailureCount]:
        params = {"since": rows.to_us(since)}
        return failures_from_rows(await self._db.call(lambda s: s.rows("failures_since", params)))

    async def error_groups(self, *, since: datetime, limit: int = 10) -> list[ErrorGroup]:
        if limit <= 0:
            return []
        params = {"since": rows.to_us(since), "limit": limit}
        return error_groups_from_rows(await self._db.call(lambda s: s.rows("error_groups", params)))
