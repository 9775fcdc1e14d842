"""Targeted wake-ups at due times: when a run becomes due (a delayed enqueue, a retry's backoff, a
fake clock moved past it), only the worker chosen for it claims, not every idle worker of the
queue; when the chosen worker is busy or dead, another takes the run a little later (its backup,
runtime/peers.py), long before the poll (an hour here).

Memory, SQLite in this process and PostgreSQL: every worker ranks the ids ``next_due`` reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.runtime.claims import ClaimCounter
from zapjobs import JobContext, RetryPolicy, RunStatus, ZapJobs
from zapjobs.clock import FakeClock
from zapjobs.models import JobRun, WorkerInfo
from zapjobs.runtime import peers
from zapjobs.testing import store_of

from .engine_helpers import running_worker, wait_until

IDLE_WORKERS = 5
RUNS = 20
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
#: a retry's backoff: short, so that the test waits for it in real time
BACKOFF = RetryPolicy(max_retries=1, initial_delay=timedelta(seconds=1), use_jitter=False)


def make_app(url: str, clock: FakeClock | None = None) -> ZapJobs:
    app = ZapJobs(url, auto_migrate=True, polling_interval="1h", clock=clock)

    @app.job("tick")
    async def tick(ctx: JobContext[None]) -> None:
        return None

    @app.job("flaky", retry=BACKOFF)
    async def flaky(ctx: JobContext[None]) -> None:
        if ctx.attempt == 1:
            raise RuntimeError("the first attempt fails")

    return app


def store_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return "memory://"
    return str(request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def zap(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ZapJobs]:
    monkeypatch.setattr(peers, "REFRESH_SECONDS", 0.05)  # the lists settle within the test
    monkeypatch.setattr(peers, "FIRST_REFRESH_SECONDS", 0.05)
    app = make_app(store_url(request.param, request))
    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def start_workers(
    stack: AsyncExitStack, zap: ZapJobs, count: int, *, delay: float = 0.02, **options: Any
) -> None:
    """Start ``count`` workers, then run a few runs (due ``delay`` seconds later: runs due at
    once wait for the poll when they pick a dead worker) while every worker reads the full
    list of its peers."""
    total = len(await zap.list_workers()) + count
    for _ in range(count):
        await stack.enter_async_context(running_worker(zap, **options))
    await wait_until(zap.list_workers, lambda ws: len(ws) >= total, what="every worker registered")
    for _ in range(5):
        run_id = await zap.enqueue("tick", delay=timedelta(seconds=delay) if delay else None)
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=10))
        assert run.status is RunStatus.SUCCEEDED


async def wait_all(zap: ZapJobs, run_ids: list[int]) -> list[JobRun]:
    """Every run finished, long before the poll (an hour): woken by its due time."""
    return [await zap.wait_for(i, timeout=timedelta(seconds=10)) for i in run_ids]


async def test_a_run_due_later_is_claimed_by_one_of_several_idle_workers(zap: ZapJobs) -> None:
    async with AsyncExitStack() as stack:
        await start_workers(stack, zap, IDLE_WORKERS, concurrency=10)
        claims = ClaimCounter(zap)
        run_ids = [
            await zap.enqueue("tick", delay=timedelta(milliseconds=100 + 20 * i))
            for i in range(RUNS)
        ]
        runs = await wait_all(zap, run_ids)
        assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
        per_run = claims.calls / RUNS
        print(f"claims per due run: {per_run:.2f}")
        # Before: every idle worker claimed at each due time (5 claims per run).
        assert per_run <= 1.5, (claims.calls, RUNS)


async def test_a_retry_is_claimed_by_one_of_several_idle_workers(zap: ZapJobs) -> None:
    async with AsyncExitStack() as stack:
        await start_workers(stack, zap, IDLE_WORKERS, concurrency=10)
        run_ids = [  # first attempts 50 ms apart, and so the retries
            await zap.enqueue("flaky", delay=timedelta(milliseconds=50 * i))
            for i in range(RUNS // 2)
        ]
        for run_id in run_ids:  # the first attempt failed: the retry is due a second later
            await wait_until(
                lambda run_id=run_id: zap.get_run(run_id),
                lambda run: run.status is RunStatus.PENDING and run.attempt == 1,
                what="the retry written",
            )
        claims = ClaimCounter(zap)
        runs = await wait_all(zap, run_ids)
        assert {(r.status, r.attempt) for r in runs} == {(RunStatus.SUCCEEDED, 2)}
        print(f"claims per retry: {claims.calls / len(run_ids):.2f}")
        # Before: every idle worker claimed at each retry's due time (5 claims per retry).
        assert claims.calls <= 1.5 * len(run_ids), (claims.calls, len(run_ids))


async def test_a_run_whose_chosen_worker_is_dead_is_taken_by_another(zap: ZapJobs) -> None:
    """Worker rows that look alive (fresh heartbeats) but claim nothing are chosen for about
    half the runs: the next live worker in rank takes each of those a little after its due time,
    once (the others only look), and nothing waits for the poll."""
    now = datetime.now(UTC)
    ghosts = [f"ghost-{i}" for i in range(4)]
    for ghost in ghosts:
        info = WorkerInfo(ghost, "elsewhere", 1, ("default",), now, now, concurrency=10)
        await store_of(zap).heartbeat(info)
    async with AsyncExitStack() as stack:
        await start_workers(stack, zap, 4, concurrency=10)
        alive = {w.id for w in await zap.list_workers()}
        claims = ClaimCounter(zap)
        run_ids = [
            await zap.enqueue("tick", delay=timedelta(milliseconds=100 + 20 * i))
            for i in range(RUNS)
        ]
        runs = await wait_all(zap, run_ids)
        assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
        everyone = alive | set(ghosts)
        first = {i: min(everyone, key=lambda w, i=i: peers.rank(i, w)) for i in run_ids}
        for_ghosts = [i for i in run_ids if first[i] in ghosts]
        assert for_ghosts, "no run chose a dead worker: the test proves nothing"
        print(f"claims per due run: {claims.calls / RUNS:.2f}, {len(for_ghosts)} for the dead")
        # Before: every one of the 4 live workers claimed at each due time.
        assert claims.calls <= 1.5 * RUNS, (claims.calls, RUNS)


async def test_a_run_whose_chosen_worker_is_busy_is_taken_by_an_idle_one(zap: ZapJobs) -> None:
    release = {"hold": True}

    @zap.job("hold")
    async def hold(ctx: JobContext[None]) -> None:
        await wait_until(_released(release), what="the test to release the job")

    async with AsyncExitStack() as stack:
        await start_workers(stack, zap, 2, concurrency=1)
        held = [await zap.enqueue("hold") for _ in range(2)]  # both busy
        for run_id in held:
            await wait_until(
                lambda run_id=run_id: zap.get_run(run_id),
                lambda run: run.status is RunStatus.RUNNING,
                what="two workers busy",
            )
        await start_workers(stack, zap, 3, concurrency=10)  # and three idle
        claims = ClaimCounter(zap)
        run_ids = [
            await zap.enqueue("tick", delay=timedelta(milliseconds=100 + 50 * i))
            for i in range(RUNS // 2)
        ]
        runs = await wait_all(zap, run_ids)
        assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
        print(f"claims per due run: {claims.calls / len(run_ids):.2f}")
        # Before: each of the three idle workers claimed at each due time.
        assert claims.calls <= 1.5 * len(run_ids), (claims.calls, len(run_ids))
        release["hold"] = False


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
async def test_a_fake_clock_moved_past_a_due_time_wakes_one_worker(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests move a FakeClock instead of sleeping: every idle worker then looks (a read), and
    only the one chosen for the due run claims it."""
    monkeypatch.setattr(peers, "REFRESH_SECONDS", 0.05)
    monkeypatch.setattr(peers, "FIRST_REFRESH_SECONDS", 0.05)
    clock = FakeClock(T0)
    zap = make_app(store_url(backend, request), clock)
    await zap.open()
    try:
        async with AsyncExitStack() as stack:
            await start_workers(stack, zap, IDLE_WORKERS, delay=0, concurrency=10)
            claims = ClaimCounter(zap)
            run_ids = [
                await zap.enqueue("tick", delay=timedelta(seconds=i + 1)) for i in range(RUNS // 2)
            ]
            for step, run_id in enumerate(run_ids):
                clock.advance(timedelta(seconds=1))  # heartbeats stay within stale_after
                run = await zap.wait_for(run_id, timeout=timedelta(seconds=10))
                assert run.status is RunStatus.SUCCEEDED, step
            print(f"claims per due run: {claims.calls / len(run_ids):.2f}")
            # Before: each move of the clock made every idle worker claim (5 per run).
            assert claims.calls <= 1.5 * len(run_ids), (claims.calls, len(run_ids))
    finally:
        await zap.close()


def _released(release: dict[str, bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return not release["hold"]

    return probe
