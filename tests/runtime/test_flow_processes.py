"""Concurrency caps across real worker processes on PostgreSQL: several workers, each with room
for more, never have more runs of a capped job type running than its cap (sampled in the
database while they work), the uncapped runs queued behind them are not held up, and every run
completes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.apps.capped_worker import build
from zapjobs import RunFilter, RunStatus

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "apps" / "capped_worker.py"
DEADLINE = 120.0
CAP = 3

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


def start_worker(url: str, concurrency: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(APP), url, "--concurrency", str(concurrency), "--cap", str(CAP)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), (line, proc.stderr.read() if proc.stderr else "")
    return proc


async def test_worker_processes_never_run_more_than_the_cap(
    pg_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    zap = build(pg_url, CAP)
    try:
        await zap.open()
        # The workers first, then the work: started one after another (each waits for its
        # "ready"), the first ones could otherwise drain every run before sampling began.
        processes.extend(start_worker(pg_url, 4) for _ in range(4))
        capped = await zap.enqueue_many("capped", [0.05] * 60)
        free = await zap.enqueue_many("free", [0.0] * 20)
        most = 0
        samples = 0
        deadline = time.monotonic() + DEADLINE
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while True:
                [(running, left)] = conn.execute(
                    "SELECT count(*) FILTER (WHERE status = 'running'),"
                    " count(*) FILTER (WHERE status IN ('pending', 'running'))"
                    " FROM zapjobs_runs WHERE job_type = 'capped'"
                ).fetchall()
                most = max(most, running)
                samples += 1
                if left == 0:
                    break
                assert time.monotonic() < deadline, f"{left} capped runs left at the deadline"
                await asyncio.sleep(0.002)
        assert most == CAP, (most, samples)  # reached, never exceeded
        done = await zap.count_runs(RunFilter(statuses=(RunStatus.SUCCEEDED,)))
        assert done == len(capped) + len(free)
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            proc.communicate(timeout=30)
            assert proc.returncode == 0
    finally:
        await zap.close()
