"""Rows to model values and model values to typed query parameters (arrays for unnest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from zapjobs.models import (
    JobDefinition,
    JobRun,
    NewRun,
    RunFilter,
    RunStatus,
    unique_states_mask,
)
from zapjobs.stores import decode
from zapjobs.stores.postgres.notify import WAKE_SHARDS

Row = Mapping[str, Any]


#: psycopg returns timestamptz as datetimes and jsonb, text[] already decoded.
DECODERS = decode.Decoders()


run_from_row = DECODERS.run
definition_from_row = DECODERS.definition
log_from_row = DECODERS.log
worker_from_row = DECODERS.worker


def claimed_run(row: Row) -> JobRun:
    """A run a claim returned, with its parents' outputs when the claim read them."""
    pairs = row["parent_outputs"]
    if pairs is None:
        return run_from_row(row)
    return run_from_row(row, {int(parent): output for parent, output in pairs})


def new_run_params(runs: Sequence[NewRun]) -> dict[str, Any]:
    """Column arrays for the unnest of enqueue_runs / insert_scheduled_runs."""
    return {
        "job_types": [r.job_type for r in runs],
        "inputs": [r.input_json for r in runs],
        "queues": [r.queue for r in runs],
        "priorities": [r.priority for r in runs],
        "run_ats": [r.run_at for r in runs],
        "due_ats": [r.schedule_due_at for r in runs],
        "max_attempts": [r.max_attempts for r in runs],
        "trace_contexts": [r.trace_context for r in runs],
        "unique_keys": [r.unique_key for r in runs],
        "unique_states": [None if r.unique_key is None else r.unique_states for r in runs],
    }


def one_run_params(run: NewRun) -> dict[str, Any]:
    """The parameters of enqueue_run (a single run)."""
    return {
        "shards": WAKE_SHARDS,
        "job_type": run.job_type,
        "input": run.input_json,
        "queue": run.queue,
        "priority": run.priority,
        "run_at": run.run_at,
        "due_at": run.schedule_due_at,
        "max_attempts": run.max_attempts,
        "trace_context": run.trace_context,
    }


def definition_params(definitions: Sequence[JobDefinition]) -> dict[str, Any]:
    """Column arrays for register_definitions; a later duplicate of a job type wins."""
    latest = list({d.job_type: d for d in definitions}.values())
    schedules = [d.schedule for d in latest]
    return {
        "job_types": [d.job_type for d in latest],
        "queues": [d.queue for d in latest],
        "max_retries": [d.max_retries for d in latest],
        "timeouts": [d.timeout_seconds for d in latest],
        "kinds": [s.kind.value if s else None for s in schedules],
        "expressions": [s.expression if s else None for s in schedules],
        "timezones": [s.timezone if s else None for s in schedules],
        "catch_ups": [s.catch_up.value if s else None for s in schedules],
        "inputs": [s.input_json if s else None for s in schedules],
        **unique_params(latest),
    }


def unique_params(definitions: Sequence[JobDefinition]) -> dict[str, list[Any]]:
    uniques = [d.unique for d in definitions]
    return {
        "unique_by_input": [u.by_input if u else None for u in uniques],
        "unique_for_seconds": [u.period_seconds if u else None for u in uniques],
        "unique_states": [unique_states_mask(u.states) if u else None for u in uniques],
    }


#: Statuses the (status, id) index leaves out (see migration 0002): succeeded, the common one,
#: is found by filtering a backward primary key scan; running runs by their own index.
_UNINDEXED = frozenset({RunStatus.SUCCEEDED.value, RunStatus.RUNNING.value})


def filter_params(selection: RunFilter, now: datetime | None) -> dict[str, Any]:
    """The run_filter fragment's parameters; None leaves a field unconstrained."""

    def listed(values: Sequence[Any] | None) -> list[Any] | None:
        return None if values is None else list(values)

    statuses = (
        None if selection.statuses is None else [RunStatus(s).value for s in selection.statuses]
    )
    params: dict[str, Any] = {"f_ids": listed(selection.ids)}
    drive: str | None = None
    for one, many, values in (
        ("status", "statuses", statuses),
        ("job_type", "job_types", listed(selection.job_types)),
        ("queue", "queues", listed(selection.queues)),
    ):
        # One value goes in a scalar (the first as the drive) so an (x, id) index serves it.
        single = values is not None and len(set(values)) == 1
        indexed = not (one == "status" and values is not None and values[0] in _UNINDEXED)
        if single and drive is None and indexed:
            drive = one
        scalar = values[0] if single and values is not None else None
        params[f"d_{one}"] = scalar if drive == one else None
        params[f"f_{one}"] = scalar if drive != one else None
        params[f"f_{many}"] = None if single else values
    running = RunStatus.RUNNING.value
    return {
        **params,
        "with_running": statuses is None or running in statuses,
        "with_others": statuses is None or any(s != running for s in statuses),
        "f_created_after": selection.created_after,
        "f_created_before": selection.created_before,
        "f_worker_ids": listed(selection.worker_ids),
        "f_finished_after": selection.finished_after,
        "f_finished_before": selection.finished_before,
        "f_search": selection.search or None,
        "f_search_window": selection.search_window,
        "f_scheduled": selection.scheduled,
        "f_now": selection.now if selection.now is not None else now,
    }
