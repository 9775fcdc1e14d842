"""Recurring schedules: build and validate one, compute its due times, and plan what a scheduler
enqueues when it finds the schedule due.

Catch-up after downtime (the due times missed while no scheduler ran are never replayed one by
one; "due times <= now" are the ticks from the stored ``next_due_at`` up to now):
- LATEST (default): one run, for the latest due time <= now.
- SKIP: one run only if ``next_due_at`` is the only due time <= now, i.e. the scheduler is less
  than one period late (the next due time is still in the future); if a later due time has also
  passed, the ticks were missed and nothing runs.
Either way the schedule continues at the first due time strictly after now. Intervals are fixed
durations from the first due time (not wall clock), computed by arithmetic; CRON catch-up finds
the latest due time directly, so a long downtime costs no iteration per missed tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from zapjobs.core.cron import latest_cron_time, load_timezone, next_cron_time, parse_cron
from zapjobs.errors import ScheduleError
from zapjobs.models import CatchUp, Schedule, ScheduleKind

MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=36500)


@dataclass(frozen=True)
class FirePlan:
    """What one scheduler pass does with a due schedule: enqueue ``due_times`` (maybe none) and
    move the schedule to ``new_next_due_at``."""

    due_times: tuple[datetime, ...]
    new_next_due_at: datetime


def make_schedule(
    *,
    cron: str | None = None,
    interval: timedelta | int | float | None = None,
    timezone: str = "UTC",
    catch_up: CatchUp | str = CatchUp.LATEST,
    input_json: str = "null",
) -> Schedule:
    """A validated Schedule from exactly one of ``cron`` and ``interval`` (>= 1 second)."""
    if (cron is None) == (interval is None):
        raise ScheduleError("a recurring schedule needs exactly one of cron= and interval=")
    load_timezone(timezone)
    policy = _catch_up(catch_up)
    if cron is not None:
        spec = parse_cron(cron)
        return Schedule(
            kind=ScheduleKind.CRON,
            expression=spec.expression,
            timezone=timezone.strip(),
            catch_up=policy,
            input_json=input_json,
        )
    assert interval is not None
    return Schedule(
        kind=ScheduleKind.INTERVAL,
        expression=format_interval(_interval(interval)),
        timezone=timezone.strip(),
        catch_up=policy,
        input_json=input_json,
    )


def validate_schedule(schedule: Schedule) -> None:
    """Check a schedule read back from storage (its expression, zone and policy)."""
    load_timezone(schedule.timezone)
    _catch_up(schedule.catch_up)
    if schedule.kind is ScheduleKind.CRON:
        parse_cron(schedule.expression)
    else:
        interval_of(schedule)


def interval_of(schedule: Schedule) -> timedelta:
    """The fixed period of an interval schedule (its expression is seconds as text)."""
    if schedule.kind is not ScheduleKind.INTERVAL:
        raise ScheduleError(f"schedule {schedule.expression!r} is a cron schedule, not an interval")
    try:
        seconds = float(schedule.expression)
    except ValueError:
        raise ScheduleError(
            f"invalid interval {schedule.expression!r}: expected a number of seconds"
        ) from None
    return _interval(timedelta(seconds=seconds))


def format_interval(interval: timedelta) -> str:
    """Whole seconds as ``"1800"``, fractions exactly to the microsecond (``"1.5"``)."""
    whole = interval.days * 86400 + interval.seconds
    if not interval.microseconds:
        return str(whole)
    return f"{whole}.{interval.microseconds:06d}".rstrip("0")


def next_due_after(schedule: Schedule, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (aware UTC). An interval counts from
    ``after`` itself: it is the anchor of a new schedule."""
    after = _utc(after)
    if schedule.kind is ScheduleKind.INTERVAL:
        return after + interval_of(schedule)
    return next_cron_time(schedule.expression, schedule.timezone, after)


def plan_fire(schedule: Schedule, next_due_at: datetime | None, now: datetime) -> FirePlan:
    """The runs to enqueue for a schedule found due at ``now`` (see the module docstring)."""
    now = _utc(now)
    if next_due_at is None:  # a new (or reset) schedule starts counting from now
        return FirePlan((), next_due_after(schedule, now))
    next_due_at = _utc(next_due_at)
    if next_due_at > now:
        return FirePlan((), next_due_at)
    latest, following = _latest_and_following(schedule, next_due_at, now)
    policy = _catch_up(schedule.catch_up)
    if policy is CatchUp.LATEST:
        return FirePlan((latest,), following)
    on_time = latest == next_due_at
    return FirePlan((latest,) if on_time else (), following)


def _latest_and_following(
    schedule: Schedule, next_due_at: datetime, now: datetime
) -> tuple[datetime, datetime]:
    """The latest due time <= now (never before ``next_due_at``) and the first one after now."""
    if schedule.kind is ScheduleKind.INTERVAL:
        period = interval_of(schedule)
        latest = next_due_at + period * ((now - next_due_at) // period)
        return latest, latest + period
    latest = latest_cron_time(schedule.expression, schedule.timezone, now)
    # a stored next_due_at that the expression does not produce (it was edited) still counts
    latest = max(latest, next_due_at)
    return latest, next_cron_time(schedule.expression, schedule.timezone, now)


def _interval(value: timedelta | int | float) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise ScheduleError(
            f"interval must be a timedelta, got {type(value).__name__}",
            hint="e.g. interval=timedelta(minutes=30)",
        )
    try:
        interval = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except (OverflowError, ValueError):  # inf, nan, beyond what a timedelta holds
        interval = MAX_INTERVAL * 2
    if interval < MIN_INTERVAL:
        raise ScheduleError(
            f"interval must be at least 1 second, got {interval.total_seconds():g} s",
            hint="e.g. interval=timedelta(seconds=30)",
        )
    if interval > MAX_INTERVAL:  # due times past year 9999 cannot be computed or stored
        raise ScheduleError(
            f"interval must be at most {MAX_INTERVAL.days} days, got {value!r}",
            hint="e.g. interval=timedelta(days=365)",
        )
    return interval


def _catch_up(value: CatchUp | str) -> CatchUp:
    try:
        return CatchUp(value)
    except ValueError:
        choices = ", ".join(policy.value for policy in CatchUp)
        raise ScheduleError(f"unknown catch-up policy {value!r}; use one of {choices}") from None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("schedule times must be timezone-aware datetimes")
    return moment.astimezone(UTC)
