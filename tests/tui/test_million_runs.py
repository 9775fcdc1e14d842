"""A million runs: opening the Runs view and paging must read about a page of rows per query.

The table is filled once with one INSERT ... SELECT generate_series (tests may write SQL; the
dashboard may not). A recording source notes every (filter, page) the Runs view asked for; each
is then run again as the store's own ``list_runs`` statement under EXPLAIN (ANALYZE, FORMAT
JSON), and the rows its scans read are counted. Rows, not milliseconds: the check holds on any
machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.tui.conftest import SIZE, press, settle
from tests.tui.seed import make_zap
from zapjobs.models import Page, RunFilter
from zapjobs.stores.postgres import rows as pg_rows
from zapjobs.testing import store_of
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.viewmodels import RunsPage
from zapjobs_cli.tui.widgets.live_table import LiveTable

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROWS = 1_000_000
# Like production: most runs succeed; 1% fail, 0.1% are cancelled; one job type in a thousand
# runs is rare. Ids and creation times grow together, one second apart, ending now.
FILL = """
INSERT INTO zapjobs_runs (id, job_type, queue, status, input, output, error_type, error_message,
                          attempt, run_at, created_at, started_at, finished_at, worker_id)
SELECT g,
       CASE WHEN g %% 1000 = 3 THEN 'rare-report'
            ELSE (ARRAY['email-sender', 'generate-report', 'sync-inventory'])[1 + g %% 3] END,
       CASE WHEN g %% 3 = 1 THEN 'low' ELSE 'default' END,
       CASE WHEN g %% 100 = 0 THEN 'failed' WHEN g %% 1000 = 7 THEN 'cancelled'
            ELSE 'succeeded' END,
       jsonb_build_object('n', g),
       CASE WHEN g %% 100 = 0 THEN NULL ELSE '{"ok": true}'::jsonb END,
       CASE WHEN g %% 100 = 0 THEN 'TimeoutError' END,
       CASE WHEN g %% 100 = 0 THEN 'SMTP server did not answer' END,
       1,
       now() - (%(rows)s - g) * interval '1 second',
       now() - (%(rows)s - g) * interval '1 second',
       now() - (%(rows)s - g) * interval '1 second' + interval '1 second',
       now() - (%(rows)s - g) * interval '1 second' + interval '2 seconds',
       'bulk-worker'
FROM generate_series(1, %(rows)s) AS g
"""
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
FILTERS = ("status:failed", "job:email-sender", "queue:low", "status:cancelled", "job:rare-report")


@pytest.fixture(scope="module")
def million_url() -> Iterator[str]:
    """One migrated schema holding a million finished runs, shared by this module's tests."""
    require_postgres()
    schema, url = new_pg_schema()
    try:

        async def migrate() -> None:
            zap = make_zap(url)
            await zap.open()
            await zap.close()

        asyncio.run(migrate())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL, {"rows": ROWS})
            conn.execute("SELECT setval(pg_get_serial_sequence('zapjobs_runs', 'id'), %s)", [ROWS])
            conn.execute("ANALYZE zapjobs_runs")
        yield url
    finally:
        drop_pg_schema(schema)


class RecordingSource(ZapJobsSource):
    """The real source, noting each page the Runs view asks for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pages: list[tuple[RunFilter, Page]] = []

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage:
        self.pages.append((selection, Page(limit=page.limit + 1, before_id=page.before_id)))
        return await super().runs(selection, page, now)


def rows_read(plan: dict[str, Any]) -> tuple[int, list[str]]:
    """Rows the plan's scans produced or threw away, and the scan node types."""
    total, kinds = 0, []
    if plan["Node Type"] in SCANS:
        loops = plan.get("Actual Loops", 1)
        total += plan["Actual Rows"] * loops
        total += plan.get("Rows Removed by Filter", 0) * loops
        total += plan.get("Rows Removed by Index Recheck", 0)
        kinds.append(f"{plan['Node Type']} {plan.get('Index Name', plan.get('Relation Name'))}")
    for child in plan.get("Plans", []):
        more, more_kinds = rows_read(child)
        total += more
        kinds += more_kinds
    return total, kinds


async def list_runs_sql(url: str) -> str:
    zap = make_zap(url)
    await zap.open()
    try:
        return str(cast(Any, store_of(zap)).queries["list_runs"])
    finally:
        await zap.close()


def explain(url: str, sql: str, selection: RunFilter, page: Page) -> tuple[int, int, list[str]]:
    """(rows returned, rows read by scans, scan kinds) of the store's list_runs statement, with
    the parameters the store binds for this filter and page."""
    params = {
        "before_id": page.before_id,
        "limit": page.limit,
        **pg_rows.filter_params(selection, None),
    }
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        row = cur.fetchone()
    assert row is not None
    plan = row["QUERY PLAN"][0]["Plan"]
    read, kinds = rows_read(plan)
    return plan["Actual Rows"], read, kinds


async def browse(url: str, filters: tuple[str, ...]) -> list[tuple[RunFilter, Page]]:
    """Open the Runs view, page down and up, then page through each filter; the pages asked."""
    source = RecordingSource(make_zap(url))
    app = make_dashboard(source, refresh=3600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await press(pilot, "3", "n", "n", "p")
            table = app.screen.query_one(LiveTable)
            assert table.keys[0] == str(ROWS - 100)  # page 2 starts 100 below the newest
            for text in filters:
                cast(RunsScreen, app.screen).apply_filter(text)
                await settle(pilot)
                await press(pilot, "n", "n")
                assert table.row_count == 100
    finally:
        await source.close()
    return list(dict.fromkeys(source.pages))  # a refresh may repeat a page


class UnboundedPage(AssertionError):
    """A page's statement read far more rows than it returned."""


def check_bounded(url: str, asked: list[tuple[RunFilter, Page]]) -> None:
    """Raise UnboundedPage naming the pages whose statement read over twice the rows it
    returned (a full page, no sequential scan, is asserted on the way)."""
    sql = asyncio.run(list_runs_sql(url))
    too_many = []
    for selection, page in asked:
        returned, read, kinds = explain(url, sql, selection, page)
        line = f"{_describe(selection)} before={page.before_id}: returned {returned}, read {read}"
        print(f"{line} via {kinds}")
        assert returned == page.limit
        assert not any(kind.startswith("Seq Scan") for kind in kinds), line
        if read > 2 * page.limit:
            too_many.append(line)
    if too_many:
        raise UnboundedPage("; ".join(too_many))


def _describe(selection: RunFilter) -> str:
    parts = {
        "status": selection.statuses,
        "job": selection.job_types,
        "queue": selection.queues,
    }
    return " ".join(f"{k}:{','.join(map(str, v))}" for k, v in parts.items() if v) or "no filter"


def test_opening_runs_and_paging_read_one_page(million_url: str) -> None:
    asked = asyncio.run(browse(million_url, ()))
    asked.append((RunFilter(), Page(limit=101, before_id=ROWS // 2)))  # deep in the table
    assert len(asked) == 4
    check_bounded(million_url, asked)


def test_filtered_pages_read_about_one_page(million_url: str) -> None:
    asked = asyncio.run(browse(million_url, FILTERS))
    assert len(asked) == 3 * len(FILTERS) + 3
    check_bounded(million_url, asked)
