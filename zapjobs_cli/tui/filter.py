"""The `/` filter language of the Runs view, parsed into a typed RunFilter (pure: ``now`` is an
argument). A mistake becomes a FilterError whose one-line message the view shows.

    status:failed job:email-sender queue:low since:1h  timeout "connection reset"

Qualifiers may repeat or take comma lists (``status:failed,cancelled``) and widen within their
kind; different kinds narrow each other. Remaining words (or quoted text) search job types and
error messages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TypeVar

from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import RunFilter, RunStatus
from zapjobs.settings import parse_duration, validate_queue

T = TypeVar("T")

QUALIFIERS = ("status", "job", "queue", "since", "until", "id")
STATUS_WORDS = ("pending", "scheduled", "running", "succeeded", "failed", "cancelled")
_STATUS_ALIASES = {"success": "succeeded", "ok": "succeeded", "canceled": "cancelled"}
_JOB_TYPE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_TOKEN_RE = re.compile(r'"([^"]*)"|(\S+)')
_QUALIFIED_RE = re.compile(r"^([A-Za-z]+):(.*)$")


class FilterError(ValidationError):
    """The filter text cannot be understood; the message says what to write instead."""


def parse_filter(text: str, now: datetime) -> RunFilter:
    """``text`` as a RunFilter; relative times (``since:1h``) count back from ``now``."""
    statuses: list[str] = []
    job_types: list[str] = []
    queues: list[str] = []
    ids: list[int] = []
    words: list[str] = []
    created_after: datetime | None = None
    created_before: datetime | None = None
    for quoted, bare in _tokens(text):
        if quoted is not None:
            words.append(quoted)
            continue
        match = _QUALIFIED_RE.match(bare)
        if match is None:
            words.append(bare)
            continue
        if match.group(1).lower() not in QUALIFIERS:
            raise FilterError(
                f"unknown qualifier {match.group(1)}:, use "
                + " ".join(f"{q}:" for q in QUALIFIERS)
                + ' or put the text in "quotes"'
            )
        name, value = match.group(1).lower(), match.group(2)
        if not value:
            raise FilterError(f"{name}: needs a value, e.g. {_EXAMPLES[name]}")
        if name == "status":
            statuses.extend(_parse_statuses(value))
        elif name == "job":
            job_types.extend(_parse_job_types(value))
        elif name == "queue":
            queues.extend(_parse_queues(value))
        elif name == "id":
            ids.extend(_parse_ids(value))
        elif name == "since":
            created_after = _parse_time(name, value, now)
        else:
            created_before = _parse_time(name, value, now)
    if created_after and created_before and created_after >= created_before:
        raise FilterError("since: must be earlier than until:")
    run_statuses, scheduled = _status_selection(statuses)
    return RunFilter(
        ids=_unique(ids),
        statuses=run_statuses,
        job_types=_unique(job_types),
        queues=_unique(queues),
        created_after=created_after,
        created_before=created_before,
        search=" ".join(words) or None,
        scheduled=scheduled,
        now=now if scheduled is not None else None,
    )


_EXAMPLES = {
    "status": "status:failed",
    "job": "job:email-sender",
    "queue": "queue:low",
    "since": "since:1h",
    "until": "until:10m",
    "id": "id:42",
}


def _tokens(text: str) -> list[tuple[str | None, str]]:
    if text.count('"') % 2:
        raise FilterError('a quote is not closed: write "text in quotes"')
    return [
        (quoted, "") if quoted is not None else (None, bare)
        for quoted, bare in ((m.group(1), m.group(2)) for m in _TOKEN_RE.finditer(text))
    ]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_statuses(value: str) -> list[str]:
    result = []
    for part in _split(value):
        word = _STATUS_ALIASES.get(part.lower(), part.lower())
        if word not in STATUS_WORDS:
            raise FilterError(f"unknown status {part!r}: use one of " + ", ".join(STATUS_WORDS))
        result.append(word)
    return result


def _status_selection(words: list[str]) -> tuple[tuple[RunStatus, ...] | None, bool | None]:
    """Map status words onto (statuses, scheduled); "pending" alone means due now, as in Stats."""
    chosen = set(words)
    if not chosen:
        return None, None
    if "scheduled" in chosen and chosen - {"scheduled", "pending"}:
        raise FilterError("status:scheduled combines only with pending; filter the others apart")
    if "pending" in chosen and "scheduled" in chosen:
        return (RunStatus.PENDING,), None
    if chosen == {"scheduled"}:
        return (RunStatus.PENDING,), True
    if chosen == {"pending"}:
        return (RunStatus.PENDING,), False
    return tuple(s for s in RunStatus if s.value in chosen), None


def _parse_job_types(value: str) -> list[str]:
    result = _split(value)
    for job_type in result:
        if not _JOB_TYPE_RE.fullmatch(job_type):
            raise FilterError(
                f"invalid job type {job_type!r}: use letters, digits, '_', '-', '.' or ':'"
            )
    return result


def _parse_queues(value: str) -> list[str]:
    result = []
    for queue in _split(value):
        try:
            result.append(validate_queue(queue))
        except ConfigurationError as exc:
            raise FilterError(str(exc)) from None
    return result


def _parse_ids(value: str) -> list[int]:
    result = []
    for part in _split(value):
        if not part.isdigit():
            raise FilterError(f"invalid run id {part!r}: use whole numbers, e.g. id:42,43")
        result.append(int(part))
    return result


def _parse_time(name: str, value: str, now: datetime) -> datetime:
    """A duration back from now (``1h``, ``30m``, ``2d``) or an ISO date/time (UTC if no zone)."""
    try:
        return now - parse_duration(value, name=name)
    except ConfigurationError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(
            f"invalid {name}: {value!r}: use a duration like 15m, 1h, 2d "
            "or a date like 2026-01-31T12:00"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _unique(values: list[T]) -> tuple[T, ...] | None:
    return tuple(dict.fromkeys(values)) or None
