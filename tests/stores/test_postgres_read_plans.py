"""The operator's reads on PostgreSQL stay bounded by the live workload, not the history:
``stats`` (zapjobs status, the Overview) reads pending and running runs from their partial
indexes and finished ones from the counts the writes keep; ``latest_runs`` (the Jobs view) takes
one index entry per job type; a free-text search reads an id range of the newest runs only. Plans,
not timings (EXPLAIN on a table of many finished runs): the checks hold on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.stores.plans import explain, filled_schema
from tests.stores.test_postgres_listing_plans import FILL, RUNNING_IDX, unbounded_scans
from zapjobs.models import RunFilter, RunStatus
from zapjobs.stores.postgres import rows as pg_rows

pytestmark = pytest.mark.postgres

ROWS = 200_000
CLAIM_IDX = "zapjobs_runs_claim_idx"
STATUS_IDX = "zapjobs_runs_status_idx"
WAITING_IDX = "zapjobs_runs_waiting_idx"


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    """(conninfo, the store's statements) of one migrated schema holding ROWS runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, queries


def plan_of(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return explain(url, sql, params)


def runs_scans(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in plan if n.get("Relation Name") == "zapjobs_runs"]


def test_stats_reads_only_the_live_runs_and_the_counts(filled: tuple[str, dict[str, str]]) -> None:
    url, queries = filled
    plan = plan_of(url, queries["stats"], {"now": None})
    kinds = [(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in plan]
    scans = runs_scans(plan)
    assert scans, kinds
    assert all(n["Node Type"] in {"Index Scan", "Index Only Scan"} for n in scans), kinds
    # Pending runs from the claim index (or the status index, whose pending entries are as
    # few), running ones from theirs: each an index condition or predicate on the status.
    allowed = {CLAIM_IDX, STATUS_IDX, RUNNING_IDX, WAITING_IDX}
    assert {n.get("Index Name") for n in scans} <= allowed, kinds
    assert RUNNING_IDX in {n.get("Index Name") for n in scans}, kinds
    for scan in scans:
        if scan.get("Index Name") == STATUS_IDX:
            assert "status = 'pending'" in scan.get("Index Cond", ""), kinds
    assert any(n.get("Relation Name") == "zapjobs_run_counts" for n in plan), kinds


def test_latest_runs_takes_one_index_entry_per_job_type(
    filled: tuple[str, dict[str, str]],
) -> None:
    url, queries = filled
    params = {"job_types": ["email-sender", "rare-report", "never-ran"]}
    plan = plan_of(url, queries["latest_runs"], params)
    kinds = [(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    by_index = {n.get("Index Name"): n for n in runs_scans(plan)}
    assert set(by_index) == {"zapjobs_runs_job_type_idx", RUNNING_IDX, "zapjobs_runs_pkey"}, kinds
    assert by_index["zapjobs_runs_job_type_idx"].get("Scan Direction") == "Backward", kinds
    for sort in (n for n in plan if n["Node Type"] == "Sort"):
        # Sorted: the job types' few rows, fetched by id, and the running runs; never a walk.
        assert unbounded_scans(sort) <= {RUNNING_IDX, "zapjobs_runs_pkey"}, kinds
    assert by_index["zapjobs_runs_pkey"].get("Index Cond") is not None, kinds


@pytest.mark.parametrize("statement", ["list_runs", "count_runs"])
@pytest.mark.parametrize(
    "selection",
    [
        RunFilter(search="no such text anywhere"),
        RunFilter(search="no such text anywhere", statuses=[RunStatus.FAILED]),
        RunFilter(search="no such text anywhere", job_types=["email-sender"]),
    ],
    ids=["search", "search-and-status", "search-and-job-type"],
)
def test_a_search_reads_an_id_range_of_the_newest_runs(
    filled: tuple[str, dict[str, str]], statement: str, selection: RunFilter
) -> None:
    """A search that matches nothing must not read the whole history at every refresh: each
    scan of the runs (the running runs' own index aside) is bounded by an id condition."""
    url, queries = filled
    params = {"before_id": None, "limit": 51, **pg_rows.filter_params(selection, None)}
    plan = plan_of(url, queries[statement], params)
    kinds = [
        (n["Node Type"], n.get("Index Name"), n.get("Index Cond"), n.get("Alias")) for n in plan
    ]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    history = [
        n
        for n in runs_scans(plan)
        if n.get("Index Name") != RUNNING_IDX
        and n["Node Type"] != "Result"
        # the newest id (alias m): one entry off the end of the primary key
        and not str(n.get("Alias")).startswith("m")
    ]
    assert history, kinds
    for scan in history:
        assert "id >" in scan.get("Index Cond", ""), kinds


def test_error_groups_read_only_the_failures_of_the_window(
    filled: tuple[str, dict[str, str]],
) -> None:
    """The Overview's error groups (last 24 hours) must not read the window's succeeded runs,
    the bulk of it: the failures come from their own partial index."""
    url, queries = filled
    plan = plan_of(url, queries["error_groups"], {"since": "-infinity", "limit": 8})
    kinds = [(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in plan]
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    scans = {n.get("Index Name") for n in runs_scans(plan)}
    assert scans == {"zapjobs_runs_failed_idx", "zapjobs_runs_pkey"}, kinds


def test_latest_failures_walk_the_failed_finish_time_index(
    filled: tuple[str, dict[str, str]],
) -> None:
    """The Overview's latest failures: the end of the failed runs' finish-time index, not a
    scan of the history sorted."""
    url, queries = filled
    plan = plan_of(url, queries["latest_failures"], {"limit": 8})
    kinds = [(n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in plan]
    scans = runs_scans(plan)
    assert [n.get("Index Name") for n in scans] == ["zapjobs_runs_failed_idx"], kinds
    assert scans[0].get("Scan Direction") == "Backward", kinds
    assert not any(n["Node Type"] == "Seq Scan" for n in plan), kinds
    for sort in (n for n in plan if n["Node Type"] == "Sort"):  # the few rows, by id on ties
        assert unbounded_scans(sort) == set(), kinds
