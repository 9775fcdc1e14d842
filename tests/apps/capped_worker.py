"""A worker process for the flow control multi-process tests.

    python tests/apps/capped_worker.py <conninfo> [--concurrency N] [--cap N]

Job types: "capped" (max_concurrency=--cap; sleeps its input in seconds) and "free" (no limit,
sleeps likewise). Prints "ready <worker id>" once the worker listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from zapjobs import JobContext, ZapJobs
from zapjobs.runtime.events import WorkerStarted


def build(url: str, cap: int) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="30s")

    @zap.job("capped", max_concurrency=cap)
    async def capped(ctx: JobContext[float]) -> None:
        await asyncio.sleep(ctx.input)

    @zap.job("free")
    async def free(ctx: JobContext[float]) -> None:
        await asyncio.sleep(ctx.input)

    return zap


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--cap", type=int, default=3)
    args = parser.parse_args()
    zap = build(args.url, args.cap)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", event.worker_id, flush=True)

    try:
        await zap.run_worker(concurrency=args.concurrency, on_event=on_event)
    finally:
        await zap.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
