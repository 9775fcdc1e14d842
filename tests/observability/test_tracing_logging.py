"""Python logging records emitted for a run carry ``run_id``, ``job_type`` and ``attempt`` as
``extra`` fields: the job's forwarded ``ctx.log`` lines and the worker's lines about a run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from zapjobs import JobContext, RetryPolicy, RunFilter, RunStatus, ZapJobs
from zapjobs.testing import run_inline

from ..runtime.engine_helpers import running_worker, wait_until

NO_WAIT = RetryPolicy(max_retries=1, initial_delay=timedelta(0), use_jitter=False)


def _run_fields(record: logging.LogRecord) -> tuple[object, object, object]:
    return (
        getattr(record, "run_id", None),
        getattr(record, "job_type", None),
        getattr(record, "attempt", None),
    )


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = ZapJobs(store_url, auto_migrate=True, polling_interval="50ms")

    @app.job("chatty", retry=NO_WAIT)
    async def chatty(ctx: JobContext[None]) -> None:
        ctx.log.info("trying", step=1)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    @app.job("chatty-thread")
    def chatty_thread(ctx: JobContext[None]) -> None:
        ctx.log.warning("from a thread")

    @app.job("stuck")
    async def stuck(ctx: JobContext[None]) -> None:
        await asyncio.Event().wait()

    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def test_a_jobs_log_lines_carry_the_run_the_job_type_and_the_attempt(
    zap: ZapJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapjobs.jobs")
    run_id = await zap.enqueue("chatty")
    thread_run = await zap.enqueue("chatty-thread")
    await zap.run_worker(burst=True, install_signal_handlers=False)
    assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED
    tries = [r for r in caplog.records if r.getMessage() == "trying"]
    assert [r.name for r in tries] == ["zapjobs.jobs.chatty"] * 2
    assert [_run_fields(r) for r in tries] == [(run_id, "chatty", 1), (run_id, "chatty", 2)]
    assert [getattr(r, "step", None) for r in tries] == [1, 1]  # the job's own fields stay
    [threaded] = [r for r in caplog.records if r.getMessage() == "from a thread"]
    assert _run_fields(threaded) == (thread_run, "chatty-thread", 1)


async def test_an_inline_run_logs_with_its_attempt(
    zap: ZapJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapjobs.jobs")
    await run_inline(zap, "chatty", run_id=41, attempt=2)
    [record] = [r for r in caplog.records if r.getMessage() == "trying"]
    assert _run_fields(record) == (41, "chatty", 2)


async def test_the_workers_line_about_a_cancelled_run_carries_the_run(
    zap: ZapJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapjobs.worker")
    run_id = await zap.enqueue("stuck")
    async with running_worker(zap):
        await wait_until(
            lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING, what="start"
        )
        await zap.cancel_runs(RunFilter(ids=(run_id,)))
        await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    [record] = [r for r in caplog.records if "cancelled by an operator" in r.getMessage()]
    assert record.name == "zapjobs.worker"
    assert _run_fields(record) == (run_id, "stuck", 1)
