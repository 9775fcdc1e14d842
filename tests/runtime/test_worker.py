"""The in-process worker: logs and progress, ordering, sync jobs off the loop, cancellation,
graceful stop, events and the summary — on every store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from zapjobs import JobContext, LogLevel, RetryPolicy, RunFilter, RunStatus, ZapJobs
from zapjobs.runtime.events import RunFinished, RunStarted, WorkerStarted, WorkerStopped
from zapjobs.testing import store_of

from .engine_helpers import running_worker, wait_until


class Gates:
    """asyncio/threading events the jobs wait on, so a test decides when they finish."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.order: list[str] = []
        self.loop_free = threading.Event()


def make_app(url: str, gates: Gates, **settings: Any) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="50ms", **settings)

    @zap.job("report")
    async def report(ctx: JobContext[dict[str, Any]]) -> str:
        await ctx.log.debug("starting", step=0)
        await ctx.log.info("halfway", step=1, user={"id": 7})
        ctx.log.warning("careful")  # without await, as a sync job would call it
        await ctx.log.error("bad row", row=3)
        ctx.set_total(4)
        ctx.increment_processed(2)
        ctx.increment_succeeded()
        ctx.increment_failed()
        if ctx.input.get("wait"):
            await gates.release.wait()
        return "done"

    @zap.job("record")
    async def record(ctx: JobContext[str]) -> None:
        gates.order.append(ctx.input)

    @zap.job("blocking-sync")
    def blocking_sync(ctx: JobContext[None]) -> bool:
        ctx.log.info("in a thread", thread=threading.current_thread().name)
        # Released by an async job: that can only run if this one does not block the loop.
        return gates.loop_free.wait(timeout=10)

    @zap.job("frees-the-sync-job")
    async def frees(ctx: JobContext[None]) -> None:
        gates.loop_free.set()

    @zap.job("fails", max_retries=0)
    async def fails(ctx: JobContext[None]) -> None:
        raise ValueError("for good")

    later = RetryPolicy(max_retries=1, initial_delay=timedelta(hours=1), use_jitter=False)

    @zap.job("fails-then-waits", retry=later)
    async def fails_then_waits(ctx: JobContext[None]) -> None:
        raise ValueError("again in an hour")

    @zap.job("forever", max_retries=0)
    async def forever(ctx: JobContext[None]) -> None:
        await asyncio.Event().wait()

    return zap


@pytest.fixture
def gates() -> Gates:
    return Gates()


@pytest.fixture
async def zap(store_url: str, gates: Gates) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url, gates)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def test_logs_with_levels_and_fields_and_progress_are_stored(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("report", {})
    async with running_worker(zap, concurrency=2):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.SUCCEEDED and run.output == "done"
    assert (run.progress.total, run.progress.processed) == (4, 2)
    assert (run.progress.succeeded, run.progress.failed) == (1, 1)
    logs = await zap.list_logs(run_id)
    assert [(e.level, e.message) for e in logs] == [
        (LogLevel.DEBUG, "starting"),
        (LogLevel.INFO, "halfway"),
        (LogLevel.WARNING, "careful"),
        (LogLevel.ERROR, "bad row"),
    ]
    assert logs[1].fields == {"step": 1, "user": {"id": 7}}
    warnings_up = await zap.list_logs(run_id, min_level=LogLevel.WARNING)
    assert [e.message for e in warnings_up] == ["careful", "bad row"]


async def test_logs_are_forwarded_to_python_logging_with_fields(
    zap: ZapJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="zapjobs.jobs.report")
    run_id = await zap.enqueue("report", {})
    async with running_worker(zap):
        await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    record = next(r for r in caplog.records if r.getMessage() == "halfway")
    assert record.name == "zapjobs.jobs.report"
    assert record.step == 1  # type: ignore[attr-defined]
    assert record.run_id == run_id  # type: ignore[attr-defined]


async def test_progress_is_visible_while_the_job_still_runs(zap: ZapJobs, gates: Gates) -> None:
    run_id = await zap.enqueue("report", {"wait": 1})
    async with running_worker(zap):
        running = await wait_until(
            lambda: zap.get_run(run_id),
            lambda r: r.status is RunStatus.RUNNING and r.progress.processed == 2,
            what="progress of the running run",
        )
        assert running.progress.total == 4
        logs = await wait_until(lambda: zap.list_logs(run_id), lambda e: len(e) == 4)
        assert logs[0].message == "starting"
        gates.release.set()
        finished = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert finished.status is RunStatus.SUCCEEDED


async def test_queues_are_served_in_priority_order(zap: ZapJobs, gates: Gates) -> None:
    for queue in ("low", "default", "critical", "low", "critical"):
        await zap.enqueue("record", f"{queue}", queue=queue)
    async with running_worker(zap, queues=["critical", "default", "low"], concurrency=1):
        await wait_until(
            lambda: zap.count_runs(RunFilter(statuses=(RunStatus.SUCCEEDED,))), lambda n: n == 5
        )
    assert gates.order == ["critical", "critical", "default", "low", "low"]


async def test_higher_priority_runs_first_within_a_queue(zap: ZapJobs, gates: Gates) -> None:
    for name, priority in (("p0", 0), ("p5", 5), ("p1", 1), ("p5-later", 5), ("p-3", -3)):
        await zap.enqueue("record", name, priority=priority)
    async with running_worker(zap, concurrency=1):
        await wait_until(
            lambda: zap.count_runs(RunFilter(statuses=(RunStatus.SUCCEEDED,))), lambda n: n == 5
        )
    assert gates.order == ["p5", "p5-later", "p1", "p0", "p-3"]


async def test_a_sync_job_runs_in_a_thread_without_blocking_the_loop(zap: ZapJobs) -> None:
    sync_id = await zap.enqueue("blocking-sync")
    async_id = await zap.enqueue("frees-the-sync-job")
    async with running_worker(zap, concurrency=2):
        run = await zap.wait_for(sync_id, timeout=timedelta(seconds=15))
        await zap.wait_for(async_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.SUCCEEDED
    assert run.output is True
    [entry] = await zap.list_logs(sync_id)
    assert entry.fields["thread"].startswith("zapjobs-job")


async def test_cancelling_a_running_run_ends_it_as_cancelled(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("forever")
    async with running_worker(zap, concurrency=1):
        await wait_until(lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING)
        assert await zap.cancel_runs(RunFilter(ids=(run_id,))) == [run_id]
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.CANCELLED
    assert run.error is not None and run.error.type == "JobCancelledError"


async def test_stop_lets_running_jobs_finish_within_the_shutdown_timeout(
    zap: ZapJobs, gates: Gates
) -> None:
    run_id = await zap.enqueue("report", {"wait": 1})
    async with running_worker(zap, shutdown_timeout=timedelta(seconds=30)) as worker:
        await wait_until(lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING)
        worker.stop.set()
        await wait_until(
            lambda: _async(worker.events),
            lambda events: any(type(e).__name__ == "WorkerStopping" for e in events),
        )
        gates.release.set()
    assert worker.summary is not None and worker.summary.succeeded == 1
    assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED


async def test_jobs_still_running_after_the_shutdown_timeout_go_back_to_pending(
    zap: ZapJobs,
) -> None:
    ids = await zap.enqueue_many("forever", [None, None])
    async with running_worker(
        zap, concurrency=2, shutdown_timeout=timedelta(milliseconds=100)
    ) as worker:
        await wait_until(
            lambda: zap.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))), lambda n: n == 2
        )
    assert worker.summary is not None and worker.summary.requeued == 2
    for run in await store_of(zap).get_runs(ids):
        assert run.status is RunStatus.PENDING
        assert run.worker_id is None
        assert run.attempt == 1


async def test_a_worker_without_listeners_still_counts_every_outcome(zap: ZapJobs) -> None:
    """No on_event and no observer: no RunStarted/RunFinished is built, the summary counts."""
    await zap.enqueue_many("record", ["a", "b"])
    await zap.enqueue("fails")
    await zap.enqueue("fails-then-waits")
    summary = await zap.run_worker(burst=True, concurrency=2, install_signal_handlers=False)
    counts = (summary.claimed, summary.succeeded, summary.failed, summary.retried)
    assert counts == (4, 2, 1, 1)


async def test_events_and_summary_describe_the_work_done(zap: ZapJobs) -> None:
    await zap.enqueue_many("record", ["a", "b", "c"])
    events: list[Any] = []
    summary = await zap.run_worker(
        burst=True, concurrency=2, install_signal_handlers=False, on_event=events.append
    )
    assert summary.claimed == 3 and summary.succeeded == 3 and summary.failed == 0
    assert isinstance(events[0], WorkerStarted)
    assert events[0].job_types == tuple(sorted(zap.job_types))
    assert isinstance(events[-1], WorkerStopped) and events[-1].summary == summary
    assert sum(isinstance(e, RunStarted) for e in events) == 3
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert {e.status for e in finished} == {RunStatus.SUCCEEDED}
    workers = await zap.list_workers()
    assert [w.id for w in workers] == [summary.worker_id]
    assert workers[0].stopped_at is not None


async def _async(value: Any) -> Any:
    return list(value)
