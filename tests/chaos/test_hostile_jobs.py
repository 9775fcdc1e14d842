"""Job code cannot stop the worker: a real ``zapjobs worker`` process runs jobs raising
KeyboardInterrupt, SystemExit, GeneratorExit, a custom BaseException and a CancelledError of
their own (async and plain ``def``), and keeps serving. Those runs are retried per their policy
and then failed, with the exception's type stored; later runs succeed; the worker stops
cleanly on SIGTERM. On PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.badinput.hostile_jobs import HOSTILE, register
from zapjobs import ZapJobs

from .harness import ROOT, Db, WorkerProc, report, wait_until, workers


class HostileWorker(WorkerProc):
    """``zapjobs worker --app tests.badinput.hostile_jobs:zap``, the real command."""

    def __init__(self, url: str, worker_id: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPJOBS_")}
        env.update(
            {
                "ZAPJOBS_DATABASE_URL": url,
                "ZAPJOBS_POLLING_INTERVAL": "0.2s",
                "ZAPJOBS_HEARTBEAT_INTERVAL": "0.5s",
                "PYTHONPATH": str(ROOT),
                "NO_COLOR": "1",
            }
        )
        command = [sys.executable, "-m", "zapjobs_cli", "worker"]
        command += ["--app", "tests.badinput.hostile_jobs:zap", "--worker-id", worker_id]
        command += ["--concurrency", "4", "--shutdown-timeout", "5s"]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.worker_id = worker_id
        self.output = ""
        self._collected = False
        self._heartbeat_db = Db(url)
        self._init_follow()


async def enqueue(url: str, jobs: list[tuple[str, Any]]) -> list[int]:
    zap = register(ZapJobs(url, auto_migrate=True))
    try:
        return [await zap.enqueue(job, value) for job, value in jobs]
    finally:
        await zap.close()


def runs(db: Db, ids: list[int]) -> dict[int, tuple[str, str, int, str | None]]:
    marks = ", ".join(str(int(i)) for i in ids)
    rows = db.query(
        f"SELECT id, job_type, status, attempt, error_type FROM zapjobs_runs WHERE id IN ({marks})"
    )
    return {int(r[0]): (r[1], r[2], int(r[3]), r[4]) for r in rows}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_base_exceptions_from_jobs_fail_their_runs_and_the_worker_keeps_serving(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")
    db = Db(url)
    hostile_ids = asyncio.run(enqueue(url, [(job, None) for job in HOSTILE]))
    with workers() as started:
        worker = HostileWorker(url, f"hostile-{backend}")
        started.append(worker)
        worker.wait_ready()

        def all_final() -> bool:
            assert worker.alive(), f"the worker died:\n{worker.stop()}"
            return all(s == "failed" for _, s, _, _ in runs(db, hostile_ids).values())

        wait_until(all_final, 60, "every hostile run to fail for good")
        for job_type, status, attempt, error_type in runs(db, hostile_ids).values():
            assert (status, attempt) == ("failed", 2), f"{job_type}: retried once, then failed"
            assert error_type == HOSTILE[job_type], job_type

        later = asyncio.run(enqueue(url, [("ok", i) for i in range(20)]))

        def later_done() -> bool:
            assert worker.alive(), f"the worker died:\n{worker.stop()}"
            return all(s == "succeeded" for _, s, _, _ in runs(db, later).values())

        wait_until(later_done, 60, "the later runs to succeed")
        output = worker.stop(signal.SIGTERM)
        assert worker.proc.returncode == 0, output
    report(
        f"hostile BaseException jobs ({backend})",
        hostile_runs=len(hostile_ids),
        later_runs=len(later),
        worker_exit=worker.proc.returncode,
    )
