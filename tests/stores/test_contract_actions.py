"""Conformance: operator actions on runs: retry, cancel, delete (every store)."""

from __future__ import annotations

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.models import LogLevel, NewLogEntry, RunError, RunFilter, RunStatus
from zapjobs.stores import Store

# --- retry ---------------------------------------------------------------------------------------


async def test_retry_puts_a_failed_run_back_due_now_with_a_fresh_attempt_budget(
    store: Store,
) -> None:
    error = RunError("ValueError", "boom", "tb")
    run_id = await finish_one(store, RunStatus.FAILED, finished=at(minutes=1), error=error)
    assert await store.retry_runs(RunFilter(ids=(run_id,)), now=at(minutes=5)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.PENDING
    assert run.attempt == 0
    assert run.run_at == at(minutes=5)
    assert run.error == error
    assert run.finished_at is None
    assert run.worker_id is None
    [again] = await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=5))
    assert (again.id, again.attempt) == (run_id, 1)


async def test_retry_accepts_cancelled_runs(store: Store) -> None:
    run_id = await finish_one(store, RunStatus.CANCELLED)
    assert await store.retry_runs(RunFilter(ids=(run_id,)), now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.PENDING


async def test_retry_leaves_pending_running_and_succeeded_runs_alone(store: Store) -> None:
    pending = await enqueue_one(store, "p")
    running = await start_one(store, "r")
    succeeded = await finish_one(store, RunStatus.SUCCEEDED, "s")
    failed = await finish_one(store, RunStatus.FAILED, "f")
    before = {r.id: r for r in await store.get_runs([pending, running, succeeded])}
    selection = RunFilter(ids=(pending, running, succeeded, failed))
    assert await store.retry_runs(selection, now=at(minutes=1)) == [failed]
    after = {r.id: r for r in await store.get_runs([pending, running, succeeded])}
    assert after == before


async def test_retry_by_filter_changes_only_matching_runs(store: Store) -> None:
    a_failed = await finish_one(store, RunStatus.FAILED, "a")
    b_failed = await finish_one(store, RunStatus.FAILED, "b")
    a_cancelled = await finish_one(store, RunStatus.CANCELLED, "a")
    selection = RunFilter(statuses=(RunStatus.FAILED,), job_types=("a",))
    assert await store.retry_runs(selection, now=at(minutes=1)) == [a_failed]
    statuses = {r.id: r.status for r in await store.get_runs([b_failed, a_cancelled])}
    assert statuses == {b_failed: RunStatus.FAILED, a_cancelled: RunStatus.CANCELLED}


# --- cancel --------------------------------------------------------------------------------------


async def test_cancel_ends_a_pending_run_at_once(store: Store) -> None:
    run_id = await enqueue_one(store)
    assert await store.cancel_runs(RunFilter(ids=(run_id,)), now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    assert run.finished_at == at(minutes=1)
    assert await store.claim("w1", ["default"], ["a"], 1, now=at(minutes=2)) == []


async def test_cancel_of_a_running_run_requests_it_from_its_worker(store: Store) -> None:
    run_id = await start_one(store, worker_id="w1")
    assert await store.cancel_runs(RunFilter(ids=(run_id,)), now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.RUNNING
    assert run.cancel_requested is True
    assert await store.cancel_requested("w1") == [run_id]
    assert await store.cancel_requested("w2") == []


async def test_cancel_requested_is_empty_without_requests(store: Store) -> None:
    await start_one(store, worker_id="w1")
    assert await store.cancel_requested("w1") == []


async def test_cancel_leaves_final_runs_alone(store: Store) -> None:
    done = await finish_one(store, RunStatus.SUCCEEDED, finished=at(minutes=1))
    failed = await finish_one(store, RunStatus.FAILED, "f", finished=at(minutes=1))
    before = await store.get_runs([done, failed])
    assert await store.cancel_runs(RunFilter(ids=(done, failed)), now=at(minutes=2)) == []
    assert sorted(await store.get_runs([done, failed]), key=lambda r: r.id) == sorted(
        before, key=lambda r: r.id
    )


async def test_cancel_by_filter_changes_only_matching_runs(store: Store) -> None:
    a_running = await start_one(store, "a")
    a_pending = await enqueue_one(store, "a")
    b_pending = await enqueue_one(store, "b")
    selection = RunFilter(statuses=(RunStatus.PENDING,), job_types=("a",))
    assert await store.cancel_runs(selection, now=at(minutes=1)) == [a_pending]
    statuses = {r.id: r.status for r in await store.get_runs([b_pending, a_running])}
    assert statuses == {b_pending: RunStatus.PENDING, a_running: RunStatus.RUNNING}


async def test_cancel_says_which_runs_it_cancelled_and_which_it_asked_to_stop(
    store: Store,
) -> None:
    """The split comes from the cancel itself: a report never has to read the statuses
    afterwards, when a worker may already have moved the runs on."""
    running = await start_one(store, "a", worker_id="w1")
    pending = await enqueue_one(store, "b")
    result = await store.cancel_runs(RunFilter(ids=(running, pending)), now=at(minutes=1))
    assert result == sorted([running, pending])
    assert result.cancelled == (pending,)
    assert result.stop_requested == (running,)
    again = await store.cancel_runs(RunFilter(ids=(running, pending)), now=at(minutes=2))
    assert (again, again.cancelled, again.stop_requested) == ([], (), ())


# --- delete --------------------------------------------------------------------------------------


async def test_delete_removes_runs_by_id(store: Store) -> None:
    pending = await enqueue_one(store, "p")
    failed = await finish_one(store, RunStatus.FAILED, "f")
    kept = await enqueue_one(store, "k")
    assert sorted(await store.delete_runs(RunFilter(ids=(pending, failed)))) == sorted(
        [pending, failed]
    )
    assert await store.get_run(pending) is None
    assert await store.get_run(failed) is None
    assert await store.get_run(kept) is not None


async def test_delete_never_removes_a_running_run(store: Store) -> None:
    running = await start_one(store)
    assert await store.delete_runs(RunFilter(ids=(running,))) == []
    assert await store.delete_runs(RunFilter()) == []
    run = await store.get_run(running)
    assert run is not None and run.status is RunStatus.RUNNING


async def test_delete_by_filter_removes_only_matching_runs(store: Store) -> None:
    a_failed = await finish_one(store, RunStatus.FAILED, "a")
    b_failed = await finish_one(store, RunStatus.FAILED, "b")
    a_done = await finish_one(store, RunStatus.SUCCEEDED, "a")
    selection = RunFilter(statuses=(RunStatus.FAILED,), job_types=("a",))
    assert await store.delete_runs(selection) == [a_failed]
    assert sorted(r.id for r in await store.get_runs([a_failed, b_failed, a_done])) == sorted(
        [b_failed, a_done]
    )


async def test_delete_removes_the_runs_logs(store: Store) -> None:
    run_id = await finish_one(store, RunStatus.SUCCEEDED)
    kept = await finish_one(store, RunStatus.SUCCEEDED, "b")
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "gone", T0),
            NewLogEntry(kept, LogLevel.INFO, "stays", T0),
        ]
    )
    assert await store.delete_runs(RunFilter(ids=(run_id,))) == [run_id]
    assert await store.list_logs(run_id) == []
    assert [entry.message for entry in await store.list_logs(kept)] == ["stays"]
