"""Workflows under SIGKILL (issue 16): workers killed in the middle of a chain of 50 steps and
of a fan-in of 200 parents; the workflow still completes, nothing is lost, and the callback is
released once.

The worker that runs the current step is frozen (SIGSTOP), its in-flight runs read, then it is
SIGKILLed: its runs are rescued once its heartbeat goes stale, and a replacement worker starts
without the test waiting for it before the next kill (waiting let the survivors finish first).
Executions are counted from the jobs' own ``executions`` table, never from worker output; a run
executes twice only if it was in flight under a killed worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from zapjobs import JobContext, ZapJobs
from zapjobs.workflows import Workflow

from .apps.chaos_worker import EXECUTIONS_PG
from .harness import Db, WorkerProc, report, scale, wait_until, workers

pytestmark = pytest.mark.postgres


def enqueue(url: str, build: Callable[[ZapJobs], object]) -> Workflow:
    """Enqueue the workflow ``build`` makes, from this process (the jobs only declared)."""

    async def run() -> Workflow:
        zap = ZapJobs(url, auto_migrate=True, enable_scheduler=False)

        @zap.job("step", max_retries=50)
        async def step(ctx: JobContext[int]) -> int:
            return ctx.input + 1

        @zap.job("gather", max_retries=50)
        async def gather(ctx: JobContext[list[int]]) -> int:
            return sum(ctx.input)

        async with zap:
            return await build(zap)  # type: ignore[misc, no-any-return]

    return asyncio.run(run())


def run_under_kills(
    url: str, *, kills: int, worker_count: int, concurrency: int, total: int
) -> tuple[set[int], int]:
    """Start workers, SIGKILL the busiest ``kills`` times as executions pass each step of
    ``total``, then wait until no run is unfinished; the in-flight runs at the kills, and the
    kills done."""
    db = Db(url)
    args = ["--concurrency", str(concurrency), "--heartbeat", "0.5s", "--stale", "3s"]
    in_flight: set[int] = set()
    kills_done = 0
    with workers() as started:
        starting: list[WorkerProc] = []  # replacements not seen ready yet: never chosen
        for _ in range(worker_count):
            started.append(WorkerProc(url, *args))
        for w in started:
            w.wait_ready()
        step = max(1, total // (kills + 1))
        while kills_done < kills:
            target = (kills_done + 1) * step
            wait_until(
                lambda t=target: (  # type: ignore[misc]
                    sum(db.execution_counts().values()) >= t or db.unfinished() == 0
                ),
                120,
                f"{target} executions",
            )
            if db.unfinished() == 0:
                break
            live = [w for w in started if w.alive() and w not in starting]
            if not live:
                for w in starting:
                    w.wait_ready()
                starting.clear()
                live = [w for w in started if w.alive()]
            busiest = max(live, key=lambda w: len(db.running_under(w.worker_id)))
            os.kill(busiest.pid, signal.SIGSTOP)  # frozen: its in-flight set cannot move
            in_flight |= db.running_under(busiest.worker_id)
            busiest.stop(signal.SIGKILL, timeout=10)
            kills_done += 1
            fresh = WorkerProc(url, *args)
            started.append(fresh)
            starting.append(fresh)
        for w in starting:
            w.wait_ready()
        wait_until(lambda: db.unfinished() == 0, 180, "the workflow to finish")
        for w in started:
            if w.alive():
                out = w.stop(signal.SIGTERM)
                assert "Traceback" not in out, out
    return in_flight, kills_done


def outputs(db: Db, ids: tuple[int, ...]) -> dict[int, tuple[str, object]]:
    rows = db.query("SELECT id, status, output FROM zapjobs_runs WHERE id = ANY(%s)", (list(ids),))
    return {int(run_id): (status, output) for run_id, status, output in rows}


def test_sigkill_in_the_middle_of_a_chain_of_50_steps(pg_url: str) -> None:
    steps = 50
    workflow = enqueue(pg_url, lambda zap: zap.chain(zap.step("step", 0), *["step"] * (steps - 1)))
    db = Db(pg_url)
    db.execute(EXECUTIONS_PG)
    in_flight, kills = run_under_kills(
        pg_url, kills=scale(2, 6), worker_count=2, concurrency=4, total=steps
    )

    runs = outputs(db, workflow.run_ids)
    executions = db.execution_counts()
    duplicates = {run_id for run_id, n in executions.items() if n > 1}
    report("workflow-chain", steps=steps, kills=kills, duplicates=len(duplicates))
    assert kills == scale(2, 6), "the chain finished before every kill was injected"
    assert len(workflow.run_ids) == steps and db.status_counts() == {"succeeded": steps}
    assert [runs[i] for i in workflow.run_ids] == [("succeeded", n + 1) for n in range(steps)]
    assert set(executions) == set(workflow.run_ids)  # every step ran: none lost
    assert duplicates <= in_flight, sorted(duplicates - in_flight)


def test_sigkill_in_the_middle_of_a_fan_in_of_200(pg_url: str) -> None:
    parents = 200
    workflow = enqueue(
        pg_url,
        lambda zap: zap.group([zap.step("step", n) for n in range(parents)]).then("gather"),
    )
    db = Db(pg_url)
    db.execute(EXECUTIONS_PG)
    in_flight, kills = run_under_kills(
        pg_url, kills=scale(3, 8), worker_count=3, concurrency=2, total=parents
    )

    callback = workflow.last
    runs = outputs(db, workflow.run_ids)
    executions = db.execution_counts()
    duplicates = {run_id for run_id, n in executions.items() if n > 1}
    report("workflow-fan-in", parents=parents, kills=kills, duplicates=len(duplicates))
    assert kills == scale(3, 8), "the fan-in finished before every kill was injected"
    assert db.status_counts() == {"succeeded": parents + 1}
    # one callback run, released once, with every parent's output in the group's order
    assert db.query("SELECT count(*) FROM zapjobs_runs WHERE job_type = 'gather'") == [(1,)]
    assert runs[callback] == ("succeeded", sum(n + 1 for n in range(parents)))
    assert set(executions) == set(workflow.run_ids)  # every parent and the callback ran
    assert executions[callback] == 1 or callback in in_flight
    assert duplicates <= in_flight, sorted(duplicates - in_flight)
