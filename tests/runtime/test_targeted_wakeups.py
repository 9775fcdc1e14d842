"""Targeted wake-ups: an enqueue wakes about as many workers as it made runs, not every idle
worker of the queue, and a wake-up whose chosen worker is busy is passed on, not lost.

PostgreSQL and memory, where a notification names the new runs. (SQLite: a worker in another
process learns only that the file changed, and every idle worker looks; see runtime/peers.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from tests.runtime.claims import ClaimCounter
from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.models import Notification
from zapjobs.runtime import peers
from zapjobs.runtime.fetcher import Fetcher

from .engine_helpers import RunningWorker, running_worker, wait_until

IDLE_WORKERS = 5
JOBS = 30


@pytest.fixture(params=["memory", "postgres"])
async def zap(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ZapJobs]:
    monkeypatch.setattr(peers, "REFRESH_SECONDS", 0.05)  # the lists settle within the test
    url = "memory://" if request.param == "memory" else request.getfixturevalue("pg_url")
    app = ZapJobs(url, auto_migrate=True, polling_interval="1h")

    @app.job("tick")
    async def tick(ctx: JobContext[None]) -> None:
        return None

    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def run_one(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("tick")
    run = await zap.wait_for(run_id, timeout=timedelta(seconds=10))
    assert run.status is RunStatus.SUCCEEDED


async def test_an_enqueue_wakes_one_of_several_idle_workers(zap: ZapJobs) -> None:
    async with AsyncExitStack() as stack:
        workers: list[RunningWorker] = [
            await stack.enter_async_context(running_worker(zap, concurrency=2))
            for _ in range(IDLE_WORKERS)
        ]
        await wait_until(
            zap.list_workers, lambda ws: len(ws) == IDLE_WORKERS, what="every worker registered"
        )
        for _ in range(5):  # warm-up: every worker has read the full list of its peers
            await run_one(zap)
        claims = ClaimCounter(zap)
        for _ in range(JOBS):
            await run_one(zap)
        per_job = claims.calls / JOBS
        print(f"claims per job: {per_job:.2f}")
        # Before: every idle worker claimed at each enqueue (5 claims per job).
        assert per_job <= 1.5, (claims.calls, JOBS)
    claimed = sorted(w.summary.claimed for w in workers if w.summary is not None)
    assert sum(claimed) == JOBS + 5


async def test_on_postgresql_an_enqueue_reaches_the_listener_of_one_idle_worker_only(
    zap: ZapJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL signals every listening backend, but a run enqueued alone is notified on a
    shard channel that only one worker listens to: the other worker processes are not woken."""
    if zap.backend != "postgres":
        pytest.skip("shard channels are PostgreSQL's")
    heard: list[int] = []
    on_notification = Fetcher.on_notification

    def counted(self: Fetcher, notification: Notification) -> None:
        if notification.queue == "default" and notification.token is not None:
            heard.append(notification.token)
        on_notification(self, notification)

    monkeypatch.setattr(Fetcher, "on_notification", counted)
    async with AsyncExitStack() as stack:
        for _ in range(IDLE_WORKERS):
            await stack.enter_async_context(running_worker(zap, concurrency=2))
        await wait_until(
            zap.list_workers, lambda ws: len(ws) == IDLE_WORKERS, what="every worker registered"
        )
        for _ in range(5):  # warm-up: every worker has read the full list of its peers
            await run_one(zap)
        heard.clear()
        for _ in range(JOBS):
            await run_one(zap)
        # Before: each enqueue reached every idle worker (5 per job), which ranked and let one
        # claim. A worker whose list is not settled yet listens to more shards: one extra.
        assert len(heard) <= JOBS + 2, (len(heard), JOBS)


async def test_workers_started_one_after_another_learn_of_each_other_soon(
    zap: ZapJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker of a deployment read a list holding only itself and, until the next
    refresh (10 s), claimed at every enqueue; now a new worker re-reads its list soon after
    starting (doubling intervals), and the lists settle long before the regular refresh."""
    monkeypatch.setattr(peers, "REFRESH_SECONDS", 3600.0)  # only the early re-reads can help
    monkeypatch.setattr(peers, "FIRST_REFRESH_SECONDS", 0.05, raising=False)
    async with AsyncExitStack() as stack:
        for count in range(1, IDLE_WORKERS + 1):  # each reads its list alone or nearly so
            await stack.enter_async_context(running_worker(zap, concurrency=2))
            await wait_until(
                zap.list_workers, lambda ws, n=count: len(ws) == n, what="the worker registered"
            )
        claims = ClaimCounter(zap)

        async def settled() -> bool:
            before = claims.calls
            for _ in range(10):
                await run_one(zap)
            return claims.calls - before <= 12

        await wait_until(settled, lambda ok: ok, what="about one claim per job", timeout=20.0)


async def test_a_wake_up_chosen_for_a_busy_worker_is_passed_on(zap: ZapJobs) -> None:
    """Each enqueue picks one worker; when the pick has no free slot, the others are woken."""
    release = {"hold": True}

    @zap.job("hold")
    async def hold(ctx: JobContext[None]) -> None:
        await wait_until(_released(release), what="the test to release the job")

    async with AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(running_worker(zap, concurrency=1))
        await wait_until(zap.list_workers, lambda ws: len(ws) == 3, what="every worker registered")
        held = [await zap.enqueue("hold") for _ in range(2)]  # two of three workers busy
        for run_id in held:
            await wait_until(
                lambda run_id=run_id: zap.get_run(run_id),
                lambda run: run.status is RunStatus.RUNNING,
                what="two workers busy",
            )
        # Whichever worker each enqueue picks, the one idle worker runs them all.
        for _ in range(6):
            await run_one(zap)
        release["hold"] = False


def _released(release: dict[str, bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return not release["hold"]

    return probe
