"""Reads at scale: what an operator's screens cost as the history of finished runs grows.

For each size (default 10,000 and 1,000,000 finished runs) a fresh PostgreSQL schema is migrated
and filled in one INSERT ... SELECT generate_series (not enqueue calls: the bench measures reads),
then timed, median of --repeat calls each:

- ``status``: what ``zapjobs status --json`` reads (``zapjobs_cli.commands.status.snapshot``) and
  its JSON rendering, in process (the process start-up of the CLI is not the database's cost);
- ``overview``: one dashboard Overview refresh (``ZapJobsSource.overview``);
- ``jobs``: one Jobs view refresh (``ZapJobsSource.jobs``) with 20 job types;
- ``search``: one free-text search of the runs list that matches nothing (``list_runs`` with
  ``RunFilter(search=...)``, a page of 50), the dashboard's worst case.

    .venv/bin/python bench/reads.py [--sizes 10000,1000000] [--repeat 7] [--url ...]

Prints one line per size and measurement (median ms). Filling 10,000,000 rows takes minutes on a
small machine; pass it explicitly with --sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from zapjobs import ZapJobs
from zapjobs.models import Page, RunFilter
from zapjobs_cli.commands.status import snapshot, snapshot_dict
from zapjobs_cli.tui.source import ZapJobsSource

JOB_TYPES = 20
# Finished runs over the last 30 days: 95% succeeded, 4% failed, 1% cancelled; a few pending
# and running runs, as a live system has.
FILL = """
INSERT INTO zapjobs_runs (job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id, error_type, error_message)
SELECT 'job-' || (g %% {types}),
       CASE WHEN g %% 10 = 0 THEN 'reports' ELSE 'default' END,
       CASE WHEN g %% 100 < 4 THEN 'failed' WHEN g %% 100 = 4 THEN 'cancelled'
            ELSE 'succeeded' END,
       jsonb_build_object('n', g, 'to', 'user' || g || '@example.com'), 1,
       t, t, t, t + interval '1 second', 'w1',
       CASE WHEN g %% 100 < 4 THEN 'RuntimeError' END,
       CASE WHEN g %% 100 < 4 THEN 'upstream said no to request ' || g END
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT now() - interval '30 days' * (1 - g::float8 / %(rows)s)) AS a (t)
"""
LIVE = """
INSERT INTO zapjobs_runs (job_type, queue, status, input, attempt, run_at, created_at,
                          started_at, worker_id)
SELECT 'job-' || (g %% {types}), 'default',
       CASE WHEN g %% 5 = 0 THEN 'running' ELSE 'pending' END,
       'null', CASE WHEN g %% 5 = 0 THEN 1 ELSE 0 END,
       now() + CASE WHEN g %% 3 = 0 THEN interval '1 hour' ELSE interval '0' END, now(),
       CASE WHEN g %% 5 = 0 THEN now() END, CASE WHEN g %% 5 = 0 THEN 'w1' END
FROM generate_series(1, 200) AS g
"""


async def median_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await call()  # warm: connections, prepared statements, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def measure(url: str, rows: int, repeat: int) -> dict[str, float]:
    schema = "zapbench_reads_" + uuid.uuid4().hex[:8]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    scoped = make_conninfo(url, options=f"-csearch_path={schema}")
    try:
        zap = ZapJobs(scoped)
        for i in range(JOB_TYPES):
            zap.job(f"job-{i}")(_noop)
        await zap.open(require_migrated=False)
        await zap.migrate()
        await zap.close()
        started = time.perf_counter()
        with psycopg.connect(scoped, autocommit=True) as conn:
            conn.execute(FILL.format(types=JOB_TYPES).encode(), {"rows": rows})
            conn.execute(LIVE.format(types=JOB_TYPES).encode(), {})
            _after_fill(conn)
            conn.execute("VACUUM ANALYZE zapjobs_runs")
        fill_s = time.perf_counter() - started
        async with zap:
            source = ZapJobsSource(zap)

            async def status() -> None:
                json.dumps(snapshot_dict(await snapshot(zap)), default=str)

            async def overview() -> None:
                await source.overview(zap.now())

            async def jobs() -> None:
                await source.jobs(zap.now())

            async def search() -> None:
                await zap.list_runs(RunFilter(search="no-such-text-anywhere"), Page(limit=51))

            figures = {"fill_s": round(fill_s, 1)}
            for name, call in (
                ("status", status),
                ("overview", overview),
                ("jobs", jobs),
                ("search", search),
                *_parts(zap),
            ):
                figures[f"{name}_ms"] = round(await median_ms(call, repeat), 1)
            await source.close()
        return figures
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _after_fill(conn: psycopg.Connection[Any]) -> None:
    """The fill bypasses zapjobs' statements, which keep the counts of finished runs (migration
    0005); rebuild them here the way that migration builds them from an existing table."""
    exists = conn.execute("SELECT to_regclass('zapjobs_run_counts') IS NOT NULL").fetchone()
    if exists and exists[0]:
        conn.execute(
            "INSERT INTO zapjobs_run_counts (queue, job_type, status, stripe, n) "
            "SELECT queue, job_type, status, 0, count(*) FROM zapjobs_runs "
            "WHERE status IN ('succeeded', 'failed', 'cancelled') GROUP BY 1, 2, 3"
        )


def _parts(zap: ZapJobs) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """The reads of status and the Overview one by one, to see which part costs what."""
    return [
        ("stats", zap.stats),
        ("throughput_1h", lambda: zap.throughput(timedelta(hours=1))),
        ("error_groups_24h", lambda: zap.error_groups(timedelta(hours=24), limit=8)),
        ("latest_failures", lambda: zap.list_runs(RunFilter(statuses=("failed",)), Page(limit=5))),
        ("list_queues", lambda: zap.list_queues()),
        ("job_type_stats_1h", lambda: zap.job_type_stats(timedelta(hours=1))),
    ]


def _noop() -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"{'finished runs':>14} {'fill s':>7} {'status':>9} {'overview':>9} {'jobs':>9} "
        f"{'search':>9}   (median ms)"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        f = asyncio.run(measure(args.url, size, args.repeat))
        print(
            f"{size:>14,} {f['fill_s']:>7} {f['status_ms']:>9} {f['overview_ms']:>9} "
            f"{f['jobs_ms']:>9} {f['search_ms']:>9}",
            flush=True,
        )
        parts = (
            "stats",
            "throughput_1h",
            "error_groups_24h",
            "latest_failures",
            "list_queues",
            "job_type_stats_1h",
        )
        print(" " * 15 + "  ".join(f"{p} {f[p + '_ms']}" for p in parts), flush=True)


if __name__ == "__main__":
    main()
