"""Building schedules, interval due times and the catch-up plan (explicit times only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zapjobs.core.schedule import (
    FirePlan,
    interval_of,
    make_schedule,
    next_due_after,
    plan_fire,
    validate_schedule,
)
from zapjobs.errors import ScheduleError
from zapjobs.models import CatchUp, Schedule, ScheduleKind

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- make_schedule ----------------------------------------------------------------------------
def test_make_cron_schedule() -> None:
    schedule = make_schedule(
        cron=" 0  2 * * * ", timezone="Europe/Paris", catch_up="skip", input_json='{"a": 1}'
    )
    assert schedule == Schedule(
        kind=ScheduleKind.CRON,
        expression="0 2 * * *",
        timezone="Europe/Paris",
        catch_up=CatchUp.SKIP,
        input_json='{"a": 1}',
    )


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        (timedelta(minutes=30), "1800"),
        (timedelta(seconds=1), "1"),
        (timedelta(seconds=1.5), "1.5"),
        (timedelta(days=2, microseconds=250), "172800.00025"),
        (90, "90"),
    ],
)
def test_make_interval_schedule_stores_seconds(interval: timedelta | int, text: str) -> None:
    schedule = make_schedule(interval=interval)
    assert schedule.kind is ScheduleKind.INTERVAL
    assert schedule.expression == text
    assert schedule.catch_up is CatchUp.LATEST
    expected = interval if isinstance(interval, timedelta) else timedelta(seconds=interval)
    assert interval_of(schedule) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of cron= and interval="),
        ({"cron": "@daily", "interval": timedelta(hours=1)}, "exactly one of cron= and interval="),
        ({"interval": timedelta(milliseconds=999)}, "interval must be at least 1 second"),
        ({"interval": timedelta(0)}, "interval must be at least 1 second"),
        ({"interval": timedelta(seconds=-5)}, "interval must be at least 1 second"),
        ({"interval": "30m"}, "interval must be a timedelta"),
        ({"cron": "61 * * * *"}, "minute field: 61 is out of range 0-59"),
        ({"cron": "@daily", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"cron": "@daily", "catch_up": "all"}, "unknown catch-up policy 'all'; use one of"),
    ],
)
def test_make_schedule_refuses(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        make_schedule(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_validate_stored_schedule() -> None:
    validate_schedule(make_schedule(interval=timedelta(seconds=5)))
    with pytest.raises(ScheduleError, match="expected a number of seconds"):
        validate_schedule(Schedule(ScheduleKind.INTERVAL, "every minute"))
    with pytest.raises(ScheduleError, match="day-of-week field"):
        validate_schedule(Schedule(ScheduleKind.CRON, "0 0 * * 9"))


# --- next_due_after ---------------------------------------------------------------------------
def test_interval_is_a_fixed_duration_not_wall_clock() -> None:
    daily = make_schedule(interval=timedelta(days=1), timezone="Europe/Paris")
    before_dst = utc("2026-03-28 23:00")  # midnight in Paris, CET
    after = next_due_after(daily, before_dst)
    assert after == utc("2026-03-29 23:00")  # 24 h later: 01:00 CEST, not midnight
    assert after - before_dst == timedelta(hours=24)


def test_cron_next_due_after_uses_the_time_zone() -> None:
    schedule = make_schedule(cron="0 9 * * *", timezone="America/New_York")
    assert next_due_after(schedule, utc("2026-01-01 00:00")) == utc("2026-01-01 14:00")


# --- plan_fire --------------------------------------------------------------------------------
def test_new_schedule_runs_nothing_and_starts_counting_from_now() -> None:
    interval = make_schedule(interval=timedelta(minutes=5))
    assert plan_fire(interval, None, T0) == FirePlan((), T0 + timedelta(minutes=5))
    hourly = make_schedule(cron="@hourly")
    assert plan_fire(hourly, None, utc("2026-01-01 10:20")) == FirePlan((), utc("2026-01-01 11:00"))


def test_not_yet_due_changes_nothing() -> None:
    schedule = make_schedule(cron="@hourly")
    assert plan_fire(schedule, utc("2026-01-01 11:00"), utc("2026-01-01 10:59")) == FirePlan(
        (), utc("2026-01-01 11:00")
    )


@pytest.mark.parametrize("policy", list(CatchUp))
def test_on_time_tick_runs_once_with_either_policy(policy: CatchUp) -> None:
    schedule = make_schedule(cron="*/10 * * * *", catch_up=policy)
    due = utc("2026-01-01 10:10")
    for now in (due, due + timedelta(seconds=1), due + timedelta(minutes=9, seconds=59)):
        assert plan_fire(schedule, due, now) == FirePlan((due,), utc("2026-01-01 10:20"))


def test_latest_after_downtime_runs_once_for_the_latest_due_time() -> None:
    schedule = make_schedule(interval=timedelta(minutes=1))
    plan = plan_fire(schedule, T0, T0 + timedelta(minutes=10, seconds=30))
    assert plan == FirePlan((T0 + timedelta(minutes=10),), T0 + timedelta(minutes=11))


def test_skip_after_downtime_runs_nothing_and_continues_after_now() -> None:
    schedule = make_schedule(interval=timedelta(minutes=1), catch_up=CatchUp.SKIP)
    plan = plan_fire(schedule, T0, T0 + timedelta(minutes=10, seconds=30))
    assert plan == FirePlan((), T0 + timedelta(minutes=11))
    cron = make_schedule(cron="0 2 * * *", timezone="Europe/Paris", catch_up=CatchUp.SKIP)
    # down from before the 1st's 02:00 until after the 3rd's: two ticks missed
    plan = plan_fire(cron, utc("2026-01-01 01:00"), utc("2026-01-03 05:00"))
    assert plan == FirePlan((), utc("2026-01-04 01:00"))


def test_skip_runs_a_late_tick_while_the_next_one_is_still_ahead() -> None:
    schedule = make_schedule(cron="0 2 * * *", catch_up=CatchUp.SKIP)
    plan = plan_fire(schedule, utc("2026-01-01 02:00"), utc("2026-01-01 23:00"))
    assert plan == FirePlan((utc("2026-01-01 02:00"),), utc("2026-01-02 02:00"))


def test_latest_after_a_long_downtime_is_computed_directly() -> None:
    every_second = make_schedule(interval=timedelta(seconds=1))
    now = T0 + timedelta(days=400, microseconds=1)  # 34 million missed ticks
    assert plan_fire(every_second, T0, now) == FirePlan(
        (T0 + timedelta(days=400),), T0 + timedelta(days=400, seconds=1)
    )
    cron = make_schedule(cron="* * * * * *")
    assert plan_fire(cron, T0, now) == FirePlan(
        (T0 + timedelta(days=400),), T0 + timedelta(days=400, seconds=1)
    )


def test_interval_catch_up_keeps_the_original_phase() -> None:
    schedule = make_schedule(interval=timedelta(seconds=7))
    start = T0 + timedelta(milliseconds=250)
    plan = plan_fire(schedule, start, start + timedelta(seconds=100))
    assert plan.due_times == (start + timedelta(seconds=98),)
    assert plan.new_next_due_at == start + timedelta(seconds=105)


def test_cron_catch_up_across_spring_forward() -> None:
    schedule = make_schedule(cron="0 * * * *", timezone="Europe/Paris")
    # last run planned for 01:00 CET; the scheduler comes back at 04:30 CEST
    plan = plan_fire(schedule, utc("2026-03-29 00:00"), utc("2026-03-29 02:30"))
    assert plan == FirePlan((utc("2026-03-29 02:00"),), utc("2026-03-29 03:00"))


def test_a_stored_due_time_off_the_grid_is_still_honoured() -> None:
    # the expression was edited; the stored next_due_at (10:07) is later than the grid's 10:00
    schedule = make_schedule(cron="@hourly")
    plan = plan_fire(schedule, utc("2026-01-01 10:07"), utc("2026-01-01 10:30"))
    assert plan == FirePlan((utc("2026-01-01 10:07"),), utc("2026-01-01 11:00"))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_fire(make_schedule(cron="@hourly"), None, datetime(2026, 1, 1))


def _brute_force(schedule: Schedule, next_due_at: datetime, now: datetime) -> FirePlan:
    missed = [next_due_at]
    while (following := next_due_after(schedule, missed[-1])) <= now:
        missed.append(following)
    if schedule.catch_up is CatchUp.LATEST or len(missed) == 1:
        return FirePlan((missed[-1],), following)
    return FirePlan((), following)


@settings(max_examples=100, deadline=None)
@given(
    expression=st.sampled_from(["*/5 * * * *", "0 * * * *", "30 2 * * *", "15 */20 * * * *"]),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
    policy=st.sampled_from(list(CatchUp)),
    start=st.datetimes(
        min_value=datetime(2026, 3, 1), max_value=datetime(2026, 11, 30), timezones=st.just(UTC)
    ),
    downtime=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30)),
)
def test_plan_matches_replaying_every_tick(
    expression: str, zone: str, policy: CatchUp, start: datetime, downtime: timedelta
) -> None:
    schedule = make_schedule(cron=expression, timezone=zone, catch_up=policy)
    next_due_at = next_due_after(schedule, start)
    now = next_due_at + downtime
    assert plan_fire(schedule, next_due_at, now) == _brute_force(schedule, next_due_at, now)
