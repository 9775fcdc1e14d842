"""Rows to model values and model values to bound parameters.

Timestamps are stored as INTEGER microseconds since the Unix epoch (UTC): exact comparisons and
indexes, no text formats; they come back as aware UTC datetimes. JSON is stored as the caller's
text and decoded on the way out. Lists travel as one JSON array parameter (read by json_each).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import (
    JobDefinition,
    NewRun,
    RunFilter,
    RunStatus,
    unique_states_mask,
)
from zapjobs.stores import decode
from zapjobs.stores.sql_common import schedule_params

Row = sqlite3.Row
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# --- time ----------------------------------------------------------------------------------------


def to_us(when: datetime) -> int:
    """An aware datetime as microseconds since the epoch; a naive one is refused."""
    if when.tzinfo is None:
        raise ConfigurationError(f"the time {when.isoformat()} has no time zone", hint="use UTC")
    return (when - EPOCH) // _MICROSECOND


def opt_us(when: datetime | None) -> int | None:
    return None if when is None else to_us(when)


def now_us(now: datetime | None) -> int:
    """``now`` in microseconds; None is this process's clock (SQLite has no server clock)."""
    return to_us(datetime.now(UTC) if now is None else now)


def duration_us(duration: timedelta) -> int:
    return duration // _MICROSECOND


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


# --- JSON ----------------------------------------------------------------------------------------


def check_json(text: str, what: str) -> str:
    """Refuse what the table's json_valid() check would refuse, with a clearer message."""
    try:
        json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError(f"the {what} is not valid JSON", hint="pass JSON text") from None
    return text


def json_list(values: Sequence[Any] | None) -> str | None:
    """A list parameter for json_each; None stays None (the filter does not narrow)."""
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


# --- rows to values ------------------------------------------------------------------------------


#: SQLite keeps integer microseconds, 0/1 flags and JSON text.
DECODERS = decode.Decoders(time=from_us, json=json.loads)


run_from_row = DECODERS.run
definition_from_row = DECODERS.definition
log_from_row = DECODERS.log
worker_from_row = DECODERS.worker


# --- values to parameters ------------------------------------------------------------------------


def new_runs_param(runs: Sequence[NewRun]) -> str:
    """The ``:runs`` JSON array of enqueue_runs / insert_scheduled_runs; inputs stay text."""
    return json.dumps(
        [
            {
                "job_type": r.job_type,
                "queue": r.queue,
                "priority": r.priority,
                "input": check_json(r.input_json, "input"),
                "run_at": opt_us(r.run_at),
                "schedule_due_at": opt_us(r.schedule_due_at),
                "max_attempts": r.max_attempts,
                "trace_context": r.trace_context,
                "unique_key": r.unique_key,
                "unique_states": None if r.unique_key is None else r.unique_states,
            }
            for r in runs
        ],
        ensure_ascii=False,
    )


def definition_params(definition: JobDefinition, now: int) -> dict[str, Any]:
    unique = definition.unique
    return {
        "job_type": definition.job_type,
        "queue": definition.queue,
        "max_retries": definition.max_retries,
        "timeout_seconds": definition.timeout_seconds,
        "now": now,
        **schedule_params(definition.schedule),
        "unique_by_input": None if unique is None else int(unique.by_input),
        "unique_for_seconds": None if unique is None else unique.period_seconds,
        "unique_states": None if unique is None else unique_states_mask(unique.states),
    }


def filter_params(selection: RunFilter, now: int) -> dict[str, Any]:
    """The run_filter fragment's parameters (None leaves a field unconstrained) and the driving
    term's (``d_*``); ``now`` is what ``scheduled`` compares with unless the filter says."""
    statuses = None
    if selection.statuses is not None:
        statuses = [RunStatus(s).value for s in selection.statuses]
    return {
        "f_ids": json_list(selection.ids),
        "f_statuses": json_list(statuses),
        "f_job_types": json_list(selection.job_types),
        "f_queues": json_list(selection.queues),
        "f_created_after": opt_us(selection.created_after),
        "f_created_before": opt_us(selection.created_before),
        "f_worker_ids": json_list(selection.worker_ids),
        "f_finished_after": opt_us(selection.finished_after),
        "f_finished_before": opt_us(selection.finished_before),
        "f_search": selection.search or None,
        "f_search_window": selection.search_window,
        "f_scheduled": None if selection.scheduled is None else int(selection.scheduled),
        "f_now": now if selection.now is None else to_us(selection.now),
        "d_status": statuses[0] if statuses and len(set(statuses)) == 1 else None,
        "d_job_type": _single(selection.job_types),
        "d_queue": _single(selection.queues),
    }


def drive_variant(selection: RunFilter) -> str:
    """The ``{drive}`` variant whose index serves this filter best (see queries.sql)."""
    if selection.ids is not None:
        return "ids"
    if selection.statuses is not None and len(set(selection.statuses)) == 1:
        return "status"
    if _single(selection.job_types) is not None:
        return "job_type"
    if _single(selection.queues) is not None:
        return "queue"
    return "all"


def _single(values: Sequence[str] | None) -> str | None:
    if values is None or len(set(values)) != 1:
        return None
    return values[0]
