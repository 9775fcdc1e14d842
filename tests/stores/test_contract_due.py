"""Conformance: due times. ``next_due`` says how long until the earliest pending run that is not
due yet, and every write that makes runs pending notifies with ``due_in`` (every store)."""

from __future__ import annotations

from datetime import timedelta

from tests.stores.helpers import T0, at, due_in, enqueue_one, finish_one, start_one, wait_until
from zapjobs.models import (
    JobDefinition,
    NewRun,
    Notification,
    RunFilter,
    RunOutcome,
    RunStatus,
    WorkerInfo,
)
from zapjobs.stores import Store

# --- next_due ------------------------------------------------------------------------------------


async def test_next_due_is_none_without_pending_runs(store: Store) -> None:
    assert await due_in(store, ["default"], ["a"], now=T0) is None


async def test_next_due_is_the_time_until_the_earliest_pending_run(store: Store) -> None:
    await enqueue_one(store, run_at=at(seconds=30))
    await enqueue_one(store, run_at=at(seconds=10))
    await enqueue_one(store, run_at=at(seconds=20))
    assert await due_in(store, ["default"], ["a"], now=T0) == timedelta(seconds=10)
    assert await due_in(store, ["default"], ["a"], now=at(seconds=15)) == timedelta(seconds=-5)


async def test_next_due_skips_running_runs_and_what_the_worker_may_not_claim(
    store: Store,
) -> None:
    await start_one(store, now=T0)  # running
    await enqueue_one(store, "b", run_at=at(seconds=5))  # another job type
    await enqueue_one(store, queue="other", run_at=at(seconds=6))  # another queue
    await enqueue_one(store, run_at=at(seconds=40))
    assert await due_in(store, ["default"], ["a"], now=T0) == timedelta(seconds=40)
    assert await due_in(store, ["default", "other"], ["a"], now=T0) == timedelta(seconds=6)
    assert await due_in(store, ["default"], ["a", "b"], now=T0) == timedelta(seconds=5)
    assert await due_in(store, ["default"], [], now=T0) is None
    assert await due_in(store, [], ["a"], now=T0) is None


async def test_next_due_skips_paused_queues(store: Store) -> None:
    """A paused queue's runs cannot be claimed: a worker must not arm a timer (or claim again
    and again) for them; resuming wakes the workers instead."""
    await enqueue_one(store, queue="other", run_at=at(seconds=-1))  # due already
    await enqueue_one(store, run_at=at(seconds=40))
    await store.set_queue_paused("other", True, now=T0)
    assert await due_in(store, ["default", "other"], ["a"], now=T0) == timedelta(seconds=40)
    assert await due_in(store, ["other"], ["a"], now=T0) is None
    await store.set_queue_paused("other", False, now=T0)
    assert await due_in(store, ["default", "other"], ["a"], now=T0) == timedelta(seconds=-1)


async def test_next_due_of_a_run_due_already_is_zero_or_less(store: Store) -> None:
    """A run that became due after the worker's claim is claimed at once, not at the next one."""
    await enqueue_one(store, run_at=at(seconds=40))
    await enqueue_one(store, run_at=at(seconds=-3))
    assert await due_in(store, ["default"], ["a"], now=T0) == timedelta(seconds=-3)
    await enqueue_one(store, run_at=T0)
    assert await due_in(store, ["default"], ["a"], now=T0) == timedelta(seconds=-3)


async def test_next_due_looks_at_every_priority(store: Store) -> None:
    """The claim index leads with priority: the earliest run may have any priority."""
    await enqueue_one(store, priority=9, run_at=at(seconds=50))
    await enqueue_one(store, priority=5, run_at=at(seconds=9))
    await enqueue_one(store, priority=0, run_at=at(seconds=8))
    await enqueue_one(store, priority=-3, run_at=at(seconds=3))
    await enqueue_one(store, priority=-3, run_at=at(seconds=70))
    assert await due_in(store, ["default"], ["a"], now=T0) == timedelta(seconds=3)
    assert await due_in(store, ["default"], ["a"], now=at(seconds=2)) == timedelta(seconds=1)


async def test_next_due_names_the_earliest_runs_every_worker_ranks(store: Store) -> None:
    """Targeted timer wake-ups: the workers agree which of them claims a due run from its id,
    so next_due names the earliest runs (across priorities and queues, by due time then id),
    as many as asked, each with its own due time."""
    late = await enqueue_one(store, priority=9, run_at=at(seconds=50))
    other = await enqueue_one(store, queue="other", run_at=at(seconds=9))
    first = await enqueue_one(store, priority=-3, run_at=at(seconds=3))
    tie = await enqueue_one(store, run_at=at(seconds=9))
    await enqueue_one(store, "b", run_at=at(seconds=1))  # a job type the worker cannot run
    found = await store.next_due(["default", "other"], ["a"], now=T0, runs=3)
    assert found is not None and found.due_in == timedelta(seconds=3)
    assert [(r.id, r.queue, r.due_in) for r in found.runs] == [
        (first, "default", timedelta(seconds=3)),
        (min(other, tie), "other" if other < tie else "default", timedelta(seconds=9)),
        (max(other, tie), "default" if other < tie else "other", timedelta(seconds=9)),
    ]
    one = await store.next_due(["default"], ["a"], now=at(seconds=4))  # one run by default
    assert one is not None and [(r.id, r.due_in) for r in one.runs] == [
        (first, timedelta(seconds=-1))
    ]
    assert late not in {r.id for r in found.runs}


# --- due_in in notifications ---------------------------------------------------------------------


async def _heard(store: Store, queue: str, received: list[Notification]) -> Notification:
    await wait_until(lambda: any(n.kind == "runs" and n.queue == queue for n in received))
    return next(n for n in received if n.kind == "runs" and n.queue == queue)


async def test_an_enqueue_due_now_notifies_without_a_due_time(store: Store) -> None:
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await enqueue_one(store, queue="now")
        assert (await _heard(store, "now", received)).due_in is None
    finally:
        await listener.close()


async def test_an_enqueue_due_later_notifies_with_its_due_time(store: Store) -> None:
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await enqueue_one(store, queue="later", run_at=at(seconds=90))
        heard = await _heard(store, "later", received)
        assert heard.due_in == timedelta(seconds=90)
    finally:
        await listener.close()


async def test_a_batch_notifies_each_queue_with_its_earliest_due_time(store: Store) -> None:
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        runs = [
            NewRun("a", queue="q1", run_at=at(seconds=20)),
            NewRun("a", queue="q1", run_at=at(seconds=7)),
            NewRun("a", queue="q2", run_at=at(seconds=9)),
            NewRun("a", queue="q2"),  # due now: the queue is woken to claim
        ]
        await store.enqueue(runs, now=T0)
        assert (await _heard(store, "q1", received)).due_in == timedelta(seconds=7)
        assert (await _heard(store, "q2", received)).due_in is None
    finally:
        await listener.close()


async def test_a_retry_notifies_its_queue_with_its_due_time(store: Store) -> None:
    run_id = await start_one(store, queue="flaky")
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        retry = RunOutcome(run_id, "w1", 1, RunStatus.PENDING, retry_delay=timedelta(seconds=12))
        assert await store.complete([retry], now=T0) == [run_id]
        assert (await _heard(store, "flaky", received)).due_in == timedelta(seconds=12)
    finally:
        await listener.close()


# --- targeted: runs that become due now name how many and a token ------------------------------


async def test_a_retry_due_now_names_its_run_so_one_worker_claims_it(store: Store) -> None:
    run_id = await start_one(store, queue="flaky")
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        retry = RunOutcome(run_id, "w1", 1, RunStatus.PENDING, retry_delay=timedelta(0))
        assert await store.complete([retry], now=T0) == [run_id]
        heard = await _heard(store, "flaky", received)
        assert (heard.due_in, heard.count, heard.token) == (None, 1, run_id)
    finally:
        await listener.close()


async def test_an_operator_retry_names_its_runs_so_as_many_workers_claim(store: Store) -> None:
    failed = [await finish_one(store, RunStatus.FAILED, queue="ops") for _ in range(3)]
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        assert await store.retry_runs(RunFilter(ids=tuple(failed)), now=at(minutes=1)) == failed
        heard = await _heard(store, "ops", received)
        assert (heard.due_in, heard.count, heard.token) == (None, 3, min(failed))
    finally:
        await listener.close()


async def test_a_rescue_names_its_runs_so_as_many_workers_claim(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    await store.heartbeat(WorkerInfo("w1", "h", 1, ("lost",), T0, T0, concurrency=2), now=T0)
    lost = [await start_one(store, queue="lost", worker_id="w1") for _ in range(2)]
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        result = await store.rescue_stale(stale_after=timedelta(minutes=1), now=at(minutes=10))
        assert result.runs_retried == tuple(sorted(lost))
        heard = await _heard(store, "lost", received)
        assert (heard.due_in, heard.count, heard.token) == (None, 2, min(lost))
    finally:
        await listener.close()
