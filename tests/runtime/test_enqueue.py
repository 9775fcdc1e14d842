"""The public API around enqueueing: typed validation at the caller, unknown and remote job types,
queues, delays, batches, transactional enqueue, get_run and wait_for — on every store."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from zapjobs import (
    FakeClock,
    JobContext,
    RunFilter,
    RunNotFoundError,
    RunStatus,
    UnknownJobTypeError,
    ValidationError,
    WaitTimeoutError,
    ZapJobs,
)
from zapjobs.stores import Store, create_store, store_backend
from zapjobs.testing import store_of

from .engine_helpers import running_worker

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class EmailInput:
    to: str
    subject: str
    cc: list[str] | None = None


@dataclass
class Receipt:
    to: str
    words: int


def make_app(
    url: str, *, store: Store | None = None, clock: FakeClock | None = None, **settings: object
) -> ZapJobs:
    zap = ZapJobs(
        url, store=store, clock=clock, auto_migrate=True, polling_interval="50ms", **settings
    )

    @zap.job("email-sender", queue="mail", max_retries=0)
    async def send_email(ctx: JobContext[EmailInput]) -> Receipt:
        return Receipt(ctx.input.to, len(ctx.input.subject.split()))

    @zap.job("plain")
    async def plain(ctx: JobContext[dict[str, int]]) -> int:
        return sum(ctx.input.values())

    return zap


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def test_enqueue_runs_and_stores_the_typed_output(zap: ZapJobs) -> None:
    send_email = zap.registration("email-sender").target
    run_id = await zap.enqueue(send_email, EmailInput("a@b.c", "hello big world"))
    pending = await zap.get_run(run_id)
    assert pending.status is RunStatus.PENDING
    assert pending.queue == "mail"
    assert pending.input == {"to": "a@b.c", "subject": "hello big world", "cc": None}

    async with running_worker(zap, queues=["mail", "default"], concurrency=2):
        run = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == {"to": "a@b.c", "words": 3}
    assert run.attempt == 1
    assert run.finished_at is not None


async def test_a_dict_input_of_the_right_shape_is_accepted(zap: ZapJobs) -> None:
    run_id = await zap.enqueue("email-sender", {"to": "x@y.z", "subject": "s", "cc": ["c@d.e"]})
    assert (await zap.get_run(run_id)).input["cc"] == ["c@d.e"]


async def test_a_wrong_shape_is_rejected_at_enqueue_naming_the_field(zap: ZapJobs) -> None:
    with pytest.raises(ValidationError) as info:
        await zap.enqueue("email-sender", {"to": "x@y.z", "subject": 42})
    assert "field 'subject': expected str, got int" in str(info.value)
    with pytest.raises(ValidationError, match="field 'cc\\[1\\]'"):
        await zap.enqueue("email-sender", {"to": "x", "subject": "s", "cc": ["ok", None]})
    with pytest.raises(ValidationError, match="missing required field"):
        await zap.enqueue("email-sender", {"to": "x"})
    assert await zap.count_runs() == 0


async def test_an_unknown_job_type_is_refused(zap: ZapJobs) -> None:
    with pytest.raises(UnknownJobTypeError) as info:
        await zap.enqueue("no-such-job", {})
    assert "email-sender" in str(info.value)  # the hint lists the known job types


async def test_a_job_type_registered_by_another_process_can_be_enqueued(store_url: str) -> None:
    shared = create_store(store_url) if store_backend(store_url) == "memory" else None
    worker_side = make_app(store_url, store=shared)
    client = ZapJobs(store_url, store=shared, auto_migrate=True)
    try:
        await worker_side.open()
        run_id = await client.enqueue("email-sender", {"anything": ["json", 1]})
        run = await client.get_run(run_id)
        assert run.queue == "mail"  # the stored definition's queue
        assert run.input == {"anything": ["json", 1]}
        with pytest.raises(ValidationError, match="finite number"):
            await client.enqueue("email-sender", {"x": float("nan")})
    finally:
        await client.close()
        await worker_side.close()


async def test_queue_priority_and_delay_are_stored(store_url: str) -> None:
    app = make_app(store_url, clock=FakeClock(T0))
    try:
        run_id = await app.enqueue(
            "plain", {"a": 1}, queue="urgent", priority=7, delay=timedelta(minutes=5)
        )
        run = await app.get_run(run_id)
        assert (run.queue, run.priority, run.run_at) == ("urgent", 7, T0 + timedelta(minutes=5))
        at = T0 + timedelta(hours=2)
        scheduled = await app.get_run(await app.schedule("plain", {"a": 1}, run_at=at))
        assert scheduled.run_at == at
        assert scheduled.is_scheduled(T0)
        default = await app.get_run(await app.enqueue("plain", {}))
        assert default.queue == "default" and default.run_at == T0
    finally:
        await app.close()


async def test_bad_enqueue_arguments_are_clear_errors(zap: ZapJobs) -> None:
    with pytest.raises(ValidationError, match="no time zone"):
        await zap.enqueue("plain", {}, run_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="not both"):
        await zap.enqueue("plain", {}, run_at=T0, delay=timedelta(seconds=1))
    with pytest.raises(ValidationError, match="needs delay= or run_at="):
        await zap.schedule("plain", {})
    with pytest.raises(ValidationError, match="priority"):
        await zap.enqueue("plain", {}, priority=2**40)
    with pytest.raises(ValidationError, match="cannot tell the job type"):
        await zap.enqueue(object(), {})


async def test_enqueue_many_returns_ids_in_order_in_one_store_call(zap: ZapJobs) -> None:
    calls: list[int] = []
    original = store_of(zap).enqueue

    async def counting(runs, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(runs))
        return await original(runs, **kwargs)

    store_of(zap).enqueue = counting  # type: ignore[method-assign]
    ids = await zap.enqueue_many("plain", [{"n": i} for i in range(50)], priority=2)
    assert calls == [50]
    assert ids == sorted(ids) and len(set(ids)) == 50
    runs = {r.id: r for r in await store_of(zap).get_runs(ids)}
    assert [runs[i].input for i in ids] == [{"n": i} for i in range(50)]
    assert await zap.enqueue_many("plain", []) == []
    with pytest.raises(ValidationError, match="field 'n'"):
        await zap.enqueue_many("plain", [{"n": 1}, {"n": "two"}])


async def test_get_run_and_wait_for_report_missing_and_unfinished_runs(zap: ZapJobs) -> None:
    with pytest.raises(RunNotFoundError, match="run 999999 does not exist"):
        await zap.get_run(999999)
    run_id = await zap.enqueue("plain", {})
    with pytest.raises(WaitTimeoutError, match=f"run {run_id} is still pending"):
        await zap.wait_for(run_id, timeout=timedelta(milliseconds=100))


async def test_open_registers_the_code_definitions(zap: ZapJobs) -> None:
    definitions = {d.job_type: d for d in await zap.list_definitions()}
    assert definitions["email-sender"].queue == "mail"
    assert definitions["email-sender"].max_retries == 0
    assert definitions["plain"].max_retries == zap.settings.default_retry_policy.max_retries


async def test_a_job_registered_after_open_is_registered_on_next_use(zap: ZapJobs) -> None:
    @zap.job("late-job")
    async def late(ctx: JobContext[None]) -> None:
        return None

    await zap.enqueue(late)
    assert (await zap.get_definition("late-job")).job_type == "late-job"


# --- transactional enqueue ---------------------------------------------------------------------


async def test_enqueue_inside_a_rolled_back_postgres_transaction_leaves_no_run(
    pg_url: str,
) -> None:
    app = make_app(pg_url)
    try:
        await app.open()
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            await app.enqueue("plain", {"a": 1}, connection=conn)
            await conn.rollback()
            kept = await app.enqueue("plain", {"a": 2}, connection=conn)
            await conn.commit()
        with psycopg.connect(pg_url) as sync_conn:
            await app.enqueue("plain", {"a": 3}, connection=sync_conn)
            sync_conn.rollback()
        runs = await app.list_runs(RunFilter(job_types=("plain",)))
        assert [r.id for r in runs] == [kept]
        assert runs[0].input == {"a": 2}
    finally:
        await app.close()


async def test_enqueue_inside_a_rolled_back_sqlite_transaction_leaves_no_run(
    sqlite_url: str,
) -> None:
    app = make_app(sqlite_url)
    try:
        await app.open()
        path = sqlite_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            await app.enqueue("plain", {"a": 1}, connection=conn)
            conn.rollback()
            kept = await app.enqueue("plain", {"a": 2}, connection=conn)
            conn.commit()
        finally:
            conn.close()
        runs = await app.list_runs(RunFilter(job_types=("plain",)))
        assert [r.id for r in runs] == [kept]
    finally:
        await app.close()
