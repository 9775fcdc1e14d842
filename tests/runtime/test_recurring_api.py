"""The recurring methods of ZapJobs: attach, pause, resume, trigger and remove a schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs import (
    FakeClock,
    JobContext,
    RunFilter,
    RunStatus,
    ScheduleError,
    UnknownJobTypeError,
    ValidationError,
    ZapJobs,
)

from .engine_helpers import running_worker, wait_until

T0 = datetime(2026, 6, 1, 10, 7, 30, tzinfo=UTC)


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = ZapJobs(store_url, auto_migrate=True, clock=FakeClock(T0))

    @app.job("digest")
    async def digest(ctx: JobContext[dict[str, int]]) -> None:
        return None

    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def test_recurring_attaches_a_validated_schedule_with_its_next_due_time(
    zap: ZapJobs,
) -> None:
    definition = await zap.recurring("digest", cron="*/15 * * * *", input={"limit": 5})
    assert definition.schedule is not None
    assert definition.schedule.expression == "*/15 * * * *"
    assert definition.schedule.input_json == '{"limit":5}'
    assert definition.next_due_at == datetime(2026, 6, 1, 10, 15, tzinfo=UTC)

    every = await zap.recurring("digest", interval=timedelta(minutes=10), input={"limit": 1})
    assert every.next_due_at == T0 + timedelta(minutes=10)


async def test_recurring_refuses_bad_schedules_and_inputs(zap: ZapJobs) -> None:
    with pytest.raises(ScheduleError):
        await zap.recurring("digest", cron="61 * * * *")
    with pytest.raises(ValidationError, match="cron= or interval="):
        await zap.recurring("digest")
    with pytest.raises(ValidationError, match="field 'limit'"):
        await zap.recurring("digest", cron="@daily", input={"limit": "all"})
    with pytest.raises(UnknownJobTypeError):
        await zap.recurring("no-such-job", cron="@daily")


async def test_pause_resume_trigger_and_remove(zap: ZapJobs) -> None:
    await zap.recurring("digest", cron="@hourly", input={"limit": 3})
    assert (await zap.pause_schedule("digest")).enabled is False
    assert (await zap.resume_schedule("digest")).enabled is True

    run_id = await zap.trigger("digest")
    assert (await zap.get_run(run_id)).input == {"limit": 3}  # the schedule's input
    other = await zap.trigger("digest", {"limit": 9})
    assert (await zap.get_run(other)).input == {"limit": 9}

    removed = await zap.remove_recurring("digest")
    assert removed.schedule is None and removed.next_due_at is None


async def test_a_worker_runs_a_recurring_job_declared_on_the_decorator(store_url: str) -> None:
    clock = FakeClock(T0)
    app = ZapJobs(store_url, auto_migrate=True, clock=clock, polling_interval="50ms")

    @app.job("tick", interval=timedelta(seconds=30), input={"n": 4})
    async def tick(ctx: JobContext[dict[str, int]]) -> int:
        return ctx.input["n"]

    succeeded = RunFilter(job_types=("tick",), statuses=(RunStatus.SUCCEEDED,))
    try:
        async with running_worker(app):
            planned = await wait_until(
                lambda: app.get_definition("tick"), lambda d: d.next_due_at is not None
            )
            assert planned.next_due_at == T0 + timedelta(seconds=30)
            clock.advance(timedelta(seconds=30))
            [run] = await wait_until(
                lambda: app.list_runs(succeeded), lambda runs: len(runs) == 1, what="a tick"
            )
        assert run.output == 4
        assert run.schedule_due_at == T0 + timedelta(seconds=30)
    finally:
        await app.close()
