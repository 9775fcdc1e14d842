"""Concurrency caps on PostgreSQL under concurrent claimers: many claims at once, each on its own
connection, never start more runs of a capped job type than its cap, however their statements
interleave (the check, at the bump of the limits row, that no limited claim committed under the
same row after the statement's snapshot)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from tests.stores.helpers import T0
from zapjobs.models import FlowLimit, LimitScope, NewRun, RateLimit, RunFilter, RunStatus
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres

CLAIMERS = 12
ROUNDS = 5


async def _claim_all_at_once(url: str, job_types: list[str], queues: list[str]) -> int:
    stores = [PostgresStore(url, min_size=1, max_size=1) for _ in range(CLAIMERS)]
    for s in stores:
        await s.open()
    try:
        claimed = 0
        for _ in range(ROUNDS):
            start = asyncio.Event()

            async def claim(store: PostgresStore, worker: str, start: asyncio.Event = start) -> int:
                await start.wait()
                return len(await store.claim(worker, queues, job_types, 10, now=T0))

            tasks = [asyncio.create_task(claim(s, f"w{i}")) for i, s in enumerate(stores)]
            await asyncio.sleep(0)
            start.set()
            claimed += sum(await asyncio.gather(*tasks))
        return claimed
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_claimers_never_exceed_a_cap(pg: PostgresStore, pg_url: str) -> None:
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=3)])
    await pg.enqueue([NewRun("report") for _ in range(200)], now=T0)
    assert await _claim_all_at_once(pg_url, ["report"], ["default"]) == 3
    running = await pg.count_runs(RunFilter(statuses=(RunStatus.RUNNING,)))
    assert running == 3


async def test_concurrent_claimers_never_exceed_a_rate(pg: PostgresStore, pg_url: str) -> None:
    limit = FlowLimit(LimitScope.QUEUE, "default", rate_limit=RateLimit(7, 3600))
    await pg.declare_flow_limits([limit])
    await pg.enqueue([NewRun("ping") for _ in range(200)], now=T0)
    assert await _claim_all_at_once(pg_url, ["ping"], ["default"]) == 7


async def test_a_claim_that_waited_for_another_limited_claim_counts_its_runs(
    pg: PostgresStore, pg_url: str
) -> None:
    """A claim whose snapshot predates another limited claim's commit (its bump of the limits
    row waited for the row that claim held) does not trust its count of running runs: it fails
    whole and looks again. (30 runs: the first claim's scan locks the first 13 it reads, so the
    second finds runs of its own to take before it reaches the limits row.)"""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=3)])
    await pg.enqueue([NewRun("report") for _ in range(30)], now=T0)
    params = {
        "worker_id": "first",
        "queues": ["default"],
        "job_types": ["report"],
        "limit": 10,
        "now": T0,
    }
    with psycopg.connect(pg_url) as first:  # a transaction, held open
        first.execute("SET TIME ZONE 'UTC'")
        taken = first.execute(pg.queries["claim_limited"], params).fetchall()
        assert len([r for r in taken if r[0] is not None]) == 3
        second = asyncio.create_task(pg.claim("second", ["default"], ["report"], 10, now=T0))
        with psycopg.connect(pg_url, autocommit=True) as watcher:
            for _ in range(500):  # until the second claim waits for the limits row's lock
                [(waiting,)] = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ).fetchall()
                if waiting:
                    break
                await asyncio.sleep(0.01)
            assert waiting, "the second claim never waited for the limits row"
        first.commit()
    assert await second == []
    assert await pg.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))) == 3


def _rows_read(url: str, sql: str, params: dict[str, object]) -> int:
    """Index entries the statement read from the claim index (EXPLAIN ANALYZE, rolled back)."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        cur = psycopg.ClientCursor(conn)
        [(plan,)] = cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchall()
        conn.rollback()

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    return sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in nodes(plan[0]["Plan"])
        if n.get("Index Name") == "zapjobs_runs_claim_idx"
    )


async def test_a_held_job_type_costs_no_scan_of_its_backlog(pg: PostgresStore, pg_url: str) -> None:
    """At its cap, a job type's backlog is not read by the claim nor by next_due."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=2)])
    await pg.enqueue([NewRun("report") for _ in range(5000)], now=T0)
    assert len(await pg.claim("w", ["default"], ["report"], 10, now=T0)) == 2
    params: dict[str, object] = {
        "worker_id": "w",
        "queues": ["default"],
        "job_types": ["report"],
        "limit": 10,
        "now": T0,
        "cap_recheck": 1.0,
    }
    assert _rows_read(pg_url, pg.queries["claim_limited"], params) == 0
    assert _rows_read(pg_url, pg.queries["next_due_limited"], params) < 10
