"""Conformance: a snoozed attempt (the job raised ``Snooze``) puts its run back to pending, due
after the delay, without consuming the attempt or counting a failure, and counts the snooze on
the run (every store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.stores.helpers import T0, at, start_one, wait_until
from zapjobs.models import Notification, RunError, RunOutcome, RunStatus
from zapjobs.stores import Store


def snooze(run_id: int, attempt: int = 1, seconds: float = 30) -> RunOutcome:
    return RunOutcome(
        run_id,
        "w1",
        attempt,
        RunStatus.PENDING,
        retry_delay=timedelta(seconds=seconds),
        snoozed=True,
    )


async def test_a_snoozed_run_is_pending_again_due_after_the_delay(store: Store) -> None:
    run_id = await start_one(store)
    assert await store.complete([snooze(run_id, seconds=30)], now=T0) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.PENDING
    assert run.run_at == at(seconds=30)
    assert run.worker_id is None
    assert run.finished_at is None
    assert await store.claim("w1", ["default"], ["a"], 1, now=at(seconds=29)) == []
    [again] = await store.claim("w1", ["default"], ["a"], 1, now=at(seconds=30))
    assert again.id == run_id


async def test_a_snooze_gives_the_attempt_back_and_counts_itself(store: Store) -> None:
    run_id = await start_one(store)
    await store.complete([snooze(run_id)], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.attempt, run.snoozes) == (0, 1)
    # The next claim is attempt 1 again, and a second snooze counts two.
    [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=at(minutes=1))
    assert claimed.attempt == 1
    await store.complete([snooze(run_id)], now=at(minutes=1))
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.attempt, run.snoozes) == (0, 2)


async def test_snoozes_never_exhaust_the_retry_budget(store: Store) -> None:
    """A run allowed one attempt snoozes many times and still gets its one attempt."""
    run_id = await start_one(store, max_attempts=1)
    now = T0
    for _ in range(5):
        await store.complete([snooze(run_id, seconds=1)], now=now)
        now += timedelta(seconds=1)
        [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=now)
        assert claimed.attempt == 1 <= claimed.max_attempts
    done = RunOutcome(run_id, "w1", 1, RunStatus.SUCCEEDED, output_json="1")
    assert await store.complete([done], now=now) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.attempt, run.snoozes) == (RunStatus.SUCCEEDED, 1, 5)


async def test_a_snooze_keeps_an_earlier_attempts_error(store: Store) -> None:
    """It is not a failure: the error shown stays the last real one."""
    run_id = await start_one(store)
    failed = RunOutcome(
        run_id,
        "w1",
        1,
        RunStatus.PENDING,
        error=RunError("ValueError", "boom"),
        retry_delay=timedelta(0),
    )
    await store.complete([failed], now=T0)
    await store.claim("w1", ["default"], ["a"], 1, now=T0)
    await store.complete([snooze(run_id, attempt=2)], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.error == RunError("ValueError", "boom")
    assert (run.attempt, run.snoozes) == (1, 1)


async def test_a_snooze_is_not_counted_as_finished(store: Store) -> None:
    run_id = await start_one(store)
    await store.complete([snooze(run_id)], now=T0)
    stats = await store.stats(now=T0)
    assert (stats.scheduled, stats.failed, stats.succeeded, stats.running) == (1, 0, 0, 0)


async def test_a_snooze_of_a_run_no_longer_owned_is_not_applied(store: Store) -> None:
    run_id = await start_one(store)
    late = RunOutcome(
        run_id, "w2", 1, RunStatus.PENDING, retry_delay=timedelta(seconds=5), snoozed=True
    )
    assert await store.complete([late], now=T0) == []
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.attempt, run.snoozes) == (RunStatus.RUNNING, 1, 0)


async def test_a_snooze_in_a_batch_changes_only_its_own_run(store: Store) -> None:
    snoozed = await start_one(store, "a")
    retried = await start_one(store, "b")
    retry = RunOutcome(
        retried,
        "w1",
        1,
        RunStatus.PENDING,
        error=RunError("ValueError", "boom"),
        retry_delay=timedelta(seconds=5),
    )
    assert sorted(await store.complete([snooze(snoozed), retry], now=T0)) == sorted(
        [snoozed, retried]
    )
    by_id = {r.id: r for r in await store.get_runs([snoozed, retried])}
    assert (by_id[snoozed].attempt, by_id[snoozed].snoozes) == (0, 1)
    assert (by_id[retried].attempt, by_id[retried].snoozes) == (1, 0)


async def test_a_snooze_notifies_its_queue_with_its_due_time(store: Store) -> None:
    """A worker's due-time timer wakes for the snoozed run, as for a retry."""
    run_id = await start_one(store, queue="sleepy")
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await store.complete([snooze(run_id, seconds=45)], now=T0)
        await wait_until(lambda: any(n.kind == "runs" and n.queue == "sleepy" for n in received))
        heard = next(n for n in received if n.kind == "runs" and n.queue == "sleepy")
        assert heard.due_in == timedelta(seconds=45)
    finally:
        await listener.close()


def test_only_a_pending_outcome_can_be_a_snooze() -> None:
    with pytest.raises(ValueError, match="pending"):
        RunOutcome(1, "w1", 1, RunStatus.FAILED, snoozed=True)
