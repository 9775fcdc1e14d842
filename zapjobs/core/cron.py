"""CRON expressions in an IANA time zone: validation with messages that name the field, and the
next (or latest) due time, computed in local wall time.

Syntax: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds FIRST (as
Quartz, Hangfire and Cronos write them); ``*``, ``?``, lists, ranges (a backwards range wraps,
e.g. ``FRI-MON``), steps, month and day names (JAN, MON), ``L`` and ``nW`` in day-of-month,
``n#k`` and ``Ln`` in day-of-week, and the aliases @yearly @annually @monthly @weekly @daily
@midnight @hourly. As in Vixie cron, when both day fields are restricted a day matching either
one matches.

Daylight saving (croniter evaluates naive wall times; the wall time -> instant step is ours):
- a wall time that does not exist (spring forward, e.g. 02:30 in Europe/Paris on the last Sunday
  of March) runs once, at the first instant after the gap (03:00 local). Several due times in
  one gap (an every-minute job) collapse into that one run.
- a wall time that occurs twice (fall back) runs once, at its first occurrence. The repeated
  wall times are not run again, so an hourly or every-minute job pauses during the repeated
  hour: it follows the wall clock, it is not an interval (use ``interval=`` for that).
"""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from zapjobs.errors import ScheduleError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIVE_FIELDS = "minute hour day-of-month month day-of-week"
_SHAPE_HINT = f"expected 5 fields ({_FIVE_FIELDS}) or 6 with seconds first"
_MAX_CANDIDATES = 1000  # a few suffice; the bound only guards against a surprise
MAX_EXPRESSION_LENGTH = 1000  # longer is a mistake or an attack, never a schedule


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i
    question: bool = False  # "?" allowed

    @property
    def size(self) -> int:
        """How many values the field has: the largest useful step, the longest useful list."""
        return self.high - self.low + 1


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, question=True)
_MONTH = _Field("month", 1, 12, names=_MONTHS)
_DAY_OF_WEEK = _Field("day-of-week", 0, 7, names=_DAYS, question=True)
_LAYOUT_5 = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK)
_LAYOUT_6 = (_SECOND, *_LAYOUT_5)

_NUMBER = re.compile(r"\d+")
_WEEKDAY_NTH = re.compile(r"([A-Za-z]+|\d+)#(\d+)")
_WEEKDAY_LAST = re.compile(r"L([A-Za-z]+|\d+)|([A-Za-z]+|\d+)L", re.IGNORECASE)
_NEAREST_WEEKDAY = re.compile(r"(\d+)W", re.IGNORECASE)


@dataclass(frozen=True)
class CronSpec:
    """A validated expression: ``expression`` as stored, ``fields`` as croniter gets them."""

    expression: str
    fields: tuple[str, ...]
    has_seconds: bool

    def iterator(self, start: datetime) -> Any:
        return croniter(
            " ".join(self.fields),
            start,
            ret_type=datetime,
            second_at_beginning=self.has_seconds,
        )


class _FieldError(Exception):
    pass


def parse_cron(expression: str) -> CronSpec:
    """Validate ``expression``; raise ScheduleError naming the field that is wrong and why."""
    if not isinstance(expression, str):
        raise ScheduleError(f"a cron expression must be text, got {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ScheduleError(
            f"invalid cron expression {expression[:40]!r}... ({len(expression):,} characters): "
            f"at most {MAX_EXPRESSION_LENGTH:,} characters",
            hint="e.g. 0 3 * * *",
        )
    return _parse_cron(" ".join(expression.split()))


@lru_cache(maxsize=512)
def _parse_cron(expression: str) -> CronSpec:
    text = ALIASES.get(expression.lower(), expression)
    if text.startswith("@"):
        raise _invalid(expression, "unknown alias; use " + ", ".join(ALIASES))
    parts = tuple(text.split())
    if len(parts) not in (5, 6):
        raise _invalid(expression, f"{_SHAPE_HINT}, got {len(parts)}")
    layout = _LAYOUT_6 if len(parts) == 6 else _LAYOUT_5
    for field, part in zip(layout, parts, strict=True):
        try:
            _check_field(field, part)
        except _FieldError as exc:
            raise _invalid(expression, f"{field.name} field: {exc}") from None
    fields = (*parts[:-1], _quartz_last_weekday(parts[-1]))
    spec = CronSpec(expression=expression, fields=fields, has_seconds=len(parts) == 6)
    try:
        spec.iterator(datetime(2000, 1, 1)).get_next()
    except CroniterError as exc:
        reason = "no date matches it" if "find next" in str(exc) else str(exc)
        raise _invalid(expression, reason) from None
    return spec


def _quartz_last_weekday(part: str) -> str:
    """Quartz writes the last Friday of the month ``5L``; croniter wants ``L5``."""
    items = []
    for item in part.split(","):
        last = _WEEKDAY_LAST.fullmatch(item)
        items.append(f"L{last.group(2)}" if last and last.group(2) else item)
    return ",".join(items)


def _invalid(expression: str, reason: str) -> ScheduleError:
    return ScheduleError(f"invalid cron expression {expression!r}: {reason}")


def _check_field(field: _Field, part: str) -> None:
    if part == "?" and field.question:
        return
    items = part.split(",")
    if len(items) > field.size:
        raise _FieldError(f"a list of {len(items)} items; at most {field.size}")
    for item in items:
        if not item:
            raise _FieldError(f"empty list item in {part!r}")
        _check_item(field, item)


def _check_item(field: _Field, item: str) -> None:
    base, slash, step = item.partition("/")
    if slash and (not _NUMBER.fullmatch(step) or int(step) < 1):
        raise _FieldError(f"step {step!r} must be a whole number of 1 or more")
    if slash and int(step) > field.size:
        raise _FieldError(f"step {int(step)} is out of range 1-{field.size}")
    if base == "*":
        return
    if base == "?" and field.question:
        if slash:
            raise _FieldError("'?' takes no step")
        return
    if field is _DAY_OF_MONTH and _check_day_of_month_special(base, slash):
        return
    if field is _DAY_OF_WEEK and _check_day_of_week_special(base, slash):
        return
    low, dash, high = base.partition("-")
    _value(field, low)
    if dash:
        _value(field, high)


def _check_day_of_month_special(base: str, slash: str) -> bool:
    nearest = _NEAREST_WEEKDAY.fullmatch(base)
    if base.upper() != "L" and not nearest:
        return False
    if slash:
        raise _FieldError(f"{base!r} takes no step")
    if nearest:
        _value(_DAY_OF_MONTH, nearest.group(1))
    return True


def _check_day_of_week_special(base: str, slash: str) -> bool:
    nth = _WEEKDAY_NTH.fullmatch(base)
    last = _WEEKDAY_LAST.fullmatch(base)
    if not nth and not last:
        return False
    if slash:
        raise _FieldError(f"{base!r} takes no step")
    if nth:
        _value(_DAY_OF_WEEK, nth.group(1))
        if not 1 <= int(nth.group(2)) <= 5:
            raise _FieldError(f"{base!r}: the week number after '#' must be 1-5")
        return True
    assert last is not None
    day = last.group(1) or last.group(2)
    _value(_DAY_OF_WEEK, day)
    return True


def _value(field: _Field, text: str) -> int:
    if _NUMBER.fullmatch(text):
        value = int(text)
        if not field.low <= value <= field.high:
            raise _FieldError(f"{value} is out of range {field.low}-{field.high}")
        return value
    if field.names and text.upper() in field.names:
        return field.low + field.names.index(text.upper())
    if text.upper() == "H":
        raise _FieldError("'H' (hashed) values are not supported")
    if not text:
        raise _FieldError("a range needs a value on both sides of '-'")
    allowed = f"a number {field.low}-{field.high}"
    if field.names:
        allowed += f" or a name like {field.names[0]}"
    raise _FieldError(f"{text!r} is not {allowed}")


def load_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; any other name (a path, ``localtime``, a file only this host
    has) raises ScheduleError, so a schedule means the same on every machine."""
    if not isinstance(name, str) or not name.strip():
        raise _unknown_zone(name)
    return _load_timezone(name.strip())


@lru_cache(maxsize=128)
def _load_timezone(name: str) -> ZoneInfo:
    if name not in iana_zone_names():
        raise _unknown_zone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _unknown_zone(name) from None


def _unknown_zone(name: object) -> ScheduleError:
    return ScheduleError(f"unknown time zone {name!r}; use an IANA name like Europe/Paris")


#: Files that sit among the zones on many hosts but are not IANA zone names: the host's own
#: zone, the template of POSIX rules, and the placeholder zone of unconfigured machines.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def iana_zone_names() -> frozenset[str]:
    """The zone and link names of the IANA tz database, read once: its own index (``tzdata.zi``
    on the zone path, or the ``tzdata`` package's list) where there is one, so a file added on
    one host is not a zone; else every zone Python finds. Always with UTC."""
    names: set[str] = set()
    for root in zoneinfo.TZPATH:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            names |= _zi_names(Path(root, "tzdata.zi").read_text(encoding="utf-8"))
    with contextlib.suppress(ImportError, OSError, UnicodeDecodeError):
        names |= set(resources.files("tzdata").joinpath("zones").read_text("utf-8").split())
    if not names:
        names = zoneinfo.available_timezones()
    return frozenset(names - _NOT_ZONES | {"UTC"})


def _zi_names(text: str) -> set[str]:
    """Names in a ``tzdata.zi`` index: ``Z name ...`` (a zone) and ``L target name`` (a link)."""
    names: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "Z":
            names.add(parts[1])
        elif len(parts) >= 3 and parts[0] == "L":
            names.add(parts[2])
    return names


def validate_cron(expression: str, timezone: str = "UTC") -> CronSpec:
    load_timezone(timezone)
    return parse_cron(expression)


def next_cron_time(expression: str, timezone: str, after: datetime) -> datetime:
    """The first due time strictly after ``after``, as an aware UTC datetime."""
    spec = parse_cron(expression)
    zone = load_timezone(timezone)
    after = _aware(after, "after")
    wall = _wall_start_after(after, zone)
    iterator = spec.iterator(wall)
    for _ in range(_MAX_CANDIDATES):
        instant = wall_to_instant(iterator.get_next(), zone)
        if instant > after:
            return instant
    raise ScheduleError(f"cron expression {expression!r} found no due time after {after}")


def latest_cron_time(expression: str, timezone: str, at_or_before: datetime) -> datetime:
    """The last due time at or before ``at_or_before`` (aware UTC): no iteration over the gap."""
    spec = parse_cron(expression)
    zone = load_timezone(timezone)
    at_or_before = _aware(at_or_before, "at_or_before")
    wall = _wall_end_at(at_or_before, zone)
    iterator = spec.iterator(wall)
    candidate: datetime = iterator.get_prev()  # strictly before ``wall``
    following: datetime = spec.iterator(candidate).get_next()
    if following <= wall:  # ``wall`` itself is a due time
        candidate = following
    return wall_to_instant(candidate, zone)


def wall_to_instant(wall: datetime, zone: tzinfo) -> datetime:
    """A naive local wall time as a UTC instant: the first occurrence of a repeated wall time,
    the end of the gap for a wall time that does not exist."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    before, after = _offset(first), _offset(second)
    if before == after:
        return first.astimezone(UTC)
    if before > after:  # fall back: the wall time occurs twice
        return (wall - before).replace(tzinfo=UTC)
    # spring forward: the wall time does not exist; the gap ends at the transition
    return _transition(
        zone, (wall - after).replace(tzinfo=UTC), (wall - before).replace(tzinfo=UTC)
    )


def _wall_start_after(after: datetime, zone: tzinfo) -> datetime:
    """The naive wall time from which the next candidates (strictly later) can be due."""
    local = after.astimezone(zone)
    if local.fold == 1 and _is_repeated(local):
        # in the second pass of a repeated hour: its wall times ran in the first pass
        return _end_of_repeat(after, local, zone) - timedelta(microseconds=1)
    return local.replace(tzinfo=None)


def _wall_end_at(at: datetime, zone: tzinfo) -> datetime:
    """The naive wall time up to which (inclusive) candidates are due at or before ``at``."""
    local = at.astimezone(zone)
    if local.fold == 1 and _is_repeated(local):
        return _end_of_repeat(at, local, zone) - timedelta(microseconds=1)
    return local.replace(tzinfo=None)


def _is_repeated(local: datetime) -> bool:
    return _offset(local.replace(fold=0)) != _offset(local.replace(fold=1))


def _end_of_repeat(instant: datetime, local: datetime, zone: tzinfo) -> datetime:
    """The naive wall time where the repeated range containing ``local`` ends."""
    before = _offset(local.replace(fold=0))
    after = _offset(local.replace(fold=1))
    transition = _transition(zone, instant - (before - after), instant)
    return (transition + before).replace(tzinfo=None)


def _transition(zone: tzinfo, low: datetime, high: datetime) -> datetime:
    """The first instant in (low, high] whose offset is the one at ``high`` (to the second)."""
    target = _offset(high.astimezone(zone))
    lo = int(low.timestamp())
    hi = int(high.timestamp())
    if hi < high.timestamp():
        hi += 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(datetime.fromtimestamp(mid, UTC).astimezone(zone)) == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)
