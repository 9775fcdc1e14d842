"""Conformance: worker heartbeats, rescue of stale workers' runs, and pruning (every store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.models import (
    JobDefinition,
    LogLevel,
    NewLogEntry,
    NewRun,
    PruneResult,
    RunFilter,
    RunOutcome,
    RunStatus,
    WorkerInfo,
    WorkerState,
)
from zapjobs.stores import Store

STALE = timedelta(minutes=5)


def worker(worker_id: str, *, running: int = 0) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        host="host-1",
        pid=4242,
        queues=("critical", "default"),
        started_at=T0,
        last_seen_at=T0,
        running=running,
        concurrency=4,
    )


# --- heartbeats ----------------------------------------------------------------------------------


async def test_heartbeat_inserts_the_worker_seen_now(store: Store) -> None:
    await store.heartbeat(worker("w1", running=2), now=at(seconds=10))
    assert await store.get_worker("w1") == WorkerInfo(
        id="w1",
        host="host-1",
        pid=4242,
        queues=("critical", "default"),
        started_at=T0,
        last_seen_at=at(seconds=10),
        running=2,
        concurrency=4,
    )


async def test_heartbeat_updates_last_seen_and_running(store: Store) -> None:
    await store.heartbeat(worker("w1", running=1), now=T0)
    await store.heartbeat(worker("w1", running=3), now=at(seconds=30))
    seen = await store.get_worker("w1")
    assert seen is not None
    assert (seen.last_seen_at, seen.running) == (at(seconds=30), 3)
    assert len(await store.list_workers()) == 1


async def test_heartbeat_says_whether_the_worker_had_been_marked_dead_once(store: Store) -> None:
    assert await store.heartbeat(worker("w1"), now=T0) is False
    assert await store.heartbeat(worker("w1"), now=at(seconds=30)) is False
    await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert await store.heartbeat(worker("w1"), now=at(minutes=11)) is True
    seen = await store.get_worker("w1")
    assert seen is not None and seen.dead_at is None  # alive again under the same id
    assert await store.heartbeat(worker("w1"), now=at(minutes=12)) is False


async def test_a_sibling_store_sees_the_same_workers_from_another_thread(store: Store) -> None:
    sibling = store.sibling()
    own = sibling is not store

    async def beat_there() -> bool:
        if own:
            await sibling.open()
        try:
            return await sibling.heartbeat(worker("w1"), now=at(seconds=5))
        finally:
            if own:
                await sibling.close()

    assert await asyncio.to_thread(asyncio.run, beat_there()) is False
    seen = await store.get_worker("w1")
    assert seen is not None and seen.last_seen_at == at(seconds=5)


async def test_get_worker_of_an_unknown_id_is_none(store: Store) -> None:
    assert await store.get_worker("nobody") is None


async def test_list_workers_is_most_recently_seen_first(store: Store) -> None:
    await store.heartbeat(worker("old"), now=T0)
    await store.heartbeat(worker("newest"), now=at(seconds=20))
    await store.heartbeat(worker("middle"), now=at(seconds=10))
    assert [w.id for w in await store.list_workers()] == ["newest", "middle", "old"]


async def test_worker_stopped_marks_the_worker_stopped(store: Store) -> None:
    await store.heartbeat(worker("w1"), now=T0)
    await store.worker_stopped("w1", now=at(seconds=5))
    seen = await store.get_worker("w1")
    assert seen is not None
    assert seen.stopped_at == at(seconds=5)
    assert seen.state(at(seconds=5), STALE.total_seconds()) is WorkerState.STOPPED


# --- rescue --------------------------------------------------------------------------------------


async def test_rescue_retries_a_stale_workers_run_with_attempts_left(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    await store.heartbeat(worker("w1"), now=T0)
    run_id = await start_one(store, worker_id="w1", now=T0)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert result.workers_marked_dead == ("w1",)
    assert result.runs_retried == (run_id,)
    assert result.runs_failed == ()
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.run_at, run.worker_id, run.attempt) == (
        RunStatus.PENDING,
        at(minutes=10),
        None,
        1,
    )
    dead = await store.get_worker("w1")
    assert dead is not None and dead.dead_at == at(minutes=10)
    [again] = await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=10))
    assert (again.id, again.attempt) == (run_id, 2)


async def test_rescue_fails_a_run_without_attempts_left_as_worker_lost(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=0)])
    await store.heartbeat(worker("w1"), now=T0)
    run_id = await start_one(store, worker_id="w1", now=T0, max_attempts=1)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert (result.runs_retried, result.runs_failed) == ((), (run_id,))
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.type == "WorkerLost"
    assert run.finished_at == at(minutes=10)


async def test_rescue_retries_while_attempt_is_at_most_max_retries(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=1)])
    run_id = await start_one(store, worker_id="w1", now=T0, max_attempts=2)
    first = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert first.runs_retried == (run_id,)  # attempt 1 <= 1 retry left
    [again] = await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=10))
    assert again.attempt == 2
    second = await store.rescue_stale(stale_after=STALE, now=at(minutes=20))
    assert (second.runs_retried, second.runs_failed) == ((), (run_id,))


async def test_rescue_uses_the_operators_max_retries_override(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=5)])
    await store.heartbeat(worker("w1"), now=T0)
    run_id = await start_one(store, worker_id="w1", now=T0, max_attempts=6)
    # set while the run was running: the override reaches the run's stored budget
    await store.set_overrides("a", max_retries=0, timeout_seconds=None)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert result.runs_failed == (run_id,)


async def test_rescue_twice_rescues_each_run_once(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    await store.heartbeat(worker("w1"), now=T0)
    run_id = await start_one(store, worker_id="w1", now=T0)
    first = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    second = await store.rescue_stale(stale_after=STALE, now=at(minutes=11))
    assert first.runs_retried == (run_id,)
    assert second.workers_marked_dead == ()
    assert (second.runs_retried, second.runs_failed) == ((), ())


async def test_concurrent_rescues_rescue_each_run_once(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    await store.heartbeat(worker("w1"), now=T0)
    ids = await store.enqueue([NewRun("a") for _ in range(20)], now=T0)
    assert len(await store.claim("w1", ["default"], ["a"], 20, now=T0)) == 20
    results = await asyncio.gather(
        *(store.rescue_stale(stale_after=STALE, now=at(minutes=10)) for _ in range(4))
    )
    retried = [run_id for r in results for run_id in r.runs_retried]
    assert sorted(retried) == sorted(ids)
    assert [w for r in results for w in r.workers_marked_dead] == ["w1"]


async def test_rescue_leaves_a_live_workers_runs_alone(store: Store) -> None:
    await store.heartbeat(worker("live"), now=T0)
    run_id = await start_one(store, worker_id="live", now=T0)
    await store.heartbeat(worker("live"), now=at(minutes=8))
    before = await store.get_run(run_id)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert result.workers_marked_dead == ()
    assert (result.runs_retried, result.runs_failed) == ((), ())
    assert await store.get_run(run_id) == before


async def test_rescue_takes_runs_of_a_missing_worker_once_they_are_old(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    run_id = await start_one(store, worker_id="ghost", now=T0)
    early = await store.rescue_stale(stale_after=STALE, now=at(minutes=2))
    assert (early.runs_retried, early.runs_failed) == ((), ())
    late = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert late.runs_retried == (run_id,)


async def test_an_outcome_from_a_rescued_worker_is_ignored(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3)])
    await store.heartbeat(worker("w1"), now=T0)
    run_id = await start_one(store, worker_id="w1", now=T0)
    await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    late = RunOutcome(run_id, "w1", 1, RunStatus.SUCCEEDED, output_json="1")
    assert await store.complete([late], now=at(minutes=11)) == []
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.PENDING


# --- prune ---------------------------------------------------------------------------------------


async def prune(store: Store, *, batch_size: int = 1000) -> PruneResult:
    """Prune at T0 + 40 days: runs finished before day 10, logs before day 33, workers before
    day 33 go."""
    return await store.prune(
        run_retention=timedelta(days=30),
        log_retention=timedelta(days=7),
        worker_retention=timedelta(days=7),
        batch_size=batch_size,
        now=at(days=40),
    )


async def test_prune_removes_only_final_runs_finished_before_the_retention(store: Store) -> None:
    old = [
        await finish_one(store, status, f"old_{status.value}", started=at(days=1))
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    ]
    recent = await finish_one(store, RunStatus.SUCCEEDED, "recent", started=at(days=20))
    ancient_pending = await enqueue_one(store, "pending", now=T0)
    ancient_running = await start_one(store, "running", now=T0)
    result = await prune(store)
    assert result.runs_deleted == 3
    assert await store.get_runs(old) == []
    remaining = await store.get_runs([recent, ancient_pending, ancient_running])
    assert sorted(r.id for r in remaining) == sorted([recent, ancient_pending, ancient_running])


async def test_prune_removes_old_log_entries(store: Store) -> None:
    run_id = await start_one(store, now=at(days=1))
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "old", at(days=1)),
            NewLogEntry(run_id, LogLevel.INFO, "recent", at(days=35)),
        ]
    )
    result = await prune(store)
    assert result.logs_deleted == 1
    assert [entry.message for entry in await store.list_logs(run_id)] == ["recent"]


async def test_prune_removes_the_logs_of_pruned_runs(store: Store) -> None:
    run_id = await finish_one(store, RunStatus.SUCCEEDED, started=at(days=1))
    await store.append_logs([NewLogEntry(run_id, LogLevel.INFO, "recent", at(days=39))])
    await prune(store)
    assert await store.list_logs(run_id) == []


async def test_prune_removes_old_stopped_and_dead_workers_only(store: Store) -> None:
    await store.heartbeat(worker("stopped_old"), now=at(days=1))
    await store.worker_stopped("stopped_old", now=at(days=1))
    await store.heartbeat(worker("dead_old"), now=at(days=1))
    await store.rescue_stale(stale_after=STALE, now=at(days=2))  # marks dead_old dead
    await store.heartbeat(worker("silent_old"), now=at(days=30))
    await store.heartbeat(worker("stopped_recent"), now=at(days=39))
    await store.worker_stopped("stopped_recent", now=at(days=39))
    result = await prune(store)
    assert result.workers_deleted == 2
    assert sorted(w.id for w in await store.list_workers()) == ["silent_old", "stopped_recent"]


async def test_prune_with_a_small_batch_size_still_removes_everything_due(store: Store) -> None:
    for n in range(7):
        await finish_one(store, RunStatus.SUCCEEDED, f"t{n}", started=at(days=1))
    run_id = await start_one(store, "logs", now=at(days=39))
    await store.append_logs(
        [NewLogEntry(run_id, LogLevel.INFO, f"line {n}", at(days=1)) for n in range(5)]
    )
    result = await prune(store, batch_size=2)
    assert (result.runs_deleted, result.logs_deleted) == (7, 5)
    assert await store.count_runs(RunFilter()) == 1
    assert await store.list_logs(run_id) == []


async def test_prune_of_a_fresh_store_deletes_nothing(store: Store) -> None:
    await enqueue_one(store, now=at(days=39))
    assert await prune(store) == PruneResult(0, 0, 0)
