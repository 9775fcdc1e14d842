"""The PostgreSQL store's fast paths keep the semantics of the general ones: the single-run
enqueue stores what the batch form stores, and the claim's asynchronous commit stays local to
its own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.stores.helpers import T0, wait_until
from zapjobs.models import NewRun, Notification, RunStatus
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(pg_url, min_size=1, max_size=1)
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def test_single_run_enqueue_stores_what_the_batch_form_stores(pg: PostgresStore) -> None:
    def new(input_json: str) -> NewRun:
        return NewRun(
            job_type="a",
            input_json=input_json,
            queue="q",
            priority=3,
            run_at=T0 + timedelta(minutes=1),
            schedule_due_at=T0 + timedelta(minutes=1) if input_json == "1" else None,
        )

    [one] = await pg.enqueue([new("1")], now=T0)
    batch = await pg.enqueue([new("2"), new("3")], now=T0)
    assert one < batch[0] < batch[1]
    single, first = await pg.get_runs([one, batch[0]])
    assert single.input == 1 and first.input == 2
    for run in (single, first):
        assert (run.job_type, run.queue, run.priority) == ("a", "q", 3)
        assert (run.status, run.attempt, run.created_at) == (RunStatus.PENDING, 0, T0)
        assert run.run_at == T0 + timedelta(minutes=1)
    assert single.schedule_due_at == T0 + timedelta(minutes=1)
    assert first.schedule_due_at is None


async def test_single_run_enqueue_notifies_its_queue(pg: PostgresStore) -> None:
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        await pg.enqueue([NewRun(job_type="a", queue="mail")])
        await wait_until(lambda: Notification(kind="runs", queue="mail") in received)
    finally:
        await listener.close()


async def test_claim_commits_asynchronously_only_in_its_own_transaction(
    pg: PostgresStore,
) -> None:
    await pg.enqueue([NewRun(job_type="a")])
    [run] = await pg.claim("w", ["default"], ["a"], 1)
    assert run.status is RunStatus.RUNNING
    # One pooled connection: the claim ran on it, and its session setting is unchanged.
    async with pg._db.connection() as conn:
        cur = await conn.execute("SHOW synchronous_commit")
        row = await cur.fetchone()
    assert row is not None and row[0] == "on"
