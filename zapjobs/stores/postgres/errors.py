"""Driver errors become zapjobs errors: one line, the password scrubbed, a hint where useful."""

from __future__ import annotations

import re

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from zapjobs.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidStateError,
    NotMigratedError,
    StoreDataError,
    StoreError,
    ZapJobsError,
)
from zapjobs.settings import scrub


def server_address(dsn: str) -> str:
    """``host:port`` of a connection string, for messages (libpq's defaults when absent)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise ConfigurationError(
            "the PostgreSQL connection string cannot be parsed",
            hint="use postgresql://user:password@host:5432/db or 'host=... dbname=...'",
        ) from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    # Shown in one-line messages: a stray newline or escape in the DSN is shown, not obeyed.
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in f"{host}:{port}")


def one_line(exc: BaseException, dsn: str) -> str:
    """The driver's message cut to its first line, with the DSN's password replaced."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return scrub(line, dsn)


def connect_cause(exc: BaseException, dsn: str) -> str:
    """What libpq said went wrong, without the "connection to server at ... failed:" wrapping."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    failing = [ln for ln in lines if "failed:" in ln]
    cause = failing[-1] if failing else (lines[0] if lines else type(exc).__name__)
    if "failed:" in cause:
        cause = cause.rsplit("failed:", 1)[1].strip()
    for noise in ("FATAL:", "ERROR:"):
        if cause.startswith(noise):
            cause = cause[len(noise) :].strip()
    return scrub(cause, dsn) or type(exc).__name__


def connect_error(exc: BaseException, dsn: str) -> ConnectionFailedError:
    cause = connect_cause(exc, dsn)
    return ConnectionFailedError(
        f"cannot connect to PostgreSQL at {server_address(dsn)}: {cause}",
        hint=connect_hint(cause),
    )


_MISSING_DATABASE = re.compile(r'database "(.+)" does not exist')
_MISSING_ROLE = re.compile(r'role "(.+)" does not exist')


def connect_hint(cause: str) -> str:
    """The fix for what the server said: it answered, so "is it running" is no help when the
    database or the role is missing."""
    if found := _MISSING_DATABASE.search(cause):
        return (
            f"the server is up but has no database {found.group(1)!r}: create it "
            f"(createdb {found.group(1)}), or fix the database name in the URL"
        )
    if found := _MISSING_ROLE.search(cause):
        return (
            f"the server is up but has no role {found.group(1)!r}: create it (CREATE ROLE "
            f"{found.group(1)} LOGIN PASSWORD '...'), or fix the user name in the URL"
        )
    return "check the database URL and that the server is running"


def translate(exc: psycopg.Error, dsn: str) -> ZapJobsError:
    """The zapjobs error for a driver error raised while using an open store."""
    message = one_line(exc, dsn)
    if isinstance(exc, PoolTimeout):
        return ConnectionFailedError(
            f"no PostgreSQL connection to {server_address(dsn)} became available: {message}",
            hint="check that the server is up, or raise the pool's max_size",
        )
    if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return NotMigratedError(f"the database is not migrated ({message})")
    if isinstance(exc, pg_errors.UniqueViolation):
        return InvalidStateError(f"a conflicting row exists: {message}")
    if isinstance(exc, psycopg.DataError):  # the server's class 22 and psycopg's own (NUL)
        return StoreDataError(f"PostgreSQL rejected a value: {message}")
    if _connection_lost(exc):
        return ConnectionFailedError(
            f"lost the connection to PostgreSQL at {server_address(dsn)}: {message}",
            hint="check that the server is running; the operation can be retried",
        )
    return StoreError(f"PostgreSQL error: {message}")


def data_error(exc: ValueError | OverflowError) -> StoreDataError:
    """A value the driver cannot even send: text with a lone surrogate (not UTF-8), an
    integer beyond 64 bits."""
    return StoreDataError(f"PostgreSQL cannot take a value: {exc}")


_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})


def _connection_lost(exc: psycopg.Error) -> bool:
    """Errors without a server SQLSTATE, connection exceptions (08xxx) and server shutdowns."""
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _SHUTDOWN_STATES
