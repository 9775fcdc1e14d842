"""SQLite across processes (issue 13): pickup latency and idle CPU of a worker in another process,
for each way its watcher can notice other processes' commits.

    .venv/bin/python bench/sqlite_watch.py                     # inotify, poll 10 ms, poll 50 ms
    .venv/bin/python bench/sqlite_watch.py --modes inotify --jobs 100

For each mode, on a fresh SQLite file: one idle worker process (concurrency 10, default polling
interval); its CPU time (``/proc/<pid>/stat``, all threads) over ``--idle`` seconds (10) of
nothing to do, as a share of one core; then ``--jobs`` (500) single enqueues at ``--rate`` (50)
per second from this process, each stamped with ``time.monotonic()`` (system-wide on Linux),
and the pickup (job start minus enqueue) p50/p99/max. Modes: ``inotify`` (the default on Linux:
the watcher reads ``PRAGMA data_version`` when the folder's files are written), ``poll-10``,
``poll-50`` (inotify off, the version read every 10 or 50 ms). Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zapjobs import JobContext, RunFilter, RunStatus, ZapJobs

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def build(url: str, started: list[float] | None = None) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("stamped", max_retries=0)
    async def stamped(ctx: JobContext[float]) -> None:
        if started is not None:
            started.append(time.monotonic() - ctx.input)

    return zap


async def worker_main(url: str, mode: str) -> None:
    from zapjobs.runtime.events import WorkerStarted
    from zapjobs.stores.sqlite import notify

    if mode.startswith("poll-"):
        notify.USE_INOTIFY = False
        notify.WATCH_INTERVAL_SECONDS = int(mode.removeprefix("poll-")) / 1000
    latencies: list[float] = []
    zap = build(url, latencies)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print(json.dumps({"event": "ready"}), flush=True)

    try:
        await zap.run_worker(
            concurrency=10, on_event=on_event, stop=stop, install_signal_handlers=False
        )
    finally:
        await zap.close()
    print(json.dumps({"event": "done", "latencies": latencies}), flush=True)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_worker(url: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", url, "--mode", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def measure(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zapbench-") as folder:
        url = f"sqlite:///{folder}/watch.db"
        zap = build(url)
        await zap.open()
        proc = start_worker(url, mode)
        try:
            assert proc.stdout is not None
            readable, _, _ = select.select([proc.stdout], [], [], 60)
            if not readable or "ready" not in proc.stdout.readline():
                raise RuntimeError("the worker process did not start")
            await zap.enqueue("stamped", time.monotonic())  # warm-up, left out below
            await asyncio.sleep(1.0)
            before, started = cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(args.idle)  # the idle measurement itself
            idle = (cpu_seconds(proc.pid) - before) / (time.monotonic() - started)
            start = time.monotonic()
            for i in range(args.jobs):
                pause = start + i / args.rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)  # pacing the producer
                await zap.enqueue("stamped", time.monotonic())
            deadline = time.monotonic() + 60
            left = RunFilter(statuses=(RunStatus.PENDING, RunStatus.RUNNING))
            while await zap.count_runs(left):
                if time.monotonic() > deadline:
                    raise RuntimeError("not every job ran within the deadline")
                await asyncio.sleep(0.05)
            out, _ = proc.communicate("stop\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            await zap.close()
    done = next(json.loads(x) for x in out.splitlines() if '"done"' in x)
    latencies = sorted(x * 1000 for x in done["latencies"][1:])
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "idle_cpu_pct": idle * 100,
        "p50_ms": cuts[49],
        "p99_ms": cuts[98],
        "max_ms": max(latencies),
    }


async def main(args: argparse.Namespace) -> None:
    print(
        f"SQLite across processes: idle {args.idle:g} s, then {args.jobs} enqueues at "
        f"{args.rate:g}/s (load before {os.getloadavg()[0]:.2f})"
    )
    for mode in args.modes.split(","):
        f = await measure(mode, args)
        print(
            f"  {mode:<8} idle CPU {f['idle_cpu_pct']:5.2f}% of a core  pickup p50 "
            f"{f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms  max {f['max_ms']:6.2f} ms",
            flush=True,
        )
    print(f"  (load after {os.getloadavg()[0]:.2f})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="inotify,poll-10,poll-50")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="enqueues per second")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="inotify", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        asyncio.run(worker_main(arguments.worker, arguments.mode))
    else:
        asyncio.run(main(arguments))
