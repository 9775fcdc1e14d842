"""Options shared by several commands, and the parsing of what a person types (JSON inputs,
durations, times, status lists) into typed values, with one-line errors that say what to write."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import RunFilter, RunStatus
from zapjobs.settings import parse_duration, parse_port

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

DISPLAY_STATUSES = ("pending", "scheduled", "running", "succeeded", "failed", "cancelled")


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


def split_values(values: list[str] | None) -> list[str]:
    """``--status failed --status cancelled`` and ``--status failed,cancelled`` alike."""
    result: list[str] = []
    for value in values or []:
        result += [item.strip() for item in value.split(",") if item.strip()]
    return result


def status_filter(values: list[str] | None) -> tuple[tuple[RunStatus, ...] | None, bool | None]:
    """(statuses, scheduled) of a RunFilter for the display statuses asked for."""
    names = split_values(values)
    if not names:
        return None, None
    lowered = [name.lower() for name in names]
    for name in lowered:
        if name not in DISPLAY_STATUSES:
            raise ValidationError(
                f"unknown status {name!r}", hint="use one of " + ", ".join(DISPLAY_STATUSES)
            )
    scheduled: bool | None = None
    if "scheduled" in lowered and "pending" not in lowered:
        if len(set(lowered)) > 1:
            raise ValidationError(
                "--status scheduled can only be combined with pending",
                hint="list scheduled runs on their own, or use pending,scheduled",
            )
        scheduled = True
    elif "pending" in lowered and "scheduled" not in lowered:
        scheduled = False  # due now; other statuses are not affected by this narrowing
    statuses = {RunStatus.PENDING if n == "scheduled" else RunStatus(n) for n in lowered}
    return tuple(sorted(statuses, key=list(RunStatus).index)), scheduled


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
    status_values, scheduled = status_filter(statuses)
    window = duration_option(since, "--since")
    reference = now or datetime.now(UTC)
    return RunFilter(
        ids=tuple(ids) if ids else None,
        statuses=status_values,
        job_types=tuple(split_values(job_types)) or None,
        queues=tuple(split_values(queues)) or None,
        created_after=reference - window if window is not None else None,
        search=search or None,
        scheduled=scheduled,
        now=reference if scheduled is not None else None,
    )


def describe_filter(selection: RunFilter) -> str:
    """``status failed, job email-sender`` for confirmations."""
    parts: list[str] = []
    if selection.statuses:
        names = [s.value for s in selection.statuses]
        if selection.scheduled is True:
            names = ["scheduled"]
        parts.append("status " + ",".join(names))
    if selection.job_types:
        parts.append("job " + ",".join(selection.job_types))
    if selection.queues:
        parts.append("queue " + ",".join(selection.queues))
    if selection.created_after:
        parts.append(f"created after {selection.created_after:%Y-%m-%d %H:%M:%S} UTC")
    if selection.search:
        parts.append(f"matching {selection.search!r}")
    return ", ".join(parts) or "all runs"


def is_empty_filter(selection: RunFilter) -> bool:
    return selection == RunFilter(now=selection.now)
