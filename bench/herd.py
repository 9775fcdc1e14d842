"""Herd (issue 13): how many claims a single enqueue costs when many workers sit idle.

    .venv/bin/python bench/herd.py                       # 8 workers x 10, 500 jobs at 50/s
    .venv/bin/python bench/herd.py --workers 4 --jobs 100   # a quick look
    .venv/bin/python bench/herd.py --delay 2                # runs due 2 s after their enqueue

``--workers`` (8) idle zapjobs worker processes at concurrency 10 on one queue of a fresh schema,
default polling interval (15 s, so the poll plays no part), listening; then ``--jobs`` (500)
single enqueues at ``--rate`` (50) per second, each carrying its enqueue time
(``time.monotonic()``, system-wide on Linux). With ``--delay`` each run is due that many
seconds after its enqueue (a timer wake-up at its due time instead of a notification at once),
and pickup is measured from the due time. Reported:

- claims per job: claim round trips of all workers (each worker counts its own store's
  ``claim`` calls, empty and not) divided by the jobs, and the empty ones per job; reads per
  job: the workers' ``next_due`` calls (a plain index read: the look at what is due next);
- server CPU per job: user + system time (``/proc/<pid>/stat``) of the PostgreSQL backends of
  this run only (their connections carry this run's ``application_name``; found through
  ``pg_stat_activity``), workers' and the enqueuer's, over the enqueue phase, in microseconds;
- pickup p50/p99/max: job start minus enqueue, in ms.

Figures only; nothing is asserted. zapjobs only: the peers' claim queries cannot be counted
from outside without pg_stat_statements (their server CPU per job is what compares).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from procs import ready_processes
from psycopg.conninfo import make_conninfo

from zapjobs import JobContext, ZapJobs

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]
JOB = "herd"
TICKS = os.sysconf("SC_CLK_TCK")


def build(url: str, started: list[float] | None = None) -> ZapJobs:
    """``ctx.input``: when the run is due, in ``time.monotonic()`` (enqueue time plus delay)."""
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job(JOB, max_retries=0)
    async def herd(ctx: JobContext[float]) -> None:
        if started is not None:
            started.append(time.monotonic() - ctx.input)

    return zap


# --- the worker process --------------------------------------------------------------------------
async def worker_main(url: str) -> None:
    from zapjobs.runtime.events import WorkerStarted

    latencies: list[float] = []
    zap = build(url, latencies)
    await zap.open()
    # The bench counts the worker's own claim round trips (private on purpose: bench only).
    store: Any = zap._store
    counts = {"claims": 0, "empty": 0, "reads": 0}
    claim, next_due = store.claim, store.next_due

    async def counted(*args: Any, **kwargs: Any) -> Any:
        runs = await claim(*args, **kwargs)
        counts["claims"] += 1
        counts["empty"] += 0 if runs else 1
        return runs

    async def read(*args: Any, **kwargs: Any) -> Any:
        counts["reads"] += 1
        return await next_due(*args, **kwargs)

    store.claim = counted
    store.next_due = read
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # any line (or EOF): stop

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print(json.dumps({"event": "ready"}), flush=True)

    try:
        await zap.run_worker(
            concurrency=10, on_event=on_event, stop=stop, install_signal_handlers=False
        )
    finally:
        await zap.close()
    print(json.dumps({"event": "done", **counts, "latencies": latencies}), flush=True)


@contextmanager
def workers(url: str, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    """The worker processes, each told to stop through its stdin (finish())."""
    with ready_processes([sys.executable, __file__, "--worker", url], count, stdin=True) as procs:
        yield procs


def finish(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    results = []
    for proc in procs:
        out, _ = proc.communicate("stop\n", timeout=60)
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        results.append(next(line for line in lines if line["event"] == "done"))
    return results


# --- server CPU of this run's backends -----------------------------------------------------------
def backend_pids(admin: psycopg.Connection[Any], application: str) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
    ).fetchall()
    return [int(row[0]) for row in rows]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


# --- the scenario --------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = "zapherd_" + secrets.token_hex(4)
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            url = make_conninfo(args.url, options=f"-csearch_path={name}", application_name=name)
            zap = build(url)
            await zap.open()
            try:
                with workers(url, args.workers) as procs:
                    delay = timedelta(seconds=args.delay) if args.delay else None
                    await zap.enqueue(JOB, time.monotonic())  # warm-up: not counted below
                    await asyncio.sleep(args.settle)  # idle: every worker knows its peers
                    pids = backend_pids(admin, name)
                    before = cpu_seconds(pids)
                    loads = os.getloadavg()
                    start = time.monotonic()
                    for i in range(args.jobs):
                        pause = start + i / args.rate - time.monotonic()
                        if pause > 0:
                            await asyncio.sleep(pause)  # pacing the producer
                        await zap.enqueue(JOB, time.monotonic() + args.delay, delay=delay)
                    deadline = time.monotonic() + 60 + args.delay
                    while await unfinished(zap):
                        if time.monotonic() > deadline:
                            raise RuntimeError("not every job ran within the deadline")
                        await asyncio.sleep(0.05)
                    server = cpu_seconds(pids) - before
                    done = finish(procs)
            finally:
                await zap.close()
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    latencies = sorted(x * 1000 for d in done for x in d["latencies"])[1:]  # minus the warm-up
    claims = sum(d["claims"] for d in done)
    empty = sum(d["empty"] for d in done)
    reads = sum(d["reads"] for d in done)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "workers": args.workers,
        "jobs": args.jobs,
        "claims_per_job": claims / (args.jobs + 1),
        "empty_claims_per_job": empty / (args.jobs + 1),
        "reads_per_job": reads / (args.jobs + 1),
        "server_cpu_us_per_job": server / args.jobs * 1e6,
        "p50_ms": cuts[49],
        "p99_ms": cuts[98],
        "max_ms": latencies[-1],
        "load_before": loads,
    }


async def unfinished(zap: ZapJobs) -> int:
    from zapjobs import RunFilter, RunStatus

    return await zap.count_runs(RunFilter(statuses=(RunStatus.PENDING, RunStatus.RUNNING)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL to run on")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="enqueues per second")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="idle seconds after the start, before enqueuing"
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds from each enqueue to its due time"
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        asyncio.run(worker_main(arguments.worker))
    else:
        figures = asyncio.run(run(arguments))
        print(
            f"herd: {figures['workers']} workers x 10, {figures['jobs']} single enqueues at "
            f"{arguments.rate:g}/s, due {arguments.delay:g} s later "
            f"(load before {figures['load_before'][0]:.2f})\n"
            f"  claims/job {figures['claims_per_job']:.2f} "
            f"(empty {figures['empty_claims_per_job']:.2f})  "
            f"reads/job {figures['reads_per_job']:.2f}  "
            f"server CPU {figures['server_cpu_us_per_job']:.0f} us/job  "
            f"pickup p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms  "
            f"max {figures['max_ms']:.2f} ms"
        )
