"""The doctor's reads of the runs table stay cheap on a large table: the backlog reads pending
runs from an index holding them (the claim index, or the status index's pending range), the
running groups read running runs from the running index, and the
retention facts take the first row of the time indexes (a Limit over an index scan). No
sequential scan of runs, whatever its size. Plans, not timings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.stores.plans import explain, filled_schema, nodes

pytestmark = pytest.mark.postgres

ROWS = 200_000
# Mostly finished runs; a few running (1 in 5000) and pending (1 in 3000), some of them due
# in the future.
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 7 = 0 THEN 'report' ELSE 'email' END,
       CASE WHEN g %% 200 = 5 THEN 'x' ELSE 'default' END,
       CASE WHEN g %% 5000 = 1 THEN 'running'
            WHEN g %% 3000 = 2 THEN 'pending'
            WHEN g %% 100 = 0 THEN 'failed'
            ELSE 'succeeded' END,
       'null', 1, now() + (g %% 3 - 1) * interval '1 hour', now(), now(),
       CASE WHEN g %% 5000 = 1 OR g %% 3000 = 2 THEN NULL
            ELSE now() - (g %% 1000) * interval '1 minute' END,
       CASE WHEN g %% 5000 = 1 THEN 'w1' END
FROM generate_series(1, %(rows)s) AS g
"""


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    """(conninfo, the store's statements) of one migrated schema holding ROWS runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, queries


def plan_of(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return explain(url, sql, params)


def runs_scans(plan: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [
        (n["Node Type"], n.get("Index Name"))
        for n in plan
        if n.get("Relation Name") == "zapjobs_runs"
    ]


def runs_indexes(plan: list[dict[str, Any]]) -> set[str]:
    """How each scan of runs gets its rows: the index it walks (a bitmap heap scan: the indexes
    of its bitmap), or "seq" for a sequential scan."""
    found: set[str] = set()
    for node in plan:
        if node.get("Relation Name") != "zapjobs_runs":
            continue
        if node["Node Type"] == "Bitmap Heap Scan":
            found |= {n["Index Name"] for n in nodes(node) if n["Node Type"] == "Bitmap Index Scan"}
        else:
            found.add(node.get("Index Name") or "seq")
    return found


def test_queue_backlog_reads_the_claim_index_only(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    params = {"overdue_after": timedelta(minutes=1), "now": None}
    plan = plan_of(url, queries["queue_backlog"], params)
    # The claim index holds pending runs only; the status index's "pending" range holds the
    # same entries (depending on ANALYZE's sample, the planner takes either).
    assert runs_indexes(plan) in ({"zapjobs_runs_claim_idx"}, {"zapjobs_runs_status_idx"})
    for node in plan:
        if node.get("Index Name") == "zapjobs_runs_status_idx":
            assert "'pending'" in node["Index Cond"], node


def test_running_by_job_type_reads_the_running_index_only(
    filled: tuple[str, dict[str, str]],
) -> None:
    url, queries = filled
    plan = plan_of(url, queries["running_by_job_type"], {})
    assert runs_indexes(plan) == {"zapjobs_runs_running_idx"}


def test_retention_facts_take_the_first_row_of_the_time_indexes(
    filled: tuple[str, dict[str, str]],
) -> None:
    url, queries = filled
    plan = plan_of(url, queries["retention_facts"], {})
    assert runs_scans(plan) == [("Index Scan", "zapjobs_runs_finished_idx")]
    logs = [n.get("Index Name") for n in plan if n.get("Relation Name") == "zapjobs_logs"]
    assert logs == ["zapjobs_logs_logged_at_idx"]
    limits = [n for n in plan if n["Node Type"] == "Limit"]
    assert len(limits) == 2  # each subquery stops at its first row
