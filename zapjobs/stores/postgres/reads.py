"""Reading runs on PostgreSQL: lookups, keyset pages, counts, logs and dashboard aggregates."""

from __future__ import annotations

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
from zapjobs.stores.postgres import rows
from zapjobs.stores.postgres.database import Database
from zapjobs.stores.sql_common import (
    backlog_from_rows,
    error_groups_from_rows,
    failures_from_rows,
    job_type_stats_from_rows,
    sorted_listing,
    stats_from_rows,
)


class RunReadsMixin:
    _db: Database

    async def get_runs(self, run_ids: Sequence[int]) -> list[JobRun]:
        if not run_ids:
            return []
        found = await self._db.fetch("get_runs", {"ids": list(dict.fromkeys(run_ids))})
        return [rows.run_from_row(r) for r in found]

    async def latest_runs(self, job_types: Sequence[str]) -> list[JobRun]:
        if not job_types:
            return []
        found = await self._db.fetch("latest_runs", {"job_types": list(dict.fromkeys(job_types))})
        return [rows.run_from_row(r) for r in found]

    async def latest_failures(self, limit: int) -> list[JobRun]:
        if limit <= 0:
            return []
        found = await self._db.fetch("latest_failures", {"limit": limit})
        return [rows.run_from_row(r) for r in found]

    async def list_runs(self, selection: RunFilter, page: Page) -> list[JobRun]:
        if page.limit <= 0:
            return []
        filtered = rows.filter_params(selection, None)
        if page.sort is RunSort.CREATED and not page.ascending:
            params = {"before_id": page.before_id, "limit": page.limit, **filtered}
            return [rows.run_from_row(r) for r in await self._db.fetch("list_runs", params)]
        found: list[JobRun] = []
        for name, cursor in sorted_listing(page, lambda when: when):
            params = {**filtered, **cursor, "limit": page.limit - len(found)}
            found += [rows.run_from_row(r) for r in await self._db.fetch(name, params)]
            if len(found) >= page.limit:
                break
        return found

    async def count_runs(self, selection: RunFilter) -> int:
        row = await self._db.fetch_one("count_runs", rows.filter_params(selection, None))
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
        return [rows.log_from_row(r) for r in await self._db.fetch(name, params)]

    async def count_logs(self, run_id: int, *, min_level: LogLevel | None = None) -> int:
        params = {"run_id": run_id, "min_level": None if min_level is None else int(min_level)}
        row = await self._db.fetch_one("count_logs", params)
        return 0 if row is None else int(row["n"])

    async def stats(self, *, now: datetime | None = None) -> Stats:
        return stats_from_rows(await self._db.fetch("stats", {"now": now}), lambda value: value)

    async def throughput(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[ThroughputPoint]:
        found = await self._db.fetch("throughput", {"since": since, "now": now})
        return [ThroughputPoint(r["minute"], r["succeeded"], r["failed"]) for r in found]

    async def job_type_stats(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[JobTypeStats]:
        found = await self._db.fetch("job_type_stats", {"since": since, "now": now})
        return job_type_stats_from_rows(found)

    async def backlog(self, *, now: datetime | None = None) -> list[Backlog]:
        found = await self._db.fetch("run_backlog", {"now": now})
        return backlog_from_rows(found, lambda value: value)

    async def failures_since(self, *, since: datetime) -> list[FailureCount]:
        return failures_from_rows(await self._db.fetch("failures_since", {"since": since}))

    async def error_groups(self, *, since: datetime, limit: int = 10) -> list[ErrorGroup]:
        if limit <= 0:
            return []
        return error_groups_from_rows(
            await self._db.fetch("error_groups", {"since": since, "limit": limit})
        )
