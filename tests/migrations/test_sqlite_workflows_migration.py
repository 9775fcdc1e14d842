"""SQLite's migration 0009 rebuilds runs and logs (a CHECK cannot change in place): nothing of an
existing installation may be lost on the way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.stores.helpers import T0
from zapjobs.models import NewRun, RunFilter, RunStatus
from zapjobs.stores.migrate import load_migrations
from zapjobs.stores.sqlite import SQLiteStore
from zapjobs.stores.sqlite.sql import split_statements


def _install_up_to(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE zapjobs_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL)"
    )
    for migration in load_migrations("sqlite", "zapjobs_"):
        if migration.version > version:
            break
        conn.execute("BEGIN")
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO zapjobs_migrations VALUES (?, ?, 0)", (migration.version, migration.name)
        )
        conn.execute("COMMIT")
    for run_id, status in ((1, "succeeded"), (2, "pending"), (3, "failed")):
        conn.execute(
            "INSERT INTO zapjobs_runs (id, job_type, queue, status, run_at, created_at,"
            " finished_at) VALUES (?, 'a', 'default', ?, 0, 0, ?)",
            (run_id, status, None if status == "pending" else 0),
        )
        conn.execute(
            "INSERT INTO zapjobs_logs (run_id, level, message, logged_at) VALUES (?, 20, 'x', 0)",
            (run_id,),
        )
    conn.execute("DELETE FROM zapjobs_runs WHERE id = 3")  # the high mark stays at 3
    conn.close()


async def test_migration_9_keeps_runs_logs_counts_and_the_id_high_mark(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _install_up_to(path, 8)
    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    try:
        assert 9 in await store.migrate()
        assert [r.id for r in await store.get_runs([1, 2, 3])] == [1, 2]
        assert [len(await store.list_logs(i)) for i in (1, 2)] == [1, 1]
        stats = await store.stats(now=T0)
        assert (stats.succeeded, stats.pending) == (1, 1)
        [new_id] = await store.enqueue([NewRun("b", parents=(2,))], now=T0)
        assert new_id == 4  # never a reused id
        assert (await store.get_runs([new_id]))[0].status is RunStatus.WAITING
        assert await store.delete_runs(RunFilter(ids=(1,))) == [1]
        assert await store.list_logs(1) == []  # logs' foreign key names the new runs table
        assert (await store.stats(now=T0)).succeeded == 0  # the count triggers are back
    finally:
        await store.close()
