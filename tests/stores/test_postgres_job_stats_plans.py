"""The Jobs view's health read (``job_type_stats``) stays cheap on a large runs table: it reads a
range of the finish-time index, never the whole table, so its cost follows the runs finished in
the window (the Overview's chart reads the same range). Plans, not timings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.stores.plans import explain, filled_schema
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres

ROWS = 200_000
# Succeeded runs finished one second apart going back in time, each taking g % 7 seconds; 1%
# failed, a few running and pending.
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 1000 = 3 THEN 'rare-report' ELSE 'email-sender' END,
       'default',
       CASE WHEN g %% 100 = 0 THEN 'failed'
            WHEN g %% 5000 = 1 THEN 'running'
            WHEN g %% 3000 = 2 THEN 'pending'
            ELSE 'succeeded' END,
       '{}'::jsonb, 1, now(), now(),
       now() - g * interval '1 second' - (g %% 7) * interval '1 second',
       CASE WHEN g %% 5000 = 1 OR g %% 3000 = 2 THEN NULL
            ELSE now() - g * interval '1 second' END,
       CASE WHEN g %% 5000 = 1 THEN 'w1' END
FROM generate_series(1, %(rows)s) AS g
"""


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, str]]:
    """(conninfo, the statement's SQL) of one migrated schema holding ROWS runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, queries["job_type_stats"]


@pytest.mark.parametrize("window", [timedelta(minutes=5), timedelta(hours=1)])
def test_job_type_stats_read_a_range_of_the_finished_index(
    filled: tuple[str, str], window: timedelta
) -> None:
    url, sql = filled
    plan = explain(url, sql, {"since": datetime.now(UTC) - window, "now": None})
    kinds = [n["Node Type"] for n in plan]
    assert "Seq Scan" not in kinds, kinds
    # An index scan or a bitmap of the same index: only the range of finish times is read.
    indexes = {n["Index Name"] for n in plan if "Index Name" in n}
    assert indexes == {"zapjobs_runs_finished_idx"}, kinds


async def test_job_type_stats_answer_on_the_large_table(filled: tuple[str, str]) -> None:
    url, _ = filled
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        found = await store.job_type_stats(since=datetime.now(UTC) - timedelta(hours=1))
        by_type = {s.job_type: s for s in found}
        assert set(by_type) == {"email-sender", "rare-report"}
        email = by_type["email-sender"]
        assert 0 < email.failed < email.succeeded
        assert email.p50_seconds == pytest.approx(3.0)
        assert email.p95_seconds == pytest.approx(6.0)
    finally:
        await store.close()
