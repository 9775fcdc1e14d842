"""An idle completer sleeps without a timer (an idle worker is not woken every flush interval)
and writes the first result after that at once; it still stops at once. On every store."""

from __future__ import annotations

import asyncio

from zapjobs.models import NewRun, RunOutcome, RunStatus
from zapjobs.runtime.completer import Completer
from zapjobs.stores import Store

WORKER = "w-idle"
HOUR = 3600.0  # a flush interval no test waits for


async def idle_completer(store: Store) -> tuple[Completer, asyncio.Event, asyncio.Task[None]]:
    completer = Completer(store, flush_interval=HOUR)
    stop = asyncio.Event()
    task = asyncio.create_task(completer.run(stop))
    for _ in range(3):  # turns of the event loop (not time): its loop reaches its first wait
        await asyncio.sleep(0)
    assert not task.done()
    return completer, stop, task


async def test_the_first_result_after_idle_is_written_at_once(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("t", input_json="1")])
    assert [r.id for r in await store.claim(WORKER, ["default"], ["t"], 1)] == [run_id]
    completer, stop, task = await idle_completer(store)
    try:
        completer.add_outcome(RunOutcome(run_id, WORKER, 1, RunStatus.SUCCEEDED, "2"))
        deadline = asyncio.get_running_loop().time() + 10
        while (run := await store.get_run(run_id)) is None or run.status is RunStatus.RUNNING:
            assert asyncio.get_running_loop().time() < deadline, "not written within 10 s"
            await asyncio.sleep(0.01)
        assert run.status is RunStatus.SUCCEEDED and run.output == 2
        assert completer.pending() == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_an_idle_completer_stops_at_once(store: Store) -> None:
    _, stop, task = await idle_completer(store)
    stop.set()
    await asyncio.wait_for(task, 10)  # not after the flush interval
