"""The run detail's log reads on PostgreSQL walk one run's entries in the (run_id, id) index:
the newest page, a page back, new lines after the last one, a search within the run and the
count, at 1M log rows (plans, not timings)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.stores.plans import explain, filled_schema

pytestmark = pytest.mark.postgres

ROWS = 1_000_000
RUNS = 200
BIG_RUN = 7  # half the log rows are this run's
LOGS_IDX = "zapjobs_logs_run_idx"

FILL = """
WITH runs AS (
    INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at)
    SELECT g, 'email-sender', 'default', 'running', '{}', 1, now(), now()
    FROM generate_series(1, 200) AS g
    RETURNING id
)
INSERT INTO zapjobs_logs (run_id, level, message, logged_at, fields, attempt)
SELECT CASE WHEN g %% 2 = 0 THEN 7 ELSE 1 + g %% 200 END, 10 + 10 * (g %% 4),
       'line ' || g, now(), '{}', 1
FROM generate_series(1, %(rows)s) AS g
WHERE EXISTS (SELECT 1 FROM runs)
"""


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    with filled_schema(FILL, ROWS) as (url, queries):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE zapjobs_logs")
        yield url, queries


def log_params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "run_id": BIG_RUN,
        "after_id": None,
        "before_id": None,
        "min_level": None,
        "search": None,
        "limit": 500,
    }
    params.update(given)
    return params


def log_scans(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in plan if n.get("Relation Name") == "zapjobs_logs"]


@pytest.mark.parametrize(
    ("statement", "given"),
    [
        ("list_logs_newest", {}),
        ("list_logs_newest", {"before_id": 600_000}),
        ("list_logs_newest", {"search": "line 99"}),
        ("list_logs_newest", {"min_level": 30, "before_id": 600_000}),
        ("list_logs", {"after_id": 999_000}),
    ],
)
@pytest.mark.parametrize("run_id", [BIG_RUN, 3])
def test_log_pages_walk_the_runs_index(
    filled: tuple[str, dict[str, str]], statement: str, given: dict[str, Any], run_id: int
) -> None:
    url, queries = filled
    plan = explain(url, queries[statement], log_params(run_id=run_id, **given))
    kinds = [(n["Node Type"], n.get("Index Name")) for n in plan]
    scans = log_scans(plan)
    assert scans, kinds
    assert all(n["Node Type"] in {"Index Scan", "Index Only Scan"} for n in scans), kinds
    if given.get("after_id") is None:
        assert {n.get("Index Name") for n in scans} == {LOGS_IDX}, kinds
        assert not any(n["Node Type"] == "Sort" for n in plan), kinds
    else:  # new lines: the run's index, or the primary key's range above the cursor
        assert {n.get("Index Name") for n in scans} <= {LOGS_IDX, "zapjobs_logs_pkey"}, kinds


def test_count_logs_reads_only_the_runs_index(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    plan = explain(url, queries["count_logs"], {"run_id": 3, "min_level": None})
    kinds = [(n["Node Type"], n.get("Index Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    assert {n.get("Index Name") for n in plan} - {None} == {LOGS_IDX}, kinds
