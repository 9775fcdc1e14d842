"""Every attempt's error is kept (as an ERROR log entry the worker writes), and every log entry
names the attempt that wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zapjobs import FakeClock, JobContext, RetryPolicy, RunStatus, ZapJobs
from zapjobs.models import LogLevel

from .engine_helpers import running_worker, wait_until

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class Flaky(Exception):
    pass


async def test_each_failed_attempt_leaves_its_error_in_the_logs(store_url: str) -> None:
    clock = FakeClock(T0)
    zap = ZapJobs(store_url, auto_migrate=True, polling_interval="50ms", clock=clock)

    @zap.job("flaky", retry=RetryPolicy(max_retries=2, initial_delay=timedelta(seconds=10)))
    async def flaky(ctx: JobContext[None]) -> str:
        ctx.log.info("trying")
        if ctx.attempt < 3:
            raise Flaky(f"no luck on {ctx.attempt}")
        return "done"

    await zap.open()
    try:
        run_id = await zap.enqueue("flaky")
        async with running_worker(zap):
            for attempt in (1, 2):
                await wait_until(
                    lambda: zap.get_run(run_id),
                    lambda r, n=attempt: r.attempt == n and r.status is RunStatus.PENDING,
                    what=f"retry after attempt {attempt}",
                )
                clock.advance(timedelta(minutes=5))
            final = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
        assert final.status is RunStatus.SUCCEEDED
        logs = await zap.list_logs(run_id)
    finally:
        await zap.close()
    assert [(e.attempt, e.level, e.message) for e in logs] == [
        (1, LogLevel.INFO, "trying"),
        (1, LogLevel.ERROR, f"attempt 1 failed: {_type_name()}: no luck on 1"),
        (2, LogLevel.INFO, "trying"),
        (2, LogLevel.ERROR, f"attempt 2 failed: {_type_name()}: no luck on 2"),
        (3, LogLevel.INFO, "trying"),
    ]
    errors = [e.attempt_error for e in logs if e.attempt_error is not None]
    assert [(e.type, e.message) for e in errors] == [
        (_type_name(), "no luck on 1"),
        (_type_name(), "no luck on 2"),
    ]
    assert all(e.traceback and "raise Flaky(" in e.traceback for e in errors)
    assert logs[0].attempt_error is None


def _type_name() -> str:
    return f"{Flaky.__module__}.{Flaky.__qualname__}"
