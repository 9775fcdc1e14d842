"""The connection side of the store: the pool, the rendered queries, and running them.

Opening asks the server once for its current schema, so table names can be schema-qualified
(a caller's own connection may have another search_path) and the NOTIFY channel is per
installation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from zapjobs.errors import ConfigurationError, StoreError
from zapjobs.settings import scrub, validate_prefix
from zapjobs.stores.postgres.errors import connect_error, data_error, translate
from zapjobs.stores.postgres.notify import channel_name
from zapjobs.stores.postgres.sql import PREPARED, qualify, render_queries

Conn = psycopg.AsyncConnection[Any]
Params = Mapping[str, Any]
Rows = list[dict[str, Any]]

#: seconds to wait for a connection unless the DSN sets connect_timeout
DEFAULT_CONNECT_TIMEOUT = 10


class Database:
    """One installation (schema + prefix) on one server, reached through a pool."""

    def __init__(self, dsn: str, *, prefix: str, min_size: int, max_size: int) -> None:
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
        self.queries: dict[str, str] = {}
        self.schema: str | None = None
        self.channel = ""
        self.runs_seq = ""
        self.server_version = 0

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def open(self) -> None:
        if self._pool is not None:
            return
        probe = await self.connect()
        try:
            bare = render_queries(qualify(None, self.prefix))
            found = await run(probe, bare["current_schema"])
            self.schema = found[0]["schema"] if found else None
            self.server_version = probe.info.server_version
        except psycopg.Error as exc:
            raise connect_error(exc, self.dsn) from exc
        finally:
            await probe.close()
        qualified = qualify(self.schema, self.prefix)
        self.queries = render_queries(qualified)
        self.channel = channel_name(self.prefix, self.schema)
        self.runs_seq = f"{qualified}runs_id_seq"
        self._pool = await self._open_pool("general", self._min_size, self._max_size)
        try:
            # Half as many hot connections: the claim is serial per worker, enqueues are short.
            self._hot = await self._open_pool(
                "hot", min(self._min_size, 1), max(1, self._max_size // 2)
            )
        except BaseException:
            await self.close()
            raise

    async def _open_pool(
        self, role: str, min_size: int, max_size: int
    ) -> AsyncConnectionPool[Conn]:
        setup = self.queries["session_setup_hot" if role == "hot" else "session_setup"]

        async def configure(conn: Conn) -> None:
            await conn.execute(setup)

        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": self._connect_timeout()},
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
        for pool in pools:
            if pool is not None:
                await pool.close()

    def _connect_timeout(self) -> int:
        try:
            given = conninfo_to_dict(self.dsn).get("connect_timeout")
        except psycopg.Error:
            return DEFAULT_CONNECT_TIMEOUT
        return int(given) if given else DEFAULT_CONNECT_TIMEOUT

    async def connect(self) -> Conn:
        """An autocommit connection outside the pool (the open probe, LISTEN)."""
        try:
            return await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=self._connect_timeout()
            )
        except psycopg.Error as exc:
            raise connect_error(exc, self.dsn) from exc
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"invalid PostgreSQL connection string: {scrub(str(exc), self.dsn)}"
            ) from None

    def require_open(self) -> None:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open", hint="call open() first")

    @asynccontextmanager
    async def connection(self, *, hot: bool = False) -> AsyncIterator[Conn]:
        """A connection of the general pool (or the hot one); driver errors leave as zapjobs
        errors."""
        self.require_open()
        pool = self._hot if hot else self._pool
        assert pool is not None
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise translate(exc, self.dsn) from exc
        except (UnicodeEncodeError, OverflowError) as exc:
            raise data_error(exc) from exc

    async def fetch(self, name: str, params: Params | None = None) -> Rows:
        hot = name in PREPARED
        async with self.connection(hot=hot) as conn:
            return await run(conn, self.queries[name], params, prepare=hot)

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
    conn: Conn, query: str, params: Params | None = None, *, prepare: bool = False
) -> Rows:
    """Run one statement.

    Prepared (the hot statements, ``sql.PREPARED``, on the hot pool), it is parsed once per
    connection and runs on its generic plan; tests pin those plans as index-bound. Otherwise it
    goes as an unnamed statement, which the server plans with its values every time: the typed
    filters (``x IS NULL OR ...``) fold away only then.
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params, prepare=prepare)
        return await cur.fetchall() if cur.description is not None else []


def _run_sync(conn: psycopg.Connection[Any], query: str, params: Params | None) -> Rows:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params, prepare=False)
        return cur.fetchall() if cur.description is not None else []
