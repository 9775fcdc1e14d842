"""Helpers for users' own tests: run a job inline, check what was enqueued, drain the queue.

zap = ZapJobs("memory://")            # or your real app object with a memory store
result = await run_inline(zap, send_email, EmailInput(to="a@b.c", ...))
assert result.output is None and result.logs[0].message.startswith("Sending")

await my_view_that_enqueues()
[run] = await assert_enqueued(zap, send_email, {"to": "a@b.c", ...})
summary = await drain(zap)           # a burst worker: runs everything due, then returns
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zapjobs.app import ZapJobs, store_of
from zapjobs.events import WorkerSummary
from zapjobs.job import JobContext, ProgressTracker, RunLogger
from zapjobs.models import (
    JobRun,
    NewLogEntry,
    Page,
    Progress,
    RunFilter,
    RunStatus,
    sequence_argument,
)
from zapjobs.registry import JobType
from zapjobs.typed import encode_input
from zapjobs.workflows import JobRef

__all__ = [
    "InlineResult",
    "assert_enqueued",
    "drain",
    "enqueued",
    "run_inline",
    "store_of",
]

_ANY = object()


@dataclass(frozen=True)
class InlineResult:
    value: Any  # what the job returned
    output: Any  # the output as it would be stored (decoded JSON)
    logs: tuple[NewLogEntry, ...]
    progress: Progress


async def run_inline(
    zap: ZapJobs, job: JobRef, input: Any = None, *, run_id: int = 1, attempt: int = 1
) -> InlineResult:
    """Run one attempt of a registered job in this task, without a store or a worker.

    The input goes through the same validation and JSON round trip as ``enqueue``, and the
    output through the same serialisation as a worker's; exceptions from the job propagate.
    """
    job_type = _local(zap, job)
    input_json = encode_input(job_type.input_codec, input, job_type=job_type.id)
    value = job_type.input_codec.decode(json.loads(input_json), job_type=job_type.id)
    log = RunLogger(run_id=run_id, job_type=job_type.id, clock=zap.clock)
    progress = ProgressTracker(run_id)
    ctx: JobContext[Any] = JobContext(
        input=value,
        run_id=run_id,
        attempt=attempt,
        job_type_id=job_type.id,
        log=log,
        progress=progress,
        queue=job_type.queue or zap.settings.default_queue,
    )
    fn = job_type.bind()
    if job_type.is_async:
        result = await fn(ctx)
    else:
        context = contextvars.copy_context()
        result = await asyncio.to_thread(context.run, fn, ctx)
        if inspect.isawaitable(result):
            result = await result
    output_json = job_type.output_codec.encode(result, job_type=job_type.id)
    return InlineResult(
        value=result,
        output=json.loads(output_json),
        logs=tuple(log.entries),
        progress=progress.snapshot(),
    )


async def enqueued(
    zap: ZapJobs, job: JobRef, *, statuses: Sequence[RunStatus] = (RunStatus.PENDING,)
) -> list[JobRun]:
    """Runs of a job type in the given statuses, oldest first."""
    job_type = zap.job_type_id(job)
    wanted = sequence_argument(statuses, name="statuses", example="[RunStatus.PENDING]")
    selection = RunFilter(job_types=(job_type,), statuses=wanted)
    runs: list[JobRun] = []
    page = Page(limit=1000)
    while True:
        batch = await zap.list_runs(selection, page)
        runs.extend(batch)
        if len(batch) < page.limit:
            break
        page = Page(limit=page.limit, before_id=batch[-1].id)
    return sorted(runs, key=lambda r: r.id)


async def assert_enqueued(
    zap: ZapJobs, job: JobRef, input: Any = _ANY, *, count: int | None = None
) -> list[JobRun]:
    """Assert that pending runs of ``job`` exist (with ``input``, compared as stored JSON, when
    given; exactly ``count`` of them when given) and return them."""
    job_type = zap.job_type_id(job)
    runs = await enqueued(zap, job)
    if input is not _ANY:
        local = job_type in zap.job_types
        expected = (
            json.loads(encode_input(zap.registration(job).input_codec, input, job_type=job_type))
            if local
            else input
        )
        runs = [r for r in runs if r.input == expected]
        what = f"pending runs of {job_type!r} with input {expected!r}"
    else:
        what = f"pending runs of {job_type!r}"
    if count is None and not runs:
        raise AssertionError(f"expected {what}, found none")
    if count is not None and len(runs) != count:
        raise AssertionError(f"expected {count} {what}, found {len(runs)}")
    return runs


async def drain(
    zap: ZapJobs, *, queues: Sequence[str] | None = None, concurrency: int | None = None
) -> WorkerSummary:
    """Run a burst worker in this process until nothing is due and nothing runs."""
    summary: WorkerSummary = await zap.run_worker(
        queues=queues, concurrency=concurrency, burst=True, install_signal_handlers=False
    )
    return summary


def _local(zap: ZapJobs, job: JobRef) -> JobType:
    return zap.registration(job)  # raises UnknownJobTypeError when not registered here
