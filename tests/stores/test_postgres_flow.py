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
from zapjobs.models import (
    FlowLimit,
    LimitScope,
    NewRun,
    RateLimit,
    RunFilter,
    RunStatus,
    WorkerInfo,
)
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres

CLAIMERS = 12
ROUNDS = 5


async def _claim_all_at_once(url: str, job_types: list[str], queues: list[str]) -> int:
    return (await _claims_all_at_once(url, job_types, queues))[0]


async def _claims_all_at_once(url: str, job_types: list[str], queues: list[str]) -> tuple[int, int]:
    """(runs claimed, claims that took any)."""
    stores = [PostgresStore(url, min_size=1, max_size=1) for _ in range(CLAIMERS)]
    for s in stores:
        await s.open()
    try:
        claimed = taking = 0
        for _ in range(ROUNDS):
            start = asyncio.Event()

            async def claim(store: PostgresStore, worker: str, start: asyncio.Event = start) -> int:
                await start.wait()
                return len(await store.claim(worker, queues, job_types, 10, now=T0))

            tasks = [asyncio.create_task(claim(s, f"w{i}")) for i, s in enumerate(stores)]
            await asyncio.sleep(0)
            start.set()
            took = await asyncio.gather(*tasks)
            claimed += sum(took)
            taking += sum(1 for n in took if n)
        return claimed, taking
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


# --- grants (migration 0013, queries.sql: claim_granted) ------------------------------------------
async def _live(pg: PostgresStore, *workers: str, concurrency: int = 10) -> None:
    for worker in workers:
        info = WorkerInfo(worker, "h", 1, ("default",), T0, T0, concurrency=concurrency)
        await pg.heartbeat(info, now=T0)


def _read(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _grants(url: str) -> dict[str, int | None]:
    """Slots by holder (one limits row in these tests)."""
    return dict(_read(url, "SELECT worker_id, slots FROM zapjobs_flow_grants"))  # type: ignore[arg-type]


def _limits_row(url: str) -> tuple[int, int]:
    """(claims, window_used) of the one limits row."""
    [(claims, used)] = _read(url, "SELECT claims, window_used FROM zapjobs_flow_limits")
    return claims, used


async def _claim(pg: PostgresStore, worker: str, limit: int = 10) -> int:
    return len(await pg.claim(worker, ["default"], ["report"], limit, now=T0))


async def test_a_worker_far_from_its_limits_claims_without_writing_them(
    pg: PostgresStore, pg_url: str
) -> None:
    """Far from its cap and rate, a live worker's limited claim grants it half of what the cap
    leaves and a share of the rate window (counted at once); its next claims write neither.
    (Alone: no other live worker's concurrency to leave room for.)"""
    limit = FlowLimit(LimitScope.JOB, "report", 1000, RateLimit(1_000_000, 3600))
    await pg.declare_flow_limits([limit])
    await _live(pg, "w1")
    await pg.enqueue([NewRun("report") for _ in range(100)], now=T0)
    assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {"w1": (1000 - 10) // 2}
    assert _limits_row(pg_url) == (1, 10 + 100 * 10)  # the starts granted: 100 claims' worth
    for _ in range(3):
        assert await _claim(pg, "w1") == 10
    assert _limits_row(pg_url) == (1, 1010)
    assert await pg.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))) == 40


@pytest.mark.parametrize(
    "limit",
    [
        FlowLimit(LimitScope.JOB, "report", max_concurrency=60),
        FlowLimit(LimitScope.JOB, "report", rate_limit=RateLimit(100, 1)),
    ],
    ids=["cap-60", "rate-100/s"],
)
async def test_no_grant_near_a_limit(pg: PostgresStore, pg_url: str, limit: FlowLimit) -> None:
    """A share must be worth four claims and leave as much to the others: a cap of 60 or a rate
    of 100/s claimed 10 at a time grants nothing; every claim counts and writes."""
    await pg.declare_flow_limits([limit])
    await _live(pg, "w1")
    await pg.enqueue([NewRun("report") for _ in range(100)], now=T0)
    for _ in range(3):
        assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {}
    assert _limits_row(pg_url)[0] == 3


async def test_other_claims_leave_a_grants_slots_to_its_holder(
    pg: PostgresStore, pg_url: str
) -> None:
    """A cap of 100, two live workers at concurrency 10: w1's claim of 10 is granted half of
    what is left once w2 ran 10, 40 slots, so w2 may start 100 - 10 - 40; w1 then claims under
    its grant up to its 40 running runs, and a limited claim after that takes what is left:
    never more than the cap."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=100)])
    await _live(pg, "w1", "w2")
    await pg.enqueue([NewRun("report") for _ in range(300)], now=T0)
    assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {"w1": (100 - 10 - 10) // 2}
    assert await _claim(pg, "w2", 100) == 50
    taken = [await _claim(pg, "w1") for _ in range(5)]
    assert taken == [10, 10, 10, 10, 0]  # granted to 40 running, then limited: 10 left
    assert await pg.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))) == 100
    assert _grants(pg_url) == {}


async def test_no_grant_where_the_other_workers_could_use_the_cap(
    pg: PostgresStore, pg_url: str
) -> None:
    """12 live workers at concurrency 10 under a cap of 100: a share would hold back the
    others' claims, so none is granted and every claim counts."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=100)])
    await _live(pg, *(f"w{i}" for i in range(12)))
    await pg.enqueue([NewRun("report") for _ in range(300)], now=T0)
    for i in range(10):
        assert await _claim(pg, f"w{i}") == 10
    assert _grants(pg_url) == {}
    assert _limits_row(pg_url)[0] == 10


async def test_a_short_granted_claim_gives_the_grant_up(pg: PostgresStore, pg_url: str) -> None:
    """A granted claim that finds less than it asked for (the work ran out) gives its share
    back, so an idle worker holds none of the cap."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=1000)])
    await _live(pg, "w1")
    await pg.enqueue([NewRun("report") for _ in range(15)], now=T0)
    assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {"w1": 495}
    assert await _claim(pg, "w1") == 5
    assert _grants(pg_url) == {}


async def test_a_changed_limit_takes_its_grants_back(pg: PostgresStore, pg_url: str) -> None:
    """An operator's override or a deploy's new declared limit ends the grants made under the
    old one: the holder's next claim counts again, under the new limit."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=1000)])
    await _live(pg, "w1")
    await pg.enqueue([NewRun("report") for _ in range(100)], now=T0)
    assert await _claim(pg, "w1") == 10
    await pg.set_flow_override(LimitScope.JOB, "report", max_concurrency=15, rate_limit=None)
    assert _grants(pg_url) == {}
    assert await _claim(pg, "w1") == 5  # the override's cap, not the old grant
    await pg.set_flow_override(LimitScope.JOB, "report", max_concurrency=None, rate_limit=None)
    assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {"w1": (1000 - 15 - 10) // 2}
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=2000)])
    assert _grants(pg_url) == {}


@pytest.mark.parametrize("end", ["stopped", "dead"])
async def test_a_gone_workers_grant_holds_nothing(pg: PostgresStore, pg_url: str, end: str) -> None:
    """The slots of a stopped or dead worker's grant go back to the others at once."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=100)])
    await _live(pg, "w1", "w2")
    await pg.enqueue([NewRun("report") for _ in range(300)], now=T0)
    assert await _claim(pg, "w1") == 10
    assert _grants(pg_url) == {"w1": 40}
    if end == "stopped":
        await pg.worker_stopped("w1", now=T0)
    else:
        _read(pg_url, "UPDATE zapjobs_heartbeats SET dead_at = now() WHERE id = 'w1' RETURNING 1")
    assert await _claim(pg, "w2", 200) == 90
    assert await _claim(pg, "w1") == 0  # its grant no longer holds: it counts, at the cap


async def test_concurrent_claimers_with_grants_never_exceed_a_cap(
    pg: PostgresStore, pg_url: str
) -> None:
    """Live workers (concurrency 1: room for grants), so grants are made and used while the
    others claim at the same time."""
    await pg.declare_flow_limits([FlowLimit(LimitScope.JOB, "report", max_concurrency=300)])
    await pg.enqueue([NewRun("report") for _ in range(1000)], now=T0)
    await _live(pg, *(f"w{i}" for i in range(CLAIMERS)), concurrency=1)
    claimed, taking = await _claims_all_at_once(pg_url, ["report"], ["default"])
    running = await pg.count_runs(RunFilter(statuses=(RunStatus.RUNNING,)))
    assert claimed == running <= 300
    # every limited claim that started runs bumped the limits row; the granted ones did not
    assert _limits_row(pg_url)[0] < taking
