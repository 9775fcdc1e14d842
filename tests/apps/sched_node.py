"""A process for the recurring-job and rescue tests on PostgreSQL.

    python tests/apps/sched_node.py <conninfo> maintain [--heartbeat 0.5s] [--stale 2s]
    python tests/apps/sched_node.py <conninfo> scheduler-worker
    python tests/apps/sched_node.py <conninfo> work [--heartbeat 0.5s] [--stale 2s]

``maintain`` runs the Maintenance loop alone on a store (scheduler, rescue, retention) and
prints one line per event: "fired <run id>..." and "rescued <run id>...". ``scheduler-worker``
runs a real engine worker with processing disabled (only its maintenance schedules).
``work`` runs a real engine worker whose job "hang" never returns, with the scheduler off, so
the test can kill it mid-run. Each prints "ready <worker id>" when started and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from zapjobs import JobContext, ZapJobs
from zapjobs.runtime.events import WorkerStarted
from zapjobs.runtime.maintenance import Maintenance, RunsRescued, SchedulesFired
from zapjobs.settings import Settings, parse_duration
from zapjobs.stores import create_store

ROOT = Path(__file__).resolve().parents[2]


class Node:
    """This script as a child process of a test: start, wait for "ready", stop, read output."""

    def __init__(self, url: str, mode: str, *args: str) -> None:
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), url, mode, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output = ""
        self._collected = False

    def wait_ready(self, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            raise AssertionError(f"{self.mode} node printed nothing within {timeout}s")
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise AssertionError(f"node did not start: {line!r} {self.output}")
        return line.split()[1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Send ``sig`` (if still running), wait for the exit, and return stdout + stderr."""
        if self._collected:
            return self.output
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=timeout)
        self.output += out + err
        self._collected = True
        return self.output

    def lines(self, prefix: str) -> list[list[str]]:
        return [line.split()[1:] for line in self.output.splitlines() if line.startswith(prefix)]


def on_event(event: object) -> None:
    if isinstance(event, WorkerStarted):
        print("ready", event.worker_id, flush=True)
    elif isinstance(event, SchedulesFired):
        ids = [run_id for fired in event.schedules for run_id in fired.run_ids]
        print("fired", *ids, flush=True)
    elif isinstance(event, RunsRescued):
        print("rescued", *event.runs_retried, *event.runs_failed, flush=True)


async def maintain(url: str, heartbeat: str, stale: str) -> None:
    settings = Settings(
        database_url=url,
        polling_interval=parse_duration("1s"),
        heartbeat_interval=parse_duration(heartbeat),
        stale_worker_threshold=parse_duration(stale),
    )
    store = create_store(url)
    await store.open()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker_id = f"maintain-{os.getpid()}"
    maintenance = Maintenance(store, settings, worker_id=worker_id, on_event=on_event)
    try:
        print("ready", worker_id, flush=True)
        await maintenance.run(stop)
    finally:
        await store.close()


async def worker(url: str, *, processing: bool, heartbeat: str, stale: str) -> None:
    zap = ZapJobs(
        url,
        polling_interval="1s",
        heartbeat_interval=heartbeat,
        stale_worker_threshold=stale,
        enable_processing=processing,
        enable_scheduler=not processing,
    )

    @zap.job("hang", max_retries=3)
    async def hang(ctx: JobContext[None]) -> None:
        await asyncio.Event().wait()  # runs until the process dies

    try:
        await zap.run_worker(on_event=on_event, shutdown_timeout=parse_duration("1s"))
    finally:
        await zap.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("mode", choices=["maintain", "scheduler-worker", "work"])
    parser.add_argument("--heartbeat", default="0.5s")
    parser.add_argument("--stale", default="2s")
    args = parser.parse_args()
    if args.mode == "maintain":
        asyncio.run(maintain(args.url, args.heartbeat, args.stale))
    else:
        processing = args.mode == "work"
        asyncio.run(
            worker(args.url, processing=processing, heartbeat=args.heartbeat, stale=args.stale)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
