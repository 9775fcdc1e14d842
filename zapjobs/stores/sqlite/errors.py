"""sqlite3 errors become zapjobs errors: one line naming the file, with what to do."""

from __future__ import annotations

import sqlite3

from zapjobs.errors import (
    ConnectionFailedError,
    InvalidStateError,
    NotMigratedError,
    StoreDataError,
    StoreError,
    ZapJobsError,
)

# Primary result codes (the low byte of sqlite3.Error.sqlite_errorcode).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN = 5, 6, 8, 10, 11, 13, 14
_CONSTRAINT, _NOTADB = 19, 26
_UNIQUE = {2067, 1555}  # SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def result_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def open_error(exc: BaseException, path: str) -> ConnectionFailedError:
    return ConnectionFailedError(
        f"cannot open the SQLite database {path}: {one_line(exc)}",
        hint="check the path in the database URL and that the file is a SQLite database "
        "you may read and write",
    )


def locked_error(path: str, busy_timeout: float) -> StoreError:
    return StoreError(
        f"the SQLite database {path} stayed locked by another connection for {busy_timeout:g} s",
        hint="another process or an open transaction holds the write lock; commit or close it "
        "and retry",
    )


def data_error(exc: ValueError | OverflowError) -> StoreDataError:
    """A value the driver cannot even bind: text with a lone surrogate (not UTF-8), an
    integer beyond 64 bits."""
    return StoreDataError(f"SQLite cannot take a value: {exc}")


def translate(exc: sqlite3.Error, path: str, busy_timeout: float) -> ZapJobsError:
    """The zapjobs error for a driver error raised while using the store."""
    message = one_line(exc)
    code = result_code(exc)
    primary = None if code is None else code & 0xFF
    lowered = message.lower()
    if lowered.startswith(("no such table", "no such column")):
        return NotMigratedError(f"the database is not migrated ({message})")
    if primary in (_BUSY, _LOCKED) or "database is locked" in lowered:
        return locked_error(path, busy_timeout)
    if isinstance(exc, sqlite3.IntegrityError) or primary == _CONSTRAINT:
        if code in _UNIQUE or "unique constraint" in lowered:
            return InvalidStateError(f"a conflicting row exists: {message}")
        return StoreDataError(f"SQLite rejected a value: {message}")
    if isinstance(exc, sqlite3.DataError):
        return StoreDataError(f"SQLite rejected a value: {message}")
    if primary in (_CANTOPEN, _NOTADB, _CORRUPT):
        return open_error(exc, path)
    if primary == _READONLY:
        return StoreError(
            f"the SQLite database {path} is read-only: {message}",
            hint="give this user write access to the file and its folder",
        )
    if primary in (_FULL, _IOERR):
        return StoreError(
            f"cannot write the SQLite database {path}: {message}",
            hint="check free disk space and the file system",
        )
    return StoreError(f"SQLite error on {path}: {message}")
