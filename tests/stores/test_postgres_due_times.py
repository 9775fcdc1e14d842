"""PostgreSQL due times: ``next_due`` reads only the claim index, a few entries per priority,
whatever the due backlog and the history hold (plans, not timings); the bulk (COPY) enqueue
notifies with due times like the small one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.stores.helpers import wait_until
from zapjobs.models import NewRun, Notification
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres.runs import COPY_MIN_RUNS

pytestmark = pytest.mark.postgres

# 50,000 finished runs, a due backlog of 20,000 pending runs over five priorities, and a few
# pending runs due later.
FILL = """
INSERT INTO zapjobs_runs (job_type, queue, status, priority, input, run_at, created_at,
                          finished_at)
SELECT 'a', 'default',
       CASE WHEN g <= 50000 THEN 'succeeded' ELSE 'pending' END,
       g % 5, '{}',
       CASE WHEN g > 70000 THEN now() + interval '1 hour' + (g - 70000) * interval '1 second'
            ELSE now() - interval '1 hour' END,
       now(),
       CASE WHEN g <= 50000 THEN now() END
FROM generate_series(1, 70010) AS g
"""


def _plan(url: str, setup: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(setup)
        cur = psycopg.ClientCursor(conn)
        row = cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    return nodes(plan[0]["Plan"])


async def test_next_due_walks_the_claim_index_only_past_a_backlog(
    pg: PostgresStore, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(FILL)
        conn.execute("ANALYZE zapjobs_runs")
    due = await pg.next_due(["default"], ["a"], runs=8)
    assert due is not None and due.due_in <= -timedelta(minutes=50)  # the backlog is due
    assert len(due.runs) == 8
    params = {"queues": ["default"], "job_types": ["a"], "now": None, "runs": 8}
    plan = _plan(pg_url, pg.queries["session_setup"], pg.queries["next_due"], params)
    scans = {(n["Node Type"], n.get("Index Name")) for n in plan if n.get("Relation Name")}
    assert scans <= {
        ("Index Scan", "zapjobs_runs_claim_idx"),
        ("Index Only Scan", "zapjobs_runs_claim_idx"),
        ("Index Scan", "zapjobs_queues_pkey"),  # is the queue paused: one probe per queue
        ("Index Scan", "zapjobs_flow_limits_pkey"),  # does a cap or rate limit apply
    }, scans
    # A handful of index entries per priority (the 8 earliest and a step to the next priority),
    # not the 20,000 due ones.
    runs_read = sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in plan
        if n.get("Relation Name") == "zapjobs_runs"
    )
    assert scans and runs_read < 100, (scans, runs_read)


async def test_a_bulk_enqueue_notifies_each_queue_with_its_earliest_due_time(
    pg: PostgresStore,
) -> None:
    now = datetime.now(UTC)
    runs = [
        NewRun("a", queue="bulk", run_at=now + timedelta(hours=1, seconds=i))
        for i in range(COPY_MIN_RUNS)
    ]
    runs.append(NewRun("a", queue="bulk-now"))
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        await pg.enqueue(runs)
        await wait_until(lambda: {n.queue for n in received} >= {"bulk", "bulk-now"})
        by_queue = {n.queue: n for n in received}
        later = by_queue["bulk"].due_in
        assert later is not None and timedelta(minutes=59) < later <= timedelta(hours=1)
        assert by_queue["bulk-now"].due_in is None
    finally:
        await listener.close()
