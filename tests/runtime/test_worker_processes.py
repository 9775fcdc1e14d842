"""Real worker processes on PostgreSQL: two processes drain 2,000 runs exactly once, an idle
worker is woken by NOTIFY long before its poll, and SIGTERM puts unfinished runs back."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.apps.engine_worker import build
from zapjobs import RunFilter, RunStatus, ZapJobs
from zapjobs.testing import store_of

from .engine_helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "apps" / "engine_worker.py"
DRAIN_RUNS = int(os.environ.get("ZAPJOBS_TEST_DRAIN_RUNS", "2000"))
PROCESS_DEADLINE = 120.0

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class WorkerProcess:
    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), url, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            raise AssertionError(f"worker printed nothing within {timeout}s")
        line = self.proc.stdout.readline()  # the worker prints "ready" or exits (EOF)
        if not line.startswith("ready"):
            raise AssertionError(f"worker did not start: {line!r} {self.stderr()}")
        return line.split()[1]

    def wait(self, timeout: float = PROCESS_DEADLINE) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out + err

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.kill()


@pytest.fixture
def marks_url(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE engine_marks (run_id bigint NOT NULL, pid int, kind text)")
    return pg_url


def marks(url: str, kind: str) -> list[tuple[int, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT run_id, pid FROM engine_marks WHERE kind = %s ORDER BY run_id", (kind,)
        )
        return [(r[0], r[1]) for r in rows]


async def migrated(url: str) -> ZapJobs:
    """A client with the worker app's job types (so it can enqueue them before any worker
    registered them)."""
    zap, _ = build(url, polling_interval="1s")
    await zap.open()
    return zap


async def test_two_worker_processes_drain_every_run_exactly_once(
    marks_url: str, workers: list[WorkerProcess]
) -> None:
    zap = await migrated(marks_url)
    try:
        ids = await zap.enqueue_many("insert-row", list(range(DRAIN_RUNS)))
        started = time.monotonic()
        workers.extend(WorkerProcess(marks_url, "--burst", "--concurrency", "10") for _ in range(2))
        results = [w.wait() for w in workers]
        elapsed = time.monotonic() - started
        for code, output in results:
            assert code == 0, output
        done = marks(marks_url, "done")
        assert len(done) == DRAIN_RUNS
        assert sorted(run_id for run_id, _ in done) == sorted(ids)  # no run twice, none lost
        succeeded = await zap.count_runs(RunFilter(statuses=(RunStatus.SUCCEEDED,)))
        assert succeeded == DRAIN_RUNS
        per_process = sorted({pid for _, pid in done})
        print(
            f"\ndrained {DRAIN_RUNS} runs with 2 processes x concurrency 10 in {elapsed:.2f}s "
            f"({DRAIN_RUNS / elapsed:.0f} jobs/s, including process start-up); "
            f"processes that ran jobs: {len(per_process)}"
        )
    finally:
        await zap.close()


async def test_an_idle_worker_is_woken_by_notify_long_before_its_poll(
    marks_url: str, workers: list[WorkerProcess]
) -> None:
    zap = await migrated(marks_url)
    try:
        worker = WorkerProcess(marks_url, "--polling-interval", "15s", "--concurrency", "2")
        workers.append(worker)
        worker.wait_ready()
        # The first run may be taken by the worker's first claim; after it the fetcher sleeps
        # (its claim was not full), so only a notification can wake it within 10 s.
        for attempt in range(2):
            run_id = await zap.enqueue("insert-row", attempt)
            run = await zap.wait_for(run_id, timeout=timedelta(seconds=10))
            assert run.status is RunStatus.SUCCEEDED
        worker.proc.send_signal(signal.SIGTERM)
        code, output = worker.wait(timeout=30)
        assert code == 0, output
    finally:
        await zap.close()


async def test_sigterm_puts_unfinished_runs_back_to_pending(
    marks_url: str, workers: list[WorkerProcess]
) -> None:
    zap = await migrated(marks_url)
    try:
        ids = await zap.enqueue_many("slow", [None, None, None])
        worker = WorkerProcess(marks_url, "--concurrency", "3", "--shutdown-timeout", "500ms")
        workers.append(worker)
        worker_id = worker.wait_ready()
        await wait_until(
            lambda: _async(len(marks(marks_url, "started"))),
            lambda n: n == 3,
            what="all three slow runs started",
        )
        worker.proc.send_signal(signal.SIGTERM)
        code, output = worker.wait(timeout=30)
        assert code == 0, output
        assert "stopped 3 0" in output
        for run in await store_of(zap).get_runs(ids):
            assert run.status is RunStatus.PENDING, run
            assert run.worker_id is None
            assert run.attempt == 1
        [info] = [w for w in await zap.list_workers() if w.id == worker_id]
        assert info.stopped_at is not None
    finally:
        await zap.close()


async def _async(value: int) -> int:
    return value
