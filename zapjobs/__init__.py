"""zapjobs: a database-driven background job scheduler.

from zapjobs import ZapJobs, JobContext
zap = ZapJobs("postgresql://localhost/myapp", auto_migrate=True)

@zap.job("email-sender", queue="default", max_retries=5)
async def send_email(ctx: JobContext[EmailInput]) -> None: ...

run_id = await zap.enqueue(send_email, EmailInput(to="a@b.c", subject="hi", body="..."))
"""

from __future__ import annotations

from zapjobs.app import ZapJobs
from zapjobs.clock import Clock, FakeClock, SystemClock
from zapjobs.core.diagnosis import Check, Diagnosis, Outcome, Verdict
from zapjobs.core.retry import RetryPolicy
from zapjobs.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidStateError,
    JobCancelledError,
    JobTimeoutError,
    MigrationError,
    NotMigratedError,
    RunNotFoundError,
    ScheduleError,
    StoreError,
    UnknownJobTypeError,
    ValidationError,
    WaitTimeoutError,
    ZapJobsError,
)
from zapjobs.events import (
    RunFinished,
    RunStarted,
    WorkerEvent,
    WorkerStarted,
    WorkerStopped,
    WorkerStopping,
    WorkerSummary,
)
from zapjobs.job import Job, JobContext, Snooze
from zapjobs.models import (
    MAX_PARENTS,
    CatchUp,
    EnqueueResult,
    FlowLimit,
    JobDefinition,
    JobRun,
    JobTypeStats,
    LimitScope,
    LogEntry,
    LogLevel,
    Page,
    ParentFailure,
    Progress,
    QueueInfo,
    RateLimit,
    RunCursor,
    RunError,
    RunFilter,
    RunLinks,
    RunSort,
    RunStatus,
    WorkerInfo,
)
from zapjobs.settings import Settings
from zapjobs.typed import MAX_INPUT_BYTES
from zapjobs.workflows import FROM_PARENTS, Step, Workflow, WorkflowBuilder

__version__ = "0.1.0"

__all__ = [
    "FROM_PARENTS",
    "MAX_INPUT_BYTES",
    "MAX_PARENTS",
    "CatchUp",
    "Check",
    "Clock",
    "ConfigurationError",
    "ConnectionFailedError",
    "Diagnosis",
    "EnqueueResult",
    "FakeClock",
    "FlowLimit",
    "InvalidStateError",
    "Job",
    "JobCancelledError",
    "JobContext",
    "JobDefinition",
    "JobRun",
    "JobTimeoutError",
    "JobTypeStats",
    "LimitScope",
    "LogEntry",
    "LogLevel",
    "MigrationError",
    "NotMigratedError",
    "Outcome",
    "Page",
    "ParentFailure",
    "Progress",
    "QueueInfo",
    "RateLimit",
    "RetryPolicy",
    "RunCursor",
    "RunError",
    "RunFilter",
    "RunFinished",
    "RunLinks",
    "RunNotFoundError",
    "RunSort",
    "RunStarted",
    "RunStatus",
    "ScheduleError",
    "Settings",
    "Snooze",
    "Step",
    "StoreError",
    "SystemClock",
    "UnknownJobTypeError",
    "ValidationError",
    "Verdict",
    "WaitTimeoutError",
    "WorkerEvent",
    "WorkerInfo",
    "WorkerStarted",
    "WorkerStopped",
    "WorkerStopping",
    "WorkerSummary",
    "Workflow",
    "WorkflowBuilder",
    "ZapJobs",
    "ZapJobsError",
    "__version__",
]
