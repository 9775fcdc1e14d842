"""The bench process's side of a benchmark worker: start it, read its events (JSON lines) with
deadlines, send it commands, stop it. The worker's side is ``zapjobs_cli.benchmark_worker``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from zapjobs.errors import ZapJobsError


class BenchmarkError(ZapJobsError):
    """A benchmark step failed or ran past its deadline."""

    exit_code = 1


class WorkerProcess:
    """A benchmark worker in its own OS process, driven over stdin/stdout (JSON lines)."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        #: the worker's last count of started jobs ("started" events, read as they come)
        self.started = 0
        threading.Thread(target=self._read, name="bench-worker-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                message = json.loads(line)
                if message.get("event") == "started":
                    self.started = int(message["jobs"])
                    continue
            self._lines.put(line)
        self._lines.put(None)

    def _wait_event(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchmarkError(f"a worker sent no {event!r} within {timeout:.0f}s")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=10)
                raise BenchmarkError(
                    f"a worker exited (code {code}) before {event!r}: {self.stderr_tail()}"
                )
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not protocol (a library printing): ignore
            if isinstance(message, dict) and message.get("event") == event:
                return message

    async def wait_event(self, event: str, timeout: float) -> dict[str, Any]:
        return await asyncio.to_thread(self._wait_event, event, timeout)

    def send(self, command: str) -> None:
        if self.proc.stdin is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def stderr_tail(self, lines: int = 5) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "no output on stderr"

    def close(self, timeout: float = 15.0) -> None:
        """Close stdin (the worker stops at EOF), then terminate and kill if it lingers."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._stderr.close()
