"""A worker process for the engine's multi-process tests.

    python tests/apps/engine_worker.py <conninfo> [--burst] [--concurrency N]
        [--polling-interval 15s] [--shutdown-timeout 30s] [--queues default,other]

Jobs write rows into the test's own ``engine_marks`` table (run_id, pid, kind), so the test can
check from outside what ran, where, and how often ("collect" is a workflow's callback). Prints
"ready <worker id>" once the worker listens, and "stopped <claimed> <succeeded>" at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from psycopg_pool import AsyncConnectionPool

from zapjobs import JobContext, ZapJobs
from zapjobs.runtime.events import WorkerStarted
from zapjobs.settings import parse_duration

MARKS_TABLE = """
CREATE TABLE IF NOT EXISTS engine_marks (
    run_id bigint NOT NULL,
    pid integer NOT NULL,
    kind text NOT NULL
)
"""


def build(url: str, polling_interval: str) -> tuple[ZapJobs, AsyncConnectionPool]:
    pool = AsyncConnectionPool(url, min_size=1, max_size=10, open=False)
    zap = ZapJobs(url, auto_migrate=True, polling_interval=polling_interval)

    async def mark(run_id: int, kind: str) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO engine_marks (run_id, pid, kind) VALUES (%s, %s, %s)",
                (run_id, os.getpid(), kind),
            )

    @zap.job("insert-row")
    async def insert_row(ctx: JobContext[int]) -> int:
        await mark(ctx.run_id, "done")
        return ctx.input

    @zap.job("collect")
    async def collect(ctx: JobContext[list[int]]) -> int:
        """A workflow's callback (tests/runtime/test_workflow_processes.py)."""
        await mark(ctx.run_id, "callback")
        return sum(ctx.input)

    @zap.job("slow", max_retries=3)
    async def slow(ctx: JobContext[None]) -> None:
        await mark(ctx.run_id, "started")
        await asyncio.Event().wait()  # runs until the worker cancels it

    return zap, pool


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--polling-interval", default="1s")
    parser.add_argument("--shutdown-timeout", default="30s")
    parser.add_argument("--queues", default=None, help="comma-separated, in priority order")
    args = parser.parse_args()

    zap, pool = build(args.url, args.polling_interval)
    await pool.open()

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", event.worker_id, flush=True)

    try:
        summary = await zap.run_worker(
            burst=args.burst,
            concurrency=args.concurrency,
            shutdown_timeout=parse_duration(args.shutdown_timeout),
            on_event=on_event,
            queues=None if args.queues is None else args.queues.split(","),
        )
    finally:
        await zap.close()
        await pool.close()
    print("stopped", summary.claimed, summary.succeeded, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
