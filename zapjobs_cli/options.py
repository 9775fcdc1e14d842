"""Options shared by several commands, and the parsing of what a person types (JSON inputs,
durations, times, status lists) into typed values, with one-line errors that say what to write."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from zapjobs.core import filters
from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import RunFilter
from zapjobs.settings import parse_duration, parse_port

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (a stable shape, see the README) on stdout.")
]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Times in this machine's time zone (default: UTC).")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="JSON|@FILE",
        help="The run's input as JSON text, or @file.json, or @- for stdin.",
    ),
]

#: Ranges of the numeric options: past them a value would reach the database as an overflow
#: (``bigint out of range``) or ask for more than a terminal or a worker can hold.
RUN_IDS = (1, 2**63 - 1)  # a bigint identity
PRIORITIES = (-(2**31), 2**31 - 1)  # the runs table's integer column (the library checks too)
LIMITS = (1, 10_000)  # rows of a listing
CONCURRENCY = (1, 10_000)  # jobs one worker runs at once
BENCH_JOBS = (1, 10_000_000)

N = TypeVar("N", int, list[int], None)


def in_range(option: str, bounds: tuple[int, int]) -> Callable[[N], N]:
    """A typer ``callback=`` that keeps an integer option (or each of a list of them) within
    ``bounds``: one line naming the option and the range, exit 2, before any database call."""
    low, high = bounds

    def check(value: N) -> N:
        items: list[int] = value if isinstance(value, list) else [] if value is None else [value]
        for item in items:
            if not low <= item <= high:
                raise ValidationError(
                    f"{option} must be a whole number from {low} to {high}, got {item}"
                )
        return value

    return check


def read_input(value: str | None) -> str:
    """The JSON text of ``--input``: inline text, ``@file.json`` or ``@-`` (stdin); checked to
    be JSON here so the message can point at the option. No input means ``null``."""
    if value is None:
        return "null"
    text = _read_input_file(value[1:]) if value.startswith("@") else value
    try:
        json.loads(text)
    except ValueError as exc:
        raise ValidationError(
            f"--input is not valid JSON: {exc}",
            hint='quote it for the shell, e.g. --input \'{"to": "a@b.c"}\'',
        ) from None
    except RecursionError:
        raise ValidationError(
            "--input is nested too deeply",
            hint="flatten the value; a few hundred levels of lists or objects at most",
        ) from None
    return text


def _read_input_file(name: str) -> str:
    """The text of ``@name`` (``@-``: stdin), which must be UTF-8: one line naming the file and
    what is wrong with it otherwise."""
    where = "standard input" if name == "-" else f"the input file {name!r}"
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"cannot read {where}: {exc.strerror or exc}",
            hint="give an existing file after @, e.g. --input @payload.json",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{where} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            hint="save it as UTF-8 JSON",
        ) from None


def port_option(value: str | None, option: str) -> int | None:
    """A port typed after ``option``: one line naming the option when it is not 1-65535."""
    if value is None:
        return None
    try:
        return parse_port(value, name=option)
    except ConfigurationError as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


def duration_option(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value, name=option)
    except ConfigurationError as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


def parse_time(value: str, option: str = "--at") -> datetime:
    """An ISO-8601 time with a zone (``Z`` or ``+02:00``)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"invalid {option} {value!r}", hint="write an ISO-8601 time, e.g. 2026-01-31T09:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise ValidationError(
            f"{option} {value!r} has no time zone",
            hint="add one, e.g. 2026-01-31T09:00:00Z or 2026-01-31T11:00:00+02:00",
        )
    return when.astimezone(UTC)


def build_filter(
    *,
    ids: list[int] | None = None,
    statuses: list[str] | None = None,
    job_types: list[str] | None = None,
    queues: list[str] | None = None,
    since: str | None = None,
    search: str | None = None,
    workers: list[str] | None = None,
    finished_since: str | None = None,
    finished_until: str | None = None,
    now: datetime | None = None,
) -> RunFilter:
    """The RunFilter of ``--status/--job/--queue/--since/--search/--worker/--finished-since/
    --finished-until``, by the rules of ``zapjobs.core.filters`` (the dashboard's filter words
    use the same ones)."""
    return filters.run_filter(
        now=now or datetime.now(UTC),
        ids=[str(i) for i in ids] if ids else None,
        statuses=statuses,
        job_types=job_types,
        queues=queues,
        since=since,
        search=search,
        workers=workers,
        finished_since=finished_since,
        finished_until=finished_until,
    )


def describe_filter(selection: RunFilter) -> str:
    """``status failed, job email-sender`` for confirmations."""
    return filters.describe(selection)


def is_empty_filter(selection: RunFilter) -> bool:
    return selection == RunFilter(now=selection.now)
