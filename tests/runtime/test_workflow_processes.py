"""Workflows across real worker processes on PostgreSQL: a fan-in of 100 parents drained by 4
worker processes releases its callback exactly once, round after round; half the rounds enqueue
while the workers already run, so children are enqueued while their parents complete."""

from __future__ import annotations

import signal
from datetime import timedelta

import psycopg
import pytest

from zapjobs import RunStatus

from .test_worker_processes import WorkerProcess, marks, marks_url, migrated, workers

__all__ = ["marks_url", "workers"]  # the fixtures, shared

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PARENTS = 100
ROUNDS = 6
PROCESSES = 4


def _clear_marks(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM engine_marks")


async def test_a_fan_in_of_100_releases_its_callback_exactly_once(
    marks_url: str, workers: list[WorkerProcess]
) -> None:
    zap = await migrated(marks_url)
    try:
        for round_no in range(ROUNDS):
            _clear_marks(marks_url)
            running_first = round_no % 2 == 1
            started: list[WorkerProcess] = []
            if running_first:  # long-running workers, woken by the enqueues and the release
                started = [
                    WorkerProcess(marks_url, "--concurrency", "10") for _ in range(PROCESSES)
                ]
                workers.extend(started)
                for worker in started:
                    worker.wait_ready()
            flow = await zap.group([zap.step("insert-row", n) for n in range(PARENTS)]).then(
                "collect"
            )
            if not running_first:  # burst workers drain what is there and what gets released
                started = [
                    WorkerProcess(marks_url, "--burst", "--concurrency", "10")
                    for _ in range(PROCESSES)
                ]
                workers.extend(started)
            callback = await zap.wait_for(flow.last, timeout=timedelta(seconds=60))
            if running_first:
                for worker in started:
                    worker.proc.send_signal(signal.SIGTERM)
            for worker in started:
                code, output = worker.wait(timeout=60)
                assert code == 0, output
            assert (callback.status, callback.output) == (
                RunStatus.SUCCEEDED,
                sum(range(PARENTS)),
            ), f"round {round_no}"
            assert [run_id for run_id, _ in marks(marks_url, "callback")] == [flow.last]
            assert sorted(r for r, _ in marks(marks_url, "done")) == sorted(flow.run_ids[:-1])
    finally:
        await zap.close()
