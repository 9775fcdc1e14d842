"""Conformance: the diagnosis questions of ``zapjobs doctor`` (every store)."""

from __future__ import annotations

from datetime import timedelta

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.models import (
    LogLevel,
    NewLogEntry,
    QueueBacklog,
    RetentionFacts,
    RunningJobType,
    RunStatus,
)
from zapjobs.stores import Store

MINUTE = timedelta(minutes=1)


async def test_queue_backlog_counts_pending_due_and_overdue_per_queue(store: Store) -> None:
    await enqueue_one(store, queue="mail", run_at=at(minutes=-10))  # overdue at T0
    await enqueue_one(store, queue="mail", run_at=at(seconds=-30))  # due, not overdue
    await enqueue_one(store, queue="mail", run_at=at(hours=1))  # scheduled
    await enqueue_one(store, queue="bulk", run_at=at(hours=2))  # scheduled only
    await start_one(store, queue="busy", now=at(minutes=-20))  # running: not pending
    await finish_one(store, RunStatus.SUCCEEDED, queue="done", started=at(minutes=-30))

    found = await store.queue_backlog(overdue_after=MINUTE, now=T0)

    assert found == [
        QueueBacklog("bulk", pending=1, due=0, overdue=0, oldest_due_at=None),
        QueueBacklog("mail", pending=3, due=2, overdue=1, oldest_due_at=at(minutes=-10)),
    ]


async def test_queue_backlog_is_empty_without_pending_runs(store: Store) -> None:
    await finish_one(store, RunStatus.FAILED)
    assert await store.queue_backlog(overdue_after=MINUTE, now=T0) == []


async def test_running_by_job_type_names_the_run_that_started_first(store: Store) -> None:
    await start_one(store, "report", now=at(minutes=5), worker_id="w1")
    first = await start_one(store, "report", now=at(minutes=1), worker_id="w2")
    other = await start_one(store, "email", now=at(minutes=3), worker_id="w1")
    await finish_one(store, RunStatus.SUCCEEDED, "email", started=T0)
    await enqueue_one(store, "email")  # pending: not running

    assert await store.running_by_job_type() == [
        RunningJobType("email", running=1, oldest_run_id=other, oldest_started_at=at(minutes=3)),
        RunningJobType("report", running=2, oldest_run_id=first, oldest_started_at=at(minutes=1)),
    ]


async def test_retention_facts_are_the_oldest_final_run_and_log(store: Store) -> None:
    assert await store.retention_facts() == RetentionFacts(None, None)
    run_id = await finish_one(store, RunStatus.SUCCEEDED, started=at(days=2), finished=at(days=2))
    await finish_one(store, RunStatus.CANCELLED, started=at(days=1), finished=at(days=3))
    await start_one(store, now=at(days=-5))  # running: never counts
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "newer", at(days=4)),
            NewLogEntry(run_id, LogLevel.INFO, "older", at(days=1)),
        ]
    )

    assert await store.retention_facts() == RetentionFacts(at(days=2), at(days=1))


async def test_server_questions_are_answered_by_postgres_only(store: Store) -> None:
    facts = await store.server_facts()
    tables = await store.table_facts()
    budget = store.connection_budget()
    if store.backend != "postgres":
        assert (facts, tables, budget) == (None, None, None)
        return
    assert facts is not None and budget is not None and tables is not None
    assert facts.max_connections > facts.reserved_connections >= 0
    assert facts.connections_in_use >= 1
    assert facts.runs_autovacuum and facts.runs_vacuum_scale_factor > 0
    assert budget.per_process(1) == budget.general + budget.hot + 2
    assert [t.name.removeprefix(store.prefix) for t in tables] == [  # type: ignore[attr-defined]
        "runs",
        "logs",
        "heartbeats",
        "definitions",
        "migrations",
    ]
    assert all(t.invalid_indexes == () for t in tables)


async def test_notify_round_trip_reaches_a_fresh_listener_on_postgres(store: Store) -> None:
    trip = await store.notify_round_trip(timeout=timedelta(seconds=10))
    if store.connection_budget() is None:  # no server (SQLite, memory): nothing to probe
        assert trip is None
        return
    assert trip is not None and trip.delivered
