"""Helpers of the engine tests: start an in-process worker, wait for a condition with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from zapjobs import ZapJobs
from zapjobs.runtime.events import RunFinished, WorkerStarted, WorkerSummary

T = TypeVar("T")

DEADLINE_SECONDS = 15.0


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool] = bool,
    *,
    timeout: float = DEADLINE_SECONDS,
    what: str = "the condition",
) -> T:
    """Poll ``probe`` every 20 ms until ``accept`` says yes; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s; last: {value!r}")
        await asyncio.sleep(0.02)


@dataclass
class RunningWorker:
    events: list[Any] = field(default_factory=list)
    summary: WorkerSummary | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def finished(self) -> list[RunFinished]:
        return [e for e in self.events if isinstance(e, RunFinished)]


@asynccontextmanager
async def running_worker(zap: ZapJobs, **options: Any) -> AsyncIterator[RunningWorker]:
    """A worker task in this event loop, started and ready on entry, stopped on exit."""
    worker = RunningWorker()
    started = asyncio.Event()

    def on_event(event: Any) -> None:
        worker.events.append(event)
        if isinstance(event, WorkerStarted):
            started.set()

    options.setdefault("install_signal_handlers", False)
    task = asyncio.create_task(zap.run_worker(on_event=on_event, stop=worker.stop, **options))
    try:
        waiter = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiter, task}, timeout=DEADLINE_SECONDS, return_when="FIRST_COMPLETED")
        waiter.cancel()
        if task.done():
            task.result()  # raises what made the worker fail to start
        assert started.is_set(), "the worker did not start"
        yield worker
    finally:
        worker.stop.set()
        try:
            async with asyncio.timeout(DEADLINE_SECONDS):
                worker.summary = await task
        finally:
            if not task.done():
                task.cancel()
