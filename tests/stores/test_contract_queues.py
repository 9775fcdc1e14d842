"""Conformance: queue pause, resume and purge, and the per-queue read (every store).

A paused queue's pending runs stay pending: no claim takes them (the claim itself reads the
pause, so every worker sees it at its next claim); runs already running finish. Resuming wakes
the queue's listeners so workers claim at once instead of at their next poll.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one, wait_until
from zapjobs import FakeClock, ValidationError, ZapJobs
from zapjobs.models import (
    NewRun,
    Notification,
    Page,
    QueueInfo,
    RunFilter,
    RunStatus,
    WorkerInfo,
)
from zapjobs.stores import Store

# --- the store: pause state and the claim ----------------------------------------------------


async def test_a_paused_queue_is_not_claimed_and_other_queues_still_are(store: Store) -> None:
    mail = await enqueue_one(store, "send", queue="mail")
    images = await enqueue_one(store, "resize", queue="images")
    await store.set_queue_paused("mail", True, now=T0)
    claimed = await store.claim("w1", ["mail", "images"], ["send", "resize"], 10, now=T0)
    assert [r.id for r in claimed] == [images]
    assert (await store.get_run(mail)).status is RunStatus.PENDING  # type: ignore[union-attr]


async def test_resuming_a_queue_lets_its_runs_be_claimed(store: Store) -> None:
    run_id = await enqueue_one(store, "send", queue="mail")
    await store.set_queue_paused("mail", True, now=T0)
    assert await store.claim("w1", ["mail"], ["send"], 10, now=T0) == []
    await store.set_queue_paused("mail", False, now=T0)
    assert [r.id for r in await store.claim("w1", ["mail"], ["send"], 10, now=T0)] == [run_id]


async def test_pausing_leaves_running_runs_alone(store: Store) -> None:
    run_id = await start_one(store, "send", queue="mail")
    await store.set_queue_paused("mail", True, now=T0)
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.RUNNING


async def test_queue_states_record_pause_and_resume(store: Store) -> None:
    assert await store.queue_states() == {}
    await store.set_queue_paused("mail", True, now=T0)
    await store.set_queue_paused("images", True, now=T0)
    await store.set_queue_paused("images", False, now=T0)
    await store.set_queue_paused("mail", True, now=T0)  # twice is once
    assert await store.queue_states() == {"images": False, "mail": True}


async def test_resuming_a_queue_wakes_its_listeners(store: Store) -> None:
    await store.set_queue_paused("mail", True, now=T0)
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await store.set_queue_paused("mail", False, now=T0)
        await wait_until(lambda: any(n.kind == "runs" and n.queue == "mail" for n in received))
    finally:
        await listener.close()


async def test_finished_per_queue_counts_runs_finished_in_the_window(store: Store) -> None:
    await finish_one(store, RunStatus.SUCCEEDED, "a", queue="mail", finished=at(seconds=-90))
    await finish_one(store, RunStatus.SUCCEEDED, "a", queue="mail", finished=at(seconds=-30))
    await finish_one(store, RunStatus.FAILED, "a", queue="mail", finished=at(seconds=-10))
    await finish_one(store, RunStatus.SUCCEEDED, "b", queue="images", finished=at(seconds=-5))
    await start_one(store, "c", queue="images")
    assert await store.finished_per_queue(since=at(minutes=-1), now=T0) == {
        "images": 1,
        "mail": 2,
    }


# --- the library: list_queues, pause_queue, purge_queue --------------------------------------


def _zap(store: Store) -> ZapJobs:
    return ZapJobs(store=store, clock=FakeClock(T0))


async def _worker(store: Store, worker_id: str, queues: tuple[str, ...], seen: int = 0) -> None:
    info = WorkerInfo(worker_id, "host", 1, queues, started_at=at(minutes=-10), last_seen_at=T0)
    await store.heartbeat(info, now=at(minutes=seen))


async def test_list_queues_reports_each_queue(store: Store) -> None:
    zap = _zap(store)
    await finish_one(store, RunStatus.SUCCEEDED, "send", queue="mail", finished=at(seconds=-20))
    await start_one(store, "send", queue="mail", now=at(minutes=-1))
    await enqueue_one(store, "send", queue="mail", run_at=at(minutes=-3))
    await enqueue_one(store, "send", queue="mail", run_at=at(minutes=-1))
    await enqueue_one(store, "send", queue="mail", run_at=at(hours=1))  # scheduled
    await enqueue_one(store, "resize", queue="images")
    await _worker(store, "w-mail", ("mail", "default"))
    await _worker(store, "w-gone", ("images",), seen=-60)  # stale: serves nothing
    await zap.pause_queue("images")
    assert await zap.list_queues() == [
        QueueInfo("default", workers=("w-mail",)),
        QueueInfo("images", paused=True, pending=1, lag=timedelta(0)),
        QueueInfo(
            "mail",
            pending=2,
            scheduled=1,
            running=1,
            lag=timedelta(minutes=3),
            workers=("w-mail",),
            finished_last_minute=1,
        ),
    ]
    [_, images, mail] = await zap.list_queues()
    assert (images.served, mail.served) == (False, True)


async def test_list_queues_counts_waiting_runs_in_a_column_of_their_own(store: Store) -> None:
    """A run waiting for its parents is not claimable: not pending, not in the lag."""
    zap = _zap(store)
    parent = await enqueue_one(store, "extract", queue="etl", run_at=at(minutes=-2))
    waiting = NewRun("load", queue="etl", run_at=at(minutes=-30), parents=(parent,))
    await store.enqueue([waiting, waiting], now=T0)
    assert await zap.list_queues() == [
        QueueInfo("etl", pending=1, waiting=2, lag=timedelta(minutes=2)),
    ]


async def test_pause_and_resume_queue_through_the_library(store: Store) -> None:
    zap = _zap(store)
    run_id = await enqueue_one(store, "send", queue="mail")
    await zap.pause_queue("mail")
    assert await store.claim("w1", ["mail"], ["send"], 10, now=T0) == []
    assert [q.paused for q in await zap.list_queues()] == [True]
    await zap.resume_queue("mail")
    assert [r.id for r in await store.claim("w1", ["mail"], ["send"], 10, now=T0)] == [run_id]


async def test_pausing_an_unknown_queue_is_refused(store: Store) -> None:
    zap = _zap(store)
    await enqueue_one(store, "send", queue="mail")
    with pytest.raises(ValidationError, match="unknown queue 'mial'"):
        await zap.pause_queue("mial")
    with pytest.raises(ValidationError, match="unknown queue"):
        await zap.purge_queue("mial")
    assert await store.queue_states() == {}


async def test_purge_deletes_pending_and_scheduled_runs_and_never_running_ones(
    store: Store,
) -> None:
    zap = _zap(store)
    running = await start_one(store, "send", queue="mail")
    failed = await finish_one(store, RunStatus.FAILED, "send", queue="mail")
    await enqueue_one(store, "send", queue="mail")
    await enqueue_one(store, "send", queue="mail", run_at=at(hours=1))
    other = await enqueue_one(store, "send", queue="images")
    assert await zap.purge_queue("mail") == 2
    left = {r.id for r in await store.list_runs(RunFilter(), Page(limit=100))}
    assert left == {running, failed, other}
    assert await zap.purge_queue("mail", statuses=[RunStatus.FAILED]) == 1
    assert await zap.purge_queue("mail") == 0
    run = await store.get_run(running)
    assert run is not None and run.status is RunStatus.RUNNING


async def test_purge_refuses_running_and_a_bare_string(store: Store) -> None:
    zap = _zap(store)
    await start_one(store, "send", queue="mail")
    with pytest.raises(ValidationError, match="running"):
        await zap.purge_queue("mail", statuses=[RunStatus.RUNNING])
    with pytest.raises(ValidationError, match="must be a list"):
        await zap.purge_queue("mail", statuses="pending")  # type: ignore[arg-type]
    assert await store.count_runs(RunFilter(queues=("mail",))) == 1
