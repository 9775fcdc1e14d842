"""The PostgreSQL store's filtered run listing is index-bound: for one status, job type or queue
its own ``list_runs`` statement walks the matching (x, id) index (or the primary key) backward in
id order under LIMIT, with no sequential scan of runs; running runs, which those indexes leave
out, come from their own index, and only they may be sorted. Plans, not timings: the check holds
on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.stores.plans import explain, filled_schema
from zapjobs.models import Page, RunFilter, RunStatus
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres import rows as pg_rows

pytestmark = pytest.mark.postgres

ROWS = 200_000
# Mostly succeeded runs; 1% failed, a few running and pending, a rare job type (0.1%) and a
# rare queue (0.5%).
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 1000 = 3 THEN 'rare-report' ELSE 'email-sender' END,
       CASE WHEN g %% 200 = 5 THEN 'x' ELSE 'default' END,
       CASE WHEN g %% 100 = 0 THEN 'failed'
            WHEN g %% 5000 = 1 THEN 'running'
            WHEN g %% 3000 = 2 THEN 'pending'
            ELSE 'succeeded' END,
       jsonb_build_object('n', g), 1, now(), now(), now(),
       CASE WHEN g %% 5000 = 1 OR g %% 3000 = 2 THEN NULL ELSE now() END,
       CASE WHEN g %% 5000 = 1 THEN 'w1' END
FROM generate_series(1, %(rows)s) AS g
"""
RUNNING_IDX = "zapjobs_runs_running_idx"


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, str]]:
    """(conninfo, list_runs SQL) of one migrated schema holding ROWS finished runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, queries["list_runs"]


def unbounded_scans(plan: dict[str, Any]) -> set[str | None]:
    """Index names of the scans below ``plan`` that no Limit cuts short on the way."""
    found: set[str | None] = set()
    for child in plan.get("Plans", []):
        if child["Node Type"] == "Limit":
            continue
        if child.get("Relation Name"):
            found.add(child.get("Index Name"))
        found |= unbounded_scans(child)
    return found


def plan_of(url: str, sql: str, selection: RunFilter, page: Page) -> list[dict[str, Any]]:
    """Every node of the plan for the store's list_runs with the parameters it binds."""
    params = {
        "before_id": page.before_id,
        "limit": page.limit,
        **pg_rows.filter_params(selection, None),
    }
    return explain(url, sql, params)


@pytest.mark.parametrize(
    ("selection", "index", "running_branch"),
    [
        (RunFilter(statuses=[RunStatus.FAILED]), "zapjobs_runs_status_idx", False),
        (RunFilter(statuses=[RunStatus.PENDING]), "zapjobs_runs_status_idx", False),
        (RunFilter(job_types=["rare-report"]), "zapjobs_runs_job_type_idx", True),
        (RunFilter(queues=["x"]), "zapjobs_runs_queue_idx", True),
        # Succeeded, the common status, is left out of the status index: a backward primary
        # key scan finds it at once.
        (RunFilter(statuses=[RunStatus.SUCCEEDED]), "zapjobs_runs_pkey", False),
        (RunFilter(job_types=["email-sender"]), "zapjobs_runs_job_type_idx", True),
        (RunFilter(queues=["default"]), "zapjobs_runs_queue_idx", True),
        # Two single values: the first indexed one drives, the other is an "=" filter.
        (
            RunFilter(statuses=[RunStatus.FAILED], queues=["default"]),
            "zapjobs_runs_status_idx",
            False,
        ),
        (RunFilter(statuses=[RunStatus.SUCCEEDED], queues=["x"]), "zapjobs_runs_queue_idx", False),
        (RunFilter(), "zapjobs_runs_pkey", True),
        # Running runs only: their own index, nothing else.
        (RunFilter(statuses=[RunStatus.RUNNING]), None, True),
    ],
    ids=[
        "status",
        "pending",
        "job_type",
        "queue",
        "common-status",
        "common-job",
        "common-queue",
        "two",
        "succeeded-and-queue",
        "no-filter",
        "running",
    ],
)
@pytest.mark.parametrize("before_id", [None, ROWS // 2], ids=["first", "deep"])
def test_single_value_filter_walks_its_index_in_id_order(
    filled: tuple[str, str],
    selection: RunFilter,
    index: str | None,
    running_branch: bool,
    before_id: int | None,
) -> None:
    url, sql = filled
    plan = plan_of(url, sql, selection, Page(limit=101, before_id=before_id))
    kinds = [(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    for sort in (n for n in plan if n["Node Type"] == "Sort"):
        # Only the few running runs, or pages already cut by LIMIT, may be sorted: never the
        # walk over the rest.
        assert unbounded_scans(sort) <= {RUNNING_IDX}, kinds
    scans = [n for n in plan if n.get("Relation Name") == "zapjobs_runs"]
    walks = [n for n in scans if n.get("Index Name") != RUNNING_IDX]
    assert [n.get("Index Name") for n in walks] == ([index] if index else []), kinds
    for walk in walks:
        assert walk["Node Type"] in {"Index Scan", "Index Only Scan"}, kinds
        assert walk.get("Scan Direction") == "Backward", kinds
    assert any(n.get("Index Name") == RUNNING_IDX for n in scans) == running_branch, kinds


def test_single_value_goes_in_the_scalar_parameter_and_many_in_the_array() -> None:
    one = pg_rows.filter_params(RunFilter(statuses=[RunStatus.FAILED], queues=["a", "b"]), None)
    assert (one["d_status"], one["f_status"], one["f_statuses"]) == ("failed", None, None)
    assert (one["f_queue"], one["f_queues"]) == (None, ["a", "b"])
    assert (one["f_job_type"], one["f_job_types"]) == (None, None)
    none = pg_rows.filter_params(RunFilter(job_types=[]), None)
    assert (none["f_job_type"], none["f_job_types"]) == (None, [])


async def test_single_and_multi_value_filters_list_the_same_runs(filled: tuple[str, str]) -> None:
    url, _ = filled
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        page = Page(limit=50, before_id=ROWS // 2)
        single = await store.list_runs(RunFilter(queues=["x"]), page)
        multi = await store.list_runs(RunFilter(queues=["x", "no-such-queue"]), page)
        assert [r.id for r in single] == [r.id for r in multi]
        assert len(single) == 50 and all(r.queue == "x" for r in single)
        assert [r.id for r in single] == sorted((r.id for r in single), reverse=True)
        assert await store.count_runs(RunFilter(queues=["x"])) == ROWS // 200
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("selection", "where"),
    [
        (RunFilter(), "true"),
        (RunFilter(job_types=["email-sender"]), "job_type = 'email-sender'"),
        (
            RunFilter(statuses=[RunStatus.RUNNING, RunStatus.FAILED]),
            "status IN ('running', 'failed')",
        ),
        (RunFilter(statuses=[RunStatus.SUCCEEDED]), "status = 'succeeded'"),
        (
            RunFilter(queues=["default"], statuses=[RunStatus.RUNNING]),
            "queue = 'default' AND status = 'running'",
        ),
    ],
    ids=["all", "job_type", "running-and-failed", "succeeded", "running-in-queue"],
)
async def test_the_two_branches_list_and_count_what_a_plain_query_finds(
    filled: tuple[str, str], selection: RunFilter, where: str
) -> None:
    """Running runs come from a branch of their own: merged, the page is the plain one."""
    url, _ = filled
    with psycopg.connect(url, autocommit=True) as conn:
        expected = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM zapjobs_runs WHERE {where} AND id < 60001"
                " ORDER BY id DESC LIMIT 1200"
            )
        ]
        total = conn.execute(f"SELECT count(*) FROM zapjobs_runs WHERE {where}").fetchone()
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        page = await store.list_runs(selection, Page(limit=1200, before_id=60001))
        assert [r.id for r in page] == expected
        assert total is not None and await store.count_runs(selection) == total[0]
    finally:
        await store.close()
