"""The sync twins run the async core on a private loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest

from zapjobs import JobContext, RunStatus, ValidationError, ZapJobs, ZapJobsError


@dataclass
class Sum:
    numbers: list[int]


def make_app(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="50ms")

    @zap.job("sum")
    async def add(ctx: JobContext[Sum]) -> int:
        return sum(ctx.input.numbers)

    return zap


def portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "zapjobs-portal"]


def test_sync_twins_round_trip_from_plain_code(store_url: str) -> None:
    """Like a Django view: no event loop in this thread."""
    zap = make_app(store_url)
    before = len(portal_threads())
    try:
        run_id = zap.enqueue_sync("sum", Sum([1, 2, 3]))
        ids = zap.enqueue_many_sync("sum", [Sum([1]), {"numbers": [2, 2]}])
        later = zap.schedule_sync("sum", Sum([]), delay=timedelta(hours=1))
        assert zap.get_run_sync(run_id).status is RunStatus.PENDING
        assert zap.get_run_sync(later).run_at > zap.get_run_sync(run_id).run_at
        with pytest.raises(ValidationError, match="field 'numbers\\[0\\]'"):
            zap.enqueue_sync("sum", {"numbers": ["x"]})
        assert len(portal_threads()) == before + 1

        async def work() -> None:
            # A worker on another loop; a memory store is shared with the twins.
            try:
                await zap.run_worker(burst=True, install_signal_handlers=False)
            finally:
                await zap.close()

        asyncio.run(work())
        assert len(portal_threads()) == before  # close() also closed the twins' loop
        run = zap.wait_for_sync(run_id, timeout=timedelta(seconds=15))
        assert (run.status, run.output) == (RunStatus.SUCCEEDED, 6)
        outputs = [zap.wait_for_sync(i, timeout=timedelta(seconds=15)).output for i in ids]
        assert outputs == [1, 4]
    finally:
        zap.close_sync()
    assert len(portal_threads()) == before


async def test_sync_twins_work_when_called_from_async_code_in_a_thread() -> None:
    zap = make_app("memory://")
    try:
        run_id = await asyncio.to_thread(zap.enqueue_sync, "sum", Sum([4, 5]))
        summary = await zap.run_worker(burst=True, install_signal_handlers=False)
        assert summary.succeeded == 1
        run = await asyncio.to_thread(zap.get_run_sync, run_id)
        assert run.output == 9
    finally:
        await zap.close()


def test_a_sync_twin_called_on_the_portal_loop_explains_itself() -> None:
    zap = make_app("memory://")
    try:
        zap.enqueue_sync("sum", Sum([1]))  # starts the portal
        portal = zap._portal
        assert portal is not None

        async def inside() -> int:
            return zap.enqueue_sync("sum", Sum([2]))

        with pytest.raises(ZapJobsError, match="use the async method"):
            portal.call(inside)
    finally:
        zap.close_sync()
