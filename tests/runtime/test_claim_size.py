"""A claim asks for at most half the free slots of a worker with more than 10: the next claim's
round trip then overlaps the runs of the one before (a no-op job ends in the turn of the event
loop it starts in, so a claim of every free slot left the worker idle during each claim)."""

from __future__ import annotations

from typing import Any

import pytest

from zapjobs import JobContext, ZapJobs
from zapjobs.models import JobRun
from zapjobs.runtime.fetcher import claim_size
from zapjobs.testing import store_of


@pytest.mark.parametrize(
    ("concurrency", "size"), [(1, 1), (7, 7), (10, 10), (15, 10), (20, 10), (100, 50)]
)
def test_a_claim_asks_for_half_the_slots_from_ten_slots_up(concurrency: int, size: int) -> None:
    assert claim_size(concurrency) == size


async def test_a_worker_of_40_slots_claims_20_at_most_and_runs_every_run(store_url: str) -> None:
    zap = ZapJobs(store_url, auto_migrate=True, enable_scheduler=False, polling_interval="1h")
    ran: list[int] = []

    @zap.job("noop")
    async def noop(ctx: JobContext[int]) -> None:
        ran.append(ctx.input)

    await zap.open()
    try:
        store = store_of(zap)
        asked: list[int] = []
        claim = store.claim

        async def recorded(*args: Any, **kwargs: Any) -> list[JobRun]:
            found = await claim(*args, **kwargs)
            asked.append(args[3])  # (worker_id, queues, job_types, limit)
            return found

        setattr(store, "claim", recorded)  # noqa: B010 (this instance only)
        await zap.enqueue_many("noop", list(range(100)))
        summary = await zap.run_worker(burst=True, concurrency=40, install_signal_handlers=False)
    finally:
        await zap.close()
    assert summary.succeeded == 100 and sorted(ran) == list(range(100))
    assert max(asked) == 20, asked
