"""Due-time lateness (issue 13): how late zapjobs starts runs that were enqueued for later, and
retries after their backoff, with idle workers on the default polling interval (15 s).

    bench/.venv/bin/python bench/lateness.py                 # PostgreSQL and SQLite, ~2 min
    .venv/bin/python bench/lateness.py --runs 100 --spread 10 --backends sqlite   # a quick look
    .venv/bin/python bench/lateness.py --workers 8 --backends postgres   # targeted timers

Scenarios, each on a fresh installation (a schema of its own on PostgreSQL, a temporary file for
SQLite):
- ``due``: ``--runs`` runs (500) scheduled at random times over ``--spread`` seconds (30), from
  10 s ahead on (after the enqueues are done), one ``schedule(run_at=...)`` each, for
  ``--workers`` (1) idle worker processes (concurrency 10; with several, only the one chosen
  for a run claims it at its due time, runtime/peers.py).
- ``retry``: ``--runs`` / 5 runs due at random times over the spread that each fail once and are
  retried after a backoff of 1 to 2 s (equal jitter).
- SQLite also ``due-same-process``: the worker in the enqueuing process (same-process wake-ups).

For each: p50, p99 and max of ``started_at - run_at`` (read back from the runs table: both
stamped by the database's clock on PostgreSQL, by the one machine's clock on SQLite). Figures
only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from procs import ready_processes
from psycopg.conninfo import make_conninfo

from zapjobs import JobContext, RetryPolicy, RunFilter, RunStatus, ZapJobs

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
LEAD_SECONDS = 10.0
ROOT = Path(__file__).resolve().parents[1]
RETRY = RetryPolicy(max_retries=1, initial_delay=timedelta(seconds=2), use_jitter=True)


def build(url: str) -> ZapJobs:
    """The app of the worker and of the enqueuer: the default polling interval (15 s)."""
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("due")
    async def due(ctx: JobContext[None]) -> None:
        return None

    @zap.job("retry", retry=RETRY)
    async def retry(ctx: JobContext[None]) -> None:
        if ctx.attempt == 1:
            raise RuntimeError("fails once, by design")

    return zap


# --- the worker process --------------------------------------------------------------------------
async def worker_main(url: str) -> None:
    from zapjobs.runtime.events import WorkerStarted

    zap = build(url)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", flush=True)

    try:
        await zap.run_worker(concurrency=10, on_event=on_event)
    finally:
        await zap.close()


@contextmanager
def worker_processes(url: str, count: int) -> Iterator[None]:
    with ready_processes([sys.executable, __file__, "--worker", url], count):
        yield


@asynccontextmanager
async def in_process_worker(zap: ZapJobs) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        zap.run_worker(concurrency=10, stop=stop, install_signal_handlers=False)
    )
    await asyncio.sleep(1.0)  # let it start and go idle
    try:
        yield
    finally:
        stop.set()
        await task


# --- installations -------------------------------------------------------------------------------
@asynccontextmanager
async def postgres(url: str) -> AsyncIterator[str]:
    name = "zapbench_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield make_conninfo(url, options=f"-csearch_path={name}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@asynccontextmanager
async def sqlite() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="zapbench-") as folder:
        yield f"sqlite:///{folder}/lateness.db"


# --- one scenario --------------------------------------------------------------------------------
async def measure(zap: ZapJobs, job: str, runs: int, spread: float) -> dict[str, float]:
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    ids = [
        await zap.schedule(job, run_at=start + timedelta(seconds=random.uniform(0, spread)))
        for _ in range(runs)
    ]
    deadline = asyncio.get_running_loop().time() + spread + LEAD_SECONDS + 60
    done = RunFilter(ids=tuple(ids), statuses=(RunStatus.SUCCEEDED,))
    while await zap.count_runs(done) < runs:
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"{job}: not every run finished within the deadline")
        await asyncio.sleep(0.25)
    finished = [await zap.get_run(run_id) for run_id in ids]
    late = sorted(
        (r.started_at - r.run_at).total_seconds() * 1000
        for r in finished
        if r is not None and r.started_at is not None
    )
    if os.environ.get("ZAPBENCH_SHOW_LATE"):
        ordered = sorted((r.run_at, r.started_at) for r in finished if r and r.started_at)
        worst = sorted(
            range(len(ordered)), key=lambda i: ordered[i][1] - ordered[i][0], reverse=True
        )[:8]
        for i in worst:
            run_at, started_at = ordered[i]
            gap = (run_at - ordered[i - 1][0]).total_seconds() * 1000 if i else 0.0
            print(
                f"  late {(started_at - run_at).total_seconds() * 1000:7.1f} ms at "
                f"{(run_at - start).total_seconds():6.3f} s (previous due {gap:6.1f} ms before)"
            )
    return {
        "runs": len(late),
        "p50_ms": late[len(late) // 2],
        "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max_ms": late[-1],
    }


def show(backend: str, scenario: str, figures: dict[str, float]) -> None:
    print(
        f"{backend:<9} {scenario:<17} runs {figures['runs']:>4.0f}  "
        f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
        f"max {figures['max_ms']:7.1f} ms",
        flush=True,
    )


async def scenarios(backend: str, url: str, args: argparse.Namespace) -> None:
    zap = build(url)
    await zap.open()
    try:
        with worker_processes(url, args.workers):
            show(backend, "due", await measure(zap, "due", args.runs, args.spread))
            show(backend, "retry", await measure(zap, "retry", args.runs // 5, args.spread))
        if backend == "sqlite":
            async with in_process_worker(zap):
                figures = await measure(zap, "due", args.runs, args.spread)
            show(backend, "due-same-process", figures)
    finally:
        await zap.close()


async def main(args: argparse.Namespace) -> None:
    print(
        f"due-time lateness: started_at - run_at, {args.runs} runs over {args.spread:g} s, "
        f"{args.workers} worker process(es) (load {os.getloadavg()[0]:.2f})"
    )
    for backend in args.backends.split(","):
        if backend == "postgres":
            async with postgres(args.url) as url:
                await scenarios(backend, url, args)
        else:
            async with sqlite() as url:
                await scenarios(backend, url, args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL to run on")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--spread", type=float, default=30.0, help="seconds")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--workers", type=int, default=1, help="idle worker processes")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        asyncio.run(worker_main(arguments.worker))
    else:
        asyncio.run(main(arguments))
