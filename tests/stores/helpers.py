"""Helpers for the conformance suite (tests/stores/test_contract_*.py): a fixed epoch and
short ways to get runs into a state.

Every call passes an explicit ``now`` so each store sees the same times; whole seconds only, so
no backend's timestamp precision matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta

from zapjobs.models import JobRun, NewRun, RunError, RunOutcome, RunStatus
from zapjobs.stores import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(*, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """T0 plus an offset."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


async def enqueue_one(
    store: Store,
    job_type: str = "a",
    *,
    now: datetime = T0,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    input_json: str = "null",
    max_attempts: int = 4,
) -> int:
    new = NewRun(
        job_type,
        input_json=input_json,
        queue=queue,
        priority=priority,
        run_at=run_at,
        max_attempts=max_attempts,
    )
    [run_id] = await store.enqueue([new], now=now)
    return run_id


async def start_one(
    store: Store,
    job_type: str = "a",
    *,
    worker_id: str = "w1",
    now: datetime = T0,
    queue: str = "default",
    max_attempts: int = 4,
) -> int:
    """Enqueue a run and claim it (as its only due run) under ``worker_id``."""
    run_id = await enqueue_one(store, job_type, now=now, queue=queue, max_attempts=max_attempts)
    claimed = await store.claim(worker_id, [queue], [job_type], 1, now=now)
    assert [r.id for r in claimed] == [run_id]
    return run_id


async def finish_one(
    store: Store,
    status: RunStatus,
    job_type: str = "a",
    *,
    started: datetime = T0,
    finished: datetime | None = None,
    queue: str = "default",
    error: RunError | None = None,
) -> int:
    """A run that started at ``started`` and ended with ``status`` at ``finished``."""
    run_id = await start_one(store, job_type, now=started, queue=queue)
    if status is RunStatus.FAILED and error is None:
        error = RunError("ValueError", "boom")
    outcome = RunOutcome(
        run_id,
        "w1",
        1,
        status,
        output_json="null" if status is RunStatus.SUCCEEDED else None,
        error=error,
    )
    applied = await store.complete([outcome], now=finished or started)
    assert applied == [run_id]
    return run_id


async def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


async def due_in(
    store: Store, queues: list[str], job_types: list[str], *, now: datetime | None = None
) -> timedelta | None:
    """``Store.next_due``'s time until the earliest due run (None: none pending)."""
    found = await store.next_due(queues, job_types, now=now)
    return None if found is None else found.due_in


def assert_complete_run(run: JobRun) -> None:
    """Every field set (the SQL stores build a run from a row without JobRun's __init__,
    decode.assembled), and the same value as JobRun's own constructor makes from them."""
    names = {f.name for f in fields(JobRun)}
    assert set(vars(run)) == names, set(vars(run)) ^ names
    rebuilt = JobRun(**{name: getattr(run, name) for name in names})
    assert rebuilt == run
    assert rebuilt.parent_outputs == run.parent_outputs  # not compared by ==
