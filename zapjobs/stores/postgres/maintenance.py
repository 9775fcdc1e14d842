"""Workers' heartbeats, stale-worker rescue and retention on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from zapjobs.models import RescueResult, RunStatus, WorkerInfo
from zapjobs.stores.postgres import rows, workflows
from zapjobs.stores.postgres.database import Database


class MaintenanceMixin:
    _db: Database

    async def heartbeat(self, worker: WorkerInfo, *, now: datetime | None = None) -> bool:
        params = {
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "queues": list(worker.queues),
            "started_at": worker.started_at,
            "running": worker.running,
            "concurrency": worker.concurrency,
            "stopped_at": worker.stopped_at,
            "dead_at": worker.dead_at,
            "now": now,
        }
        row = await self._db.fetch_one("heartbeat", params)
        return bool(row is not None and row["was_dead"])

    async def worker_stopped(self, worker_id: str, *, now: datetime | None = None) -> None:
        await self._db.fetch("worker_stopped", {"id": worker_id, "now": now})

    async def list_workers(self) -> list[WorkerInfo]:
        return [rows.worker_from_row(r) for r in await self._db.fetch("list_workers")]

    async def get_worker(self, worker_id: str) -> WorkerInfo | None:
        row = await self._db.fetch_one("get_worker", {"id": worker_id})
        return None if row is None else rows.worker_from_row(row)

    async def rescue_stale(
        self, *, stale_after: timedelta, now: datetime | None = None
    ) -> RescueResult:
        params = {
            "stale_after": stale_after,
            "now": now,
            "channel": self._db.channel,
        }
        marked: list[str] = []
        retried: list[int] = []
        failed: list[int] = []
        for row in await workflows.fetch_settling(self._db, "rescue_stale", params):
            if row["kind"] == "worker":
                marked.append(row["worker_id"])
            elif row["kind"] == "run" and row["status"] == RunStatus.PENDING.value:
                retried.append(row["run_id"])
            elif row["kind"] == "run":
                failed.append(row["run_id"])
        return RescueResult(tuple(sorted(marked)), tuple(sorted(retried)), tuple(sorted(failed)))

    async def _prune_batch(
        self, name: str, retention: timedelta, batch_size: int, now: datetime | None
    ) -> int:
        params = {"retention": retention, "batch_size": batch_size, "now": now}
        row = await self._db.fetch_one(name, params)
        return 0 if row is None else int(row["n"])
