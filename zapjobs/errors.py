"""One exception tree. Stores translate their driver's errors into it; the CLI maps it to
exit codes.

Messages are written for the person at the terminal: what is wrong and what to do, in one line,
never with a password in them.
"""

from __future__ import annotations


class ZapJobsError(Exception):
    """Base of every error zapjobs raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigurationError(ZapJobsError):
    """Settings are wrong: a value in a config file, an environment variable or ``Settings``
    (a duration, a DSN, a table prefix). Values passed to a call raise ValidationError."""

    exit_code = 2


class ValidationError(ZapJobsError, ValueError):
    """A value a caller passed is wrong: an argument of a zapjobs call or of a job registration,
    or an input that does not match its declared type, is not JSON, or is too large.

    Also a ``ValueError``, so code written when ``RetryPolicy`` raised ValueError still catches it.
    """

    exit_code = 2


class UnknownJobTypeError(ZapJobsError):
    exit_code = 2

    def __init__(self, job_type: str, known: list[str] | None = None) -> None:
        hint = None
        if known:
            hint = "known job types: " + ", ".join(sorted(known)[:20])
        super().__init__(f"unknown job type {job_type!r}", hint=hint)
        self.job_type = job_type


class ScheduleError(ZapJobsError):
    """A CRON expression, interval or time zone is invalid."""

    exit_code = 2


class RunNotFoundError(ZapJobsError):
    exit_code = 2

    def __init__(self, run_id: int | str) -> None:
        super().__init__(f"run {run_id} does not exist", hint="list runs with `zapjobs runs list`")
        self.run_id = run_id


class InvalidStateError(ZapJobsError):
    """An action does not apply to a run in its current state (e.g. retry a running run)."""

    exit_code = 1


class StoreError(ZapJobsError):
    """The store cannot be reached or used."""

    exit_code = 3


class ConnectionFailedError(StoreError):
    pass


class NotMigratedError(StoreError):
    def __init__(self, message: str = "the database is not migrated") -> None:
        super().__init__(message, hint="run `zapjobs migrate`")


class MigrationError(StoreError):
    pass


class StoreDataError(StoreError, ValidationError):
    """The store refused a value (a NUL character, a lone surrogate, JSON it cannot keep, a
    number out of range): the same value fails again, so a batch holding it must be split."""

    exit_code = 2


class OutputTooLargeError(ZapJobsError):
    """Stored as the error of a run whose output is over the ``max_output_bytes`` setting."""


class UnstorableResultError(ZapJobsError):
    """Stored as the error of a run whose result the store refused even once made storable."""


class JobTimeoutError(ZapJobsError):
    """Names the error stored on a run that exceeded its timeout (its ``error.type``); the
    engine records it by name and never raises it."""


class JobCancelledError(ZapJobsError):
    """Names the error stored on a run that was cancelled while it ran; never raised."""


class WaitTimeoutError(ZapJobsError):
    """``wait_for`` gave up before the run finished."""
