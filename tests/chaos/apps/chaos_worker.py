"""A worker process for the chaos tests (PostgreSQL or SQLite).

    python tests/chaos/apps/chaos_worker.py <database url> [--concurrency 10] [--heartbeat 0.5s]
        [--stale 3s] [--shutdown-timeout 5s] [--no-scheduler] [--queues default]

Every job records its execution INSIDE the job, in the test's own ``executions`` table
(run_id, attempt, worker_pid, at), so "executed" is counted by the database, not by the worker.
Prints "ready <worker id>" once the worker runs and "stopped <claimed> <succeeded>" at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from zapjobs import JobContext, ZapJobs
from zapjobs.runtime.events import WorkerStarted
from zapjobs.settings import parse_duration

EXECUTIONS_PG = """
CREATE TABLE IF NOT EXISTS executions (
    run_id bigint NOT NULL, attempt integer NOT NULL, worker_pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)
"""
EXECUTIONS_SQLITE = """
CREATE TABLE IF NOT EXISTS executions (
    run_id integer NOT NULL, attempt integer NOT NULL, worker_pid integer NOT NULL,
    at text NOT NULL
)
"""


class Recorder:
    """Writes one executions row per job execution, on its own connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite_path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:") else None
        self.pool: Any = None

    async def open(self) -> None:
        if self.sqlite_path is None and self.pool is None:
            from psycopg_pool import AsyncConnectionPool

            self.pool = AsyncConnectionPool(self.url, min_size=1, max_size=10, open=False)
            await self.pool.open()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def record(self, ctx: JobContext[Any]) -> None:
        if self.sqlite_path is not None:
            await asyncio.to_thread(self._record_sqlite, ctx.run_id, ctx.attempt)
            return
        if self.pool is None:  # under the CLI nobody calls open(): open on first use
            await self.open()
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO executions (run_id, attempt, worker_pid) VALUES (%s, %s, %s)",
                (ctx.run_id, ctx.attempt, os.getpid()),
            )

    def _record_sqlite(self, run_id: int, attempt: int) -> None:
        assert self.sqlite_path is not None
        conn = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            with conn:
                conn.execute(
                    "INSERT INTO executions VALUES (?, ?, ?, ?)",
                    (run_id, attempt, os.getpid(), datetime.now(UTC).isoformat()),
                )
        finally:
            conn.close()


def build(args: argparse.Namespace, recorder: Recorder) -> ZapJobs:
    zap = ZapJobs(
        args.url,
        auto_migrate=True,
        polling_interval="0.5s",
        heartbeat_interval=args.heartbeat,
        stale_worker_threshold=args.stale,
        enable_scheduler=not args.no_scheduler,
        enable_processing=not args.no_processing,
    )

    @zap.job("mark", max_retries=50)
    async def mark(ctx: JobContext[int]) -> int:
        """A short job: record, then hold its slot a moment so kills find work in flight."""
        await recorder.record(ctx)
        await asyncio.sleep(0.01 + (ctx.input % 5) * 0.01)
        return ctx.input

    @zap.job("hold", max_retries=5)
    async def hold(ctx: JobContext[None]) -> None:
        """Runs until the worker cancels it (shutdown, kill)."""
        await recorder.record(ctx)
        await asyncio.Event().wait()

    @zap.job("overrun", max_retries=0, timeout=timedelta(seconds=0.5))
    async def overrun(ctx: JobContext[None]) -> None:
        await recorder.record(ctx)
        await asyncio.sleep(3600)

    @zap.job("stuck-sync", max_retries=0, timeout=timedelta(seconds=0.5))
    def stuck_sync(ctx: JobContext[None]) -> None:
        """A sync job that ignores cancellation: the thread blocks past its timeout, then
        records a late execution (attempt -1) so the test sees that it really ended."""
        time.sleep(3)
        if recorder.sqlite_path is None:
            import psycopg

            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO executions (run_id, attempt, worker_pid) VALUES (%s, -1, %s)",
                    (ctx.run_id, os.getpid()),
                )

    @zap.job("raise-in-finally", max_retries=0)
    async def raise_in_finally(ctx: JobContext[None]) -> None:
        try:
            await recorder.record(ctx)
            raise ValueError("body failed")
        finally:
            raise RuntimeError("finally failed too")

    @zap.job("block", max_retries=5)
    async def block(ctx: JobContext[float]) -> None:
        """Blocks the worker's event loop: a sync sleep inside an async job."""
        await recorder.record(ctx)
        time.sleep(ctx.input)  # noqa: ASYNC251 (the point of this job)

    @zap.job("noop", max_retries=5)
    async def noop(ctx: JobContext[None]) -> None:
        """Touches no database of its own (the stall test pauses the worker's backends)."""

    @zap.job("step", max_retries=50)
    async def step(ctx: JobContext[int]) -> int:
        """A workflow step: record, hold the slot ~0.1 s so kills land mid-workflow, add one."""
        await recorder.record(ctx)
        await asyncio.sleep(0.1)
        return ctx.input + 1

    @zap.job("gather", max_retries=50)
    async def gather(ctx: JobContext[list[int]]) -> int:
        """A fan-in callback: the sum of its parents' outputs (given in the group's order)."""
        await recorder.record(ctx)
        return sum(ctx.input)

    @zap.job("tick", max_retries=0)
    async def tick(ctx: JobContext[Any]) -> None:
        await recorder.record(ctx)

    return zap


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--heartbeat", default="0.5s")
    parser.add_argument("--stale", default="3s")
    parser.add_argument("--shutdown-timeout", default="5s")
    parser.add_argument("--queues", default="default")
    parser.add_argument("--no-scheduler", action="store_true")
    parser.add_argument("--no-processing", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    recorder = Recorder(args.url)
    await recorder.open()
    zap = build(args, recorder)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", event.worker_id, flush=True)

    try:
        summary = await zap.run_worker(
            queues=args.queues.split(","),
            concurrency=args.concurrency,
            shutdown_timeout=parse_duration(args.shutdown_timeout),
            on_event=on_event,
        )
    finally:
        await zap.close()
        await recorder.close()
    print("stopped", summary.claimed, summary.succeeded, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
