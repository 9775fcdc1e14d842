"""Worker processes for the bench scenarios that need several (flow, herd, lateness): start
``count`` copies of a command, wait until each prints its ready line, stop them all on the way
out (SIGTERM, SIGKILL after ``grace`` seconds)."""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0


@contextmanager
def ready_processes(
    argv: Sequence[str], count: int, *, stdin: bool = False, grace: float = 60.0
) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` processes of ``argv`` (this checkout first on PYTHONPATH), each having printed a
    line containing "ready"; ``stdin`` gives each a pipe to talk to it."""
    procs = [
        subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            readable, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
            if not readable or "ready" not in proc.stdout.readline():
                raise RuntimeError("a worker process did not start")
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
