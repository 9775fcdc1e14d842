"""Liveness on the memory store: fencing (a worker rescues others only after beating for the
stale threshold), a worker marked dead stops the runs it no longer owns, and the loop watchdog
names the job that blocks the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.models import NewRun, WorkerInfo
from zapjobs.runtime.backoff import Outages
from zapjobs.runtime.heartbeat import Heartbeat
from zapjobs.stores.memory import MemoryStore

from .engine_helpers import running_worker, wait_until


def make_app(store: MemoryStore, **settings: str) -> ZapJobs:
    return ZapJobs(
        "memory://", store=store, polling_interval="50ms", heartbeat_interval="100ms", **settings
    )


def ghost(started: datetime) -> WorkerInfo:
    return WorkerInfo(
        id="ghost",
        host="h",
        pid=1,
        queues=("default",),
        started_at=started,
        last_seen_at=started,
        running=1,
        concurrency=1,
    )


async def test_a_new_worker_rescues_only_after_beating_for_the_stale_threshold() -> None:
    store = MemoryStore()
    zap = make_app(store, stale_worker_threshold="1s")

    @zap.job("a", max_retries=3)
    async def a(ctx: JobContext[None]) -> None:
        return None

    await zap.open()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await store.heartbeat(ghost(long_ago), now=long_ago)
    [run_id] = await store.enqueue([NewRun("a")], now=long_ago)
    assert [r.id for r in await store.claim("ghost", ["default"], ["a"], 1, now=long_ago)] == [
        run_id
    ]
    started = time.monotonic()
    try:
        async with running_worker(zap):
            await wait_until(
                lambda: zap.get_run(run_id),
                lambda r: r.status is RunStatus.SUCCEEDED,
                what="the ghost's run to be rescued and run",
            )
            rescued_after = time.monotonic() - started
    finally:
        await zap.close()
    # fencing: not before this worker itself had been beating for the threshold
    assert rescued_after >= 1.0


async def test_a_worker_marked_dead_stops_the_runs_it_no_longer_owns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    zap = make_app(store)
    started: list[int] = []
    stopped: list[int] = []

    @zap.job("hold", max_retries=3)
    async def hold(ctx: JobContext[None]) -> None:
        started.append(ctx.attempt)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.append(ctx.attempt)
            raise

    run_id = await zap.enqueue("hold")
    try:
        async with running_worker(zap, shutdown_timeout=timedelta(milliseconds=50)):
            await wait_until(lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING)
            # as if this worker had been cut off past the threshold: another rescued its run
            rescued = await store.rescue_stale(
                stale_after=timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1)
            )
            assert rescued.runs_retried == (run_id,)
            await wait_until(lambda: _value(stopped), lambda s: s == [1], what="attempt 1 stopped")
            await wait_until(lambda: _value(started), lambda s: s == [1, 2], what="attempt 2")
            workers = await store.list_workers()
            assert [w.dead_at for w in workers] == [None]  # alive again under the same id
    finally:
        await zap.close()
    assert any("had been marked dead" in r.getMessage() for r in caplog.records)


async def test_a_job_blocking_the_loop_is_named_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    zap = make_app(MemoryStore())

    @zap.job("sleepy", max_retries=0)
    async def sleepy(ctx: JobContext[None]) -> None:
        time.sleep(1.6)  # noqa: ASYNC251 (the point of this job)

    caplog.set_level(logging.WARNING, logger="zapjobs.worker")
    try:
        run_id = await zap.enqueue("sleepy")
        async with running_worker(zap):
            await wait_until(lambda: zap.get_run(run_id), lambda r: r.status.is_final)
    finally:
        await zap.close()
    warnings = [r for r in caplog.records if "blocked the event loop" in r.getMessage()]
    assert [(r.name, r.levelno) for r in warnings] == [("zapjobs.worker", logging.WARNING)]
    assert f"job 'sleepy' (run {run_id})" in warnings[0].getMessage()


async def test_the_watchdog_pings_the_loop_only_while_runs_are_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only jobs block the loop; pinging an idle worker's loop woke both threads four times a
    second. Blocked with no run in flight: no warning; once a run started: one."""
    store = MemoryStore()
    await store.open()
    running: list[int] = []
    heartbeat = Heartbeat(
        store=store,
        worker_info=lambda: ghost(datetime.now(UTC)),
        interval=60.0,
        clock=None,
        outages=Outages(logging.getLogger("zapjobs.worker")),
        on_marked_dead=lambda: None,
        blocker=lambda task: "the job under test",
        busy=lambda: bool(running),
        block_warning=0.5,
    )
    caplog.set_level(logging.WARNING, logger="zapjobs.worker")

    def warnings() -> list[str]:
        messages = [r.getMessage() for r in caplog.records]
        return [m for m in messages if "blocked the event loop" in m]

    heartbeat.start()
    try:
        time.sleep(1.5)  # noqa: ASYNC251 (blocking with no run in flight: under test)
        await asyncio.sleep(0)
        assert warnings() == []
        running.append(1)
        time.sleep(1.5)  # noqa: ASYNC251 (a run's job blocking the loop)
        await wait_until(lambda: _value([len(warnings())]), lambda n: n == [1])
        assert "the job under test has blocked the event loop" in warnings()[0]
    finally:
        await heartbeat.stop()
        await store.close()


async def _value(value: list[int]) -> list[int]:
    return list(value)
