"""Options shared by several commands, and the parsing of what a person types (JSON inputs,
durations, times, status lists) into typed values, with one-line errors that say what to write."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from zapjobs.core import filters
from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import RunFilter
from zapjobs.settings import parse_duration

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (a stable shape, see the README) on stdout.")
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


def read_input(value: str | None) -> str:
    """The JSON text of ``--input``: inline text, ``@file.json`` or ``@-`` (stdin); checked to
    be JSON here so the message can point at the option. No input means ``null``."""
    if value is None:
        return "null"
    text = value
    if value.startswith("@"):
        name = value[1:]
        if name == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(name).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValidationError(
                    f"cannot read the input file {name!r}: {exc.strerror or exc}",
                    hint="give an existing file after @, e.g. --input @payload.json",
                ) from None
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


def parse_input_value(value: str | None) -> object:
    return json.loads(read_input(value))


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
    now: datetime | None = None,
) -> RunFilter:
    """The RunFilter of ``--status/--job/--queue/--since/--search``, by the rules of
    ``zapjobs.core.filters`` (the dashboard's filter words use the same ones)."""
    return filters.run_filter(
        now=now or datetime.now(UTC),
        ids=[str(i) for i in ids] if ids else None,
        statuses=statuses,
        job_types=job_types,
        queues=queues,
        since=since,
        search=search,
    )


def describe_filter(selection: RunFilter) -> str:
    """``status failed, job email-sender`` for confirmations."""
    return filters.describe(selection)


def is_empty_filter(selection: RunFilter) -> bool:
    return selection == RunFilter(now=selection.now)
