"""Flow control: global concurrency caps and rate limits. Pure: "now" is an argument.

The rules are enforced by the claim of each store, in the database (queries.sql: claim_limited);
this module holds what every store shares: the parser of rate limits ("10/s"), the validation of
caps, and the arithmetic of budgets and rate windows, which the memory and SQLite stores call
and PostgreSQL's SQL repeats.

- a **concurrency cap** of N (per job type, or per queue): at most N runs of it running at once
  across every worker;
- a **rate limit** of N per period: at most N runs of it start in each window of that length;
  windows are counted from the Unix epoch (UTC), like ``unique_for``'s, so every worker agrees
  on them without talking. Across a window's edge up to 2N can start within one period.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from zapjobs.errors import ValidationError
from zapjobs.models import RATE_PERIOD_NAMES, FlowLimit, LimitScope, RateLimit

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The period words a rate limit accepts, and their length in seconds.
RATE_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}
_RATE_RE = re.compile(r"\s*(\d+)\s*/\s*([a-z]+)\s*")
RATE_HINT = 'write N/s, N/m (or N/min) or N/h, e.g. "10/s"'
#: The largest cap or count a limit may hold (the columns are 32-bit integers).
MAX_LIMIT = 2_000_000_000


def parse_rate_limit(value: object, *, what: str = "rate_limit") -> RateLimit:
    """``"10/s"``, ``"600/min"``, ``"1000/h"`` (or a RateLimit) as a RateLimit."""
    if isinstance(value, RateLimit):
        return check_rate_limit(value, what=what)
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text like '10/s', got {value!r}", hint=RATE_HINT)
    match = _RATE_RE.fullmatch(value.lower())
    if match is None or match.group(2) not in RATE_UNITS:
        raise ValidationError(f"invalid {what} {value!r}", hint=RATE_HINT)
    limit = RateLimit(int(match.group(1)), RATE_UNITS[match.group(2)])
    return check_rate_limit(limit, what=what, given=value)


def check_rate_limit(limit: RateLimit, *, what: str, given: object = None) -> RateLimit:
    shown = limit if given is None else given
    if not 1 <= limit.count <= MAX_LIMIT:
        raise ValidationError(
            f"{what} {shown!r} must allow at least 1 start per period", hint=RATE_HINT
        )
    if limit.period_seconds not in RATE_PERIOD_NAMES:
        raise ValidationError(f"invalid {what} {shown!r}", hint=RATE_HINT)
    return limit


def check_max_concurrency(value: object, *, what: str = "max_concurrency") -> int:
    """A cap: a whole number from 1 up."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number, got {value!r}", hint="e.g. 2")
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationError(
            f"{what} must be at least 1, got {value}",
            hint="leave it unset for no cap; pause the queue to stop claims",
        )
    return value


def window_index(period_seconds: int, now: datetime) -> int:
    """The number of the rate window (of ``period_seconds``, from the Unix epoch) holding now."""
    return (now - _EPOCH) // timedelta(seconds=period_seconds)


def window_end(period_seconds: int, index: int) -> datetime:
    """When window ``index`` ends: the next start allowed by an exhausted limit."""
    return _EPOCH + timedelta(seconds=period_seconds * (index + 1))


def rate_budget(
    limit: RateLimit, used_window: int | None, used: int, now: datetime
) -> tuple[int, datetime]:
    """(starts still allowed in the window of ``now``, when that window ends), given the window
    (``used_window``) whose starts were counted (``used``) last."""
    index = window_index(limit.period_seconds, now)
    spent = used if used_window == index else 0
    return max(limit.count - spent, 0), window_end(limit.period_seconds, index)


@dataclass(frozen=True)
class LimitState:
    """A limits row as a claim reads it: the limits and the rate window's count of starts."""

    limit: FlowLimit
    window_index: int | None = None
    window_used: int = 0


#: How often a worker whose runs are held back by a concurrency cap looks again at most: the run
#: that frees the cap may end on another worker, whose outcome notifies no one. Its own worker
#: claims again at once; this bounds the wait of the others (instead of the polling interval).
CAP_RECHECK = timedelta(seconds=1)


@dataclass(frozen=True)
class Budgets:
    """Starts allowed now per limited job type and queue (absent: unlimited), those with none
    left ("held"), and when to look again at the earliest: a used-up rate window's end, or
    CAP_RECHECK from now for a cap reached."""

    jobs: dict[str, int]
    queues: dict[str, int]
    reopens: datetime | None

    @property
    def held_jobs(self) -> frozenset[str]:
        return frozenset(k for k, v in self.jobs.items() if v <= 0)

    @property
    def held_queues(self) -> frozenset[str]:
        return frozenset(k for k, v in self.queues.items() if v <= 0)


def limit_budget(
    state: LimitState, running: int, now: datetime
) -> tuple[int | None, datetime | None]:
    """(starts allowed now, or None when unlimited; when to look again if none: the rate
    window's end when the rate is used up, else CAP_RECHECK from now) of one job type's or
    queue's limits, with ``running`` of its runs running."""
    limit = state.limit
    budget: int | None = None
    reopens = None
    cap = limit.effective_max_concurrency
    if cap is not None:
        budget = max(cap - running, 0)
    rate = limit.effective_rate_limit
    if rate is not None:
        left, end = rate_budget(rate, state.window_index, state.window_used, now)
        budget = left if budget is None else min(budget, left)
        if left == 0:
            reopens = end
    if budget == 0 and reopens is None:
        reopens = now + CAP_RECHECK
    return budget, reopens


def budgets(
    states: Iterable[LimitState], running: Iterable[tuple[str, str]], now: datetime
) -> Budgets:
    """The budgets of a claim's limits; ``running``: (job type, queue) of every running run."""
    by_job: Counter[str] = Counter()
    by_queue: Counter[str] = Counter()
    for job_type, queue in running:
        by_job[job_type] += 1
        by_queue[queue] += 1
    jobs: dict[str, int] = {}
    queues: dict[str, int] = {}
    reopens: list[datetime] = []
    for state in states:
        is_job = state.limit.scope is LimitScope.JOB
        counts = by_job if is_job else by_queue
        budget, opens = limit_budget(state, counts[state.limit.name], now)
        if budget is None:
            continue
        (jobs if is_job else queues)[state.limit.name] = budget
        if opens is not None:
            reopens.append(opens)
    return Budgets(jobs, queues, min(reopens, default=None))


def spend(
    states: Iterable[LimitState], started: Iterable[tuple[str, str]], now: datetime
) -> list[LimitState]:
    """The limits a claim started runs of ((job type, queue) of each), with their rate windows
    counting those starts: what the claim writes back."""
    by_job: Counter[str] = Counter()
    by_queue: Counter[str] = Counter()
    for job_type, queue in started:
        by_job[job_type] += 1
        by_queue[queue] += 1
    changed = []
    for state in states:
        counts = by_job if state.limit.scope is LimitScope.JOB else by_queue
        n = counts[state.limit.name]
        if n == 0:
            continue
        rate = state.limit.effective_rate_limit
        if rate is None:
            changed.append(state)
            continue
        index = window_index(rate.period_seconds, now)
        used = (state.window_used if state.window_index == index else 0) + n
        changed.append(LimitState(state.limit, index, used))
    return changed


def choose_runs(
    candidates: Iterable[T],
    *,
    key: Callable[[T], tuple[str, str]],
    job_budgets: Mapping[str, int],
    queue_budgets: Mapping[str, int],
    limit: int,
) -> list[T]:
    """The candidates (in claim order; ``key`` gives each one's job type and queue) a limited
    claim takes: in order, skipping those whose job type or queue has no start left, up to
    ``limit``. A capped job type never blocks the runs behind it."""
    taken_jobs: dict[str, int] = {}
    taken_queues: dict[str, int] = {}
    chosen: list[T] = []
    for candidate in candidates:
        if len(chosen) >= limit:
            break
        job_type, queue = key(candidate)
        job_left = job_budgets.get(job_type)
        queue_left = queue_budgets.get(queue)
        if job_left is not None and taken_jobs.get(job_type, 0) >= job_left:
            continue
        if queue_left is not None and taken_queues.get(queue, 0) >= queue_left:
            continue
        taken_jobs[job_type] = taken_jobs.get(job_type, 0) + 1
        taken_queues[queue] = taken_queues.get(queue, 0) + 1
        chosen.append(candidate)
    return chosen
