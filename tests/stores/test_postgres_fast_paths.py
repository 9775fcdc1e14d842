"""The PostgreSQL store's fast paths keep the semantics of the general ones: the single-run
enqueue and the COPY path for big batches store what the unnest batch form stores, and the
claim's asynchronous commit stays local to its own transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.stores.helpers import T0, wait_until
from zapjobs.errors import StoreError, ZapJobsError
from zapjobs.models import NewRun, Notification, RunFilter, RunStatus
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres.database import _prepared_cursor
from zapjobs.stores.postgres.runs import COPY_MIN_RUNS

pytestmark = pytest.mark.postgres


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
    # One hot connection: the claim ran on it, and its session setting is unchanged.
    async with pg._db.connection(hot=True) as conn:
        cur = await conn.execute("SHOW synchronous_commit")
        row = await cur.fetchone()
    assert row is not None and row[0] == "on"


async def test_a_big_batch_goes_by_copy_and_stores_what_the_insert_form_stores(
    pg: PostgresStore,
) -> None:
    """Over COPY_MIN_RUNS runs the store streams them with COPY: same ids order, columns,
    clock and notifications as the INSERT over unnest()."""
    later = T0 + timedelta(minutes=5)

    def batch(size: int) -> list[NewRun]:
        return [
            NewRun(
                job_type="a" if i % 2 else "b",
                input_json=f'{{"i": {i}, "s": "tab\\t and \\\\ back"}}',
                queue="mail" if i % 3 else "sms",
                priority=i % 4,
                run_at=later if i % 5 == 0 else None,
            )
            for i in range(size)
        ]

    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        small = await pg.enqueue(batch(COPY_MIN_RUNS - 1), now=T0)
        big = await pg.enqueue(batch(COPY_MIN_RUNS + 1), now=T0)
        await wait_until(
            lambda: {Notification(kind="runs", queue=q) for q in ("mail", "sms")} <= set(received)
        )
    finally:
        await listener.close()
    assert big == sorted(big) and small[-1] < big[0]
    assert len(set(big)) == COPY_MIN_RUNS + 1
    by_insert = await pg.get_runs(small)
    by_copy = await pg.get_runs(big)
    for index, (one, other) in enumerate(zip(by_insert, by_copy, strict=False)):
        assert one.input == other.input == {"i": index, "s": "tab\t and \\ back"}
        assert (one.job_type, one.queue) == (other.job_type, other.queue)
        assert one.priority == other.priority
        assert one.status is other.status is RunStatus.PENDING
        assert one.run_at == other.run_at == (later if index % 5 == 0 else T0)
        assert one.created_at == other.created_at == T0
        assert other.attempt == 0 and other.schedule_due_at is None


async def test_a_failed_copy_writes_nothing(pg: PostgresStore) -> None:
    """The COPY batch is one transaction: a row the table refuses loses the whole batch."""
    runs = [NewRun(job_type="a") for _ in range(COPY_MIN_RUNS)]
    runs.append(NewRun(job_type="a", input_json="not json"))
    with pytest.raises(StoreError):
        await pg.enqueue(runs)
    assert await pg.count_runs(RunFilter()) == 0


async def test_copy_carries_any_json_text_a_new_run_may_hold(pg: PostgresStore) -> None:
    """Raw tabs, newlines and backslashes in a NewRun's JSON text reach the table intact."""
    pretty = '{\n\t"path": "C:\\\\temp\\\\new",\r\n\t"list": [1, 2]\n}'
    ids = await pg.enqueue([NewRun(job_type="a", input_json=pretty)] * COPY_MIN_RUNS)
    [first] = await pg.get_runs(ids[:1])
    assert first.input == {"path": "C:\\temp\\new", "list": [1, 2]}


async def test_a_refused_hot_statement_leaves_the_next_ones_their_own_rows(
    pg: PostgresStore,
) -> None:
    """A hot connection keeps one cursor for its prepared statements (one hot connection here):
    a statement the server refused does not spoil the enqueues and claims after it."""
    [before] = await pg.enqueue([NewRun(job_type="a", input_json="1")])
    with pytest.raises(ZapJobsError):
        await pg.enqueue([NewRun(job_type="a", input_json="{not json")])
    [after] = await pg.enqueue([NewRun(job_type="a", input_json="2")])
    claimed = await pg.claim("w", ["default"], ["a"], 5)
    assert {run.id: run.input for run in claimed} == {before: 1, after: 2}
    async with pg._db.connection(hot=True) as conn:  # nor does it keep the claimed rows' text
        kept = _prepared_cursor(conn).pgresult
    assert kept is not None and kept.ntuples == 0
    assert await pg.claim("w", ["default"], ["a"], 5) == []
