"""Processes, fault injection and database counting for the chaos scenarios.

Worker processes are tests/chaos/apps/chaos_worker.py children; the test counts executions from
the database (the ``executions`` table the jobs write into), never from worker output.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "apps" / "chaos_worker.py"
LONG = os.environ.get("ZAPJOBS_CHAOS_LONG") == "1"
FINAL = ("succeeded", "failed", "cancelled")


def scale(ci: int, long: int) -> int:
    return long if LONG else ci


class WorkerProc:
    """One worker child process: start, wait for "ready <id>", kill or stop, collect output."""

    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), url, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.worker_id = ""
        self.output = ""
        self._collected = False
        self._heartbeat_db: Db | None = None
        self._init_follow()

    @classmethod
    def cli(cls, url: str, worker_id: str) -> WorkerProc:
        """``zapjobs worker`` (the real command) with the chaos app and short heartbeats;
        ready once its heartbeat row exists (the worker id is ours)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPJOBS_")}
        env.update(
            {
                "ZAPJOBS_DATABASE_URL": url,
                "ZAPJOBS_HEARTBEAT_INTERVAL": "0.5s",
                "ZAPJOBS_STALE_WORKER_THRESHOLD": "3s",
                "ZAPJOBS_POLLING_INTERVAL": "0.5s",
                "PYTHONPATH": str(ROOT),
                "NO_COLOR": "1",
            }
        )
        self = cls.__new__(cls)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zapjobs_cli",
                "worker",
                "--app",
                "tests.chaos.apps.cli_app:zap",
                "--queues",
                "default",
                "--concurrency",
                "10",
                "--worker-id",
                worker_id,
                "--quiet",
                "--shutdown-timeout",
                "5s",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.worker_id = worker_id
        self.output = ""
        self._collected = False
        self._heartbeat_db = Db(url)
        self._init_follow()
        return self

    def _init_follow(self) -> None:
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._readers: list[threading.Thread] = []

    def follow(self) -> None:
        """Collect stdout and stderr lines as they come (after wait_ready), so a test can wait
        for a log line; stop() then returns them all."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, sink in (
            (self.proc.stdout, self.stdout_lines),
            (self.proc.stderr, self.stderr_lines),
        ):
            reader = threading.Thread(target=_pump, args=(stream, sink), daemon=True)
            reader.start()
            self._readers.append(reader)

    def logged(self, text: str) -> int:
        """How many stderr lines so far contain ``text``."""
        return sum(text in line for line in list(self.stderr_lines))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> str:
        db = self._heartbeat_db
        if db is not None:
            wait_until(
                lambda: (
                    not self.alive()
                    or bool(
                        db.query(
                            "SELECT 1 FROM zapjobs_heartbeats WHERE id = %s", (self.worker_id,)
                        )
                    )
                ),
                timeout,
                f"worker {self.worker_id} to start",
            )
            if not self.alive():
                raise AssertionError(f"worker did not start:\n{self.stop(signal.SIGKILL)}")
            return self.worker_id
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        if not line.startswith("ready"):
            raise AssertionError(f"worker did not start: {line!r}\n{self.stop(signal.SIGKILL)}")
        self.worker_id = line.split()[1]
        return self.worker_id

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Send ``sig`` if still running, wait for the exit, return stdout + stderr."""
        if self._collected:
            return self.output
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self._readers:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
            for reader in self._readers:
                reader.join(timeout=10)
            self.output += "".join(self.stdout_lines) + "".join(self.stderr_lines)
            self._collected = True
            return self.output
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=timeout)
        self.output += out + err
        self._collected = True
        return self.output

    def alive(self) -> bool:
        return self.proc.poll() is None


def _pump(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


@contextmanager
def workers() -> Iterator[list[WorkerProc]]:
    """A list to put started workers in; every one is killed on the way out."""
    started: list[WorkerProc] = []
    try:
        yield started
    finally:
        for w in started:
            w.stop(signal.SIGKILL, timeout=10)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


class Db:
    """The test's view of the store's tables, on PostgreSQL or SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:") else None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.sqlite is not None:
            conn = sqlite3.connect(self.sqlite, timeout=30)
            try:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as pg:
            return pg.execute(sql, params).fetchall()

    def execute(self, sql: str) -> None:
        if self.sqlite is not None:
            conn = sqlite3.connect(self.sqlite, timeout=30)
            try:
                with conn:
                    conn.executescript(sql)
            finally:
                conn.close()
        else:
            with psycopg.connect(self.url, autocommit=True) as pg:
                pg.execute(sql)

    def status_counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) FROM zapjobs_runs GROUP BY status")
        return {status: int(n) for status, n in rows}

    def unfinished(self) -> int:
        """Runs not final yet, those waiting for their parents (workflows) included."""
        rows = self.query(
            "SELECT count(*) FROM zapjobs_runs WHERE status IN ('waiting', 'pending', 'running')"
        )
        return int(rows[0][0])

    def running_under(self, worker_id: str) -> set[int]:
        rows = self.query(
            "SELECT id FROM zapjobs_runs WHERE status = 'running' AND worker_id = %s", (worker_id,)
        )
        return {int(r[0]) for r in rows}

    def execution_counts(self) -> dict[int, int]:
        rows = self.query("SELECT run_id, count(*) FROM executions GROUP BY run_id")
        return {int(run_id): int(n) for run_id, n in rows}


def report(name: str, **figures: Any) -> None:
    """The per-scenario figures the brief asks for, printed (visible with pytest -s)."""
    print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
