"""Unique jobs through the public API: enqueue(unique_key=...), enqueue_unique, the job options
unique_by_input / unique_for / unique_states, enqueue_many, transactional enqueue, and many
concurrent enqueuers of one key on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from zapjobs import (
    EnqueueResult,
    FakeClock,
    JobContext,
    RunFilter,
    RunStatus,
    ValidationError,
    ZapJobs,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_app(url: str, clock: FakeClock | None = None) -> ZapJobs:
    zap = ZapJobs(url, clock=clock, auto_migrate=True, polling_interval="50ms")

    @zap.job("invoice")
    async def invoice(ctx: JobContext[dict[str, int]]) -> None:
        return None

    @zap.job("sync-user", unique_by_input=True)
    async def sync_user(ctx: JobContext[dict[str, int]]) -> None:
        return None

    @zap.job("digest", unique_for=timedelta(minutes=10))
    async def digest(ctx: JobContext[None]) -> None:
        return None

    return zap


async def count(zap: ZapJobs, job_type: str) -> int:
    return await zap.count_runs(RunFilter(job_types=(job_type,)))


async def test_a_unique_key_gives_one_run_and_tells_which_enqueue_created_it(
    store_url: str,
) -> None:
    async with make_app(store_url) as zap:
        first = await zap.enqueue_unique("invoice", {"n": 42}, unique_key="invoice-42")
        second = await zap.enqueue_unique("invoice", {"n": 43}, unique_key="invoice-42")
        third = await zap.enqueue("invoice", {"n": 44}, unique_key="invoice-42")
        assert first.created is True
        assert second == EnqueueResult(first.run_id, created=False)
        assert third == first.run_id
        assert await count(zap, "invoice") == 1
        run = await zap.get_run(first.run_id)
        assert (run.unique_key, run.input) == ("invoice-42", {"n": 42})
        other = await zap.enqueue_unique("invoice", {"n": 42}, unique_key="invoice-43")
        assert other.created is True


async def test_a_cancelled_run_frees_its_key(store_url: str) -> None:
    async with make_app(store_url) as zap:
        first = await zap.enqueue("invoice", {"n": 1}, unique_key="k")
        assert await zap.cancel_runs(RunFilter(ids=(first,))) == [first]
        again = await zap.enqueue_unique("invoice", {"n": 1}, unique_key="k")
        assert again.created is True
        assert again.run_id != first


async def test_unique_by_input_keys_on_the_canonical_input(store_url: str) -> None:
    async with make_app(store_url) as zap:
        first = await zap.enqueue_unique("sync-user", {"id": 7, "org": 1})
        same = await zap.enqueue_unique("sync-user", {"org": 1, "id": 7})
        other = await zap.enqueue_unique("sync-user", {"id": 8, "org": 1})
        assert first.created and other.created
        assert same == EnqueueResult(first.run_id, created=False)
        assert await count(zap, "sync-user") == 2


async def test_enqueue_many_applies_the_job_types_uniqueness(store_url: str) -> None:
    async with make_app(store_url) as zap:
        held = await zap.enqueue("sync-user", {"id": 1})
        ids = await zap.enqueue_many("sync-user", [{"id": 1}, {"id": 2}, {"id": 2}, {"id": 3}])
        assert ids[0] == held
        assert ids[1] == ids[2]
        assert len(set(ids)) == 3
        assert await count(zap, "sync-user") == 3


async def test_enqueue_many_of_a_big_batch_with_unique_inputs(store_url: str) -> None:
    """600 inputs, 300 distinct (PostgreSQL would COPY a key-less batch this big)."""
    async with make_app(store_url) as zap:
        ids = await zap.enqueue_many("sync-user", [{"id": i % 300} for i in range(600)])
        assert ids[300:] == ids[:300]
        assert await count(zap, "sync-user") == 300


async def test_unique_for_allows_one_run_per_period_finished_or_not(store_url: str) -> None:
    clock = FakeClock(T0)
    async with make_app(store_url, clock) as zap:
        first = await zap.enqueue_unique("digest")
        assert await zap.cancel_runs(RunFilter(ids=(first.run_id,))) == [first.run_id]
        clock.advance(timedelta(minutes=9))
        again = await zap.enqueue_unique("digest")
        assert again == EnqueueResult(first.run_id, created=False)
        clock.advance(timedelta(minutes=1))  # T0 + 10 min: the next window
        later = await zap.enqueue_unique("digest")
        assert later.created is True
        run = await zap.get_run(later.run_id)
        assert run.unique_states == frozenset(RunStatus) - {RunStatus.WAITING}  # every keyed state


async def test_a_unique_key_over_the_length_limit_is_refused(store_url: str) -> None:
    async with make_app(store_url) as zap:
        with pytest.raises(ValidationError, match="at most 255 characters"):
            await zap.enqueue("invoice", {"n": 1}, unique_key="k" * 256)
        with pytest.raises(ValidationError, match="non-empty string"):
            await zap.enqueue("invoice", {"n": 1}, unique_key="")
        assert await count(zap, "invoice") == 0


def test_unique_states_must_hold_the_key_until_the_run_ends() -> None:
    zap = ZapJobs("memory://")
    with pytest.raises(ValidationError, match="must include pending and running"):

        @zap.job("x", unique_states={"pending"})
        async def x(ctx: JobContext[None]) -> None:
            return None

    with pytest.raises(ValidationError, match="unknown unique state 'done'"):

        @zap.job("y", unique_states={"pending", "running", "done"})
        async def y(ctx: JobContext[None]) -> None:
            return None

    with pytest.raises(ValidationError, match="unique_for must be a timedelta"):

        @zap.job("z", unique_for=timedelta(0))
        async def z(ctx: JobContext[None]) -> None:
            return None


async def test_a_key_taken_in_a_rolled_back_postgres_transaction_stays_free(pg_url: str) -> None:
    async with make_app(pg_url) as zap:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            await zap.enqueue("invoice", {"n": 1}, unique_key="k", connection=conn)
            await conn.rollback()
            kept = await zap.enqueue_unique("invoice", {"n": 2}, unique_key="k", connection=conn)
            again = await zap.enqueue_unique("invoice", {"n": 3}, unique_key="k", connection=conn)
            await conn.commit()
        assert kept.created is True
        assert again == EnqueueResult(kept.run_id, created=False)
        assert [r.id for r in await zap.list_runs(RunFilter(job_types=("invoice",)))] == [
            kept.run_id
        ]


async def test_a_key_taken_in_a_rolled_back_sqlite_transaction_stays_free(
    sqlite_url: str,
) -> None:
    async with make_app(sqlite_url) as zap:
        conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
        try:
            await zap.enqueue("invoice", {"n": 1}, unique_key="k", connection=conn)
            conn.rollback()
            kept = await zap.enqueue_unique("invoice", {"n": 2}, unique_key="k", connection=conn)
            conn.commit()
        finally:
            conn.close()
        assert kept.created is True
        assert [r.id for r in await zap.list_runs(RunFilter(job_types=("invoice",)))] == [
            kept.run_id
        ]


async def test_many_concurrent_enqueuers_of_one_key_get_one_run(pg_url: str) -> None:
    """20 enqueues of one key at once, over four apps of five connections each: one run is
    created and every caller gets its id."""
    apps = [make_app(pg_url) for _ in range(4)]
    for zap in apps:
        await zap.open()
    try:
        calls = [
            apps[i % 4].enqueue_unique("invoice", {"n": i}, unique_key="race") for i in range(20)
        ]
        results = await asyncio.gather(*calls)
        assert sum(r.created for r in results) == 1
        assert len({r.run_id for r in results}) == 1
        assert await count(apps[0], "invoice") == 1
    finally:
        for zap in apps:
            await zap.close()


def test_enqueue_unique_sync_from_plain_code(sqlite_url: str) -> None:
    zap = make_app(sqlite_url)
    try:
        first = zap.enqueue_unique_sync("invoice", {"n": 1}, unique_key="k")
        second = zap.enqueue_unique_sync("invoice", {"n": 2}, unique_key="k")
        assert first.created is True
        assert second == EnqueueResult(first.run_id, created=False)
        assert zap.enqueue_sync("invoice", {"n": 3}, unique_key="k") == first.run_id
    finally:
        zap.close_sync()
