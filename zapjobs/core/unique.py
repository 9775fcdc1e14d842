"""Unique jobs: which key and states a run is enqueued with. Pure: "now" is an argument.

The rule itself (one run per job type and key among the runs in their unique states) is a unique
index of the database; this module only decides the key and the states of a new run.

- an explicit ``unique_key`` is the key as given (1 to MAX_UNIQUE_KEY_LENGTH characters);
- ``unique_by_input``: without an explicit key, the key is a hash of the input's canonical JSON
  (keys sorted, no spaces), so equal inputs share a key however their mappings were ordered;
- ``unique_for``: the key also names the period the enqueue falls in (fixed windows of that
  length counted from the Unix epoch, UTC), and by default the run holds it in every state,
  finished or not: one run per key per window. Two runs can be closer than the period when
  they fall on both sides of a window's edge (River's ByPeriod works the same way);
- ``unique_states``: the states in which a run holds its key; default pending (including
  scheduled: pending, due later) and running. They must include both, so that a run going from
  pending to running and back (a retry) never meets a second holder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from zapjobs.errors import ValidationError
from zapjobs.models import (
    DEFAULT_UNIQUE_STATES,
    MAX_UNIQUE_KEY_LENGTH,
    RunStatus,
    UniqueSettings,
    unique_states_mask,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REQUIRED_STATES = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
#: every state a keyed run can be in: a run that waits for parents never carries a unique key
KEYED_STATES = frozenset(RunStatus) - {RunStatus.WAITING}


@dataclass(frozen=True)
class UniqueOptions:
    """A job type's uniqueness, declared with it (``@zap.job(unique_by_input=...)``)."""

    by_input: bool = False
    period: timedelta | None = None
    #: None: the default (pending and running; every state with a period)
    states: frozenset[RunStatus] | None = None

    @property
    def any(self) -> bool:
        return self.by_input or self.period is not None

    def effective_states(self) -> frozenset[RunStatus]:
        if self.states is not None:
            return self.states
        return KEYED_STATES if self.period is not None else DEFAULT_UNIQUE_STATES

    def settings(self) -> UniqueSettings | None:
        """What a definition stores for operators; None when nothing was declared."""
        if not self.any and self.states is None:
            return None
        period = None if self.period is None else self.period.total_seconds()
        return UniqueSettings(self.by_input, period, self.effective_states())


NO_UNIQUENESS = UniqueOptions()


def unique_options(
    *,
    by_input: object = False,
    period: object = None,
    states: object = None,
    job_type: str,
) -> UniqueOptions:
    """The validated options of a job type's declaration."""
    if not isinstance(by_input, bool):
        raise ValidationError(f"job {job_type!r}: unique_by_input must be True or False")
    if period is not None and (not isinstance(period, timedelta) or period <= timedelta(0)):
        raise ValidationError(
            f"job {job_type!r}: unique_for must be a timedelta greater than zero, got {period!r}",
            hint="e.g. unique_for=timedelta(minutes=10)",
        )
    parsed_states = None if states is None else parse_unique_states(states, job_type=job_type)
    return UniqueOptions(by_input=by_input, period=period, states=parsed_states)


def parse_unique_states(states: object, *, job_type: str) -> frozenset[RunStatus]:
    if isinstance(states, str) or not isinstance(states, Iterable):
        raise ValidationError(
            f"job {job_type!r}: unique_states must be a collection of run statuses",
            hint='e.g. unique_states={"pending", "running", "succeeded"}',
        )
    parsed: set[RunStatus] = set()
    for state in states:
        try:
            parsed.add(RunStatus(state))
        except ValueError:
            known = ", ".join(s.value for s in RunStatus)
            raise ValidationError(
                f"job {job_type!r}: unknown unique state {state!r}", hint=f"use {known}"
            ) from None
    if not parsed >= _REQUIRED_STATES:
        raise ValidationError(
            f"job {job_type!r}: unique_states must include pending and running",
            hint="a run holds its key at least until it finishes",
        )
    return frozenset(parsed)


def check_unique_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValidationError(f"a unique key must be a non-empty string, got {key!r}")
    if len(key) > MAX_UNIQUE_KEY_LENGTH:
        raise ValidationError(
            f"a unique key is at most {MAX_UNIQUE_KEY_LENGTH} characters, got {len(key)}",
            hint="hash a long key first",
        )
    return key


def input_key(input_json: str) -> str:
    """The key of an input: a hash of its canonical JSON."""
    canonical = json.dumps(
        json.loads(input_json), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "input:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def period_start(period: timedelta, now: datetime) -> datetime:
    """The start of the window of length ``period`` (from the Unix epoch) that holds ``now``."""
    windows = (now - _EPOCH) // period
    return _EPOCH + windows * period


def run_uniqueness(
    options: UniqueOptions, key: str | None, input_json: str, now: datetime
) -> tuple[str | None, int]:
    """(unique key, unique states mask) of a new run; (None, 0) when it has no key."""
    if key is None and not options.any:
        return None, 0
    if key is None:
        key = input_key(input_json) if options.by_input else "job"
    if options.period is not None:
        key = f"{key}@{period_start(options.period, now).isoformat()}"
    return key, unique_states_mask(options.effective_states())


def superseded_by_newer(keyed: Iterable[tuple[int, str, str]]) -> list[int]:
    """Of the (id, job type, unique key) runs one retry would put back, those a newer one of
    the same key supersedes: both would hold the key, so only the newest is retried."""
    newest: dict[tuple[str, str], int] = {}
    ids = []
    for run_id, job_type, key in keyed:
        ids.append(run_id)
        newest[(job_type, key)] = max(run_id, newest.get((job_type, key), run_id))
    kept = set(newest.values())
    return sorted(i for i in ids if i not in kept)
