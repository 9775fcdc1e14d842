"""The drain's measurement asks the database only for its last runs: the workers report their
counts of started jobs (every PROGRESS_EVERY), the bench reads them as they come, and counts the
unfinished runs only once the last runs are under way (a count every 10 ms through the whole
drain took a fifth of a core from the server under test)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, cast

import pytest

from tests.stores.helpers import wait_until
from zapjobs_cli.benchmark import BenchConfig, _wait_drained, measure_lateness
from zapjobs_cli.benchmark_process import WorkerProcess
from zapjobs_cli.benchmark_worker import PROGRESS_EVERY, Probe


class _Proc:
    def __init__(self) -> None:
        self.polls = 0

    def poll(self) -> int | None:
        self.polls += 1
        return None  # running


class _Worker:
    """What _wait_drained reads of a WorkerProcess."""

    def __init__(self) -> None:
        self.started = 0
        self.proc = _Proc()

    def stderr_tail(self, lines: int = 5) -> str:
        return ""


class _Target:
    name = "fake"

    def __init__(self) -> None:
        self.counts = 0
        self.left = 0

    async def unfinished(self) -> int:
        self.counts += 1
        return self.left


async def test_the_database_is_counted_only_once_the_last_runs_are_under_way() -> None:
    workers = [_Worker(), _Worker()]
    target = _Target()
    jobs = 10 * PROGRESS_EVERY
    waiting = asyncio.create_task(
        _wait_drained(cast(Any, target), cast(list[WorkerProcess], workers), jobs, 60)
    )
    workers[0].started = workers[1].started = 2 * PROGRESS_EVERY
    await wait_until(lambda: workers[0].proc.polls >= 5)
    assert target.counts == 0  # 4 of 10 reported: no count yet
    target.left = 3
    workers[0].started = 5 * PROGRESS_EVERY
    workers[1].started = 3 * PROGRESS_EVERY  # 8 of 10: within a report of each worker's end
    await wait_until(lambda: target.counts >= 3)
    assert not waiting.done()  # runs left: it keeps counting
    target.left = 0
    await asyncio.wait_for(waiting, 10)


def test_a_worker_reports_every_progress_step_and_the_bench_reads_the_reports() -> None:
    reports: list[int] = []
    probe = Probe(on_progress=reports.append)
    for _ in range(2 * PROGRESS_EVERY + 1):
        probe.started()
    assert reports == [PROGRESS_EVERY, 2 * PROGRESS_EVERY]

    script = (
        "import json\n"
        f"for n in ({PROGRESS_EVERY}, {2 * PROGRESS_EVERY}):\n"
        "    print(json.dumps({'event': 'started', 'jobs': n}), flush=True)\n"
        "print(json.dumps({'event': 'ready'}), flush=True)\n"
        "print(json.dumps({'event': 'done'}), flush=True)\n"
    )
    worker = WorkerProcess([sys.executable, "-c", script])
    try:
        assert asyncio.run(worker.wait_event("ready", 30)) == {"event": "ready"}
        assert worker.started == 2 * PROGRESS_EVERY  # read before the line after them
        assert asyncio.run(worker.wait_event("done", 30)) == {"event": "done"}
    finally:
        worker.close()


# --- due-time lateness ---------------------------------------------------------------------------
class _LatenessWorker:
    """A latency-mode worker that has run every job: its report is the given lateness."""

    def __init__(self, latencies_s: list[float]) -> None:
        self.report = {"latencies": latencies_s, "peak_rss_kb": 1024}
        self.closed = False

    async def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        return self.report if name == "done" else {"event": name}

    def close(self) -> None:
        self.closed = True


class _SchedulingTarget:
    """Records each stamped enqueue: (the moment of the call, stamp, delay)."""

    name = "fake"

    def __init__(self, worker: _LatenessWorker) -> None:
        self.calls: list[tuple[float, float, float]] = []
        self._worker = worker

    async def enqueue_stamped(self, stamp: float, delay: float = 0.0) -> None:
        self.calls.append((time.monotonic(), stamp, delay))

    def worker(self, mode: str, profile: str, expect: int | None = None) -> _LatenessWorker:
        assert (mode, expect) == ("latency", 50)
        return self._worker


async def test_lateness_schedules_each_run_through_the_system_and_stamps_its_due_time() -> None:
    config = BenchConfig(lateness_jobs=50, lateness_spread=4.0, lateness_lead=2.0)
    worker = _LatenessWorker([0.001 * i for i in range(50)])
    target = _SchedulingTarget(worker)
    figures = await measure_lateness(cast(Any, target), config, seed=7)
    warm_up, *scheduled = target.calls
    assert warm_up[1:] == (-1.0, 0.0)  # proves the worker picks up, due at once
    assert len(scheduled) == 50
    first = scheduled[0][0]
    for called, stamp, delay in scheduled:
        assert stamp == pytest.approx(called + delay, abs=0.05)  # stamped with its due time
        assert 2.0 - 0.05 <= stamp - first <= 2.0 + 4.0  # due over the spread after the lead
    dues = [stamp for _, stamp, _ in scheduled]
    assert dues != sorted(dues)  # enqueued in random order, not in due order
    assert figures["jobs"] == 50
    assert figures["p50_ms"] == pytest.approx(24.5) and figures["max_ms"] == pytest.approx(49.0)
    assert worker.closed
