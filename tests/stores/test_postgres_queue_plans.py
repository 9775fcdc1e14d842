"""``queues list`` stays cheap on a large runs table: its pending and running counts and lag come
from ``stats`` (tests/stores/test_postgres_read_plans.py: the partial indexes only), and its
throughput of the last minute is a range of the finished_at index, never a scan of the table.
Plans, not timings: the check holds on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.stores.plans import filled_schema
from tests.stores.test_postgres_metrics_plans import FILL, ROWS, plan_of, scans
from zapjobs.stores.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[str, str]]:
    """(conninfo, the finished_per_queue SQL) of one migrated schema holding ROWS runs."""
    with filled_schema(FILL, ROWS) as (url, queries):
        yield url, queries["finished_per_queue"]


def test_the_last_minute_per_queue_reads_a_range_of_the_finished_index(
    filled: tuple[str, str],
) -> None:
    url, sql = filled
    since = datetime.now(UTC) - timedelta(minutes=1)
    found = scans(plan_of(url, sql, {"since": since, "now": None}))
    assert not any(kind == "Seq Scan" for kind, _ in found), found
    assert {index for _, index in found} == {"zapjobs_runs_finished_idx"}, found


async def test_list_queues_answers_on_the_large_table(filled: tuple[str, str]) -> None:
    url, _ = filled
    store = PostgresStore(url, min_size=1, max_size=1)
    await store.open()
    try:
        since = datetime.now(UTC) - timedelta(minutes=1)
        finished = await store.finished_per_queue(since=since)
        # Runs finish one second apart going back from the fill: about 60 in the last minute.
        assert 0 < sum(finished.values()) <= 61
        assert set(finished) <= {"default", "x"}
    finally:
        await store.close()
