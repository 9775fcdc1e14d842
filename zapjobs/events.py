"""What a worker reports while it runs, delivered to ``run_worker(on_event=...)``: the public
names of the worker's events (the CLI prints them; a handler may keep, print or ignore them)."""

from __future__ import annotations

from zapjobs.runtime.events import (
    RunFinished,
    RunStarted,
    WorkerEvent,
    WorkerStarted,
    WorkerStopped,
    WorkerStopping,
    WorkerSummary,
)

__all__ = [
    "RunFinished",
    "RunStarted",
    "WorkerEvent",
    "WorkerStarted",
    "WorkerStopped",
    "WorkerStopping",
    "WorkerSummary",
]
