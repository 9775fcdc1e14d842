"""Snooze through a real worker: ``raise Snooze(delay)`` and ``ctx.snooze(delay)`` put the run
back to pending, due after the delay (a FakeClock drives it), without consuming the attempt or
counting a failure; the run's log says so; a delay the worker cannot honour fails the run with
a SnoozeError, and the worker carries on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from zapjobs import FakeClock, JobContext, RunStatus, Snooze, ZapJobs
from zapjobs.models import JobRun

from .engine_helpers import running_worker, wait_until

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class HostileSnooze(Snooze):
    @property  # type: ignore[override]
    def delay(self) -> timedelta:
        raise RuntimeError("no delay for you")

    @delay.setter
    def delay(self, value: timedelta) -> None:
        pass


def make_app(url: str, clock: FakeClock, calls: dict[int, int]) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="50ms", clock=clock)

    @zap.job("wait-for-it", max_retries=0)
    async def wait_for_it(ctx: JobContext[int]) -> str:
        calls[ctx.run_id] = calls.get(ctx.run_id, 0) + 1
        if calls[ctx.run_id] <= ctx.input:
            raise Snooze(timedelta(seconds=30))
        return "done"

    @zap.job("sync-snoozer", max_retries=0)
    def sync_snoozer(ctx: JobContext[int]) -> str:
        calls[ctx.run_id] = calls.get(ctx.run_id, 0) + 1
        if calls[ctx.run_id] <= ctx.input:
            ctx.snooze(timedelta(minutes=2))
        return "done"

    @zap.job("bad-snooze", max_retries=3)
    async def bad_snooze(ctx: JobContext[str]) -> None:
        delays: dict[str, Any] = {
            "negative": timedelta(seconds=-5),
            "number": 30,
            "huge": timedelta.max,
        }
        if ctx.input == "hostile":
            raise HostileSnooze(timedelta(seconds=1))
        raise Snooze(delays[ctx.input])

    return zap


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def calls() -> dict[int, int]:
    return {}


@pytest.fixture
async def zap(store_url: str, clock: FakeClock, calls: dict[int, int]) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url, clock, calls)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


def snoozed(times: int) -> Any:
    def accept(run: JobRun | None) -> bool:
        return run is not None and run.status is RunStatus.PENDING and run.snoozes == times

    return accept


def finished(run: JobRun | None) -> bool:
    return run is not None and run.status.is_final


async def test_a_snoozed_run_runs_again_when_due_without_using_its_attempt(
    zap: ZapJobs, clock: FakeClock
) -> None:
    run_id = await zap.enqueue("wait-for-it", 2)  # snoozes twice, then succeeds
    async with running_worker(zap) as worker:
        first = await wait_until(lambda: zap.get_run(run_id), snoozed(1), what="1st snooze")
        assert first.run_at == T0 + timedelta(seconds=30)
        assert (first.attempt, first.max_attempts, first.error) == (0, 1, None)

        clock.advance(timedelta(seconds=30))
        await wait_until(lambda: zap.get_run(run_id), snoozed(2), what="2nd snooze")
        clock.advance(timedelta(seconds=30))
        done = await wait_until(lambda: zap.get_run(run_id), finished, what="the success")
    # max_retries=0: one attempt allowed, and the two snoozes did not use it up.
    assert (done.status, done.attempt, done.snoozes, done.output) == (
        RunStatus.SUCCEEDED,
        1,
        2,
        "done",
    )
    assert [e.outcome for e in worker.finished()] == ["snoozed", "snoozed", "succeeded"]
    assert worker.summary is not None
    assert (worker.summary.snoozed, worker.summary.failed, worker.summary.retried) == (2, 0, 0)


async def test_the_runs_log_says_when_it_was_snoozed_until(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("wait-for-it", 1)
    async with running_worker(zap):
        await wait_until(lambda: zap.get_run(run_id), snoozed(1), what="the snooze")
        logs = await wait_until(lambda: zap.list_logs(run_id), what="the log line")
    assert [(e.level.name, e.message) for e in logs] == [
        ("INFO", "snoozed for 30s, due at 2026-05-01 08:00:30 UTC")
    ]


async def test_a_plain_def_job_snoozes_with_ctx_snooze(zap: ZapJobs, clock: FakeClock) -> None:
    run_id = await zap.enqueue("sync-snoozer", 1)
    async with running_worker(zap):
        run = await wait_until(lambda: zap.get_run(run_id), snoozed(1), what="the snooze")
        assert run.run_at == T0 + timedelta(minutes=2)
        clock.advance(timedelta(minutes=2))
        done = await wait_until(lambda: zap.get_run(run_id), finished, what="the success")
    assert (done.status, done.attempt, done.snoozes) == (RunStatus.SUCCEEDED, 1, 1)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("negative", "Snooze needs a delay of zero or more, got -5s"),
        ("number", "Snooze needs a datetime.timedelta, got int"),
        ("huge", "Snooze needs a delay of at most 365d"),
        ("hostile", "Snooze needs a datetime.timedelta, got NoneType"),
    ],
)
async def test_a_snooze_the_worker_cannot_honour_fails_the_run_for_good(
    zap: ZapJobs, kind: str, message: str
) -> None:
    run_id = await zap.enqueue("bad-snooze", kind)
    after = await zap.enqueue("wait-for-it", 0)  # the worker carries on
    async with running_worker(zap):
        bad = await wait_until(lambda: zap.get_run(run_id), finished, what="the failure")
        ok = await wait_until(lambda: zap.get_run(after), finished, what="the next run")
    assert bad.status is RunStatus.FAILED
    assert bad.error is not None
    assert bad.error.type == "SnoozeError"
    assert bad.error.message.startswith(message)
    assert (bad.attempt, bad.snoozes) == (1, 0)  # failed at once, despite max_retries=3
    assert ok.status is RunStatus.SUCCEEDED
