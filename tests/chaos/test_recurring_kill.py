"""Scenario 6: an every-second schedule with two schedulers, one SIGKILLed midway.

Every due time between the first and the last fired must have exactly one run (no tick lost,
none doubled), and a tick run executes twice only if it was running under the killed worker.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from datetime import timedelta

from zapjobs import JobContext, ZapJobs

from .apps.chaos_worker import EXECUTIONS_PG
from .harness import Db, WorkerProc, report, wait_until, workers


async def set_schedule(url: str) -> None:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("tick", max_retries=0)
    async def tick(ctx: JobContext[object]) -> None:
        return None

    try:
        await zap.open()
        await zap.recurring("tick", interval=timedelta(seconds=1))
    finally:
        await zap.close()


def tick_count(db: Db) -> int:
    return int(db.query("SELECT count(*) FROM zapjobs_runs WHERE job_type = 'tick'")[0][0])


def test_recurring_survives_a_scheduler_kill(pg_url: str) -> None:
    db = Db(pg_url)
    asyncio.run(set_schedule(pg_url))
    db.execute(EXECUTIONS_PG)
    args = ["--concurrency", "4", "--heartbeat", "0.5s", "--stale", "3s"]
    with workers() as started:
        for _ in range(2):
            started.append(WorkerProc(pg_url, *args))
        for w in started:
            w.wait_ready()
        wait_until(lambda: tick_count(db) >= 4, 60, "4 ticks")
        victim = started[0]
        os.kill(victim.pid, signal.SIGSTOP)
        in_flight = db.running_under(victim.worker_id)
        victim.stop(signal.SIGKILL)
        t0 = time.monotonic()
        at_kill = tick_count(db)
        wait_until(lambda: tick_count(db) >= at_kill + 6, 60, "6 more ticks after the kill")
        recovered = time.monotonic() - t0
        started[1].stop(signal.SIGTERM)

    rows = db.query(
        "SELECT schedule_due_at, status, id, error_type FROM zapjobs_runs "
        "WHERE job_type = 'tick' ORDER BY schedule_due_at"
    )
    due = [r[0] for r in rows]
    gaps = [b - a for a, b in itertools.pairwise(due)]
    executions = db.execution_counts()
    duplicates = {run_id for run_id, count in executions.items() if count > 1}
    report(
        "recurring-kill",
        ticks=len(due),
        faults="1 scheduler SIGKILL",
        lost=sum(1 for g in gaps if g > timedelta(seconds=1)),
        doubled=len(due) - len(set(due)),
        duplicates=len(duplicates),
        in_flight_at_kill=len(in_flight),
        recover_s=round(recovered, 1),
    )
    assert None not in due
    assert len(set(due)) == len(due), "a due time was enqueued twice"
    assert all(g == timedelta(seconds=1) for g in gaps), gaps
    assert duplicates <= in_flight
    # The ticks fired before the kill all ended: succeeded, or (max_retries=0) failed as
    # "WorkerLost" by the rescue when they were running under the killed worker.
    for _, status, run_id, error_type in rows[:at_kill]:
        if run_id in in_flight:
            assert (status, error_type) in {("succeeded", None), ("failed", "WorkerLost")}
        else:
            assert status == "succeeded", rows[:at_kill]
