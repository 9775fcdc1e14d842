"""A worker process on a SQLite file, for the cross-process wake-up tests and the idle CPU
measurement.

    python tests/apps/sqlite_worker.py <sqlite url> [--polling-interval 1h] [--concurrency N]

Job "noop" does nothing. Prints "ready <worker id>" once the worker listens, and
"stopped <claimed> <succeeded>" at exit (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from zapjobs import JobContext, ZapJobs
from zapjobs.runtime.events import WorkerStarted


def build(url: str, polling_interval: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval=polling_interval)

    @zap.job("noop")
    async def noop(ctx: JobContext[None]) -> None:
        return None

    return zap


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--polling-interval", default="1h")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    zap = build(args.url, args.polling_interval)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", event.worker_id, flush=True)

    try:
        summary = await zap.run_worker(concurrency=args.concurrency, on_event=on_event)
    finally:
        await zap.close()
    print("stopped", summary.claimed, summary.succeeded, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
