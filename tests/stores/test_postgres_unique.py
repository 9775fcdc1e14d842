"""Unique keys on PostgreSQL under concurrency: an enqueuer that meets a key another transaction
is inserting waits for it, then returns that run (a fresh statement sees the commit); many
processes enqueueing one key get one run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import psycopg

from tests.stores.helpers import T0
from zapjobs.models import EnqueueResult, NewRun, RunFilter
from zapjobs.stores.postgres import PostgresStore


async def _blocked_on_a_lock(url: str) -> bool:
    """Some statement on this test's schema waits for a lock (other tests share the server)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND strpos(query, current_schema()) > 0"
        )
        row = await cur.fetchone()
    return row is not None and row[0] > 0


async def test_an_enqueuer_waits_for_an_uncommitted_holder_then_returns_it(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url, min_size=1, max_size=2)
    await store.open()
    await store.migrate()
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as mine:
            [held] = await store.enqueue_results(
                [NewRun("a", unique_key="k")], now=T0, connection=mine
            )
            other = asyncio.create_task(
                store.enqueue_results([NewRun("a", unique_key="k")], now=T0)
            )
            deadline = time.monotonic() + 10
            while not await _blocked_on_a_lock(pg_url):
                assert not other.done(), other
                assert time.monotonic() < deadline, "the second enqueue never waited"
                await asyncio.sleep(0.02)
            await mine.commit()
            [second] = await asyncio.wait_for(other, timeout=10)
        assert held.created is True
        assert second == EnqueueResult(held.run_id, created=False)
        assert await store.count_runs(RunFilter(job_types=("a",))) == 1
    finally:
        await store.close()


async def test_an_enqueuer_creates_the_run_when_the_other_transaction_rolls_back(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url, min_size=1, max_size=2)
    await store.open()
    await store.migrate()
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as mine:
            await store.enqueue([NewRun("a", unique_key="k")], now=T0, connection=mine)
            other = asyncio.create_task(
                store.enqueue_results([NewRun("a", unique_key="k")], now=T0)
            )
            deadline = time.monotonic() + 10
            while not await _blocked_on_a_lock(pg_url):
                assert time.monotonic() < deadline, "the second enqueue never waited"
                await asyncio.sleep(0.02)
            await mine.rollback()
            [second] = await asyncio.wait_for(other, timeout=10)
        assert second.created is True
        assert await store.count_runs(RunFilter(job_types=("a",))) == 1
    finally:
        await store.close()


_ENQUEUER = """
import asyncio, json, sys
from zapjobs.models import NewRun
from zapjobs.stores.postgres import PostgresStore

async def main() -> None:
    store = PostgresStore(sys.argv[1], min_size=5, max_size=5)
    await store.open()
    try:
        print("ready", flush=True)
        sys.stdin.readline()  # every process starts enqueueing at once
        results = await asyncio.gather(
            *(store.enqueue_results([NewRun("a", unique_key="race")]) for _ in range(5))
        )
        print(json.dumps([[r.run_id, r.created] for [r] in results]), flush=True)
    finally:
        await store.close()

asyncio.run(main())
"""


async def _migrate(url: str) -> None:
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        await store.migrate()
    finally:
        await store.close()


def test_many_processes_enqueueing_one_key_get_one_run(pg_url: str) -> None:
    """4 processes x 5 connections, released together: one run created, every caller its id."""
    asyncio.run(_migrate(pg_url))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _ENQUEUER, pg_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for p in processes:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in processes:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [json.loads(p.communicate(timeout=60)[0]) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = [tuple(r) for answer in answers for r in answer]
    assert len(results) == 20
    assert sum(1 for _, created in results if created) == 1
    assert len({run_id for run_id, _ in results}) == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM zapjobs_runs").fetchone() == (1,)
