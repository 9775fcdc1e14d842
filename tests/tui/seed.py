"""Seeding a real store for dashboard tests through the public API (and, where the API has no
verb for it — a failed attempt, a heartbeat — through the store protocol a worker would use)."""

from __future__ import annotations

from typing import Any

from zapjobs import JobContext, ZapJobs
from zapjobs.models import RunError, RunOutcome, RunStatus, Schedule, ScheduleKind, WorkerInfo
from zapjobs.testing import store_of

JOB_TYPES = ("email-sender", "generate-report")


def make_zap(url: str, **settings: object) -> ZapJobs:
    """A ZapJobs with the test job types registered (bodies never run unless a worker does)."""
    zap = ZapJobs(url, auto_migrate=True, **settings)

    @zap.job("email-sender", max_retries=0)
    async def email_sender(ctx: JobContext[Any]) -> None:
        return None

    @zap.job("generate-report", queue="low")
    async def generate_report(ctx: JobContext[Any]) -> None:
        return None

    return zap


async def make_recurring(zap: ZapJobs, job_type: str = "generate-report") -> None:
    """Give ``job_type`` an hourly schedule, due now (as a recurring declaration would)."""
    schedule = Schedule(ScheduleKind.INTERVAL, "3600")
    await store_of(zap).set_schedule(job_type, schedule, zap.now())


async def finish(
    zap: ZapJobs, job_type: str, count: int, status: RunStatus, *, queue: str | None = None
) -> list[int]:
    """``count`` runs of ``job_type`` taken by a pretend worker and ended with ``status``."""
    ids = await zap.enqueue_many(job_type, [{"n": n} for n in range(count)], queue=queue)
    claimed = await store_of(zap).claim(
        "seed-worker", [queue or _queue(job_type)], [job_type], count
    )
    assert sorted(r.id for r in claimed) == sorted(ids)
    error = RunError("TimeoutError", "SMTP server did not answer", "Traceback ...")
    await store_of(zap).complete(
        [
            RunOutcome(
                run.id,
                "seed-worker",
                run.attempt,
                status,
                output_json="{}" if status is RunStatus.SUCCEEDED else None,
                error=error if status is RunStatus.FAILED else None,
            )
            for run in claimed
        ]
    )
    return ids


def _queue(job_type: str) -> str:
    return "low" if job_type == "generate-report" else "default"


async def heartbeat(zap: ZapJobs, worker_id: str = "web-1-1-ab12") -> None:
    now = zap.now()
    await store_of(zap).heartbeat(
        WorkerInfo(worker_id, "web-1", 1, ("default", "low"), now, now, running=0, concurrency=4)
    )


async def store_state(zap: ZapJobs) -> tuple[object, ...]:
    """Everything an action could change, to compare before and after."""
    runs = await zap.list_runs()
    definitions = await zap.list_definitions()
    return (
        tuple((r.id, r.status, r.attempt, r.run_at, r.cancel_requested) for r in runs),
        tuple((d.job_type, d.enabled) for d in definitions),
    )
