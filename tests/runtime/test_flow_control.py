"""Flow control through the library and a real worker: declared caps and rate limits reach the
store, operators override them, bad values are refused before anything is written, and a
worker held back by a cap or a rate limit starts the next run when it becomes allowed (not at
its next poll)."""

from __future__ import annotations

import asyncio

import pytest

from zapjobs import (
    FlowLimit,
    JobContext,
    LimitScope,
    RateLimit,
    RunStatus,
    UnknownJobTypeError,
    ValidationError,
    ZapJobs,
)

from .engine_helpers import running_worker, wait_until

# --- declaring and overriding -----------------------------------------------------------------


async def test_declared_limits_are_stored_and_an_override_wins(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True)

    @zap.job("report", max_concurrency=2, rate_limit="10/min")
    async def report(ctx: JobContext[None]) -> None:
        return None

    try:
        await zap.open()
        assert await zap.job_limits("report") == FlowLimit(
            LimitScope.JOB, "report", max_concurrency=2, rate_limit=RateLimit(10, 60)
        )
        changed = await zap.set_job_limits(report, max_concurrency=5, rate_limit="1/s")
        assert changed.effective_max_concurrency == 5
        assert changed.effective_rate_limit == RateLimit(1, 1)
        cleared = await zap.set_job_limits(report, max_concurrency=None, rate_limit=None)
        assert cleared.effective_max_concurrency == 2
    finally:
        await zap.close()


async def test_queue_limits_show_in_list_queues(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True)

    @zap.job("send", queue="mail")
    async def send(ctx: JobContext[None]) -> None:
        return None

    try:
        await zap.set_queue_limits("mail", max_concurrency=3, rate_limit="100/s")
        [mail] = [q for q in await zap.list_queues() if q.name == "mail"]
        assert (mail.max_concurrency, mail.rate_limit) == (3, RateLimit(100, 1))
    finally:
        await zap.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be at least 1, got 0"),
        ({"rate_limit": "10/fortnight"}, "invalid job 'x': rate_limit '10/fortnight'"),
        ({"rate_limit": "0/s"}, "must allow at least 1 start per period"),
    ],
)
def test_a_bad_declaration_is_refused(options: dict[str, object], message: str) -> None:
    zap = ZapJobs("memory://")
    with pytest.raises(ValidationError, match=message):
        zap.job("x", **options)(lambda ctx: None)  # type: ignore[arg-type]


async def test_bad_overrides_write_nothing(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True)

    @zap.job("send", queue="mail")
    async def send(ctx: JobContext[None]) -> None:
        return None

    try:
        with pytest.raises(ValidationError, match="at least 1"):
            await zap.set_job_limits(send, max_concurrency=0, rate_limit=None)
        with pytest.raises(ValidationError, match="invalid rate_limit '10/fortnight'"):
            await zap.set_queue_limits("mail", max_concurrency=None, rate_limit="10/fortnight")
        with pytest.raises(ValidationError, match="unknown queue 'nope'"):
            await zap.set_queue_limits("nope", max_concurrency=2, rate_limit=None)
        with pytest.raises(UnknownJobTypeError):
            await zap.set_job_limits("nobody", max_concurrency=2, rate_limit=None)
        assert await zap.list_flow_limits() == []
    finally:
        await zap.close()


# --- a worker held back -----------------------------------------------------------------------


async def test_a_capped_job_type_runs_one_at_a_time_and_the_next_starts_on_a_freed_slot(
    store_url: str,
) -> None:
    # An hour between polls: only the freed slot can get the next run started in time.
    zap = ZapJobs(store_url, auto_migrate=True, polling_interval="1h")
    running = 0
    most = 0

    @zap.job("report", max_concurrency=1)
    async def report(ctx: JobContext[None]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1

    try:
        ids = [await zap.enqueue(report) for _ in range(4)]
        async with running_worker(zap, concurrency=4):

            async def statuses() -> list[RunStatus]:
                return [(await zap.get_run(i)).status for i in ids]

            await wait_until(statuses, lambda s: all(x is RunStatus.SUCCEEDED for x in s))
        assert most == 1
    finally:
        await zap.close()


async def test_a_worker_held_by_a_rate_limit_wakes_when_the_window_ends(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True, polling_interval="1h")

    @zap.job("ping", rate_limit="2/s")
    async def ping(ctx: JobContext[None]) -> None:
        return None

    try:
        ids = [await zap.enqueue(ping) for _ in range(5)]
        async with running_worker(zap, concurrency=4):

            async def statuses() -> list[RunStatus]:
                return [(await zap.get_run(i)).status for i in ids]

            await wait_until(
                statuses, lambda s: all(x is RunStatus.SUCCEEDED for x in s), what="all pings"
            )
        runs = [await zap.get_run(i) for i in ids]
        windows = [int(r.started_at.timestamp()) for r in runs if r.started_at is not None]
        assert len(windows) == 5 and max(windows.count(w) for w in windows) <= 2
    finally:
        await zap.close()
