"""Due runs start on time on every store: a run enqueued for later, and a retry's backoff, are
claimed at their due time, not at the next poll (the polling interval here is an hour), and an
idle worker waiting for them does not poll meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs import FakeClock, JobContext, RetryPolicy, RunStatus, ZapJobs
from zapjobs.models import JobRun

from .claims import ClaimCounter
from .engine_helpers import running_worker, wait_until

#: far below the polling interval of an hour: only a timer can meet it
ON_TIME = 10.0


class Flaky(Exception):
    pass


def make_app(url: str, clock: FakeClock | None = None) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="1h", clock=clock)
    failures: dict[int, int] = {}

    @zap.job("tick")
    async def tick(ctx: JobContext[None]) -> None:
        return None

    policy = RetryPolicy(max_retries=1, initial_delay=timedelta(seconds=1), use_jitter=False)

    @zap.job("fails-once", retry=policy)
    async def fails_once(ctx: JobContext[None]) -> None:
        failures[ctx.run_id] = failures.get(ctx.run_id, 0) + 1
        if failures[ctx.run_id] == 1:
            raise Flaky("first attempt fails")

    return zap


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


def succeeded(run: JobRun | None) -> bool:
    return run is not None and run.status is RunStatus.SUCCEEDED


async def test_a_run_due_later_starts_at_its_due_time_not_at_the_poll(zap: ZapJobs) -> None:
    async with running_worker(zap, concurrency=4):
        claims = ClaimCounter(zap)
        run_id = await zap.schedule("tick", delay=timedelta(seconds=2))
        run = await wait_until(
            lambda: zap.get_run(run_id), succeeded, timeout=ON_TIME, what="the due run"
        )
    assert run.started_at is not None and run.started_at >= run.run_at
    # Waiting for a due time is a timer, not a poll: one claim at the due time. On SQLite the
    # watcher of other processes' commits also sees this process's own (the enqueue, the claim,
    # the completion: one look each, and inotify may report one commit twice, as the -wal write
    # and again on a re-read). The 100 ms poll SQLite and memory had made about twenty.
    assert claims.calls <= 8, claims.calls


async def test_a_retry_after_a_1s_backoff_runs_without_waiting_for_the_poll(
    zap: ZapJobs,
) -> None:
    async with running_worker(zap, concurrency=4):
        run_id = await zap.enqueue("fails-once")
        run = await wait_until(
            lambda: zap.get_run(run_id), succeeded, timeout=ON_TIME, what="the retry"
        )
    assert run.attempt == 2
    assert run.error is not None and run.error.message == "first attempt fails"


async def test_a_fake_clock_moved_past_the_due_time_starts_the_run(store_url: str) -> None:
    """A test drives due times with a FakeClock: moving it wakes the idle worker."""
    clock = FakeClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    zap = make_app(store_url, clock)
    await zap.open()
    try:
        async with running_worker(zap, concurrency=2):
            run_id = await zap.schedule("tick", delay=timedelta(minutes=30))
            clock.advance(timedelta(minutes=29))
            early = await zap.get_run(run_id)
            assert early is not None and early.status is RunStatus.PENDING
            clock.advance(timedelta(minutes=1))
            run = await wait_until(
                lambda: zap.get_run(run_id), succeeded, timeout=ON_TIME, what="the due run"
            )
        assert run.started_at == datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    finally:
        await zap.close()
