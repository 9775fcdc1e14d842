"""SQLite across processes: a run enqueued by one process is picked up by an idle worker in
another without a poll (its polling interval is an hour), through the watcher of the file's
``PRAGMA data_version``; and a listener hears another process's commit."""

from __future__ import annotations

import asyncio
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.apps.sqlite_worker import build
from tests.stores.helpers import wait_until as wait_for_condition
from zapjobs import RunStatus
from zapjobs.models import Notification
from zapjobs.stores.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "apps" / "sqlite_worker.py"

ENQUEUE_FROM_ANOTHER_PROCESS = """
import asyncio, sys
from zapjobs.models import NewRun
from zapjobs.stores.sqlite import SQLiteStore

async def main() -> None:
    store = SQLiteStore(sys.argv[1])
    await store.open()
    try:
        await store.enqueue([NewRun("noop", queue="elsewhere")])
    finally:
        await store.close()

asyncio.run(main())
"""


@pytest.fixture
def worker_process(sqlite_url: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(APP), sqlite_url, "--polling-interval", "1h"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def wait_ready(proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    assert readable, f"the worker printed nothing within {timeout}s"
    line = proc.stdout.readline()
    assert line.startswith("ready"), (line, proc.stderr.read() if proc.poll() is not None else "")


async def test_a_listener_hears_a_commit_of_another_process(sqlite_url: str) -> None:
    store = SQLiteStore(sqlite_url)
    await store.open()
    await store.migrate()
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ENQUEUE_FROM_ANOTHER_PROCESS,
            sqlite_url,
            cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(other.communicate(), timeout=60)
        assert other.returncode == 0, err
        await wait_for_condition(lambda: any(n.kind == "runs" for n in received), timeout=10)
        # Another process's write names no queue: "look again".
        assert next(n for n in received if n.kind == "runs").queue is None
    finally:
        await listener.close()
        await store.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
async def test_a_listener_hears_another_process_without_polling_through_inotify(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher reads the version when the folder's files are written, not on a timer: an
    idle worker costs about nothing between commits."""
    from zapjobs.stores.sqlite import notify

    monkeypatch.setattr(notify, "WATCH_INTERVAL_SECONDS", 3600.0)
    monkeypatch.setattr(notify, "SAFETY_INTERVAL_SECONDS", 3600.0, raising=False)
    await test_a_listener_hears_a_commit_of_another_process(sqlite_url)


async def test_an_idle_worker_process_picks_up_another_process_enqueue_without_polling(
    sqlite_url: str, worker_process: subprocess.Popen[str]
) -> None:
    zap = build(sqlite_url, "1h")
    await zap.open()
    try:
        wait_ready(worker_process)
        for _ in range(3):  # the first may meet the worker's first claim; the others only a wake-up
            run_id = await zap.enqueue("noop")
            run = await zap.wait_for(run_id, timeout=timedelta(seconds=10))
            assert run.status is RunStatus.SUCCEEDED
        later = await zap.schedule("noop", delay=timedelta(seconds=1))
        run = await zap.wait_for(later, timeout=timedelta(seconds=10))
        assert run.status is RunStatus.SUCCEEDED
        assert run.started_at is not None and run.started_at >= run.run_at
    finally:
        await zap.close()
    worker_process.send_signal(signal.SIGTERM)
    out, err = worker_process.communicate(timeout=30)
    assert worker_process.returncode == 0, err
    assert "stopped 4 4" in out, out
