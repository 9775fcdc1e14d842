"""Runs one claimed run: typed input, JobContext, timeout, and the attempt's outcome.

Async jobs run on the event loop, plain ``def`` jobs in a thread pool so they never block it.
Whatever the job does, the result is a ``RunOutcome`` handed to the completer: the worker never
crashes because of a job. Every exception a job raises, ``BaseException`` included
(KeyboardInterrupt, SystemExit, GeneratorExit, a CancelledError of its own), fails the attempt;
only the worker's own cancellation (timeout, operator cancel, shutdown) stops it otherwise. What a
job produces (output, error text) is made storable here, and an output over ``max_output_bytes``
fails the attempt, before anything reaches a completion batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import random
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta
from typing import Any

from zapjobs.clock import SYSTEM_CLOCK, Clock
from zapjobs.core.retry import next_retry_delay
from zapjobs.core.storable import storable_json, storable_text, storable_value
from zapjobs.errors import ValidationError
from zapjobs.job import (
    MAX_SNOOZE,
    JobContext,
    ProgressTracker,
    RunLogger,
    Snooze,
    attempt_error_entry,
)
from zapjobs.models import InputFrom, JobDefinition, JobRun, RunError, RunOutcome, RunStatus
from zapjobs.registry import JobType, Registry
from zapjobs.runtime.completer import Completer
from zapjobs.runtime.events import RunFinished, RunStarted, finished_outcome
from zapjobs.runtime.parent_reads import ParentOutputs
from zapjobs.settings import Settings, format_duration, scrub
from zapjobs.stores.base import Store
from zapjobs.tracing import traced_attempt

logger = logging.getLogger("zapjobs.worker")

MAX_TRACEBACK_CHARS = 20_000
MAX_ERROR_MESSAGE_CHARS = 10_000

#: The error of a run put back to pending by a stopping worker (not a failure of the job).
WORKER_SHUTDOWN_ERROR = "WorkerShutdown"

# Why the worker cancelled a run's task: an operator's cancel, the worker shutting down, or the
# job's timeout.
STOP_CANCEL = "cancel"
STOP_SHUTDOWN = "shutdown"
STOP_TIMEOUT = "timeout"


@dataclass
class Attempt:
    """One run in flight in this worker."""

    run: JobRun
    task: asyncio.Task[RunOutcome] | None = None
    stop_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    timeout_seconds: float | None = None  # the timeout armed for the job's code


class DefinitionCache:
    """The stored definitions (operator overrides win over the code), refreshed periodically."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_type: dict[str, JobDefinition] = {}
        #: (job type, its code's timeout, the default) -> the timeout, until the next refresh:
        #: the rule's dataclasses.replace() was about a tenth of a no-op job's CPU in profiles
        self._timeouts: dict[tuple[str, timedelta | None, timedelta], float] = {}

    async def refresh(self) -> None:
        self._by_type = {d.job_type: d for d in await self._store.list_definitions()}
        self._timeouts = {}

    def timeout_seconds(self, job_type: JobType, settings: Settings) -> float:
        key = (job_type.id, job_type.timeout, settings.default_timeout)
        found = self._timeouts.get(key)
        if found is None:
            # the code in this process wins over a stored code value a deploy may not have
            # re-registered yet; the rule itself is JobDefinition's (the screens show it too)
            stored = self._by_type.get(job_type.id) or JobDefinition(job_type.id)
            code = job_type.timeout.total_seconds() if job_type.timeout is not None else None
            found = replace(stored, timeout_seconds=code).timeout_seconds_enforced(
                settings.default_timeout.total_seconds()
            )
            self._timeouts[key] = found
        return found


def _time_out(attempt: Attempt) -> None:
    task = attempt.task
    if task is not None and not task.done() and attempt.stop_reason is None:
        attempt.stop_reason = STOP_TIMEOUT
        task.cancel()


def error_type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ in ("builtins", "zapjobs.errors"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def format_traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...(truncated)...\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, even when the job's exception class makes that fail."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() failed>"


def run_error(error_type: str, message: str, traceback_text: str | None = None) -> RunError:
    """A RunError every store can keep: NUL and lone surrogates escaped, the message capped."""
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[:MAX_ERROR_MESSAGE_CHARS] + "...(truncated)"
    return RunError(
        storable_text(error_type),
        storable_text(message),
        None if traceback_text is None else storable_text(traceback_text),
    )


def snooze_problem(delay: object) -> str | None:
    """Why a job's ``Snooze`` delay cannot be honoured, or None when it can."""
    if not isinstance(delay, timedelta):
        return (
            f"Snooze needs a datetime.timedelta, got {type(delay).__name__}: "
            "raise Snooze(timedelta(seconds=30))"
        )
    if delay < timedelta(0):
        return f"Snooze needs a delay of zero or more, got -{format_duration(-delay)}"
    if delay > MAX_SNOOZE:
        return (
            f"Snooze needs a delay of at most {format_duration(MAX_SNOOZE)}, got "
            f"{format_duration(delay)}: enqueue a new run with run_at instead"
        )
    return None


def _seconds_text(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


def _in_thread(
    context: contextvars.Context, fn: Callable[[Any], Any], ctx: JobContext[Any]
) -> tuple[bool, Any]:
    """Run a plain ``def`` job; what it raises is returned, not set on the future: asyncio
    would throw a GeneratorExit from a future into the task, closing the run's coroutine."""
    try:
        return False, context.run(fn, ctx)
    except BaseException as exc:
        return True, exc


class _Failure(Exception):
    """An attempt failed before or after the job's own code (input, output, setup)."""

    def __init__(self, error: RunError, *, final: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.final = final


class Executor:
    def __init__(
        self,
        *,
        registry: Registry,
        settings: Settings,
        completer: Completer,
        definitions: DefinitionCache,
        worker_id: str,
        clock: Clock | None,
        thread_pool: ThreadPoolExecutor,
        emit: Callable[[Any], None] | None,
        count: Callable[[str], None] = lambda outcome: None,
        rng: random.Random | None = None,
        store: Store | None = None,
    ) -> None:
        # reads the outputs of workflow steps' parents, one read for the steps of a claim
        self._parents = None if store is None else ParentOutputs(store)
        self._registry = registry
        self._settings = settings
        self._completer = completer
        self._definitions = definitions
        self._worker_id = worker_id
        self._clock = clock
        self._pool = thread_pool
        #: None when no one listens: RunStarted and RunFinished are then not built (frozen
        #: dataclasses, about 2 us a run); ``count`` gets each attempt's outcome either way
        self._emit = emit
        self._count = count
        self._rng = rng or random.Random()

    async def execute(self, attempt: Attempt) -> RunOutcome:
        """Run the attempt to its end and hand the outcome to the completer."""
        run = attempt.run
        if self._emit is not None:
            self._emit(RunStarted(run.id, run.job_type, run.attempt, run.queue))
        progress = ProgressTracker(run.id, self._completer.progress_changed)
        try:
            outcome = await traced_attempt(run, self._attempt(attempt, progress))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # A GeneratorExit set on a future the job awaited is thrown into this task by
            # asyncio, which closes the awaits below instead of letting _attempt catch it.
            job_type = self._registry.get(run.job_type)
            raised = self._job_error(exc)
            if job_type is None:
                outcome = self._outcome(run, RunStatus.FAILED, error=raised)
            else:
                outcome = self._failed(run, job_type, raised, final=False)
        error = outcome.error
        if error is not None:  # written before the outcome: every attempt's error is kept
            at = (self._clock or SYSTEM_CLOCK).now()
            self._completer.add_log(attempt_error_entry(run.id, run.attempt, error, at))
        self._completer.add_outcome(outcome, progress)
        requeued = error is not None and error.type == WORKER_SHUTDOWN_ERROR
        self._count(finished_outcome(outcome.status, requeued=requeued, snoozed=outcome.snoozed))
        if self._emit is not None:
            self._emit(
                RunFinished(
                    run_id=run.id,
                    job_type=run.job_type,
                    status=outcome.status,
                    attempt=run.attempt,
                    duration_seconds=time.monotonic() - attempt.started,
                    error_type=error.type if error else None,
                    error_message=error.message if error else None,
                    requeued=requeued,
                    snoozed=outcome.snoozed,
                )
            )
        return outcome

    def _outcome(self, run: JobRun, status: RunStatus, **kwargs: Any) -> RunOutcome:
        return RunOutcome(
            run_id=run.id, worker_id=self._worker_id, attempt=run.attempt, status=status, **kwargs
        )

    async def _attempt(self, attempt: Attempt, progress: ProgressTracker) -> RunOutcome:
        run = attempt.run
        job_type = self._registry.get(run.job_type)
        if job_type is None:
            message = f"job type {run.job_type!r} is not registered in this worker"
            return self._outcome(
                run, RunStatus.FAILED, error=run_error("UnknownJobTypeError", message)
            )
        # Everything the job raises is caught here, inside the run's task: a KeyboardInterrupt or
        # SystemExit escaping a task would stop the whole event loop, and so the worker.
        try:
            output_json = await self._run_job(attempt, job_type, progress)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()
            if attempt.stop_reason is None:
                # Every cancel of the worker's own names its reason: this one is the job's (it
                # raised CancelledError, or cancelled its own task).
                return self._failed(run, job_type, self._job_error(exc), final=False)
            if attempt.stop_reason == STOP_TIMEOUT and attempt.timeout_seconds is not None:
                message = f"timed out after {_seconds_text(attempt.timeout_seconds)}"
                error = run_error("JobTimeoutError", message)
                return self._failed(run, job_type, error, final=False)
            return self._stopped(run, attempt.stop_reason)
        except _Failure as failure:
            return self._failed(run, job_type, failure.error, final=failure.final)
        except Snooze as snooze:
            return self._snoozed(run, job_type, snooze)
        except BaseException as exc:  # the job's own, whatever its class
            return self._failed(run, job_type, self._job_error(exc), final=False)
        return self._outcome(run, RunStatus.SUCCEEDED, output_json=output_json)

    def _job_error(self, exc: BaseException) -> RunError:
        dsn = self._settings.database_url  # a job's error may quote it: store it scrubbed
        return run_error(
            error_type_name(exc),
            scrub(exception_text(exc), dsn),
            scrub(format_traceback(exc), dsn),
        )

    async def _run_job(self, attempt: Attempt, job_type: JobType, progress: ProgressTracker) -> str:
        run = attempt.run
        parents = await self._parent_outputs(run)
        raw = run.input
        if run.input_from is InputFrom.PARENTS:
            raw = list(parents.values())
        elif run.input_from is InputFrom.PARENT:
            raw = next(iter(parents.values()), None)
        try:
            value = job_type.input_codec.decode(raw, job_type=job_type.id)
        except ValidationError as exc:
            raise _Failure(run_error("ValidationError", str(exc)), final=True) from None
        log = RunLogger(
            run_id=run.id,
            job_type=job_type.id,
            sink=self._completer.add_log,
            clock=self._clock,
            attempt=run.attempt,
        )
        ctx: JobContext[Any] = JobContext(
            input=value,
            run_id=run.id,
            attempt=run.attempt,
            job_type_id=job_type.id,
            log=log,
            progress=progress,
            queue=run.queue,
            scheduled_at=run.schedule_due_at,
            parent_outputs=parents,
        )
        try:
            fn = job_type.bind()
        except Exception as exc:
            error = run_error(error_type_name(exc), f"cannot create the job: {exception_text(exc)}")
            raise _Failure(error, final=False) from None
        # One timer handle per run rather than asyncio.timeout(), which cost about a sixth of
        # the worker's time per no-op job in profiles; when it fires, the task is cancelled
        # with the reason "timeout" and _attempt turns that into JobTimeoutError.
        # The armed value is kept on the attempt: the message names it even if an operator's
        # override changes the definition while the job runs.
        timeout = self._definitions.timeout_seconds(job_type, self._settings)
        attempt.timeout_seconds = timeout
        loop = asyncio.get_running_loop()
        timer = loop.call_at(loop.time() + timeout, _time_out, attempt)
        try:
            result = await self._call(fn, ctx, job_type.is_async)
        finally:
            timer.cancel()
        return self._output_json(result, job_type)

    async def _parent_outputs(self, run: JobRun) -> dict[int, Any]:
        """A workflow step's parents' outputs (JSON values) by run id, in id order: read once
        when it starts, together with the other steps starting then (a run without parents
        reads nothing)."""
        if run.parents_left is None or self._parents is None:
            return {}
        if run.parent_outputs is not None:  # read by the claim (PostgreSQL)
            return dict(run.parent_outputs)
        return await self._parents.of(run.id)

    def _output_json(self, result: Any, job_type: JobType) -> str:
        """The output as JSON text a store can keep, or a failed attempt saying why not."""
        try:
            text = job_type.output_codec.encode(storable_value(result), job_type=job_type.id)
        except ValidationError as exc:
            raise _Failure(run_error("ValidationError", str(exc)), final=False) from None
        except RecursionError:
            message = f"the output of job {job_type.id!r} is nested too deeply"
            raise _Failure(run_error("ValidationError", message), final=True) from None
        limit = self._settings.max_output_bytes
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        if size > limit:
            message = (
                f"the output of job {job_type.id!r} is {size:,} bytes of JSON, over the limit of "
                f"{limit:,} bytes (setting max_output_bytes); store large data elsewhere and "
                "return a reference"
            )
            # The same code returns the same output: trying again cannot help.
            raise _Failure(run_error("OutputTooLargeError", message), final=True)
        return storable_json(text)  # what storable_value could not reach (e.g. a dataclass)

    async def _call(self, fn: Callable[[Any], Any], ctx: JobContext[Any], is_async: bool) -> Any:
        if is_async:
            return await fn(ctx)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        raised, result = await loop.run_in_executor(self._pool, _in_thread, context, fn, ctx)
        if raised:
            raise result  # here, inside the run's coroutine, where _attempt catches it
        if inspect.isawaitable(result):
            result = await result
        return result

    def _failed(
        self, run: JobRun, job_type: JobType, error: RunError, *, final: bool
    ) -> RunOutcome:
        delay = None
        if not final:  # the budget was fixed at enqueue (an override updates it on the run)
            policy = job_type.retry_policy(self._settings)
            delay = next_retry_delay(policy, run.attempt, run.max_attempts - 1, self._rng)
        if delay is None:
            return self._outcome(run, RunStatus.FAILED, error=error)
        return self._outcome(run, RunStatus.PENDING, error=error, retry_delay=delay)

    def _snoozed(self, run: JobRun, job_type: JobType, snooze: Snooze) -> RunOutcome:
        """Back to pending, due after the delay, the attempt not consumed; a delay the worker
        cannot honour fails the run (for good: the same code asks for it again)."""
        try:
            delay: object = snooze.delay
        except Exception:  # the job's own subclass, whatever it does
            delay = None
        problem = snooze_problem(delay)
        if problem is not None:
            return self._failed(run, job_type, run_error("SnoozeError", problem), final=True)
        assert isinstance(delay, timedelta)
        log = RunLogger(
            run_id=run.id,
            job_type=job_type.id,
            sink=self._completer.add_log,
            clock=self._clock,
            attempt=run.attempt,
        )
        now = (self._clock or SYSTEM_CLOCK).now()
        due = (now + delay).astimezone(UTC)
        log.info(f"snoozed for {format_duration(delay)}, due at {due:%Y-%m-%d %H:%M:%S} UTC")
        return self._outcome(run, RunStatus.PENDING, retry_delay=delay, snoozed=True)

    def _stopped(self, run: JobRun, reason: str) -> RunOutcome:
        if reason == STOP_CANCEL:
            error = RunError("JobCancelledError", "cancelled by an operator while running")
            return self._outcome(run, RunStatus.CANCELLED, error=error)
        error = RunError(
            WORKER_SHUTDOWN_ERROR, "interrupted by a worker shutdown; put back to pending"
        )
        return self._outcome(run, RunStatus.PENDING, error=error, retry_delay=timedelta(0))
