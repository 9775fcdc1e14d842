"""The PostgreSQL store's sorted run listings (RunSort) walk an index in their order under
LIMIT at a million runs, first page and deep: by job type the (job_type, id) index (running
runs, few, from their own), by finish time the finish-time index, oldest first the primary key.
Plans, not timings: the check holds on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.stores.plans import explain, filled_schema
from zapjobs.models import Page, RunCursor, RunFilter, RunSort, RunStatus
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres import rows as pg_rows
from zapjobs.stores.sql_common import sorted_listing

pytestmark = pytest.mark.postgres

ROWS = 1_000_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Mostly succeeded runs of two job types, finished a second apart in id order except every
# seventh, which finished an hour earlier (so finish order is not id order); a few running and
# pending (no finish time).
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 3 = 0 THEN 'email-sender' ELSE 'resize-image' END,
       'default',
       CASE WHEN g %% 100 = 0 THEN 'failed'
            WHEN g %% 5000 = 1 THEN 'running'
            WHEN g %% 3000 = 2 THEN 'pending'
            ELSE 'succeeded' END,
       jsonb_build_object('n', g), 1, now(), now(), now(),
       CASE WHEN g %% 5000 = 1 OR g %% 3000 = 2 THEN NULL
            WHEN g %% 7 = 0 THEN %(t0)s::timestamptz + g * interval '1 second' - interval '1 hour'
            ELSE %(t0)s::timestamptz + g * interval '1 second' END,
       CASE WHEN g %% 5000 = 1 THEN 'w1' END
FROM generate_series(1, %(rows)s) AS g
"""
RUNNING_IDX = "zapjobs_runs_running_idx"


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    with filled_schema(FILL.replace("%(t0)s", f"'{T0.isoformat()}'"), ROWS) as found:
        yield found


def _plans(queries: dict[str, str], url: str, selection: RunFilter, page: Page) -> list[Any]:
    """The plan of each statement the store runs for this page (the first fills it)."""
    filtered = pg_rows.filter_params(selection, None)
    name, cursor = sorted_listing(page, lambda when: when)[0]
    return explain(url, queries[name], {**filtered, **cursor, "limit": page.limit})


def _no_unbounded_sort(plan: list[dict[str, Any]]) -> None:
    for node in plan:
        if node["Node Type"] == "Sort":  # only the few running runs may be sorted whole
            scans = {n.get("Index Name") for n in _below(node) if n.get("Relation Name")}
            assert scans <= {RUNNING_IDX}, node


def _below(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for child in node.get("Plans", []):
        yield child
        yield from _below(child)


DEEP_FINISH = T0 + timedelta(seconds=ROWS // 2)


@pytest.mark.parametrize(
    ("page", "walks"),
    [
        (Page(limit=101, sort=RunSort.JOB_TYPE), {"zapjobs_runs_job_type_idx", RUNNING_IDX}),
        (
            Page(limit=101, sort=RunSort.JOB_TYPE, after=RunCursor("resize-image", ROWS // 2)),
            {"zapjobs_runs_job_type_idx", RUNNING_IDX},
        ),
        (
            Page(limit=101, sort=RunSort.JOB_TYPE, ascending=True),
            {"zapjobs_runs_job_type_idx", RUNNING_IDX},
        ),
        (Page(limit=101, sort=RunSort.FINISHED), {"zapjobs_runs_finished_idx"}),
        (
            Page(limit=101, sort=RunSort.FINISHED, after=RunCursor(DEEP_FINISH, ROWS // 2)),
            {"zapjobs_runs_finished_idx"},
        ),
        (
            Page(limit=101, sort=RunSort.FINISHED, ascending=True),
            {"zapjobs_runs_finished_idx"},
        ),
        (Page(limit=101, ascending=True), {"zapjobs_runs_pkey"}),
        (
            Page(limit=101, ascending=True, after=RunCursor(ROWS // 2, ROWS // 2)),
            {"zapjobs_runs_pkey"},
        ),
    ],
    ids=[
        "job",
        "job-deep",
        "job-up",
        "finished",
        "finished-deep",
        "finished-up",
        "oldest",
        "oldest-deep",
    ],
)
def test_a_sorted_page_walks_its_index(
    filled: tuple[str, dict[str, str]], page: Page, walks: set[str]
) -> None:
    url, queries = filled
    plan = _plans(queries, url, RunFilter(), page)
    kinds = [(n["Node Type"], n.get("Index Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    assert {n.get("Index Name") for n in plan if n.get("Relation Name")} == walks, kinds
    _no_unbounded_sort(plan)


def test_a_filter_keeps_the_sort_on_its_index(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    page = Page(limit=101, sort=RunSort.FINISHED)
    plan = _plans(queries, url, RunFilter(statuses=[RunStatus.FAILED]), page)
    kinds = [(n["Node Type"], n.get("Index Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    _no_unbounded_sort(plan)


async def test_pages_by_finish_time_follow_one_another(filled: tuple[str, dict[str, str]]) -> None:
    """Deep in the table, across the hour-earlier runs: each page starts where the last ended."""
    url, _ = filled
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        page = Page(limit=500, sort=RunSort.FINISHED, after=RunCursor(DEEP_FINISH, ROWS // 2))
        first = await store.list_runs(RunFilter(), page)
        second = await store.list_runs(RunFilter(), page.following(first[-1]))
        keys = [(r.finished_at, r.id) for r in first + second]
        assert keys == sorted(keys, reverse=True)
        assert len(set(keys)) == 1000
    finally:
        await store.close()
