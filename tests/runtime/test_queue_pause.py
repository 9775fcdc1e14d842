"""Queue pause with a real worker on PostgreSQL: a pause stops new claims while a running run
finishes; resuming gets the next run claimed at once (NOTIFY), not at the next poll."""

from __future__ import annotations

import asyncio

from zapjobs import JobContext, RunStatus, ZapJobs

from .engine_helpers import running_worker, wait_until


async def test_pause_stops_claims_running_runs_finish_and_resume_wakes_the_worker(
    pg_url: str,
) -> None:
    # An hour between polls: only a notification can get a run claimed within the deadline.
    zap = ZapJobs(pg_url, auto_migrate=True, polling_interval="1h")
    release = asyncio.Event()

    @zap.job("slow", queue="mail")
    async def slow(ctx: JobContext[None]) -> None:
        await release.wait()

    @zap.job("quick", queue="other")
    async def quick(ctx: JobContext[None]) -> None:
        return None

    async def status(run_id: int) -> RunStatus:
        return (await zap.get_run(run_id)).status

    try:
        async with running_worker(zap, queues=["mail", "other"], concurrency=4):
            first = await zap.enqueue(slow)
            await wait_until(lambda: status(first), lambda s: s is RunStatus.RUNNING)

            await zap.pause_queue("mail")
            held = await zap.enqueue(slow)
            # The worker claims "mail" and "other" in one statement: once this run of "other"
            # has been claimed, a claim after the pause looked at "mail" too and left it.
            probe = await zap.enqueue(quick)
            await wait_until(lambda: status(probe), lambda s: s is RunStatus.SUCCEEDED)
            assert await status(held) is RunStatus.PENDING
            assert await status(first) is RunStatus.RUNNING  # the pause did not stop it

            release.set()
            await wait_until(lambda: status(first), lambda s: s is RunStatus.SUCCEEDED)
            # A freed slot makes the worker claim again: still nothing from the paused queue.
            later_probe = await zap.enqueue(quick)
            await wait_until(lambda: status(later_probe), lambda s: s is RunStatus.SUCCEEDED)
            assert await status(held) is RunStatus.PENDING

            await zap.resume_queue("mail")
            await wait_until(
                lambda: status(held), lambda s: s is RunStatus.SUCCEEDED, what="the claim"
            )
    finally:
        await zap.close()


async def test_a_burst_worker_leaves_a_paused_queues_runs_pending(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True)

    @zap.job("send", queue="mail")
    async def send(ctx: JobContext[None]) -> None:
        return None

    try:
        run_id = await zap.enqueue(send)
        await zap.pause_queue("mail")
        await zap.run_worker(queues=["mail"], burst=True, install_signal_handlers=False)
        assert (await zap.get_run(run_id)).status is RunStatus.PENDING
        await zap.resume_queue("mail")
        await zap.run_worker(queues=["mail"], burst=True, install_signal_handlers=False)
        assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED
    finally:
        await zap.close()
