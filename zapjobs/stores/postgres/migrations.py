"""Schema migrations on PostgreSQL: under a session advisory lock, one transaction each,
recorded in ``{prefix}migrations``, so concurrent callers apply every version once."""

from __future__ import annotations

from contextlib import suppress

import psycopg

from zapjobs.errors import MigrationError, ZapJobsError
from zapjobs.settings import scrub
from zapjobs.stores.migrate import load_migrations
from zapjobs.stores.postgres.database import Conn, Database, Params, run


class MigrationsMixin:
    _db: Database

    async def migrate(self) -> list[int]:
        db = self._db
        migrations = load_migrations("postgres", db.prefix)
        lock = {"lock_key": f"zapjobs-migrate:{db.schema}:{db.prefix}"}
        applied_now: list[int] = []
        async with db.connection() as conn:
            await run(conn, db.queries["migrations_lock"], lock)
            try:
                await run(conn, db.queries["migrations_create_table"])
                done = {r["version"] for r in await run(conn, db.queries["migrations_applied"])}
                for migration in migrations:
                    if migration.version in done:
                        continue
                    label = f"{migration.version:04d}_{migration.name}"
                    try:
                        async with conn.transaction():
                            await conn.execute(migration.sql)
                            await run(
                                conn,
                                db.queries["migrations_record"],
                                {"version": migration.version, "name": migration.name},
                            )
                    except psycopg.Error as exc:
                        message = scrub((str(exc).strip() or type(exc).__name__), db.dsn)
                        raise MigrationError(
                            f"PostgreSQL migration {label} failed: {message.splitlines()[0]}",
                            hint="nothing of it was applied; fix the cause and migrate again",
                        ) from exc
                    applied_now.append(migration.version)
            finally:
                await _unlock(conn, db.queries["migrations_unlock"], lock)
        return applied_now

    async def uninstall(self) -> None:
        db = self._db
        lock = {"lock_key": f"zapjobs-migrate:{db.schema}:{db.prefix}"}
        async with db.connection() as conn:
            await run(conn, db.queries["migrations_lock"], lock)
            try:
                await run(conn, db.queries["uninstall"])
            finally:
                await _unlock(conn, db.queries["migrations_unlock"], lock)

    async def _applied_versions(self) -> list[int]:
        return [row["version"] for row in await self._db.fetch("migrations_applied")]

    async def server_version(self) -> str:
        self._db.require_open()
        major, minor = divmod(self._db.server_version, 10000)
        return f"PostgreSQL {major}.{minor}"


async def _unlock(conn: Conn, query: str, params: Params) -> None:
    """Release the migration lock; a broken connection released it already."""
    with suppress(psycopg.Error, ZapJobsError):
        await run(conn, query, params)
