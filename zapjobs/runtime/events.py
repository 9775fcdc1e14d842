"""What a worker reports while it runs, delivered to ``run_worker(on_event=...)`` (the CLI prints
them). Plain frozen values: a handler can keep them, print them or ignore them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from zapjobs.models import JobRun, RunStatus


@dataclass(frozen=True)
class WorkerStarted:
    worker_id: str
    queues: tuple[str, ...]
    concurrency: int
    job_types: tuple[str, ...]


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    job_type: str
    attempt: int
    queue: str


@dataclass(frozen=True)
class RunFinished:
    """One attempt ended. ``status`` PENDING means it will be retried, or, with ``requeued``,
    that a stopping worker put it back, or, with ``snoozed``, that the job snoozed it (neither
    a failure of the job)."""

    run_id: int
    job_type: str
    status: RunStatus
    attempt: int
    duration_seconds: float
    error_type: str | None = None
    error_message: str | None = None
    requeued: bool = False
    snoozed: bool = False

    @property
    def outcome(self) -> str:
        """succeeded, failed, cancelled, retried (will run again), requeued or snoozed."""
        return finished_outcome(self.status, requeued=self.requeued, snoozed=self.snoozed)


def finished_outcome(status: RunStatus, *, requeued: bool, snoozed: bool) -> str:
    """The word of an ended attempt (``RunFinished.outcome``; the worker's summary counts)."""
    if status is RunStatus.PENDING:
        if snoozed:
            return "snoozed"
        return "requeued" if requeued else "retried"
    return status.value


@dataclass(frozen=True)
class WorkerStopping:
    reason: str  # "signal", "burst" or "stop"


@dataclass(frozen=True)
class WorkerSummary:
    worker_id: str
    started_at: datetime
    stopped_at: datetime
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    requeued: int = 0  # put back to pending at shutdown
    snoozed: int = 0  # the job asked to run again later (Snooze)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def duration_seconds(self) -> float:
        return (self.stopped_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class WorkerStopped:
    summary: WorkerSummary


WorkerEvent = WorkerStarted | RunStarted | RunFinished | WorkerStopping | WorkerStopped


class WorkerObserver(Protocol):
    """Watches a worker from inside (the Prometheus metrics of zapjobs.metrics): its events, and
    what has no event: each claim and each write of outcomes. Called on the worker's event loop;
    must not block or raise."""

    def attach(self, *, in_flight: Callable[[], int], concurrency: int) -> None: ...

    def event(self, event: WorkerEvent) -> None: ...

    def claimed(self, requested: int, runs: Sequence[JobRun]) -> None: ...

    def outcomes_written(self, seconds: float, outcomes: int) -> None: ...
