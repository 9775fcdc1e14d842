"""Workers' heartbeats, stale-worker rescue and retention on SQLite."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from zapjobs.models import RescueResult, RunStatus, WorkerInfo
from zapjobs.stores.sqlite import notify, rows, workflows
from zapjobs.stores.sqlite.database import Database, Session
from zapjobs.stores.wakeups import runs_notifications


class MaintenanceMixin:
    _db: Database

    async def heartbeat(self, worker: WorkerInfo, *, now: datetime | None = None) -> bool:
        params = {
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "queues": json.dumps(list(worker.queues), ensure_ascii=False),
            "started_at": rows.to_us(worker.started_at),
            "running": worker.running,
            "concurrency": worker.concurrency,
            "stopped_at": rows.opt_us(worker.stopped_at),
            "dead_at": rows.opt_us(worker.dead_at),
            "now": rows.now_us(now),
        }

        def beat(s: Session) -> bool:
            # One write transaction: a rescue's mark is either read here or comes after.
            before = s.one("worker_dead_at", {"id": worker.id})
            s.execute("heartbeat", params)
            return before is not None and before["dead_at"] is not None

        return await self._db.write(beat)

    async def worker_stopped(self, worker_id: str, *, now: datetime | None = None) -> None:
        params = {"id": worker_id, "now": rows.now_us(now)}
        await self._db.write(lambda s: s.execute("worker_stopped", params))

    async def list_workers(self) -> list[WorkerInfo]:
        found = await self._db.call(lambda s: s.rows("list_workers"))
        return [rows.worker_from_row(r) for r in found]

    async def get_worker(self, worker_id: str) -> WorkerInfo | None:
        row = await self._db.call(lambda s: s.one("get_worker", {"id": worker_id}))
        return None if row is None else rows.worker_from_row(row)

    async def rescue_stale(
        self, *, stale_after: timedelta, now: datetime | None = None
    ) -> RescueResult:
        at = rows.now_us(now)
        cutoff = at - rows.duration_us(stale_after)

        def rescue(s: Session) -> tuple[RescueResult, list[workflows.Released]]:
            marked = [r["id"] for r in s.rows("rescue_mark_workers", {"now": at, "cutoff": cutoff})]
            lost = s.rows("rescue_lost_runs", {"cutoff": cutoff})
            retry = [r["id"] for r in lost if r["retry"]]
            fail = [r["id"] for r in lost if not r["retry"]]
            retried = s.rows("rescue_retry_runs", {"ids": json.dumps(retry), "now": at})
            failed = s.rows("rescue_fail_runs", {"ids": json.dumps(fail), "now": at})
            ended = [(r["id"], RunStatus.FAILED.value) for r in failed]
            released.extend(workflows.settle(s, ended, at))
            result = RescueResult(
                tuple(sorted(marked)),
                tuple(sorted(r["id"] for r in retried)),
                tuple(sorted(r["id"] for r in failed)),
            )
            return result, [(r["queue"], rows.from_us(at), r["id"]) for r in retried]  # due now

        released: list[workflows.Released] = []
        result, retried = await self._db.write(rescue)
        notify.publish(self._db.notify_key, runs_notifications(retried, rows.from_us(at)))
        notify.publish(self._db.notify_key, runs_notifications(released, rows.from_us(at)))
        return result

    async def _prune_batch(
        self, name: str, retention: timedelta, batch_size: int, now: datetime | None
    ) -> int:
        """One write transaction: other processes get the write lock between batches."""
        cutoff = rows.now_us(now) - rows.duration_us(retention)
        params = {"cutoff": cutoff, "batch_size": batch_size}
        return await self._db.write(lambda s: s.execute(name, params))
