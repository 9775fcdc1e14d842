"""Quick drain benchmark: enqueue N no-op runs, drain them with one in-process worker at
concurrency 10, print jobs/s.

    python bench/drain.py postgresql://postgres@127.0.0.1:5432/test --n 10000
    python bench/drain.py sqlite:////tmp/drain.db --n 10000

Uses its own table prefix (``drain_<random>_``) and drops nothing else; on PostgreSQL the
tables are dropped at the end, on SQLite the file is left for inspection unless --cleanup.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path

from zapjobs import JobContext, ZapJobs
from zapjobs.stores import store_backend


def build(url: str, prefix: str, concurrency: int) -> ZapJobs:
    zap = ZapJobs(
        url,
        auto_migrate=True,
        table_prefix=prefix,
        concurrency=concurrency,
        enable_scheduler=False,
        polling_interval="1s",
    )

    @zap.job("noop")
    async def noop(ctx: JobContext[int]) -> None:
        return None

    return zap


async def drop_postgres_tables(url: str, prefix: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s AND schemaname = "
            "current_schema()",
            (prefix.replace("_", r"\_") + "%",),
        )
        for (table,) in await rows.fetchall():
            await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


async def run(url: str, n: int, concurrency: int, batch: int, cleanup: bool) -> None:
    prefix = f"drain_{secrets.token_hex(3)}_"
    zap = build(url, prefix, concurrency)
    backend = store_backend(url)
    try:
        await zap.open()
        started = time.perf_counter()
        for offset in range(0, n, batch):
            await zap.enqueue_many("noop", list(range(offset, min(n, offset + batch))))
        enqueued = time.perf_counter() - started

        started = time.perf_counter()
        summary = await zap.run_worker(
            burst=True, concurrency=concurrency, install_signal_handlers=False
        )
        drained = time.perf_counter() - started
        print(f"backend        {backend} ({await zap.server_version()})")
        print(f"runs           {n}  (succeeded {summary.succeeded}, failed {summary.failed})")
        print(f"enqueue        {enqueued:.2f}s  {n / enqueued:,.0f} runs/s (batches of {batch})")
        print(
            f"drain          {drained:.2f}s  {n / drained:,.0f} jobs/s (concurrency {concurrency})"
        )
        if summary.succeeded != n:
            print("WARNING: not every run succeeded", file=sys.stderr)
    finally:
        await zap.close()
        if backend == "postgres":
            await drop_postgres_tables(url, prefix)
        elif backend == "sqlite" and cleanup:
            remove_sqlite_files(url)


def remove_sqlite_files(url: str) -> None:
    path = url.split(":///", 1)[1]
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="database URL (postgresql://... or sqlite:///path)")
    parser.add_argument("--n", type=int, default=5000, help="number of no-op runs")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000, help="runs per enqueue_many call")
    parser.add_argument("--cleanup", action="store_true", help="delete the SQLite file after")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.n, args.concurrency, args.batch, args.cleanup))


if __name__ == "__main__":
    main()
