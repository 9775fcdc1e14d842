"""PostgreSQL: the release of a child enqueued while its parent completes. The enqueue holds the
parent's row until it commits; the completion waits for it, and its snapshot predates the child,
so it must start over and release the child in its own statement (queries.sql: release_guard)."""

from __future__ import annotations

import asyncio

import psycopg

from tests.stores.helpers import T0, assert_complete_run, at, start_one
from zapjobs.models import NewRun, RunOutcome, RunStatus
from zapjobs.stores.postgres import PostgresStore


async def _blocked_on_a_lock(url: str, deadline: float = 10.0) -> None:
    """Until some backend of this database waits for a row lock."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while loop.time() < end:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the completion never waited for the enqueue")


async def test_a_child_enqueued_while_its_parent_completes_is_released(
    pg: PostgresStore, pg_url: str
) -> None:
    parent = await start_one(pg, now=T0)
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        [child] = await pg.enqueue([NewRun("child", parents=(parent,))], now=T0, connection=conn)
        done = RunOutcome(parent, "w1", 1, RunStatus.SUCCEEDED, output_json="1")
        completing = asyncio.create_task(pg.complete([done], now=at(minutes=1)))
        await _blocked_on_a_lock(pg_url)
        await conn.commit()
        assert await asyncio.wait_for(completing, 10) == [parent]
    run = await pg.get_run(child)
    assert run is not None
    assert (run.status, run.parents_left) == (RunStatus.PENDING, 0)


async def test_a_batch_ends_its_childless_runs_and_releases_a_child_enqueued_meanwhile(
    pg: PostgresStore, pg_url: str
) -> None:
    """The usual batch goes through a statement without the release (complete_childless), which
    must leave a parent whose child's enqueue it waited for to the one that releases it, and
    count each run it ended once."""
    parent = await start_one(pg, now=T0)
    plain = await start_one(pg, now=T0)
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        [child] = await pg.enqueue([NewRun("child", parents=(parent,))], now=T0, connection=conn)
        done = [
            RunOutcome(run_id, "w1", 1, RunStatus.SUCCEEDED, output_json="1")
            for run_id in (plain, parent)
        ]
        completing = asyncio.create_task(pg.complete(done, now=at(minutes=1)))
        await _blocked_on_a_lock(pg_url)
        await conn.commit()
        assert await asyncio.wait_for(completing, 10) == [plain, parent]
    run = await pg.get_run(child)
    assert run is not None
    assert (run.status, run.parents_left) == (RunStatus.PENDING, 0)
    stats = await pg.stats(now=at(minutes=1))
    assert (stats.succeeded, stats.running, stats.pending) == (2, 0, 1)


async def test_a_claimed_step_carries_its_parents_outputs(pg: PostgresStore) -> None:
    """The claim reads a step's parents' outputs with it (the step starts without a read of its
    own, bench/workflows.py); a run without parents carries none."""
    parents = [await start_one(pg, now=T0) for _ in range(2)]
    done = [
        RunOutcome(p, "w1", 1, RunStatus.SUCCEEDED, output_json=json)
        for p, json in zip(parents, ('{"a": 1}', "[2]"), strict=True)
    ]
    await pg.complete(done, now=at(minutes=1))
    [step] = await pg.enqueue([NewRun("child", parents=tuple(reversed(parents)))], now=T0)
    [plain] = await pg.enqueue([NewRun("child")], now=T0)
    claimed = {r.id: r for r in await pg.claim("w1", ["default"], ["child"], 5, now=at(minutes=2))}
    assert claimed[step].parent_outputs == {parents[0]: {"a": 1}, parents[1]: [2]}
    assert list(claimed[step].parent_outputs) == parents  # in id order
    assert claimed[plain].parent_outputs is None
    assert_complete_run(claimed[step])
