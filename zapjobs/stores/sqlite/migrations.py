"""Schema migrations on SQLite: each in its own BEGIN IMMEDIATE transaction, recorded in
``{prefix}migrations``. The file's write lock serialises concurrent migrators, and the applied
set is read again inside the lock, so each version is applied once."""

from __future__ import annotations

import sqlite3

from zapjobs.errors import MigrationError
from zapjobs.models import Migration
from zapjobs.stores.migrate import load_migrations
from zapjobs.stores.sqlite import rows
from zapjobs.stores.sqlite.database import Database, Session
from zapjobs.stores.sqlite.errors import one_line

#: Tables in the order they can be dropped (logs reference runs).
UNINSTALL_ORDER = (
    "flow_limits",
    "logs",
    "run_parents",
    "runs",
    "run_counts",
    "heartbeats",
    "definitions",
    "queues",
    "migrations",
)


class MigrationsMixin:
    _db: Database

    async def migrate(self) -> list[int]:
        migrations = load_migrations("sqlite", self._db.prefix)

        def apply_all(s: Session) -> list[int]:
            with s.immediate():
                s.execute("migrations_create_table")
            return [m.version for m in migrations if _apply(s, m)]

        return await self._db.call(apply_all)

    async def uninstall(self) -> None:
        def drop_all(s: Session) -> None:
            with s.immediate():
                for table in UNINSTALL_ORDER:
                    s.execute(f"uninstall_{table}")

        await self._db.call(drop_all)

    async def _applied_versions(self) -> list[int]:
        found = await self._db.call(lambda s: s.rows("migrations_applied"))
        return [row["version"] for row in found]

    async def server_version(self) -> str:
        row = await self._db.call(lambda s: s.one("sqlite_version"))
        return f"SQLite {row['version'] if row is not None else sqlite3.sqlite_version}"


def _apply(s: Session, migration: Migration) -> bool:
    """Apply one migration unless another process did meanwhile; True if applied here."""
    label = f"{migration.version:04d}_{migration.name}"
    with s.immediate():
        done = {r["version"] for r in s.rows("migrations_applied")}
        if migration.version in done:
            return False
        try:
            s.script(migration.sql)
        except sqlite3.Error as exc:
            raise MigrationError(
                f"SQLite migration {label} failed: {one_line(exc)}",
                hint="nothing of it was applied; fix the cause and migrate again",
            ) from exc
        s.execute(
            "migrations_record",
            {"version": migration.version, "name": migration.name, "now": rows.now_us(None)},
        )
    return True
