"""The peers as benchmark targets (the producer side): procrastinate, and pgqueuer with psycopg
or asyncpg, each on its own fresh schema, enqueuing through its public API.

Their workers are bench/peer_worker.py processes. Counting what is left is plain SQL on the
peer's own table (SQL is fine in the bench).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from peer_apps import (
    LATENCY_TASK,
    NOOP_TASK,
    pgqueuer_connection,
    procrastinate_app,
)

from zapjobs_cli.benchmark import BenchConfig, WorkerProcess
from zapjobs_cli.benchmark_worker import URL_ENV

PEER_WORKER = Path(__file__).resolve().parent / "peer_worker.py"
PEERS = ("procrastinate", "pgqueuer-psycopg", "pgqueuer-asyncpg")


class PeerTarget:
    """What both peers share: the worker command and the unfinished-jobs count."""

    name: str
    unfinished_sql: str

    def __init__(self, conninfo: str, schema: str, config: BenchConfig) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.config = config
        self._counting: psycopg.AsyncConnection[Any] | None = None

    def _setting(self, profile: str) -> int:
        return self.config.best_concurrency if profile == "best" else self.config.concurrency

    def worker(self, mode: str, profile: str, expect: int | None = None) -> WorkerProcess:
        argv = [sys.executable, str(PEER_WORKER), "--system", self.name, "--mode", mode]
        argv += ["--concurrency", str(self._setting(profile))]
        if expect is not None:
            argv += ["--expect", str(expect)]
        env = {**os.environ, URL_ENV: self.conninfo, "ZAPBENCH_SCHEMA": self.schema}
        return WorkerProcess(argv, env=env)

    async def unfinished(self) -> int:
        """On a connection kept open: a new one per count took 8 ms, where zapjobs' count takes
        1-4 (the drain's end was seen later for the peers)."""
        if self._counting is None or self._counting.closed:
            self._counting = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        cursor = await self._counting.execute(self.unfinished_sql)
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def close_counting(self) -> None:
        if self._counting is not None:
            await self._counting.close()
            self._counting = None


class ProcrastinateTarget(PeerTarget):
    name = "procrastinate"
    unfinished_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"

    def __init__(self, conninfo: str, schema: str, config: BenchConfig) -> None:
        super().__init__(conninfo, schema, config)
        self.app = procrastinate_app(conninfo)

    def describe(self, profile: str) -> str:
        return f"concurrency {self._setting(profile)}"

    async def open(self) -> None:
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def close(self) -> None:
        await self.close_counting()
        await self.app.close_async()

    async def enqueue_single(self, count: int) -> None:
        task = self.app.tasks[NOOP_TASK]
        for i in range(count):
            await task.defer_async(i=i)

    async def enqueue_bulk(self, count: int, batch: int) -> None:
        task = self.app.tasks[NOOP_TASK]
        for start in range(0, count, batch):
            await task.batch_defer_async(
                *({"i": i} for i in range(start, min(count, start + batch)))
            )

    async def enqueue_stamped(self, stamp: float, delay: float = 0.0) -> None:
        task = self.app.tasks[LATENCY_TASK]
        if delay > 0:
            await task.configure(schedule_in={"seconds": delay}).defer_async(t=stamp)
        else:
            await task.defer_async(t=stamp)


class PgqueuerTarget(PeerTarget):
    unfinished_sql = "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked')"

    def __init__(self, name: str, conninfo: str, schema: str, config: BenchConfig) -> None:
        super().__init__(conninfo, schema, config)
        self.name = name
        self.driver_name = name.split("-", 1)[1]
        self.queries: Any = None
        self._connection: Any = None

    def describe(self, profile: str) -> str:
        return f"batch {self._setting(profile)}"

    async def open(self) -> None:
        from pgqueuer.queries import Queries

        driver, self._connection = await pgqueuer_connection(
            self.driver_name, self.conninfo, self.schema
        )
        self.queries = Queries(driver)
        await self.queries.install()

    async def close(self) -> None:
        await self.close_counting()
        if self._connection is not None:
            await self._connection.close()

    async def enqueue_single(self, count: int) -> None:
        for i in range(count):
            await self.queries.enqueue(NOOP_TASK, str(i).encode())

    async def enqueue_bulk(self, count: int, batch: int) -> None:
        for start in range(0, count, batch):
            size = min(count, start + batch) - start
            payloads: list[bytes | None] = [str(start + k).encode() for k in range(size)]
            await self.queries.enqueue([NOOP_TASK] * size, payloads, [0] * size)

    async def enqueue_stamped(self, stamp: float, delay: float = 0.0) -> None:
        later = timedelta(seconds=delay) if delay > 0 else None
        await self.queries.enqueue(LATENCY_TASK, repr(stamp).encode(), execute_after=later)


def peer_target(name: str, conninfo: str, schema: str, config: BenchConfig) -> PeerTarget:
    if name == "procrastinate":
        return ProcrastinateTarget(conninfo, schema, config)
    return PgqueuerTarget(name, conninfo, schema, config)
