"""Liveness on the memory store: fencing (a worker rescues others only after beating for the
stale threshold), a worker marked dead stops the runs it no longer owns, and the loop watchdog
names the job that blocks the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.models import NewRun, WorkerInfo
from zapjobs.runtime.backoff import Outages
from zapjobs.runtime.heartbeat import Heartbeat
from zapjobs.stores.memory import MemoryStore

from .engine_helpers import running_worker, wait_until

DEADLINE = 30.0  # seconds a blocked loop waits for the watchdog's thread at most


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
    warned = _BlockWarnings()

    @zap.job("sleepy", max_retries=0)
    async def sleepy(ctx: JobContext[None]) -> None:
        # Blocks the loop (the point of this job) until the watchdog has warned, or 30 s.
        warned.seen.wait(DEADLINE)

    caplog.set_level(logging.WARNING, logger="zapjobs.worker")
    try:
        run_id = await zap.enqueue("sleepy")
        async with running_worker(zap):
            await wait_until(lambda: zap.get_run(run_id), lambda r: r.status.is_final)
    finally:
        await zap.close()
        warned.remove()
    warnings = [r for r in caplog.records if "blocked the event loop" in r.getMessage()]
    assert [(r.name, r.levelno) for r in warnings] == [("zapjobs.worker", logging.WARNING)]
    assert f"job 'sleepy' (run {run_id})" in warnings[0].getMessage()


async def test_the_watchdog_pings_the_loop_only_while_runs_are_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only jobs block the loop; pinging an idle worker's loop woke both threads four times a
    second. Blocked with no run in flight: no warning, however many times the watchdog looks;
    blocked by a run: one warning for the whole episode."""
    store = MemoryStore()
    await store.open()
    running: list[int] = []
    looks = 0

    def busy() -> bool:
        nonlocal looks
        looks += 1
        return bool(running)

    heartbeat = Heartbeat(
        store=store,
        worker_info=lambda: ghost(datetime.now(UTC)),
        interval=0.05,
        clock=None,
        outages=Outages(logging.getLogger("zapjobs.worker")),
        on_marked_dead=lambda: None,
        blocker=lambda task: "the job under test",
        busy=busy,
        block_warning=0.5,
    )
    caplog.set_level(logging.WARNING, logger="zapjobs.worker")
    warned = _BlockWarnings()
    heartbeat.start()
    try:
        # Each block below holds the loop (the behaviour under test) until a condition of the
        # watchdog's thread holds, or the deadline.
        # 8 looks at 0.25 s: a ping sent meanwhile would have waited past the 0.5 s limit
        _block_until(lambda: looks >= 8 or warned.seen.is_set())
        assert warned.messages == []
        running.append(1)
        assert warned.seen.wait(DEADLINE)
        beats = heartbeat.beats
        _block_until(lambda: heartbeat.beats >= beats + 20)  # 1 s more of the same episode
        await asyncio.sleep(0)
        assert len(warned.messages) == 1
        assert "the job under test has blocked the event loop" in warned.messages[0]
    finally:
        warned.remove()
        await heartbeat.stop()
        await store.close()


class _BlockWarnings(logging.Handler):
    """The watchdog's warnings as they are logged (from its thread), with an event to block on."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.seen = threading.Event()
        logging.getLogger("zapjobs.worker").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "blocked the event loop" in message:
            self.messages.append(message)
            self.seen.set()

    def remove(self) -> None:
        logging.getLogger("zapjobs.worker").removeHandler(self)


def _block_until(condition: Callable[[], bool]) -> None:
    """Hold the calling thread (and its event loop) until ``condition`` holds; fail after the
    deadline."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not met within the deadline"
        time.sleep(0.01)


async def _value(value: list[int]) -> list[int]:
    return list(value)
