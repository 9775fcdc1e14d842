"""Workflow statements on PostgreSQL stay index-bound on a large history: ``runs show``'s
run_links, the dashboard's run_link_page, the release inside every completion, the delete and
retention checks for children. Plans, not timings (EXPLAIN on many runs, half of them in
chains)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.stores.plans import explain, filled_schema
from tests.stores.test_postgres_listing_plans import FILL
from zapjobs.models import RunFilter
from zapjobs.stores.postgres import rows as pg_rows

pytestmark = pytest.mark.postgres

ROWS = 100_000
#: the runs, and every even run waits for (waited for) the run before it
FILL_WITH_EDGES = f"""
WITH filled AS ({FILL} RETURNING id)
INSERT INTO zapjobs_run_parents (run_id, parent_id, done)
SELECT id, id - 1, true FROM filled WHERE id %% 2 = 0
"""


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    with filled_schema(FILL_WITH_EDGES, ROWS) as (url, queries):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE zapjobs_run_parents")
        yield url, queries


def seq_scans(plan: list[dict[str, Any]]) -> list[str]:
    tables = ("zapjobs_runs", "zapjobs_run_parents")
    return [
        n["Relation Name"]
        for n in plan
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in tables
    ]


def test_run_links_reads_the_edges_of_the_run_only(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    plan = explain(url, queries["run_links"], {"ids": [5000]})
    assert not seq_scans(plan), plan
    assert any(n.get("Relation Name") == "zapjobs_run_parents" for n in plan)


def test_run_link_page_reads_the_edges_of_the_run_only(
    filled: tuple[str, dict[str, str]],
) -> None:
    url, queries = filled
    plan = explain(url, queries["run_link_page"], {"id": 5000, "limit": 50})
    assert not seq_scans(plan), plan
    assert any(n.get("Relation Name") == "zapjobs_run_parents" for n in plan)


@pytest.mark.parametrize("name", ["complete_succeeded", "complete_runs"])
def test_a_completion_finds_the_children_by_index(
    filled: tuple[str, dict[str, str]], name: str
) -> None:
    url, queries = filled
    params: dict[str, Any] = {
        "now": None,
        "worker_id": "w1",
        "ids": [5001],
        "attempts": [1],
        "outputs": ["1"],
        "channel": "zapjobs",
        "worker_ids": ["w1"],
        "statuses": ["failed"],
        "error_types": ["E"],
        "error_messages": ["m"],
        "error_tracebacks": [None],
        "retry_delays": [None],
        "snoozed": [False],
    }
    plan = explain(url, queries[name], params)
    assert not seq_scans(plan), [(n["Node Type"], n.get("Relation Name")) for n in plan]


def test_delete_and_retention_check_children_by_index(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    delete = explain(url, queries["delete_runs"], pg_rows.filter_params(RunFilter(ids=(7,)), None))
    assert not seq_scans(delete), delete
    prune = {"now": None, "retention": timedelta(days=1), "batch_size": 1000}
    plan = explain(url, queries["prune_runs"], prune)
    assert "zapjobs_run_parents" not in seq_scans(plan), plan
