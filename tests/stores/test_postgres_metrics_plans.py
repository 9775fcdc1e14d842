"""The metrics exporter's reads stay cheap on a large runs table: ``run_backlog`` reads only the
partial indexes of pending, running and waiting runs, ``failures_since`` a range of the
finished_at index; neither scans the table. Plans, not timings: the check holds on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.stores.plans import explain, filled_schema
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres

ROWS = 200_000
# Mostly succeeded runs finished one second apart going back in time; 1% failed, a few running,
# pending and waiting.
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 1000 = 3 THEN 'rare-report' ELSE 'email-sender' END,
       CASE WHEN g %% 200 = 5 THEN 'x' ELSE 'default' END,
       CASE WHEN g %% 100 = 0 THEN 'failed'
            WHEN g %% 5000 = 1 THEN 'running'
            WHEN g %% 3000 = 2 THEN 'pending'
            WHEN g %% 7000 = 4 THEN 'waiting'
            ELSE 'succeeded' END,
       '{}'::jsonb, 1, now(), now(), now(),
       CASE WHEN g %% 5000 = 1 OR g %% 3000 = 2 OR g %% 7000 = 4 THEN NULL
            ELSE now() - g * interval '1 second' END,
       CASE WHEN g %% 5000 = 1 THEN 'w1' END
FROM generate_series(1, %(rows)s) AS g
"""
STATEMENTS = ("run_backlog", "failures_since")


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, dict[str, str]]]:
    """(conninfo, the statements' SQL) of one migrated schema holding ROWS runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, {name: queries[name] for name in STATEMENTS}


def plan_of(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return explain(url, sql, params)


def scans(plan: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(n["Node Type"], n.get("Index Name")) for n in plan if n.get("Relation Name")]


def test_backlog_reads_only_the_pending_running_and_waiting_indexes(
    filled: tuple[str, dict[str, str]],
) -> None:
    url, sql = filled
    plan = plan_of(url, sql["run_backlog"], {"now": None})
    found = scans(plan)
    assert not any(kind == "Seq Scan" for kind, _ in found), found
    used = {index for _, index in found}
    # Pending runs come from an index that holds exactly them: the claim index, or the pending
    # range of the status index (the planner picks either, by its statistics); running ones
    # and waiting ones from theirs. Never finished runs.
    assert "zapjobs_runs_running_idx" in used, found
    assert used & {"zapjobs_runs_claim_idx", "zapjobs_runs_status_idx"}, found
    assert used & {"zapjobs_runs_waiting_idx", "zapjobs_runs_status_idx"}, found
    assert used <= {
        "zapjobs_runs_claim_idx",
        "zapjobs_runs_status_idx",
        "zapjobs_runs_running_idx",
        "zapjobs_runs_waiting_idx",
    }, found


@pytest.mark.parametrize("window", [timedelta(minutes=5), timedelta(hours=1)])
def test_failures_in_a_window_read_a_range_of_the_finished_index(
    filled: tuple[str, dict[str, str]], window: timedelta
) -> None:
    url, sql = filled
    since = datetime.now(UTC) - window
    plan = plan_of(url, sql["failures_since"], {"since": since})
    found = scans(plan)
    assert not any(kind == "Seq Scan" for kind, _ in found), found
    used = {index for _, index in found}
    # A range of finished_at: the partial index of failed runs (migration 0005), or the index
    # of every finished run when the planner prefers it.
    assert used and used <= {"zapjobs_runs_failed_idx", "zapjobs_runs_finished_idx"}, found


async def test_the_reads_answer_on_the_large_table(filled: tuple[str, dict[str, str]]) -> None:
    url, _ = filled
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        backlog = {(b.queue, b.job_type): b for b in await store.backlog()}
        assert sum(b.pending for b in backlog.values()) == len(
            [g for g in range(1, ROWS + 1) if g % 3000 == 2 and g % 100 and g % 5000 != 1]
        )
        assert sum(b.running for b in backlog.values()) == len(
            [g for g in range(1, ROWS + 1) if g % 5000 == 1 and g % 100]
        )
        assert sum(b.waiting for b in backlog.values()) == len(
            [
                g
                for g in range(1, ROWS + 1)
                if g % 7000 == 4 and g % 100 and g % 5000 != 1 and g % 3000 != 2
            ]
        )
        failures = await store.failures_since(since=datetime.now(UTC) - timedelta(hours=1))
        assert 0 < sum(f.count for f in failures) <= 3600 // 100 + 1
    finally:
        await store.close()
