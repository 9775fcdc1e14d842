"""The connection side of the store: the pool, the rendered queries, and running them.

Opening asks the server once for its current schema, so table names can be schema-qualified
(a caller's own connection may have another search_path) and the NOTIFY channel is per
installation.

Stalled connections. Every connection has TCP keepalives and a TCP user timeout (a peer that
stops acknowledging is dropped by the kernel within 25 s, see ``KEEPALIVES``), and every
single-statement call (``fetch``: all a running worker makes; not the multi-statement
transactions of migrations and bulk COPY enqueues) has a client-side deadline,
``statement_timeout`` + 2 s (60 s when the server sets none). The server would have cancelled
the statement itself by then, so only a connection that no longer answers gets there: a stopped
or hung backend, whose kernel still acknowledges, so keepalives alone never fire. Past the
deadline psycopg cancels the statement and, getting no answer either, closes the connection
within 5 s; then every connection of the pools is replaced (what stalled one backend usually
stalled its neighbours). The caller gets a ConnectionFailedError. Bound: a stall is noticed,
logged (by the worker's outage line) and replaced within ``statement_timeout`` + 7 s (67 s by
default); set ``statement_timeout`` (the role, the database or the DSN's ``options``) to tighten
it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from zapjobs.errors import ConfigurationError, ConnectionFailedError, StoreError, ZapJobsError
from zapjobs.settings import scrub, validate_prefix
from zapjobs.stores.postgres.errors import connect_error, data_error, server_address, translate
from zapjobs.stores.postgres.notify import channel_name
from zapjobs.stores.postgres.sql import (
    BINARY_RESULTS,
    DEFAULT_LANE,
    LANES,
    PREPARED,
    qualify,
    render_queries,
)

Conn = psycopg.AsyncConnection[Any]
Params = Mapping[str, Any]
Rows = list[dict[str, Any]]

#: seconds to wait for a connection unless the DSN sets connect_timeout
DEFAULT_CONNECT_TIMEOUT = 10
#: libpq TCP settings unless the DSN sets them: an idle connection to a vanished peer is dropped
#: after 10 + 3 * 5 = 25 s, one with unacknowledged data after 25 s (tcp_user_timeout, ms)
KEEPALIVES: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,
}
#: the client waits this much longer than the server's statement_timeout before giving up
DEADLINE_GRACE = 2.0
#: the client's deadline for a statement when the server sets no statement_timeout
DEFAULT_DEADLINE = 60.0
#: the longest a hot connection stays parked without passing through its pool, which then
#: applies its max_lifetime and drains to it
PARK_SECONDS = 60.0


_decode_json = json.JSONDecoder().decode


def _loads(data: str | bytes) -> Any:
    """json and jsonb values as the server sends them (UTF-8 text): json.loads would first guess
    the encoding of the bytes (UTF-8, -16 or -32) at every value, a third of its time on the
    small inputs a claim decodes."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogatepass")
    return _decode_json(data)


def use_json_loads(conn: Conn) -> None:
    set_json_loads(_loads, conn)


def hot_pool_size(max_size: int) -> int:
    """Half as many hot connections as general ones: the claim is serial per worker, enqueues
    are short."""
    return max(1, max_size // 2)


class _DemoteToDebug(logging.Filter):
    """psycopg and its pool warn about every broken connection and reconnection attempt, over
    several lines; the worker reports an outage in one line of its own (runtime/backoff.py), so
    their warnings go on as DEBUG records (visible with debug logging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not logging.DEBUG < record.levelno < logging.ERROR:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # the handlers do not look at the logger's level again: drop it unless DEBUG is on
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


for _name in ("psycopg", "psycopg.pool"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _DemoteToDebug) for f in _logger.filters):
        _logger.addFilter(_DemoteToDebug())


class Database:
    """One installation (schema + prefix) on one server, reached through a pool."""

    def __init__(
        self, dsn: str, *, prefix: str, min_size: int, max_size: int, single: bool = False
    ) -> None:
        self.prefix = validate_prefix(prefix)
        if min_size < 0 or max_size < max(min_size, 1):
            raise ConfigurationError(
                f"invalid pool size min_size={min_size} max_size={max_size}",
                hint="use 0 <= min_size <= max_size and max_size >= 1",
            )
        self.dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._hot: AsyncConnectionPool[Conn] | None = None
        #: per lane (sql.LANES), the hot connection it used last and idle since, with the loop
        #: time it left the pool (see _fetch_hot); it counts as in use in the hot pool's
        #: accounting
        self._parked: dict[str, tuple[Conn, float]] = {}
        #: callers inside the hot pool's getconn: a connection released meanwhile goes to them
        self._hot_waiting = 0
        #: bumped when the hot connections are replaced or closed: older ones are not parked
        self._hot_generation = 0
        #: one connection instead of pools (a heartbeat thread's store), made on first use
        #: and again after it broke: no pool reconnection backoff stands between a beat and
        #: the server
        self.single = single
        self._single: _SingleConnection | None = None
        self.deadline = DEFAULT_DEADLINE
        self.queries: dict[str, str] = {}
        self.schema: str | None = None
        self.channel = ""
        self.runs_seq = ""
        self.qualified_prefix = ""
        self.server_version = 0

    @property
    def pool_sizes(self) -> tuple[int, int]:
        """The most connections of the general and the hot pool (1 and 0 for one connection)."""
        return (1, 0) if self.single else (self._max_size, hot_pool_size(self._max_size))

    @property
    def is_open(self) -> bool:
        return self._pool is not None or self._single is not None

    async def open(self) -> None:
        if self.is_open:
            return
        probe = await self.connect()
        try:
            bare = render_queries(qualify(None, self.prefix))
            found = await run(probe, bare["current_schema"])
            self.schema = found[0]["schema"] if found else None
            timeout_ms = int(found[0]["statement_timeout_ms"] or 0) if found else 0
            self.server_version = probe.info.server_version
        except psycopg.Error as exc:
            raise connect_error(exc, self.dsn) from exc
        finally:
            await probe.close()
        self.deadline = timeout_ms / 1000 + DEADLINE_GRACE if timeout_ms > 0 else DEFAULT_DEADLINE
        qualified = qualify(self.schema, self.prefix)
        self.queries = render_queries(qualified)
        self.channel = channel_name(self.prefix, self.schema)
        self.runs_seq = f"{qualified}runs_id_seq"
        self.qualified_prefix = qualified
        if self.single:
            self._single = _SingleConnection(self.connect, self.queries["session_setup"])
            return
        self._pool = await self._open_pool("general", self._min_size, self._max_size)
        try:
            self._hot = await self._open_pool(
                "hot", min(self._min_size, 1), hot_pool_size(self._max_size)
            )
        except BaseException:
            await self.close()
            raise

    async def _open_pool(
        self, role: str, min_size: int, max_size: int
    ) -> AsyncConnectionPool[Conn]:
        setup = self.queries["session_setup_hot" if role == "hot" else "session_setup"]

        async def configure(conn: Conn) -> None:
            use_json_loads(conn)
            await conn.execute(setup)

        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, **self._connect_kwargs()},
            configure=configure,
            open=False,
            name=f"zapjobs-{self.prefix}-{role}",
        )
        try:
            await pool.open(wait=True, timeout=float(self._connect_timeout()) + 5)
        except psycopg.Error as exc:
            await pool.close()
            raise connect_error(exc, self.dsn) from exc
        return pool

    async def close(self) -> None:
        pools = (self._hot, self._pool)
        self._hot = self._pool = None
        await self._unpark(pools[0])
        single, self._single = self._single, None
        if single is not None:
            await single.close()
        for pool in pools:
            if pool is not None:
                await pool.close()

    def _connect_timeout(self) -> int:
        try:
            given = conninfo_to_dict(self.dsn).get("connect_timeout")
        except psycopg.Error:
            return DEFAULT_CONNECT_TIMEOUT
        return int(given) if given else DEFAULT_CONNECT_TIMEOUT

    def _connect_kwargs(self) -> dict[str, Any]:
        """connect_timeout and the TCP keepalive settings, where the DSN does not set them."""
        try:
            given = conninfo_to_dict(self.dsn)
        except psycopg.Error:
            given = {}
        kwargs: dict[str, Any] = {k: v for k, v in KEEPALIVES.items() if k not in given}
        kwargs["connect_timeout"] = self._connect_timeout()
        return kwargs

    async def connect(self) -> Conn:
        """An autocommit connection outside the pool (the open probe, LISTEN)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, **self._connect_kwargs()
            )
        except psycopg.Error as exc:
            raise connect_error(exc, self.dsn) from exc
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"invalid PostgreSQL connection string: {scrub(str(exc), self.dsn)}"
            ) from None
        use_json_loads(conn)
        return conn

    def require_open(self) -> None:
        if not self.is_open:
            raise StoreError("the PostgreSQL store is not open", hint="call open() first")

    @asynccontextmanager
    async def connection(
        self, *, hot: bool = False, lane: str = DEFAULT_LANE
    ) -> AsyncIterator[Conn]:
        """A connection of the general pool (or the hot one, as ``lane``'s statements take it);
        driver errors leave as zapjobs errors."""
        self.require_open()
        try:
            if self._single is not None:
                async with self._single.connection() as conn:
                    yield conn
                return
            if hot:
                async with self._hot_connection(lane) as conn:
                    yield conn
                return
            assert self._pool is not None
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise await self._translated(exc) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc

    async def _translated(self, exc: psycopg.Error) -> ZapJobsError:
        error = translate(exc, self.dsn)
        if isinstance(error, ConnectionFailedError) and not isinstance(exc, PoolTimeout):
            # A lost connection: its idle neighbours are most likely lost too (a restart,
            # the network). Replace them now rather than fail once on each later.
            await self._replace_connections()
        return error

    async def fetch(self, name: str, params: Params | None = None) -> Rows:
        """One statement, abandoned past the deadline (see the module's docstring)."""
        if name in PREPARED and self._single is None:
            return await self._fetch_hot(name, params)
        async with self.connection() as conn:
            return await self._run_bounded(conn, name, params, prepare=False)

    async def _fetch_hot(self, name: str, params: Params | None) -> Rows:
        """``fetch`` of a hot statement on the hot connection its lane used last, if idle, else
        one of the pool's (getconn/putconn, without the context manager, whose commit at exit
        and two generator layers were about a tenth of a single enqueue's client CPU).

        The pool hands out its longest-idle connection, so with two or more in it, a worker's
        serial claims would rotate over server backends; staying on one keeps that backend's
        caches and plan warm. A connection left mid-statement or broken goes back through
        putconn, which discards it."""
        self.require_open()
        pool = self._hot
        assert pool is not None
        lane = LANES.get(name, DEFAULT_LANE)
        try:
            conn, since, generation = await self._take_hot(pool, lane)
            try:
                return await self._run_bounded(conn, name, params, prepare=True)
            finally:
                await self._release_hot(pool, conn, since, generation, lane)
        except psycopg.Error as exc:
            raise await self._translated(exc) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc

    @asynccontextmanager
    async def _hot_connection(self, lane: str = DEFAULT_LANE) -> AsyncIterator[Conn]:
        """A hot connection the way ``_fetch_hot`` takes and releases it for ``lane``."""
        pool = self._hot
        assert pool is not None
        conn, since, generation = await self._take_hot(pool, lane)
        try:
            yield conn
        finally:
            await self._release_hot(pool, conn, since, generation, lane)

    async def _take_hot(
        self, pool: AsyncConnectionPool[Conn], lane: str
    ) -> tuple[Conn, float, int]:
        """The connection parked for ``lane``, else one of the pool's; with the loop time it
        left the pool and the generation of the hot connections it belongs to. When the other
        lanes have parked every connection the pool may open (a hot pool of one), one of theirs:
        the pool would make this caller wait until their next statement."""
        generation = self._hot_generation
        parked = self._parked.pop(lane, None)
        if parked is None and self._parked and len(self._parked) >= pool.max_size:
            parked = self._parked.pop(next(iter(self._parked)))
        if parked is not None:
            return (*parked, generation)
        self._hot_waiting += 1
        try:
            conn = await pool.getconn()
        finally:
            self._hot_waiting -= 1
        return conn, asyncio.get_running_loop().time(), generation

    async def _release_hot(
        self, pool: AsyncConnectionPool[Conn], conn: Conn, since: float, generation: int, lane: str
    ) -> None:
        """Park ``conn`` for the next hot statement of ``lane``, unless a connection is parked
        for it already, a caller waits for one of the pool, it is not idle and sound, its
        connections were replaced since it was taken, or it was parked for PARK_SECONDS: then
        putconn."""
        if (
            lane not in self._parked
            and self._hot_waiting == 0
            and generation == self._hot_generation
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
            and asyncio.get_running_loop().time() - since < PARK_SECONDS
        ):
            self._parked[lane] = (conn, since)
        else:
            await pool.putconn(conn)

    async def _unpark(self, pool: AsyncConnectionPool[Conn] | None) -> None:
        """Return the parked connections to the hot ``pool``, and park none taken before."""
        self._hot_generation += 1
        parked, self._parked = self._parked, {}
        if pool is not None:
            for conn, _ in parked.values():
                await pool.putconn(conn)

    async def _run_bounded(
        self, conn: Conn, name: str, params: Params | None, *, prepare: bool
    ) -> Rows:
        try:
            async with asyncio.timeout(self.deadline):
                return await run(
                    conn, self.queries[name], params, prepare=prepare, binary=name in BINARY_RESULTS
                )
        except TimeoutError:
            await self._replace_connections()
            raise ConnectionFailedError(
                f"PostgreSQL at {server_address(self.dsn)} did not answer within "
                f"{self.deadline:g}s; its connections are being replaced",
                hint="check the server's load and its stuck or stopped backends",
            ) from None

    async def _replace_connections(self) -> None:
        """After a stall: close the idle connections (those in use are closed when returned)
        and open new ones. The parked hot connections go back after the drain, which then
        discards them, as it does the connections in use."""
        for pool in (self._pool, self._hot):
            if pool is not None:
                await pool.drain()
        await self._unpark(self._hot)

    async def fetch_one(self, name: str, params: Params | None = None) -> dict[str, Any] | None:
        found = await self.fetch(name, params)
        return found[0] if found else None

    async def fetch_on(self, connection: Any, name: str, params: Params) -> Rows:
        """Run on the caller's psycopg connection without committing: its transaction decides."""
        self.require_open()
        query = self.queries[name]
        try:
            if isinstance(connection, psycopg.AsyncConnection):
                return await run(connection, query, params)
            if isinstance(connection, psycopg.Connection):
                return await asyncio.to_thread(_run_sync, connection, query, params)
        except psycopg.Error as exc:
            raise translate(exc, self.dsn) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc
        raise ConfigurationError(
            f"connection= must be a psycopg connection, not {type(connection).__name__}",
            hint="pass a psycopg.Connection or psycopg.AsyncConnection to the same database",
        )


async def run(
    conn: Conn,
    query: str,
    params: Params | None = None,
    *,
    prepare: bool = False,
    binary: bool = False,
) -> Rows:
    """Run one statement.

    Prepared (the hot statements, ``sql.PREPARED``, on the hot pool), it is parsed once per
    connection, runs on its generic plan (tests pin those plans as index-bound) and goes through
    the connection's kept cursor (``_prepared_cursor``). Otherwise it
    goes as an unnamed statement, which the server plans with its values every time: the typed
    filters (``x IS NULL OR ...``) fold away only then.
    """
    if prepare:
        cursor = _prepared_cursor(conn)
        await cursor.execute(query, params, prepare=True, binary=binary)
        rows = await cursor.fetchall() if _has_rows(cursor) else []
        if cursor.pgresult is not None:  # the rows are Python values now: the kept cursor
            cursor.pgresult.clear()  # does not hold their text (a claim's inputs) until next time
        return rows
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params, prepare=False, binary=binary)
        return await cur.fetchall() if _has_rows(cur) else []


#: The attribute of a hot-pool connection that keeps its cursor (see _prepared_cursor).
_CURSOR_ATTR = "_zapjobs_prepared_cursor"


def _prepared_cursor(conn: Conn) -> psycopg.AsyncCursor[dict[str, Any]]:
    """The cursor of the prepared statements on ``conn``, made once and kept with it. A cursor
    starts with its own empty adapter caches, so a new one per statement looked up the dumper of
    every parameter and the loader of every column again: about a seventh of a single enqueue's
    client CPU. A connection is used by one task at a time, and a statement that failed leaves
    the cursor ready for the next execute (psycopg resets it there)."""
    cursor: psycopg.AsyncCursor[dict[str, Any]] | None = getattr(conn, _CURSOR_ATTR, None)
    if cursor is None:
        cursor = conn.cursor(row_factory=dict_row)
        setattr(conn, _CURSOR_ATTR, cursor)
    return cursor


def _run_sync(conn: psycopg.Connection[Any], query: str, params: Params | None) -> Rows:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params, prepare=False)
        return cur.fetchall() if _has_rows(cur) else []


def _has_rows(cur: psycopg.AsyncCursor[Any] | psycopg.Cursor[Any]) -> bool:
    """Whether the statement returned rows (even none). Not ``cur.description``, which builds a
    Column object per column at each call: 33 for a claim, about a tenth of its client CPU."""
    result = cur.pgresult
    return result is not None and result.status == ExecStatus.TUPLES_OK


class _SingleConnection:
    """One autocommit connection, made on first use and again after it broke or was left
    mid-statement; uses are serialised."""

    def __init__(self, connect: Callable[[], Awaitable[Conn]], setup: str) -> None:
        self._connect = connect
        self._setup = setup
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        async with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                self._conn = None
                conn = await self._connect()
                try:
                    await conn.execute(self._setup)
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
            try:
                yield conn
            finally:
                if conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                    self._conn = None
                    await conn.close()

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


DEADLOCK = "40P01"  # SQLSTATE deadlock_detected


def raced(error: ZapJobsError, mark: str) -> bool:
    """Whether a statement failed whole because it raced another (it raised ``mark``, see
    queries.sql: release_guard, flow_race) or in a deadlock between two such statements
    touching the same rows in different orders: sent again, it goes through."""
    return mark in str(error) or getattr(error.__cause__, "sqlstate", None) == DEADLOCK
