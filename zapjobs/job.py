"""What a job sees while it runs: the JobContext (typed input, logger, progress) and the Job base
class for class-based jobs.

Logging and progress calls are synchronous and thread-safe (a plain ``def`` job runs in a worker
thread) and also awaitable, so ``await ctx.log.info(...)`` and ``ctx.log.info(...)`` both work.
The worker's completer sends what they buffer to the store in batches.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from zapjobs import tracing
from zapjobs.clock import SYSTEM_CLOCK, Clock
from zapjobs.core.retry import RetryPolicy
from zapjobs.core.storable import storable_json, storable_text
from zapjobs.models import (
    ATTEMPT_ERROR_FIELD,
    CatchUp,
    JobRun,
    LogLevel,
    NewLogEntry,
    Progress,
    RunError,
)

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")

LogSink = Callable[[NewLogEntry], None]
ProgressSink = Callable[["ProgressTracker"], None]


class Done:
    """An already-completed awaitable: lets a synchronous call be awaited too, without creating
    a coroutine that would warn when a sync job does not await it."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


DONE = Done()

# Keys that logging.LogRecord owns; a job's field with such a name goes into ``extra`` prefixed.
_RESERVED = frozenset(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
}


def _fields_json(fields: dict[str, Any]) -> str:
    """Fields as storable JSON; values that are not JSON are stored as their text, NUL and lone
    surrogates as visible escapes (logging never fails, and never poisons a batch)."""
    try:
        text = json.dumps(fields, default=str, allow_nan=False, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps({k: repr(v) for k, v in fields.items()}, ensure_ascii=False)
    return storable_json(text)


def attempt_error_entry(run_id: int, attempt: int, error: RunError, at: datetime) -> NewLogEntry:
    """The ERROR log entry that keeps a failed attempt's error (the run itself keeps only the
    last one): "attempt N failed: Type: message", with type, message and traceback in its
    ``attempt_error`` field (read back as ``LogEntry.attempt_error``)."""
    fields = {
        ATTEMPT_ERROR_FIELD: {
            "type": error.type,
            "message": error.message,
            "traceback": error.traceback,
        }
    }
    return NewLogEntry(
        run_id=run_id,
        level=LogLevel.ERROR,
        message=storable_text(f"attempt {attempt} failed: {error.type}: {error.message}"),
        logged_at=at,
        fields_json=_fields_json(fields),
        attempt=attempt,
    )


def run_log_fields(run: JobRun | int, attempt: int | None = None) -> dict[str, Any]:
    """The ``extra`` fields that tie a Python log record to a run: ``run_id``, and ``job_type``
    and ``attempt`` when known (a JobRun, or a run id with its attempt)."""
    if isinstance(run, JobRun):
        return {"run_id": run.id, "job_type": run.job_type, "attempt": run.attempt}
    if attempt is None:
        return {"run_id": run}
    return {"run_id": run, "attempt": attempt}


class RunLogger:
    """Per-run log: entries are buffered for the store, forwarded to Python logging as
    ``zapjobs.jobs.<job_type>`` with the fields and ``run_id``, ``job_type``, ``attempt`` in
    ``extra``, and added as events to the attempt's span when tracing is on (zapjobs.tracing)."""

    def __init__(
        self,
        *,
        run_id: int,
        job_type: str,
        sink: LogSink | None = None,
        clock: Clock | None = None,
        attempt: int | None = None,
    ) -> None:
        self.run_id = run_id
        self.job_type = job_type
        self.attempt = attempt  # a JobContext binds its logger to its attempt
        self._sink = sink
        self._clock = clock or SYSTEM_CLOCK
        self._logger: logging.Logger | None = None  # looked up at the first entry, not per run
        self.entries: list[NewLogEntry] = []  # kept only without a sink (inline runs, tests)
        self._lock = threading.Lock()

    def log(self, level: LogLevel, message: str, **fields: Any) -> Done:
        entry = NewLogEntry(
            run_id=self.run_id,
            level=level,
            message=storable_text(str(message)),
            logged_at=self._clock.now(),
            fields_json=_fields_json(fields),
            attempt=self.attempt,
        )
        if self._sink is not None:
            self._sink(entry)
        else:
            with self._lock:
                self.entries.append(entry)
        if self._logger is None:
            self._logger = logging.getLogger(f"zapjobs.jobs.{self.job_type}")
        if self._logger.isEnabledFor(level.value):
            extra = {("field_" + k if k in _RESERVED else k): v for k, v in fields.items()}
            extra.setdefault("run_id", self.run_id)  # the names of run_log_fields
            extra.setdefault("job_type", self.job_type)
            extra.setdefault("attempt", self.attempt)
            self._logger.log(level.value, "%s", message, extra=extra)
        tracing.log_event(level.name.lower(), entry.message, fields)
        return DONE

    def debug(self, message: str, **fields: Any) -> Done:
        return self.log(LogLevel.DEBUG, message, **fields)

    def info(self, message: str, **fields: Any) -> Done:
        return self.log(LogLevel.INFO, message, **fields)

    def warning(self, message: str, **fields: Any) -> Done:
        return self.log(LogLevel.WARNING, message, **fields)

    def error(self, message: str, **fields: Any) -> Done:
        return self.log(LogLevel.ERROR, message, **fields)


class ProgressTracker:
    """A run's progress counters; every change is reported to the sink (the completer), which
    later reads the latest snapshot."""

    def __init__(self, run_id: int, sink: ProgressSink | None = None) -> None:
        self.run_id = run_id
        self._sink = sink
        self._lock = threading.Lock()
        self._total: int | None = None
        self._processed = 0
        self._succeeded = 0
        self._failed = 0
        self.changed = False

    def snapshot(self) -> Progress:
        with self._lock:
            return Progress(self._total, self._processed, self._succeeded, self._failed)

    def _update(self, **changes: int) -> Done:
        with self._lock:
            for name, n in changes.items():
                if name == "total":
                    self._total = n
                else:
                    setattr(self, "_" + name, getattr(self, "_" + name) + n)
            self.changed = True
        if self._sink is not None:
            self._sink(self)
        return DONE


class Snooze(Exception):
    """Raised by a job to run again later without counting a failure: the run goes back to
    pending, due after ``delay``, and the attempt is not consumed (it does not count against
    max_retries; the run's ``snoozes`` count grows instead). ``delay`` is a ``timedelta`` from
    zero up to ``MAX_SNOOZE``; anything else fails the run with a ``SnoozeError``."""

    def __init__(self, delay: timedelta) -> None:
        super().__init__(delay)
        self.delay = delay

    def __str__(self) -> str:
        return f"snooze for {self.delay!r}"


#: The longest snooze a job may ask for.
MAX_SNOOZE = timedelta(days=365)


class JobContext(Generic[InputT]):
    """The argument of every job: its typed input, identity, logger and progress counters."""

    def __init__(
        self,
        *,
        input: InputT,
        run_id: int,
        attempt: int,
        job_type_id: str,
        log: RunLogger,
        progress: ProgressTracker,
        queue: str = "default",
        scheduled_at: datetime | None = None,
        parent_outputs: dict[int, Any] | None = None,
    ) -> None:
        self.input = input
        #: workflows: the outputs (decoded JSON) of the runs this one waited for, by run id in
        #: id order; empty for a run enqueued without ``after``
        self.parent_outputs: dict[int, Any] = dict(parent_outputs or {})
        self.run_id = run_id
        self.attempt = attempt
        self.job_type_id = job_type_id
        self.log = log
        if log.attempt is None:
            log.attempt = attempt  # its lines forwarded to logging name the attempt
        self.progress = progress
        self.queue = queue
        self.scheduled_at = scheduled_at

    def snooze(self, delay: timedelta) -> NoReturn:
        """Stop this attempt and run again after ``delay``, without counting a failure or
        consuming the attempt: ``raise Snooze(delay)``, from an async or a plain ``def`` job."""
        raise Snooze(delay)

    def increment_processed(self, n: int = 1) -> Done:
        return self.progress._update(processed=_count(n))

    def increment_succeeded(self, n: int = 1) -> Done:
        return self.progress._update(succeeded=_count(n))

    def increment_failed(self, n: int = 1) -> Done:
        return self.progress._update(failed=_count(n))

    def set_total(self, n: int) -> Done:
        return self.progress._update(total=_count(n))

    def __repr__(self) -> str:
        return (
            f"JobContext(job_type_id={self.job_type_id!r}, run_id={self.run_id}, "
            f"attempt={self.attempt})"
        )


def _count(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"progress counts are whole numbers >= 0, got {n!r}")
    return n


class Job(Generic[InputT, OutputT]):
    """Base class of class-based jobs: ``class Report(Job[Params, Result])`` with a
    ``job_type_id`` and an ``execute(self, ctx)`` method (async, or plain ``def`` to run in a
    thread). A new instance runs each attempt. Register it with ``zap.add_job(Report)``."""

    job_type_id: ClassVar[str]
    queue: ClassVar[str | None] = None
    max_retries: ClassVar[int | None] = None
    timeout: ClassVar[timedelta | None] = None
    retry: ClassVar[RetryPolicy | None] = None
    cron: ClassVar[str | None] = None
    interval: ClassVar[timedelta | None] = None
    timezone: ClassVar[str] = "UTC"
    catch_up: ClassVar[CatchUp] = CatchUp.LATEST
    #: unique jobs (zapjobs.core.unique): one run per input / per period / in these states
    unique_by_input: ClassVar[bool] = False
    unique_for: ClassVar[timedelta | None] = None
    unique_states: ClassVar[frozenset[str] | None] = None
    #: flow control (zapjobs.core.flow): at most this many runs running at once across every
    #: worker; at most N starts per period ("10/s", "600/m", "1000/h")
    max_concurrency: ClassVar[int | None] = None
    rate_limit: ClassVar[str | None] = None

    async def execute(self, ctx: JobContext[InputT]) -> OutputT:
        raise NotImplementedError(f"{type(self).__qualname__} must define execute(self, ctx)")
