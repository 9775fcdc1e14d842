"""PostgreSQL migrations: applied once under a lock, recorded, matching what the code expects."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import psycopg
import pytest

from zapjobs.errors import MigrationError, NotMigratedError
from zapjobs.models import Migration, RunFilter
from zapjobs.stores import sql_common
from zapjobs.stores.migrate import load_migrations
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres import migrations as pg_migrations

pytestmark = pytest.mark.postgres

# Statements that PREPARE cannot take (utility commands); each runs in other tests anyway:
# session_setup on every pooled connection, migrations_create_table in migrate(), listen in
# the listener tests.
UTILITY_STATEMENTS = {
    "session_setup",
    "session_setup_hot",
    "copy_runs",
    "migrations_create_table",
    "listen",
    "unlisten",
    "uninstall",
}

# The schema the code expects: (table, column) -> (data type, nullable).
EXPECTED_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "zapjobs_migrations": {
        "version": ("integer", False),
        "name": ("text", False),
        "applied_at": ("timestamp with time zone", False),
    },
    "zapjobs_definitions": {
        "job_type": ("text", False),
        "queue": ("text", False),
        "max_retries": ("integer", False),
        "timeout_seconds": ("double precision", True),
        "max_retries_override": ("integer", True),
        "timeout_seconds_override": ("double precision", True),
        "enabled": ("boolean", False),
        "schedule_kind": ("text", True),
        "schedule_expression": ("text", True),
        "schedule_timezone": ("text", True),
        "schedule_catch_up": ("text", True),
        "schedule_input_json": ("text", True),
        "next_due_at": ("timestamp with time zone", True),
        "last_due_at": ("timestamp with time zone", True),
        "last_run_id": ("bigint", True),
        "updated_at": ("timestamp with time zone", False),
        "unique_by_input": ("boolean", True),
        "unique_for_seconds": ("double precision", True),
        "unique_states": ("smallint", True),
    },
    "zapjobs_runs": {
        "id": ("bigint", False),
        "job_type": ("text", False),
        "queue": ("text", False),
        "priority": ("integer", False),
        "status": ("text", False),
        "input": ("jsonb", False),
        "output": ("jsonb", True),
        "error_type": ("text", True),
        "error_message": ("text", True),
        "error_traceback": ("text", True),
        "attempt": ("integer", False),
        "run_at": ("timestamp with time zone", False),
        "created_at": ("timestamp with time zone", False),
        "started_at": ("timestamp with time zone", True),
        "finished_at": ("timestamp with time zone", True),
        "worker_id": ("text", True),
        "progress_total": ("bigint", True),
        "progress_processed": ("bigint", False),
        "progress_succeeded": ("bigint", False),
        "progress_failed": ("bigint", False),
        "cancel_requested": ("boolean", False),
        "schedule_due_at": ("timestamp with time zone", True),
        "max_attempts": ("integer", False),
        "trace_context": ("text", True),
        "snoozes": ("integer", False),
        "unique_key": ("text", True),
        "unique_states": ("smallint", True),
        "parents_left": ("integer", True),
        "on_parent_failure": ("text", True),
        "cancelled_by": ("bigint", True),
        "input_from": ("text", True),
        "child_stamp": ("integer", False),
    },
    "zapjobs_run_parents": {
        "run_id": ("bigint", False),
        "parent_id": ("bigint", False),
        "done": ("boolean", False),
    },
    "zapjobs_logs": {
        "id": ("bigint", False),
        "run_id": ("bigint", False),
        "level": ("smallint", False),
        "message": ("text", False),
        "logged_at": ("timestamp with time zone", False),
        "fields": ("jsonb", False),
        "attempt": ("integer", True),
    },
    "zapjobs_run_counts": {
        "queue": ("text", False),
        "job_type": ("text", False),
        "status": ("text", False),
        "stripe": ("smallint", False),
        "n": ("bigint", False),
    },
    "zapjobs_heartbeats": {
        "id": ("text", False),
        "host": ("text", False),
        "pid": ("integer", False),
        "queues": ("ARRAY", False),
        "started_at": ("timestamp with time zone", False),
        "last_seen_at": ("timestamp with time zone", False),
        "running": ("integer", False),
        "concurrency": ("integer", False),
        "stopped_at": ("timestamp with time zone", True),
        "dead_at": ("timestamp with time zone", True),
    },
    "zapjobs_queues": {
        "name": ("text", False),
        "paused": ("boolean", False),
        "updated_at": ("timestamp with time zone", False),
    },
    "zapjobs_flow_limits": {
        "scope": ("text", False),
        "name": ("text", False),
        "max_concurrency": ("integer", True),
        "rate_count": ("integer", True),
        "rate_period": ("integer", True),
        "max_concurrency_override": ("integer", True),
        "rate_count_override": ("integer", True),
        "rate_period_override": ("integer", True),
        "window_index": ("bigint", True),
        "window_used": ("integer", False),
        "claims": ("bigint", False),
        "updated_at": ("timestamp with time zone", False),
    },
    "zapjobs_flow_grants": {
        "worker_id": ("text", False),
        "scope": ("text", False),
        "name": ("text", False),
        "slots": ("integer", True),
        "valid_before": ("timestamp with time zone", True),
    },
}


def _schema_of(url: str) -> str:
    match = re.search(r"search_path=(\w+)", url)
    assert match, url
    return match.group(1)


@pytest.fixture
async def fresh(pg_url: str) -> AsyncIterator[PostgresStore]:
    """An opened store on an empty schema (not migrated)."""
    store = PostgresStore(pg_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_concurrent_migrations_apply_each_version_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        results = await asyncio.gather(*(s.migrate() for s in stores))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    versions = [m.version for m in load_migrations("postgres", "zapjobs_")]
    assert sorted(v for applied in results for v in applied) == versions
    assert sum(1 for applied in results if applied) == 1
    with psycopg.connect(pg_url) as conn:
        recorded = conn.execute(
            "SELECT version, count(*) FROM zapjobs_migrations GROUP BY version ORDER BY version"
        ).fetchall()
    assert recorded == [(v, 1) for v in versions]


async def test_status_and_readiness_follow_migrate(fresh: PostgresStore) -> None:
    available = load_migrations("postgres", "zapjobs_")
    before = await fresh.migration_status()
    assert before.applied == ()
    assert [m.version for m in before.pending] == [m.version for m in available]
    with pytest.raises(NotMigratedError, match="pending"):
        await fresh.check_ready()

    assert await fresh.migrate() == [m.version for m in available]
    after = await fresh.migration_status()
    assert after.applied == tuple(m.version for m in available)
    assert after.pending == ()
    await fresh.check_ready()
    assert await fresh.migrate() == []


async def test_using_an_unmigrated_database_raises_not_migrated(fresh: PostgresStore) -> None:
    with pytest.raises(NotMigratedError) as caught:
        await fresh.count_runs(RunFilter())
    assert "zapjobs migrate" in str(caught.value)


async def test_a_failing_migration_is_rolled_back_and_not_recorded(
    fresh: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = load_migrations("postgres", "zapjobs_")
    broken = Migration(
        version=9999,
        name="broken",
        sql="CREATE TABLE zapjobs_half_done (id integer); SELECT no_such_column FROM zapjobs_runs",
    )
    for module in (pg_migrations, sql_common):  # migrate(), migration_status()
        monkeypatch.setattr(module, "load_migrations", lambda backend, prefix: [*real, broken])
    with pytest.raises(MigrationError, match="9999_broken") as caught:
        await fresh.migrate()
    assert "\n" not in str(caught.value)

    status = await fresh.migration_status()
    assert status.applied == tuple(m.version for m in real)
    assert [m.version for m in status.pending] == [9999]
    async with fresh._db.connection() as conn:
        cur = await conn.execute("SELECT to_regclass('zapjobs_half_done')")
        assert await cur.fetchone() == (None,)
    # the advisory lock was released: migrating again does not wait forever
    for module in (pg_migrations, sql_common):
        monkeypatch.setattr(module, "load_migrations", lambda backend, prefix: real)
    assert await asyncio.wait_for(fresh.migrate(), timeout=10) == []


async def test_migrations_create_the_schema_the_code_expects(
    fresh: PostgresStore, pg_url: str
) -> None:
    await fresh.migrate()
    with psycopg.connect(pg_url) as conn:
        found = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable = 'YES'"
            " FROM information_schema.columns WHERE table_schema = %s",
            (_schema_of(pg_url),),
        ).fetchall()
    actual: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, data_type, nullable in found:
        actual.setdefault(table, {})[column] = (data_type, nullable)
    assert actual == EXPECTED_COLUMNS


async def test_every_query_prepares_against_the_migrated_schema(
    fresh: PostgresStore, pg_url: str
) -> None:
    """A cheap drift test: each named statement parses, plans and type-checks (not run)."""
    await fresh.migrate()
    queries = fresh.queries
    assert set(queries) >= UTILITY_STATEMENTS
    checked = 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name, text in sorted(queries.items()):
            if name in UTILITY_STATEMENTS:
                continue
            numbered = _numbered_placeholders(text)
            try:
                conn.execute(f"PREPARE zj_drift AS {numbered}".encode())
            except psycopg.Error as exc:
                pytest.fail(f"query {name!r} does not prepare: {exc}")
            conn.execute("DEALLOCATE zj_drift")
            checked += 1
    assert checked == len(queries) - len(UTILITY_STATEMENTS)


def _numbered_placeholders(text: str) -> str:
    """``%(name)s`` (and binary ``%(name)b``) placeholders as ``$1..$n`` (one number per name)."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    numbered = re.sub(r"%\((\w+)\)[sb]", number, text)
    assert "%" not in numbered, "a stray percent sign would confuse psycopg"
    return numbered
