"""The PostgreSQL store's hot statements (the claim, the enqueues, the completer's usual batch)
are prepared on the hot pool and run on generic plans that stay index-bound whatever the table
held when they were made; every other statement is planned with its values. Plans and counters,
not timings."""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
import pytest

from tests.stores.plans import server_plans
from zapjobs.models import NewRun, RunOutcome, RunStatus
from zapjobs.stores.postgres import PostgresStore, rows
from zapjobs.stores.postgres.sql import LANES, PREPARED, qualify, render_queries

pytestmark = pytest.mark.postgres


def test_every_prepared_name_is_a_statement() -> None:
    assert set(render_queries(qualify(None, "zapjobs_"))) >= PREPARED
    assert set(LANES) <= PREPARED


async def test_the_claim_and_the_enqueues_run_on_generic_plans(pg: PostgresStore) -> None:
    rounds = 12
    await pg.enqueue([NewRun(job_type="a") for _ in range(rounds * 2)])
    for _ in range(rounds):
        claimed = await pg.claim("w1", ["default"], ["a"], 2)
        assert len(claimed) == 2
        outcomes = [
            RunOutcome(run_id=r.id, worker_id="w1", attempt=r.attempt, status=RunStatus.SUCCEEDED)
            for r in claimed
        ]
        assert len(await pg.complete(outcomes)) == 2
    await pg.enqueue([NewRun(job_type="a")])
    plans = await server_plans(pg)
    assert plans["claim_runs"] == (rounds, 0), plans  # (generic, custom) plans
    assert plans["enqueue_runs"] == (1, 0), plans
    assert plans["enqueue_run"] == (1, 0), plans
    assert plans["complete_childless"] == (rounds, 0), plans  # a hot pool of one: shared
    # Everything else goes through the general pool, unprepared.
    assert set(plans) == {"claim_runs", "enqueue_runs", "enqueue_run", "complete_childless"}
    assert await server_plans(pg, hot=False) == {}


async def test_the_batch_of_successes_runs_on_its_generic_plan_from_the_first_call(
    pg: PostgresStore,
) -> None:
    """Planning the completion cost more server CPU than running it: its usual part (runs that
    never had a child) is prepared, on its own hot connection. It runs on the generic plan from
    its first call: on the general pool the server's first five custom plans per connection
    read a table without statistics whole (a drain's batch of 1,000 took 146 ms)."""
    await pg.enqueue([NewRun(job_type="a") for _ in range(6)])
    for _ in range(3):
        claimed = await pg.claim("w1", ["default"], ["a"], 2)
        outcomes = [
            RunOutcome(run_id=r.id, worker_id="w1", attempt=r.attempt, status=RunStatus.SUCCEEDED)
            for r in claimed
        ]
        assert len(await pg.complete(outcomes)) == 2
    plans = await server_plans(pg, lane="completions")
    assert plans["complete_childless"] == (3, 0), plans  # (generic, custom) plans


@pytest.mark.parametrize(
    ("running", "analyze"), [(0, False), (10, True), (5000, True)], ids=["new", "few", "many"]
)
async def test_the_generic_plan_of_the_batch_of_successes_finds_the_runs_by_id(
    pg: PostgresStore, pg_url: str, running: int, analyze: bool
) -> None:
    """The runs are found by their ids, whatever the statistics say of the running ones: a plan
    that walked the running index (the worker's entries, or all of them, those of the runs
    finished since the last vacuum included) cost a drain of 20,000 runs two thirds of its speed."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, input, run_at, created_at, status,"
            " worker_id, attempt, started_at)"
            " SELECT 'a', 'default', '{}', now(), now(),"
            " CASE WHEN i <= %(running)s THEN 'running' ELSE 'pending' END,"
            " CASE WHEN i <= %(running)s THEN 'w1' END, 1, now()"
            " FROM generate_series(1, 20000) AS i",
            {"running": running},
        )
        if analyze:
            conn.execute("ANALYZE zapjobs_runs")
    params = {"ids": [1, 2], "attempts": [1, 1], "outputs": [None, None], "worker_id": "w1"}
    params.update(now=None, channel=pg.channel)
    plan = _generic_plan(
        pg_url, pg.queries["session_setup_hot"], pg.queries["complete_childless"], params
    )
    runs = {(n["Node Type"], n.get("Index Name")) for n in plan if n.get("Relation Name")}
    assert runs == {
        ("Index Scan", "zapjobs_runs_pkey"),
        ("ModifyTable", None),  # the runs, and the run counts' upsert
    }, runs


def _numbered(text: str) -> tuple[str, list[str]]:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)[sb]", number, text), names


def _generic_plan(url: str, setup: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    numbered, names = _numbered(sql)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(setup)
        conn.execute(f"PREPARE zj_generic AS {numbered}".encode())
        args = ", ".join(f"%({n})s" for n in names)
        conn.execute("BEGIN")
        cur = psycopg.ClientCursor(conn)
        row = cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE zj_generic({args})", params).fetchone()
        conn.execute("ROLLBACK")
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    return nodes(plan[0]["Plan"])


@pytest.mark.parametrize(
    ("pending", "analyze"),
    [(0, False), (0, True), (20_000, True)],
    ids=["new-table", "analyzed-empty", "backlog"],
)
async def test_the_generic_claim_plan_never_scans_the_table(
    pg: PostgresStore, pg_url: str, pending: int, analyze: bool
) -> None:
    """Whatever the table held when the plan was cached, the claim walks the claim index and
    updates the rows it locked by their ctid; a queue's pause is one primary-key probe."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, input, run_at, created_at)"
            " SELECT 'a', 'default', '{}', now(), now() FROM generate_series(1, %s)",
            (pending,),
        )
        if analyze:
            conn.execute("ANALYZE zapjobs_runs")
    params = {
        "worker_id": "w1",
        "queues": ["default", "other"],
        "job_types": ["a"],
        "limit": 10,
        "now": None,
    }
    setup = pg.queries["session_setup_hot"]
    plan = _generic_plan(pg_url, setup, pg.queries["claim_runs"], params)
    scans = {
        (n["Node Type"], n.get("Index Name"))
        for n in plan
        if n.get("Relation Name") not in (None, "zapjobs_run_parents")
    }
    assert scans == {
        ("Index Scan", "zapjobs_runs_claim_idx"),
        ("Index Scan", "zapjobs_queues_pkey"),
        ("Index Scan", "zapjobs_flow_limits_pkey"),  # does a cap or rate limit apply
        ("Index Scan", "zapjobs_runs_pkey"),  # a claimed step's parents, by id
        ("Tid Scan", None),
        ("ModifyTable", None),
    }, scans
    _edges_by_their_key(plan)
    # The pause gates the scan (read once per queue), not a filter applied to each row.
    assert any("NOT" in n.get("One-Time Filter", "") for n in plan), plan


def _claim_plan(pg: PostgresStore, pg_url: str, pending: int, statement: str) -> list[Any]:
    """The generic plan of a claim statement over ``pending`` due runs (analyzed)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, input, run_at, created_at)"
            " SELECT 'a', 'default', '{}', now(), now() FROM generate_series(1, %s)",
            (pending,),
        )
        conn.execute("ANALYZE zapjobs_runs")
    params = {
        "worker_id": "w1",
        "queues": ["default", "other"],
        "job_types": ["a"],
        "limit": 10,
        "now": None,
    }
    setup = pg.queries["session_setup_hot"]
    return _generic_plan(pg_url, setup, pg.queries[statement], params)


def _runs_scans(plan: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    return {
        (n["Node Type"], n.get("Index Name"))
        for n in plan
        if n.get("Relation Name") == "zapjobs_runs"
    }


#: The tables a limited claim reads besides the runs, each by an index.
FLOW_TABLES = {"zapjobs_flow_limits", "zapjobs_flow_grants", "zapjobs_heartbeats"}


@pytest.mark.parametrize("pending", [0, 20_000], ids=["new-table", "backlog"])
async def test_the_generic_limited_claim_plan_never_scans_the_table(
    pg: PostgresStore, pg_url: str, pending: int
) -> None:
    """The limited claim (a cap or rate limit applies) reads the limits by primary key, counts
    running runs from their partial index, walks the claim index and updates by ctid; the
    grants and the live workers by their indexes."""
    plan = _claim_plan(pg, pg_url, pending, "claim_limited")
    assert _runs_scans(plan) == {
        ("Index Scan", "zapjobs_runs_claim_idx"),
        ("Index Scan", "zapjobs_runs_running_idx"),  # the running runs a cap counts
        ("Index Scan", "zapjobs_runs_pkey"),  # a claimed step's parents, by id
        ("Tid Scan", None),
        ("ModifyTable", None),
    }
    others = {n["Relation Name"] for n in plan if n.get("Relation Name")} - {"zapjobs_runs"}
    # the grants: the shares other workers hold, and whether they and this worker are live
    assert others == {*FLOW_TABLES, "zapjobs_queues", "zapjobs_run_parents"}, others
    _by_index_only(plan, FLOW_TABLES)
    _edges_by_their_key(plan)


@pytest.mark.parametrize("pending", [0, 20_000], ids=["new-table", "backlog"])
async def test_the_generic_granted_claim_plan_never_scans_the_table(
    pg: PostgresStore, pg_url: str, pending: int
) -> None:
    """The claim under a grant reads the limits, the worker's grants and its heartbeat by key,
    counts the worker's running runs from their partial index, walks the claim index and
    updates by ctid."""
    plan = _claim_plan(pg, pg_url, pending, "claim_granted")
    assert _runs_scans(plan) == {
        ("Index Scan", "zapjobs_runs_claim_idx"),
        ("Index Only Scan", "zapjobs_runs_running_idx"),  # the worker's running runs
        ("Index Scan", "zapjobs_runs_pkey"),  # a claimed step's parents, by id
        ("Tid Scan", None),
        ("ModifyTable", None),
    }
    _by_index_only(plan, FLOW_TABLES)
    _edges_by_their_key(plan)


def _by_index_only(plan: list[dict[str, Any]], tables: set[str]) -> None:
    """The given tables are read by their indexes only, never scanned."""
    scans = {n["Node Type"] for n in plan if n.get("Relation Name") in tables}
    assert scans <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "ModifyTable"}, scans


def _edges_by_their_key(plan: list[dict[str, Any]]) -> None:
    """A claimed workflow step's edges are found by the run_parents primary key (run_id
    first), never by scanning the edges; only claimed runs with parents look."""
    edges = {n["Node Type"] for n in plan if n.get("Relation Name") == "zapjobs_run_parents"}
    assert edges and edges <= {"Index Only Scan", "Index Scan", "Bitmap Heap Scan"}, edges
    indexes = {
        n.get("Index Name") for n in plan if "Index" in n["Node Type"] and n.get("Index Name")
    }
    assert "zapjobs_run_parents_pkey" in indexes, indexes


async def test_the_single_enqueue_plan_is_one_insert(pg: PostgresStore, pg_url: str) -> None:
    """One run enqueued alone is a bare INSERT whose RETURNING list sends its wake-up from the
    inserted row: no CTE or subquery around it (their nodes were a fifth of its server time)."""
    params = {
        **rows.one_run_params(NewRun(job_type="a")),
        "now": None,
        "channel": "zapjobs_plan",
    }
    setup = pg.queries["session_setup_hot"]
    plan = _generic_plan(pg_url, setup, pg.queries["enqueue_run"], params)
    assert [n["Node Type"] for n in plan] == ["ModifyTable", "Result"], plan
    assert plan[0]["Operation"] == "Insert" and plan[0]["Relation Name"] == "zapjobs_runs"


async def test_the_unique_enqueue_runs_on_a_generic_plan(pg: PostgresStore) -> None:
    for i in range(3):
        await pg.enqueue([NewRun(job_type="a", unique_key=f"k{i}")])
    await pg.enqueue([NewRun(job_type="a", unique_key="k0")])
    plans = await server_plans(pg)
    assert plans["enqueue_unique_runs"] == (4, 0), plans


async def test_the_generic_unique_enqueue_plan_finds_the_holder_by_its_index(
    pg: PostgresStore, pg_url: str
) -> None:
    """The holder of a key is looked up in the unique key index, never by scanning the runs."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, input, run_at, created_at, unique_key,"
            " unique_states) SELECT 'a', 'default', '{}', now(), now(), 'k' || g, 3"
            " FROM generate_series(1, 20000) AS g"
        )
        conn.execute("ANALYZE zapjobs_runs")
    params = rows.new_run_params([NewRun(job_type="a", unique_key="k7")])
    params.update(runs_seq=pg._db.runs_seq, now=None, channel=pg._db.channel)
    setup = pg.queries["session_setup_hot"]
    plan = _generic_plan(pg_url, setup, pg.queries["enqueue_unique_runs"], params)
    scans = {(n["Node Type"], n.get("Index Name")) for n in plan if n.get("Relation Name")}
    assert ("Seq Scan", None) not in scans, scans
    assert any(name == "zapjobs_runs_unique_key_idx" for _, name in scans), scans
