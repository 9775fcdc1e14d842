"""CRON validation and due times, across the DST changes of Europe/Paris and America/New_York.

2026: Paris springs forward on 29 March (02:00 CET -> 03:00 CEST, at 01:00 UTC) and falls back on
25 October (03:00 CEST -> 02:00 CET, at 01:00 UTC). New York springs forward on 8 March
(02:00 EST -> 03:00 EDT, at 07:00 UTC) and falls back on 1 November (02:00 EDT -> 01:00 EST, at
06:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zapjobs.core.cron import latest_cron_time, next_cron_time, parse_cron, validate_cron
from zapjobs.errors import ScheduleError

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def due_times(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every due time in (start, end]."""
    times: list[datetime] = []
    moment = next_cron_time(expression, zone, start)
    while moment <= end:
        times.append(moment)
        moment = next_cron_time(expression, zone, moment)
    return times


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z")


# --- spring forward ---------------------------------------------------------------------------
def test_paris_hourly_on_spring_forward_runs_the_missing_hour_once_at_03_00() -> None:
    times = due_times("0 * * * *", PARIS, utc("2026-03-28 23:30"), utc("2026-03-29 02:30"))
    assert times == [utc("2026-03-29 00:00"), utc("2026-03-29 01:00"), utc("2026-03-29 02:00")]
    assert [local(t, PARIS) for t in times] == [
        "03-29 01:00+0100",
        "03-29 03:00+0200",  # 02:00 does not exist; it and 03:00 are one run
        "03-29 04:00+0200",
    ]


def test_paris_daily_0230_on_spring_forward_runs_once_at_03_00() -> None:
    times = due_times("30 2 * * *", PARIS, utc("2026-03-27 12:00"), utc("2026-03-30 12:00"))
    assert [local(t, PARIS) for t in times] == [
        "03-28 02:30+0100",
        "03-29 03:00+0200",
        "03-30 02:30+0200",
    ]


def test_new_york_daily_0230_on_spring_forward_runs_once_at_03_00() -> None:
    times = due_times("30 2 * * *", NEW_YORK, utc("2026-03-07 12:00"), utc("2026-03-09 12:00"))
    assert times == [utc("2026-03-08 07:00"), utc("2026-03-09 06:30")]
    assert local(times[0], NEW_YORK) == "03-08 03:00-0400"


def test_new_york_hourly_on_spring_forward_has_23_runs_that_day() -> None:
    start = utc("2026-03-08 05:00") - timedelta(microseconds=1)  # 00:00 EST, included
    times = due_times("0 * * * *", NEW_YORK, start, utc("2026-03-09 03:59"))
    assert len(times) == 23
    assert len(set(times)) == 23
    assert "03-08 02:00" not in {local(t, NEW_YORK)[:11] for t in times}


def test_every_minute_inside_the_gap_collapses_into_one_run() -> None:
    times = due_times("* 2 * * *", PARIS, utc("2026-03-28 00:00"), utc("2026-03-29 12:00"))
    assert len(times) == 61  # the 28th's 02:00-02:59, then the 29th's whole hour as one run
    assert times[-1] == utc("2026-03-29 01:00")
    assert times[-2] == utc("2026-03-28 01:59")


# --- fall back --------------------------------------------------------------------------------
def test_paris_hourly_on_fall_back_runs_the_repeated_hour_once() -> None:
    times = due_times("0 * * * *", PARIS, utc("2026-10-24 22:30"), utc("2026-10-25 02:30"))
    assert times == [utc("2026-10-24 23:00"), utc("2026-10-25 00:00"), utc("2026-10-25 02:00")]
    assert [local(t, PARIS) for t in times] == [
        "10-25 01:00+0200",
        "10-25 02:00+0200",  # 02:00 CET (01:00 UTC) is the same wall time: not run again
        "10-25 03:00+0100",
    ]


def test_paris_daily_0230_on_fall_back_runs_once_at_the_first_occurrence() -> None:
    times = due_times("30 2 * * *", PARIS, utc("2026-10-24 12:00"), utc("2026-10-26 12:00"))
    assert times == [utc("2026-10-25 00:30"), utc("2026-10-26 01:30")]
    assert local(times[0], PARIS) == "10-25 02:30+0200"


def test_new_york_daily_0130_on_fall_back_runs_once() -> None:
    times = due_times("30 1 * * *", NEW_YORK, utc("2026-10-31 12:00"), utc("2026-11-02 12:00"))
    assert times == [utc("2026-11-01 05:30"), utc("2026-11-02 06:30")]
    assert local(times[0], NEW_YORK) == "11-01 01:30-0400"


def test_new_york_hourly_on_fall_back_has_24_runs_in_25_hours() -> None:
    start = utc("2026-11-01 04:00") - timedelta(microseconds=1)  # 00:00 EDT, included
    times = due_times("0 * * * *", NEW_YORK, start, utc("2026-11-02 04:59"))
    assert len(times) == 24
    assert utc("2026-11-01 06:00") not in times  # 01:00 EST, the repeat of 01:00 EDT


def test_next_time_asked_from_inside_the_repeated_hour() -> None:
    # 01:10 UTC is 02:10 CET, the second pass; 02:20/02:40 CET repeat wall times already run
    assert next_cron_time("*/20 * * * *", PARIS, utc("2026-10-25 01:10")) == utc("2026-10-25 02:00")
    assert next_cron_time("30 2 * * *", PARIS, utc("2026-10-25 01:10")) == utc("2026-10-26 01:30")
    # and from the first pass, the rest of the first pass is still due
    assert next_cron_time("*/20 * * * *", PARIS, utc("2026-10-25 00:10")) == utc("2026-10-25 00:20")


def test_latest_time_across_dst() -> None:
    assert latest_cron_time("0 * * * *", PARIS, utc("2026-03-29 01:00")) == utc("2026-03-29 01:00")
    assert latest_cron_time("30 2 * * *", PARIS, utc("2026-03-29 01:30")) == utc("2026-03-29 01:00")
    # inside the second pass of 02:00-03:00 CET: the latest is the first pass's 02:40 CEST
    assert latest_cron_time("*/20 * * * *", PARIS, utc("2026-10-25 01:50")) == utc(
        "2026-10-25 00:40"
    )


ZONES = st.sampled_from([PARIS, NEW_YORK, "UTC", "Australia/Lord_Howe", "Asia/Kolkata"])
EXPRESSIONS = st.sampled_from(
    ["0 * * * *", "30 2 * * *", "*/20 * * * *", "15 1,2,3 * * *", "0 0 * * MON", "*/7 * * * * *"]
)
MOMENTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(expression=EXPRESSIONS, zone=ZONES, moment=MOMENTS)
def test_latest_and_next_bracket_any_moment(expression: str, zone: str, moment: datetime) -> None:
    latest = latest_cron_time(expression, zone, moment)
    following = next_cron_time(expression, zone, moment)
    assert latest <= moment < following
    assert next_cron_time(expression, zone, latest) == following


# --- syntax -----------------------------------------------------------------------------------
def test_six_fields_have_seconds_first() -> None:
    assert next_cron_time("*/15 * * * * *", "UTC", utc("2026-01-01 10:00:07")) == utc(
        "2026-01-01 10:00:15"
    )
    assert next_cron_time("30 0 12 * * *", "UTC", utc("2026-01-01 12:00:30")) == utc(
        "2026-01-02 12:00:30"
    )


def test_next_time_is_strictly_after() -> None:
    assert next_cron_time("0 * * * *", "UTC", utc("2026-01-01 10:00")) == utc("2026-01-01 11:00")
    assert next_cron_time("0 * * * *", "UTC", utc("2026-01-01 09:59:59.999999")) == utc(
        "2026-01-01 10:00"
    )


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", "2026-01-07 11:00"),
        ("@daily", "2026-01-08 00:00"),
        ("@midnight", "2026-01-08 00:00"),
        ("@weekly", "2026-01-11 00:00"),  # Sunday
        ("@monthly", "2026-02-01 00:00"),
        ("@yearly", "2027-01-01 00:00"),
        ("@annually", "2027-01-01 00:00"),
        ("@DAILY", "2026-01-08 00:00"),
    ],
)
def test_aliases(alias: str, expected: str) -> None:
    assert next_cron_time(alias, "UTC", utc("2026-01-07 10:30")) == utc(expected)


def test_named_days_and_months() -> None:
    saturday = utc("2026-01-03 12:00")
    assert next_cron_time("0 9 * * MON-FRI", "UTC", saturday) == utc("2026-01-05 09:00")
    assert next_cron_time("0 9 * * sun", "UTC", saturday) == utc("2026-01-04 09:00")
    assert next_cron_time("0 0 1 JAN,JUL *", "UTC", saturday) == utc("2026-07-01 00:00")
    assert next_cron_time("0 0 * * 5L", "UTC", saturday) == utc("2026-01-30 00:00")  # last Fri
    assert next_cron_time("0 0 * * MON#2", "UTC", saturday) == utc("2026-01-12 00:00")


def test_a_time_zone_shifts_the_wall_clock() -> None:
    assert next_cron_time("0 9 * * *", PARIS, utc("2026-01-01 00:00")) == utc("2026-01-01 08:00")
    assert next_cron_time("0 9 * * *", PARIS, utc("2026-07-01 00:00")) == utc("2026-07-01 07:00")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "61 * * * *",
            "invalid cron expression '61 * * * *': minute field: 61 is out of range 0-59",
        ),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("60 0 0 * * *", "second field: 60 is out of range 0-59"),
        ("0 0 * * FUNDAY", "day-of-week field: 'FUNDAY' is not a number 0-7 or a name like SUN"),
        ("0 0 * FOO *", "month field: 'FOO' is not a number 1-12"),
        ("*/0 * * * *", "minute field: step '0' must be a whole number of 1 or more"),
        ("1,,2 * * * *", "minute field: empty list item"),
        ("5- * * * *", "minute field: a range needs a value on both sides"),
        ("? * * * *", "minute field: '?' is not a number 0-59"),
        ("0 0 * * MON#6", "day-of-week field: 'MON#6': the week number after '#' must be 1-5"),
        ("H * * * *", "minute field: 'H' (hashed) values are not supported"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6"),
        ("* * * * * * *", "got 7"),
        ("", "got 0"),
        ("0 0 30 2 *", "no date matches it"),
        ("@reboot", "unknown alias"),
        (
            "*/99999999999999999999 * * * *",
            "minute field: step 99999999999999999999 is out of range 1-60",
        ),
        ("0 */25 * * *", "hour field: step 25 is out of range 1-24"),
        ("0 0 1-31/32 * *", "day-of-month field: step 32 is out of range 1-31"),
        ("0 0 * */13 *", "month field: step 13 is out of range 1-12"),
        ("0 0 * * MON-FRI/9", "day-of-week field: step 9 is out of range 1-8"),
        ("*/61 * * * * *", "second field: step 61 is out of range 1-60"),
        ("0 " + ",".join(["1"] * 25) + " * * *", "hour field: a list of 25 items; at most 24"),
        ("0 0 * * " + ",".join(["MON"] * 9), "day-of-week field: a list of 9 items; at most 8"),
    ],
)
def test_invalid_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"invalid cron expression {expression!r}")


def test_unknown_time_zone() -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_cron("0 * * * *", "Europe/Pariss")
    assert (
        str(caught.value) == "unknown time zone 'Europe/Pariss'; use an IANA name like Europe/Paris"
    )
    with pytest.raises(ScheduleError, match="unknown time zone"):
        next_cron_time("0 * * * *", "../etc/passwd", utc("2026-01-01 00:00"))


def test_an_absurdly_long_expression_is_refused_without_echoing_it() -> None:
    expression = ",".join(["1"] * 50_000) + " * * * *"
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    message = str(caught.value)
    assert "(100,007 characters): at most 1,000 characters" in message
    assert len(message) < 200


FIELD_SIZES = {"second": 60, "minute": 60, "hour": 24, "day-of-month": 31, "month": 12}
SIX_FIELDS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")


@settings(max_examples=200, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=5),
    step=st.integers(min_value=1, max_value=10**30),
    base=st.sampled_from(["*", "{low}", "{low}-{high}"]),
)
def test_a_step_past_the_field_size_is_refused_naming_the_field(
    position: int, step: int, base: str
) -> None:
    name = SIX_FIELDS[position]
    size = FIELD_SIZES.get(name, 8)
    low = 1 if name in ("day-of-month", "month") else 0
    item = base.format(low=low, high=low + size - 1 if name != "day-of-week" else 6)
    parts = ["0", "0", "0", "1", "*", "*"]
    parts[position] = f"{item}/{step}"
    expression = " ".join(parts)
    if step <= size:
        parse_cron(expression)
        return
    with pytest.raises(ScheduleError) as caught:
        parse_cron(expression)
    assert f"{name} field: step {step} is out of range 1-{size}" in str(caught.value)


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0, max_value=5), extra=st.integers(1, 200))
def test_a_list_longer_than_the_field_is_refused_naming_the_field(
    position: int, extra: int
) -> None:
    name = SIX_FIELDS[position]
    size = FIELD_SIZES.get(name, 8)
    parts = ["0", "0", "0", "1", "*", "*"]
    parts[position] = ",".join(["1"] * (size + extra))
    with pytest.raises(ScheduleError) as caught:
        parse_cron(" ".join(parts))
    assert f"{name} field: a list of {size + extra} items; at most {size}" in str(caught.value)


@pytest.mark.parametrize(
    "zone",
    ["localtime", "posixrules", "Factory", "/etc/localtime", "/usr/share/zoneinfo/UTC",
     "../zoneinfo/UTC", "Europe/../Europe/Paris", "posix/Europe/Paris", "right/UTC", "zone.tab",
     "tzdata.zi", "Europe/Paris/"],
)  # fmt: skip
def test_only_iana_zone_names_are_time_zones(zone: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_cron("0 * * * *", zone)
    assert str(caught.value) == f"unknown time zone {zone!r}; use an IANA name like Europe/Paris"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "US/Eastern", "Etc/GMT+5", "GMT"])
def test_iana_names_and_links_are_time_zones(zone: str) -> None:
    validate_cron("0 * * * *", zone)


def test_expression_whitespace_is_normalised() -> None:
    assert parse_cron("  0   2 * *  * ").expression == "0 2 * * *"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_cron_time("0 * * * *", "UTC", datetime(2026, 1, 1))
