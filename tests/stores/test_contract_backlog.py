"""Conformance: the metrics exporter's reads, backlog and failures_since (every store)."""

from __future__ import annotations

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.models import Backlog, FailureCount, NewRun, RunStatus
from zapjobs.stores import Store


async def test_backlog_of_an_empty_store_is_empty(store: Store) -> None:
    assert await store.backlog(now=T0) == []


async def test_backlog_counts_unfinished_runs_per_queue_and_job_type(store: Store) -> None:
    # Started and finished first: each of these claims the only due run of its kind.
    await start_one(store, "resize", queue="images", now=at(minutes=-20))
    await start_one(store, "send", queue="mail", now=at(minutes=-20))
    await finish_one(store, RunStatus.SUCCEEDED, "send", queue="mail", started=at(minutes=-40))
    await finish_one(store, RunStatus.FAILED, "report", queue="reports")
    await enqueue_one(store, "send", queue="mail", run_at=at(minutes=-30))
    await enqueue_one(store, "send", queue="mail", run_at=at(minutes=-10))
    await enqueue_one(store, "send", queue="mail", run_at=at(hours=2))
    await enqueue_one(store, "resize", queue="mail", run_at=at(minutes=-5))
    assert await store.backlog(now=T0) == [
        Backlog("images", "resize", running=1),
        Backlog("mail", "resize", pending=1, oldest_due_at=at(minutes=-5)),
        Backlog("mail", "send", pending=2, scheduled=1, running=1, oldest_due_at=at(minutes=-30)),
    ]
    # Later, the scheduled run is due too; the oldest due time stays the oldest.
    later = {(b.queue, b.job_type): b for b in await store.backlog(now=at(hours=3))}
    assert (later["mail", "send"].pending, later["mail", "send"].scheduled) == (3, 0)
    assert later["mail", "send"].oldest_due_at == at(minutes=-30)


async def test_backlog_with_only_scheduled_runs_has_no_oldest_due_time(store: Store) -> None:
    await enqueue_one(store, "send", run_at=at(hours=1))
    assert await store.backlog(now=T0) == [Backlog("default", "send", scheduled=1)]


async def test_backlog_counts_waiting_runs_apart_from_pending(store: Store) -> None:
    """A waiting run (its parents not all finished) is not claimable: its own count, never in
    pending, never in the oldest due time."""
    parent = await enqueue_one(store, "extract", queue="etl", run_at=at(minutes=-5))
    waiting = [NewRun("load", queue="etl", run_at=at(minutes=-30), parents=(parent,))] * 2
    await store.enqueue(waiting, now=T0)
    assert await store.backlog(now=T0) == [
        Backlog("etl", "extract", pending=1, oldest_due_at=at(minutes=-5)),
        Backlog("etl", "load", waiting=2),
    ]


async def test_failures_since_counts_failed_runs_finished_in_the_window(store: Store) -> None:
    await finish_one(store, RunStatus.FAILED, "a", finished=at(minutes=-5))  # before the window
    await finish_one(store, RunStatus.FAILED, "a", finished=at(minutes=1))
    await finish_one(store, RunStatus.FAILED, "a", finished=at(minutes=2))
    await finish_one(store, RunStatus.FAILED, "b", queue="mail", finished=T0)
    await finish_one(store, RunStatus.SUCCEEDED, "a", finished=at(minutes=1))
    await finish_one(store, RunStatus.CANCELLED, "a", finished=at(minutes=1))
    await start_one(store, "a")
    assert await store.failures_since(since=T0) == [
        FailureCount("default", "a", 2),
        FailureCount("mail", "b", 1),
    ]
    assert await store.failures_since(since=at(minutes=3)) == []
