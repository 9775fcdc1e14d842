"""Queue pause across worker processes on PostgreSQL: once pause_queue returns, none of several
worker processes claims the queue's runs, though they keep claiming another queue's (so they
were awake and looking); resuming wakes them at once (their poll is far longer than the
deadline)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.runtime import test_worker_processes as processes
from tests.runtime.test_worker_processes import WorkerProcess, marks, migrated
from zapjobs import RunFilter, RunStatus, ZapJobs

from .engine_helpers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

marks_url = processes.marks_url  # the fixture: a table the jobs mark what ran in

WORKERS = 3
RUNS = 30


@pytest.fixture
def three_workers(marks_url: str) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        for _ in range(WORKERS):
            worker = WorkerProcess(
                marks_url, "--queues", "default,other", "--polling-interval", "60s"
            )
            started.append(worker)
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.kill()


async def _succeeded(zap: ZapJobs, ids: list[int]) -> int:
    return await zap.count_runs(RunFilter(ids=tuple(ids), statuses=(RunStatus.SUCCEEDED,)))


async def test_no_worker_process_claims_a_paused_queue_and_resume_wakes_them(
    marks_url: str, three_workers: list[WorkerProcess]
) -> None:
    zap = await migrated(marks_url)
    try:
        await zap.pause_queue("default")
        # After the pause returned: runs of both queues, interleaved.
        paused_ids: list[int] = []
        other_ids: list[int] = []
        for n in range(RUNS):
            paused_ids.append(await zap.enqueue("insert-row", n, queue="default"))
            other_ids.append(await zap.enqueue("insert-row", n, queue="other"))
        # Every worker was woken by these enqueues and claimed; the other queue drains...
        await wait_until(
            lambda: _succeeded(zap, other_ids),
            lambda n: n == RUNS,
            timeout=30,
            what="the other queue's runs",
        )
        # ...while the paused queue's runs were never claimed by any of them.
        runs = await zap.list_runs(RunFilter(ids=tuple(paused_ids)))
        assert {(r.status, r.attempt) for r in runs} == {(RunStatus.PENDING, 0)}
        assert not {run_id for run_id, _ in marks(marks_url, "done")} & set(paused_ids)

        await zap.resume_queue("default")  # wakes them: their poll is 60 s away
        await wait_until(
            lambda: _succeeded(zap, paused_ids),
            lambda n: n == RUNS,
            timeout=30,
            what="the resumed queue's runs",
        )
        done = marks(marks_url, "done")
        assert sorted(run_id for run_id, _ in done) == sorted(paused_ids + other_ids)
    finally:
        await zap.close()
    for worker in three_workers:
        worker.proc.send_signal(signal.SIGTERM)
    for worker in three_workers:
        code, output = worker.wait(timeout=30)
        assert code == 0, output
