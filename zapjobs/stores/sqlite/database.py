"""The connection side of the SQLite store: one thread owning one sqlite3 connection.

sqlite3 calls block, and a connection belongs to the thread that made it; so every database call
of a store runs on its own single-thread executor, awaited from the event loop. That also
serialises the store's use of its one connection. Several processes on one file coordinate
through SQLite's file locks: WAL lets readers run beside the one writer, and write transactions
start with BEGIN IMMEDIATE, waiting up to the busy timeout for the write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from zapjobs.errors import ConfigurationError, ConnectionFailedError, StoreError
from zapjobs.settings import validate_prefix
from zapjobs.stores.sqlite.errors import (
    data_error,
    locked_error,
    one_line,
    open_error,
    result_code,
    translate,
)
from zapjobs.stores.sqlite.sql import render_queries, split_statements

T = TypeVar("T")
Params = Mapping[str, Any]

#: how long a statement waits for another connection's lock before "database is locked"
BUSY_TIMEOUT_SECONDS = 5.0
#: RETURNING (3.35) is used throughout
MIN_SQLITE_VERSION = (3, 35, 0)
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_URL_HINT = "use sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:///./file.db"


def parse_sqlite_url(url: str) -> Path:
    """The absolute file path of a ``sqlite:///...`` URL; a relative path is taken from the
    current directory now, so a later chdir does not move the database."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if scheme.lower() != "sqlite" or not sep:
        raise ConfigurationError(f"not a SQLite database URL: {text!r}", hint=_URL_HINT)
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"the SQLite URL {text!r} names a host; SQLite files are local", hint=_URL_HINT
        )
    raw = rest[1:]
    if not raw.strip():
        raise ConfigurationError(f"the SQLite URL {text!r} names no file", hint=_URL_HINT)
    if raw == ":memory:":
        raise ConfigurationError(
            "an in-memory SQLite database cannot be shared by workers",
            hint="use memory:// for an in-process store, or a file path",
        )
    if "\x00" in raw:
        raise ConfigurationError(
            f"the SQLite URL {text!r} contains a NUL character", hint=_URL_HINT
        )
    return Path(raw).resolve()


class Session:
    """Named statements on one connection, on the thread that owns it."""

    def __init__(self, conn: sqlite3.Connection, queries: Mapping[str, str]) -> None:
        self.conn = conn
        self.queries = queries

    def _cursor(self) -> sqlite3.Cursor:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row  # whatever the connection's own row factory is
        return cursor

    def rows(self, name: str, params: Params | None = None) -> list[sqlite3.Row]:
        cursor = self._cursor()
        try:
            return cursor.execute(self.queries[name], params or {}).fetchall()
        finally:
            cursor.close()

    def one(self, name: str, params: Params | None = None) -> sqlite3.Row | None:
        found = self.rows(name, params)
        return found[0] if found else None

    def execute(self, name: str, params: Params | None = None) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        cursor = self._cursor()
        try:
            return cursor.execute(self.queries[name], params or {}).rowcount
        finally:
            cursor.close()

    def many(self, name: str, params: Iterable[Params]) -> None:
        cursor = self._cursor()
        try:
            cursor.executemany(self.queries[name], params)
        finally:
            cursor.close()

    def script(self, sql: str) -> None:
        """Every statement of ``sql`` in order, inside the current transaction."""
        for statement in split_statements(sql):
            self.conn.execute(statement)

    @contextmanager
    def immediate(self) -> Iterator[None]:
        """A write transaction holding the file's write lock from its first statement."""
        self.execute("begin_immediate")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self.execute("rollback")
            raise
        self.execute("commit")


class Database:
    """One installation (file + prefix), used through one thread and one connection."""

    def __init__(self, url: str, *, prefix: str, busy_timeout: float) -> None:
        self.prefix = validate_prefix(prefix)
        self.path = parse_sqlite_url(url)
        if busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must not be negative, got {busy_timeout}")
        self.busy_timeout = busy_timeout
        self.queries = render_queries(self.prefix)
        #: same-process listeners of this file and prefix (see notify.py)
        self.notify_key = (str(self.path), self.prefix)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used on the executor's thread only

    @property
    def is_open(self) -> bool:
        return self._executor is not None

    async def open(self) -> None:
        if self._executor is not None:
            return
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"zapjobs needs SQLite 3.35 or newer, this Python has {sqlite3.sqlite_version}",
                hint="use a newer Python build, or PostgreSQL",
            )
        if not self.path.parent.is_dir():
            raise ConnectionFailedError(
                f"cannot open the SQLite database {self.path}: "
                f"the folder {self.path.parent} does not exist",
                hint="create the folder, or fix the path in the database URL",
            )
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zapjobs-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    def _connect(self) -> None:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None
            )  # timeout= is SQLite's busy_timeout; isolation_level=None: we BEGIN ourselves
        except sqlite3.Error as exc:
            raise open_error(exc, str(self.path)) from None
        try:
            for statement in split_statements(self.queries["session_setup"]):
                conn.execute(statement)
            self._use_wal(conn)
        except sqlite3.Error as exc:
            conn.close()
            if result_code(exc) in _BUSY_CODES:
                raise locked_error(str(self.path), self.busy_timeout) from None
            raise open_error(exc, str(self.path)) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (once per file; a no-op after). The switch needs a moment
        alone with the file, and SQLite may report busy at once instead of waiting, so retry
        until the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute(self.queries["journal_wal"]).fetchall()
                return
            except sqlite3.OperationalError as exc:
                if result_code(exc) not in _BUSY_CODES or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        finally:
            executor.shutdown(wait=False)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def require_open(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise StoreError("the SQLite store is not open", hint="call open() first")
        return self._executor

    async def call(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` on the store's thread, outside any transaction (reads)."""
        executor = self.require_open()
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, self._run, work)
        except RuntimeError:  # closed meanwhile: the executor takes no more work
            raise StoreError("the SQLite store is closed", hint="call open() first") from None
        return await future

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one BEGIN IMMEDIATE transaction on the store's thread."""

        def transaction(session: Session) -> T:
            with session.immediate():
                return work(session)

        return await self.call(transaction)

    def _run(self, work: Callable[[Session], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("the SQLite store is closed", hint="call open() first")
        try:
            return work(Session(conn, self.queries))
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path), self.busy_timeout) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc

    def on_connection(self, connection: Any, work: Callable[[Session], T]) -> T:
        """Run ``work`` on the caller's own sqlite3 connection, in the caller's thread (the one
        sqlite3 requires), without committing: the caller's transaction decides."""
        if not isinstance(connection, sqlite3.Connection):
            raise ConfigurationError(
                f"connection= must be a sqlite3.Connection, not {type(connection).__name__}",
                hint="pass sqlite3.connect() of the same database file",
            )
        session = Session(connection, self.queries)
        try:
            row = session.one("database_file")
            file = row["file"] if row is not None else ""
            if not file or Path(file).resolve() != self.path:
                raise ConfigurationError(
                    f"the given sqlite3 connection is to {file or 'a temporary database'}, "
                    f"not to {self.path}",
                    hint="connect to the store's database file",
                )
            return work(session)
        except sqlite3.ProgrammingError as exc:
            raise ConfigurationError(
                f"cannot use the given sqlite3 connection: {one_line(exc)}",
                hint="pass an open connection made in the thread that awaits enqueue",
            ) from None
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path), self.busy_timeout) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc
