"""Failures: retries at the policy's delays (driven by a FakeClock), the final failure with its
traceback, timeouts, operator overrides, and failures outside the job's own code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs import FakeClock, JobContext, RetryPolicy, RunStatus, ZapJobs
from zapjobs.models import NewRun
from zapjobs.testing import store_of

from .engine_helpers import running_worker, wait_until

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    max_retries=2, initial_delay=timedelta(seconds=10), backoff_multiplier=3, use_jitter=False
)


class Flaky(Exception):
    pass


def make_app(url: str, clock: FakeClock) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="50ms", clock=clock)

    @zap.job("always-fails", retry=POLICY)
    async def always_fails(ctx: JobContext[int]) -> None:
        raise Flaky(f"attempt {ctx.attempt} of run {ctx.run_id} failed")

    @zap.job("slow", max_retries=0, timeout=timedelta(milliseconds=200))
    async def slow(ctx: JobContext[None]) -> None:
        await asyncio.Event().wait()

    @zap.job("overridden", max_retries=5, retry=POLICY, timeout=timedelta(minutes=10))
    async def overridden(ctx: JobContext[str]) -> None:
        if ctx.input == "hang":
            await asyncio.Event().wait()
        raise Flaky("no luck")

    @zap.job("bad-output", max_retries=0)
    async def bad_output(ctx: JobContext[None]) -> int:
        return "not an int"  # type: ignore[return-value]

    @zap.job("own-timeout-error", max_retries=0)
    async def own_timeout(ctx: JobContext[None]) -> None:
        raise TimeoutError("the API timed out")

    return zap


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def zap(store_url: str, clock: FakeClock) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url, clock)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


def after_attempt(attempt: int, status: RunStatus) -> object:
    return lambda r: r.attempt == attempt and r.status is status and r.worker_id is None


async def test_retries_follow_the_policy_then_fail_with_the_traceback(
    zap: ZapJobs, clock: FakeClock
) -> None:
    run_id = await zap.enqueue("always-fails", 1)
    async with running_worker(zap):
        first = await wait_until(
            lambda: zap.get_run(run_id), after_attempt(1, RunStatus.PENDING), what="1st retry"
        )
        assert first.run_at == T0 + timedelta(seconds=10)
        assert first.error is not None and first.error.type.endswith("test_retries.Flaky")
        assert first.error.message == f"attempt 1 of run {run_id} failed"

        failed_at = clock.advance(timedelta(seconds=10))
        second = await wait_until(
            lambda: zap.get_run(run_id), after_attempt(2, RunStatus.PENDING), what="2nd retry"
        )
        assert second.run_at == failed_at + timedelta(seconds=30)

        clock.advance(timedelta(seconds=30))
        final = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert final.status is RunStatus.FAILED
    assert final.attempt == 3
    assert final.error is not None
    assert final.error.message == f"attempt 3 of run {run_id} failed"
    assert final.error.traceback is not None
    assert "Traceback (most recent call last)" in final.error.traceback
    assert "raise Flaky(" in final.error.traceback
    assert final.finished_at == T0 + timedelta(seconds=40)


async def test_a_timeout_fails_the_attempt_with_job_timeout_error(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("slow")
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "JobTimeoutError"
    assert run.error.message == "timed out after 200ms"


async def test_a_timeout_error_raised_by_the_job_itself_is_an_ordinary_failure(
    zap: ZapJobs,
) -> None:
    run_id = await zap.enqueue("own-timeout-error")
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("TimeoutError", "the API timed out")


async def test_an_operator_override_of_max_retries_wins_over_the_code(zap: ZapJobs) -> None:
    definition = await zap.set_overrides("overridden", max_retries=0, timeout=None)
    assert definition.effective_max_retries == 0
    run_id = await zap.enqueue("overridden", "fail")
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.FAILED
    assert run.attempt == 1  # the code's max_retries=5 would have retried


async def test_the_worker_retries_until_the_runs_own_max_attempts(
    zap: ZapJobs, clock: FakeClock
) -> None:
    """The budget is read off the run (fixed at enqueue), not recomputed from the code's
    max_retries=5: attempt 1 of 2 is retried, attempt 2 of 2 fails."""
    [run_id] = await store_of(zap).enqueue(
        [NewRun("overridden", input_json='"fail"', max_attempts=2)], now=T0
    )
    async with running_worker(zap):
        await wait_until(
            lambda: zap.get_run(run_id), after_attempt(1, RunStatus.PENDING), what="the retry"
        )
        clock.advance(timedelta(seconds=10))
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert (run.status, run.attempt, run.max_attempts) == (RunStatus.FAILED, 2, 2)


async def test_an_operator_override_of_the_timeout_wins_over_the_code(zap: ZapJobs) -> None:
    await zap.set_overrides("overridden", max_retries=0, timeout=timedelta(milliseconds=100))
    run_id = await zap.enqueue("overridden", "hang")
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("JobTimeoutError", "timed out after 100ms")


async def test_an_output_that_does_not_match_its_type_fails_the_attempt(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("bad-output")
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.type == "ValidationError"
    assert "invalid output for job 'bad-output'" in run.error.message
    assert "expected int, got str" in run.error.message


async def test_stored_input_of_the_wrong_shape_fails_without_retrying(zap: ZapJobs) -> None:
    # Written by a client that does not know the type (another service): only JSON-checked.
    [run_id] = await store_of(zap).enqueue(
        [NewRun("always-fails", input_json='"not an int"')], now=T0
    )
    async with running_worker(zap):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.FAILED and run.attempt == 1
    assert run.error is not None and run.error.type == "ValidationError"
    assert "expected int, got str" in run.error.message


async def test_a_sync_job_that_overruns_its_timeout_fails_the_attempt(zap: ZapJobs) -> None:
    gate = threading.Event()

    @zap.job("slow-sync", max_retries=0, timeout=timedelta(milliseconds=200))
    def slow_sync(ctx: JobContext[None]) -> None:
        gate.wait(timeout=30)  # a thread cannot be killed: it is released below

    try:
        run_id = await zap.enqueue(slow_sync)
        async with running_worker(zap):
            run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
        assert run.status is RunStatus.FAILED
        assert run.error is not None and run.error.type == "JobTimeoutError"
    finally:
        gate.set()
