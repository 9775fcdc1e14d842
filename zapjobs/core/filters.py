"""The one language for choosing runs: the CLI's ``--status/--job/--queue/--since/--worker``
options and the dashboard's filter words (``status:failed job:email-sender queue:low since:1h
worker:web-1 finished-since:1h  free text``)
both become a RunFilter here, by the same rules (pure: ``now`` is an argument, no I/O).

Status words follow Stats: ``pending`` means due now and ``scheduled`` means pending and due
later, so ``pending,failed`` leaves scheduled runs out and ``pending,scheduled`` is every pending
run. Values of one kind widen (``status:failed,cancelled``); different kinds narrow each other.
A mistake is a FilterError (a ValidationError) with one line saying what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import RunFilter, RunStatus
from zapjobs.settings import parse_duration, validate_queue

T = TypeVar("T")

#: What a job type id may be: the registry checks new ids with it, filters check the words.
JOB_TYPE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
JOB_TYPE_HINT = "use 1-200 letters, digits, '_', '-', '.' or ':', e.g. email-sender"

STATUS_WORDS = ("pending", "scheduled", "running", "succeeded", "failed", "cancelled", "waiting")
STATUS_ALIASES = {"success": "succeeded", "ok": "succeeded", "canceled": "cancelled"}
QUALIFIERS = (
    "status", "job", "queue", "since", "until", "id", "worker", "finished-since", "finished-until"
)  # fmt: skip
_EXAMPLES = {
    "status": "status:failed",
    "job": "job:email-sender",
    "queue": "queue:low",
    "since": "since:1h",
    "until": "until:10m",
    "id": "id:42",
    "worker": "worker:web-1-4242-ab12",
    "finished-since": "finished-since:1h",
    "finished-until": "finished-until:10m",
}
_MAX_ID = 2**63 - 1  # a run id is a signed 64-bit integer in every store
_TOKEN_RE = re.compile(r'"([^"]*)"|(\S+)')
_QUALIFIED_RE = re.compile(r"^([A-Za-z][A-Za-z-]*):(.*)$")


class FilterError(ValidationError):
    """The filter cannot be understood; the message says what to write instead."""


@dataclass(frozen=True)
class Spelling:
    """How messages name the parts: as the dashboard's words or as the CLI's options."""

    status: str  # followed directly by a status word
    since: str
    until: str
    finished_since: str
    finished_until: str


WORDS = Spelling(
    status="status:",
    since="since:",
    until="until:",
    finished_since="finished-since:",
    finished_until="finished-until:",
)
OPTIONS = Spelling(
    status="--status ",
    since="--since",
    until="--until",
    finished_since="--finished-since",
    finished_until="--finished-until",
)


# --- the pieces, shared by both languages -----------------------------------------------------
def split_values(values: Iterable[str] | None) -> list[str]:
    """``["failed", "cancelled"]`` and ``["failed,cancelled"]`` alike, blanks dropped."""
    result: list[str] = []
    for value in values or ():
        result += [item.strip() for item in value.split(",") if item.strip()]
    return result


def status_words(values: Iterable[str] | None) -> list[str]:
    """Status words, checked, lower-cased, with the common spellings mapped."""
    result = []
    for part in split_values(values):
        word = STATUS_ALIASES.get(part.lower(), part.lower())
        if word not in STATUS_WORDS:
            raise FilterError(f"unknown status {part!r}: use one of " + ", ".join(STATUS_WORDS))
        result.append(word)
    return result


def status_selection(
    values: Iterable[str] | None, spelling: Spelling = OPTIONS
) -> tuple[tuple[RunStatus, ...] | None, bool | None]:
    """(statuses, scheduled) of a RunFilter for the status words asked for.

    ``scheduled`` narrows only pending runs: False keeps those due now, True those due later."""
    chosen = set(status_words(values))
    if not chosen:
        return None, None
    if "scheduled" in chosen and chosen - {"scheduled", "pending"}:
        raise FilterError(
            f"{spelling.status}scheduled combines only with pending",
            hint="filter the other statuses apart, or use pending,scheduled",
        )
    scheduled: bool | None = None
    if "scheduled" in chosen and "pending" not in chosen:
        scheduled = True
    elif "pending" in chosen and "scheduled" not in chosen:
        scheduled = False  # due now, as Stats counts pending
    statuses = {RunStatus.PENDING if word == "scheduled" else RunStatus(word) for word in chosen}
    return tuple(s for s in RunStatus if s in statuses), scheduled


def check_job_type(value: str) -> str:
    if not JOB_TYPE_RE.fullmatch(value):
        raise FilterError(f"invalid job type {value!r}", hint=JOB_TYPE_HINT)
    return value


def check_job_types(values: Iterable[str] | None) -> list[str]:
    return [check_job_type(value) for value in split_values(values)]


def check_queues(values: Iterable[str] | None) -> list[str]:
    result = []
    for value in split_values(values):
        try:
            result.append(validate_queue(value))
        except ConfigurationError as exc:
            raise FilterError(exc.message, hint=exc.hint) from None
    return result


def check_worker_ids(values: Iterable[str] | None) -> list[str]:
    """Worker ids as ``--worker-id`` or the worker named them (any text but blanks)."""
    return split_values(values)


def time_range(
    since_name: str, since: str | None, until_name: str, until: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """(from, before) of a since/until pair, checked to be in order."""
    after = None if since is None else point_in_time(since_name, since, now)
    before = None if until is None else point_in_time(until_name, until, now)
    if after and before and after >= before:
        raise FilterError(f"{since_name} must be earlier than {until_name}")
    return after, before


def run_ids(values: Iterable[str] | None) -> list[int]:
    result = []
    for part in split_values(values):
        if not (part.isascii() and part.isdigit()) or int(part) > _MAX_ID:
            raise FilterError(f"invalid run id {part!r}", hint="use whole numbers, e.g. 42,43")
        result.append(int(part))
    return result


def point_in_time(name: str, value: str, now: datetime) -> datetime:
    """A duration back from ``now`` (``1h``, ``30m``, ``2d``) or an ISO time (UTC if no zone)."""
    try:
        return now - parse_duration(value, name=name)
    except ConfigurationError:
        pass
    except OverflowError:  # a duration further back than a datetime reaches
        raise FilterError(f"invalid {name} {value!r}: too far back") from None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(
            f"invalid {name} {value!r}",
            hint="use a duration like 15m, 1h, 2d or a time like 2026-01-31T12:00",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def run_filter(
    *,
    now: datetime,
    ids: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    job_types: Iterable[str] | None = None,
    queues: Iterable[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    search: str | None = None,
    workers: Iterable[str] | None = None,
    finished_since: str | None = None,
    finished_until: str | None = None,
    spelling: Spelling = OPTIONS,
) -> RunFilter:
    """The RunFilter for these values, each list taking comma lists too; checked here once."""
    created_after, created_before = time_range(spelling.since, since, spelling.until, until, now)
    finished_after, finished_before = time_range(
        spelling.finished_since, finished_since, spelling.finished_until, finished_until, now
    )
    run_statuses, scheduled = status_selection(statuses, spelling)
    return RunFilter(
        ids=_unique(run_ids(ids)),
        statuses=run_statuses,
        job_types=_unique(check_job_types(job_types)),
        queues=_unique(check_queues(queues)),
        created_after=created_after,
        created_before=created_before,
        worker_ids=_unique(check_worker_ids(workers)),
        finished_after=finished_after,
        finished_before=finished_before,
        search=search or None,
        scheduled=scheduled,
        now=now if scheduled is not None else None,
    )


# --- the dashboard's words ---------------------------------------------------------------------
def parse_words(text: str, now: datetime) -> RunFilter:
    """``status:failed job:x queue:low since:1h until:10m id:4 "quoted text" words`` as a
    RunFilter; words without a qualifier (or quoted) search job types, error types and messages."""
    values: dict[str, list[str]] = {name: [] for name in QUALIFIERS}
    words: list[str] = []
    for quoted, bare in _tokens(text):
        if quoted is not None:
            words.append(quoted)
            continue
        match = _QUALIFIED_RE.match(bare)
        if match is None:
            words.append(bare)
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name not in QUALIFIERS:
            raise FilterError(
                f"unknown qualifier {match.group(1)}:, use "
                + " ".join(f"{q}:" for q in QUALIFIERS)
                + ' or put the text in "quotes"'
            )
        if not value:
            raise FilterError(f"{name}: needs a value, e.g. {_EXAMPLES[name]}")
        values[name].append(value)
    return run_filter(
        now=now,
        ids=values["id"],
        statuses=values["status"],
        job_types=values["job"],
        queues=values["queue"],
        since=values["since"][-1] if values["since"] else None,
        until=values["until"][-1] if values["until"] else None,
        search=" ".join(words),
        workers=values["worker"],
        finished_since=values["finished-since"][-1] if values["finished-since"] else None,
        finished_until=values["finished-until"][-1] if values["finished-until"] else None,
        spelling=WORDS,
    )


def _tokens(text: str) -> list[tuple[str | None, str]]:
    if text.count('"') % 2:
        raise FilterError('a quote is not closed: write "text in quotes"')
    return [(m.group(1), m.group(2) or "") for m in _TOKEN_RE.finditer(text)]


# --- describing a selection --------------------------------------------------------------------
def describe(selection: RunFilter) -> str:
    """``status failed, job email-sender`` (for confirmations and empty listings)."""
    parts: list[str] = []
    if selection.ids:
        parts.append("id " + ",".join(map(str, selection.ids)))
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
    if selection.created_before:
        parts.append(f"created before {selection.created_before:%Y-%m-%d %H:%M:%S} UTC")
    if selection.worker_ids:
        parts.append("worker " + ",".join(selection.worker_ids))
    if selection.finished_after:
        parts.append(f"finished after {selection.finished_after:%Y-%m-%d %H:%M:%S} UTC")
    if selection.finished_before:
        parts.append(f"finished before {selection.finished_before:%Y-%m-%d %H:%M:%S} UTC")
    if selection.search:
        parts.append(f"matching {selection.search!r}")
    return ", ".join(parts) or "all runs"


def _unique(values: list[T]) -> tuple[T, ...] | None:
    return tuple(dict.fromkeys(values)) or None
