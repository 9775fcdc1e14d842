"""SQLite-specific behaviour: several processes on one file, same-process wake-ups, the caller's
own connection, file and URL errors, locking, stored types and query plans.

The shared behaviour is in the conformance suite (tests/stores/test_contract_*.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tests.stores.helpers import T0, at, start_one, wait_until
from zapjobs.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidStateError,
    NotMigratedError,
    StoreError,
)
from zapjobs.models import NewRun, Notification, RunFilter, RunStatus
from zapjobs.stores.migrate import load_migrations
from zapjobs.stores.postgres.store import PostgresStore
from zapjobs.stores.sqlite import SQLiteStore
from zapjobs.stores.sqlite.database import parse_sqlite_url
from zapjobs.stores.sqlite.rows import filter_params

ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT = 60.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "zapjobs.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(f"sqlite:///{db_path}")
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()


# --- several OS processes on one file -------------------------------------------------------------

CLAIMER = r"""
import asyncio, json, sys
from datetime import datetime
from zapjobs.models import RunOutcome, RunStatus
from zapjobs.stores.sqlite import SQLiteStore

async def main(url, worker_id, now_text):
    now = datetime.fromisoformat(now_text)
    store = SQLiteStore(url)
    await store.open()
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        claimed = []
        while batch := await store.claim(worker_id, ["default"], ["a"], 3, now=now):
            claimed.extend(r.id for r in batch)
            done = [RunOutcome(r.id, worker_id, r.attempt, RunStatus.SUCCEEDED, "null")
                    for r in batch]
            await store.complete(done, now=now)
        print(json.dumps(claimed), flush=True)
    finally:
        await store.close()

asyncio.run(main(*sys.argv[1:]))
"""

MIGRATOR = r"""
import asyncio, json, sys
from zapjobs.stores.sqlite import SQLiteStore

async def main(url):
    print("ready", flush=True)
    sys.stdin.readline()
    store = SQLiteStore(url)
    await store.open()
    try:
        print(json.dumps(await store.migrate()), flush=True)
    finally:
        await store.close()

asyncio.run(main(*sys.argv[1:]))
"""


async def _spawn(script: str, *args: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )


async def _read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), CHILD_TIMEOUT)
    if not line:
        error = await asyncio.wait_for(proc.stderr.read(), CHILD_TIMEOUT)
        raise AssertionError(f"child process ended early:\n{error.decode()}")
    return line.decode().strip()


async def _run_together(script: str, args: list[list[str]]) -> list[str]:
    """Start one child per argument list, let them all go at once, return each one's result."""
    procs = [await _spawn(script, *a) for a in args]
    try:
        for proc in procs:
            assert await _read_line(proc) == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        results = [await _read_line(proc) for proc in procs]
        for proc in procs:
            assert await asyncio.wait_for(proc.wait(), CHILD_TIMEOUT) == 0
        return results
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_two_processes_claim_every_run_exactly_once(
    store: SQLiteStore, db_path: Path
) -> None:
    ids = await store.enqueue([NewRun("a") for _ in range(2000)], now=T0)
    url = f"sqlite:///{db_path}"
    now = at(minutes=1).isoformat()
    results = await _run_together(CLAIMER, [[url, "p1", now], [url, "p2", now]])
    taken = [json.loads(result) for result in results]
    every = [run_id for claimed in taken for run_id in claimed]
    assert len(every) == len(set(every)), "a run was claimed twice"
    assert sorted(every) == sorted(ids), "a run was lost"
    assert all(claimed for claimed in taken), "one process claimed nothing: no contention tested"
    runs = await store.get_runs(ids)
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    owner = {
        run_id: worker
        for worker, claimed in zip(("p1", "p2"), taken, strict=True)
        for run_id in claimed
    }
    assert all(r.worker_id == owner[r.id] and r.attempt == 1 for r in runs)


async def test_concurrent_migrate_from_several_processes_applies_each_version_once(
    db_path: Path,
) -> None:
    url = f"sqlite:///{db_path}"
    results = await _run_together(MIGRATOR, [[url] for _ in range(4)])
    applied = [version for result in results for version in json.loads(result)]
    assert sorted(applied) == [m.version for m in load_migrations("sqlite", "zapjobs_")]
    store = SQLiteStore(url)
    await store.open()
    try:
        await store.check_ready()
        assert (await store.migration_status()).pending == ()
    finally:
        await store.close()


# --- same-process wake-ups ------------------------------------------------------------------------


async def test_a_listener_is_woken_by_another_store_on_the_same_file(
    store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    same_file = SQLiteStore("sqlite:///./sub/../zapjobs.db")  # another spelling of the path
    other_file = SQLiteStore("sqlite:///other.db")
    other_prefix = SQLiteStore("sqlite:///zapjobs.db", prefix="other_")
    writers = [same_file, other_file, other_prefix]
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        for writer in writers:
            await writer.open()
            await writer.migrate()
        await other_file.enqueue([NewRun("a", queue="elsewhere")], now=T0)
        await other_prefix.enqueue([NewRun("a", queue="elsewhere")], now=T0)
        await same_file.enqueue([NewRun("a", queue="mail")], now=T0)
        await wait_until(lambda: Notification("runs", queue="mail") in received)
        assert all(n.queue != "elsewhere" for n in received)  # delivered in order: none came

        run_id = await start_one(same_file, queue="reports")
        assert await same_file.cancel_runs(RunFilter(ids=(run_id,)), now=at(minutes=1)) == [run_id]
        await wait_until(lambda: any(n.kind == "cancel" and n.run_id == run_id for n in received))
    finally:
        await listener.close()
        for writer in writers:
            await writer.close()


async def test_a_closed_listener_hears_nothing_more(store: SQLiteStore) -> None:
    closed: list[Notification] = []
    live: list[Notification] = []
    first = await store.listen(closed.append)
    await first.close()
    second = await store.listen(live.append)
    try:
        await store.enqueue([NewRun("a", queue="q")], now=T0)
        await wait_until(lambda: Notification("runs", queue="q") in live)
        assert closed == []
    finally:
        await second.close()


# --- the caller's own connection ------------------------------------------------------------------


async def test_enqueue_on_the_callers_connection_follows_its_transaction(
    store: SQLiteStore, db_path: Path
) -> None:
    conn = sqlite3.connect(db_path)
    try:
        [gone] = await store.enqueue([NewRun("a")], now=T0, connection=conn)
        assert conn.in_transaction
        conn.rollback()
        assert await store.get_run(gone) is None

        ids = await store.enqueue([NewRun("a"), NewRun("b")], now=T0, connection=conn)
        assert await store.get_runs(ids) == []  # not committed yet: invisible to others
        conn.commit()
        runs = {r.id: r for r in await store.get_runs(ids)}
        assert [runs[i].job_type for i in ids] == ["a", "b"]
    finally:
        conn.close()


async def test_enqueue_on_the_callers_connection_stores_each_runs_max_attempts(
    store: SQLiteStore, db_path: Path
) -> None:
    conn = sqlite3.connect(db_path)
    try:
        ids = await store.enqueue(
            [NewRun("a", max_attempts=2), NewRun("b", max_attempts=7)], now=T0, connection=conn
        )
        conn.commit()
    finally:
        conn.close()
    assert [r.max_attempts for r in await store.get_runs(ids)] == [2, 7]


async def test_a_failing_batch_on_the_callers_connection_leaves_none_of_its_runs(
    store: SQLiteStore, db_path: Path
) -> None:
    due = at(hours=1)
    conn = sqlite3.connect(db_path)
    try:
        twice = [NewRun("a", schedule_due_at=due), NewRun("b"), NewRun("a", schedule_due_at=due)]
        with pytest.raises(InvalidStateError):
            await store.enqueue(twice, now=T0, connection=conn)
        conn.commit()
    finally:
        conn.close()
    assert await store.count_runs(RunFilter()) == 0


async def test_a_connection_to_another_file_is_refused(store: SQLiteStore, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "elsewhere.db")
    try:
        with pytest.raises(ConfigurationError, match=r"elsewhere\.db"):
            await store.enqueue([NewRun("a")], now=T0, connection=conn)
        with pytest.raises(ConfigurationError, match=r"sqlite3\.Connection"):
            await store.enqueue([NewRun("a")], now=T0, connection=object())
    finally:
        conn.close()


# --- files, URLs and locks ------------------------------------------------------------------------


async def test_a_missing_folder_gives_a_one_line_connection_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "zapjobs.db"
    store = SQLiteStore(f"sqlite:///{missing}")
    with pytest.raises(ConnectionFailedError) as info:
        await store.open()
    message = str(info.value)
    assert "\n" not in message
    assert str(missing) in message and "does not exist" in message
    assert not missing.parent.exists()  # not created behind the user's back


async def test_a_file_that_is_not_a_database_gives_a_connection_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("these are my notes, not a database\n" * 10)
    with pytest.raises(ConnectionFailedError, match="not a database") as info:
        await SQLiteStore(f"sqlite:///{junk}").open()
    assert str(junk) in str(info.value) and "\n" not in str(info.value)


def test_url_forms_resolve_to_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_sqlite_url("sqlite:///jobs.db") == tmp_path.resolve() / "jobs.db"
    assert parse_sqlite_url("sqlite:///./data/jobs.db") == tmp_path.resolve() / "data" / "jobs.db"
    assert parse_sqlite_url(f"sqlite:///{tmp_path}/x.db") == tmp_path.resolve() / "x.db"
    assert parse_sqlite_url("SQLITE:////abs/path.db") == Path("/abs/path.db").resolve()
    for bad in ("sqlite://host/x.db", "sqlite:///", "sqlite:x.db", "sqlite:///:memory:"):
        with pytest.raises(ConfigurationError):
            parse_sqlite_url(bad)


async def test_a_store_without_migrations_says_so(db_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{db_path}")
    await store.open()
    try:
        with pytest.raises(NotMigratedError):
            await store.enqueue([NewRun("a")], now=T0)
        with pytest.raises(NotMigratedError):
            await store.check_ready()
        assert (await store.migration_status()).applied == ()
    finally:
        await store.close()


async def test_a_lock_held_past_the_busy_timeout_is_a_clear_store_error(db_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{db_path}", busy_timeout=0.05)
    await store.open()
    await store.migrate()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked") as info:
            await store.enqueue([NewRun("a")], now=T0)
        assert str(db_path) in str(info.value) and "\n" not in str(info.value)
        blocker.execute("ROLLBACK")
        assert len(await store.enqueue([NewRun("a")], now=T0)) == 1  # usable again
    finally:
        blocker.close()
        await store.close()


async def test_a_write_waiting_for_the_lock_does_not_block_the_event_loop(
    store: SQLiteStore, db_path: Path
) -> None:
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(store.enqueue([NewRun("a")], now=T0))
        await asyncio.sleep(0)  # the task starts; a blocking store would hold the loop here
        assert not waiting.done()
        blocker.execute("ROLLBACK")
        assert len(await asyncio.wait_for(waiting, CHILD_TIMEOUT)) == 1
    finally:
        blocker.close()


async def test_the_file_uses_wal(store: SQLiteStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (await store.server_version()).startswith("SQLite 3.")


# --- stored types ---------------------------------------------------------------------------------


async def test_timestamps_are_integer_microseconds_and_come_back_as_utc(
    store: SQLiteStore, db_path: Path
) -> None:
    due = datetime(2026, 1, 1, 14, 0, 0, 123457, tzinfo=timezone(timedelta(hours=2)))
    [run_id] = await store.enqueue([NewRun("a", run_at=due)], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.run_at == due and run.run_at.tzinfo == UTC
    assert run.run_at.microsecond == 123457
    with sqlite3.connect(db_path) as conn:
        kind, value = conn.execute(
            "SELECT typeof(run_at), run_at FROM zapjobs_runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert (kind, value) == ("integer", int(due.timestamp()) * 1_000_000 + 123457)
    with pytest.raises(ConfigurationError, match="time zone"):
        await store.enqueue([NewRun("a", run_at=datetime(2026, 1, 1))], now=T0)


async def test_input_json_is_stored_as_given(store: SQLiteStore, db_path: Path) -> None:
    text = '{"b": 1,   "a": "ü\\n"}'
    [run_id] = await store.enqueue([NewRun("a", input_json=text)], now=T0)
    with sqlite3.connect(db_path) as conn:
        [stored] = conn.execute("SELECT input FROM zapjobs_runs WHERE id = ?", (run_id,)).fetchone()
    assert stored == text


# --- query plans ----------------------------------------------------------------------------------


def _plan(db_path: Path, sql: str, params: dict[str, object]) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


async def test_claim_and_keyset_listing_are_served_by_indexes(
    store: SQLiteStore, db_path: Path
) -> None:
    claim = _plan(
        db_path,
        store.queries["claim_candidates"],
        {"queue": "default", "now": 0, "job_types": '["a"]', "limit": 10},
    )
    assert any("zapjobs_runs_claim_idx" in step for step in claim)
    listings = {
        "list_runs:status": (RunFilter(statuses=(RunStatus.FAILED,)), "zapjobs_runs_status_idx"),
        "list_runs:job_type": (RunFilter(job_types=("a",)), "zapjobs_runs_job_type_idx"),
        "list_runs:queue": (RunFilter(queues=("mail",)), "zapjobs_runs_queue_idx"),
        # The primary key, walked from the search window's id bound (-1 without a search).
        "list_runs:all": (RunFilter(), "SEARCH r USING INTEGER PRIMARY KEY (rowid>?)"),
    }
    for name, (selection, index) in listings.items():
        params = {**filter_params(selection, 0), "before_id": None, "limit": 10}
        plan = _plan(db_path, store.queries[name], params)
        assert any(index in step for step in plan), (name, plan)
    for steps in [claim] + [
        _plan(db_path, store.queries[name], {**filter_params(s, 0), "before_id": 5, "limit": 10})
        for name, (s, _) in listings.items()
    ]:
        assert not any("TEMP B-TREE" in step for step in steps), steps


async def test_sorted_listings_walk_their_index(store: SQLiteStore, db_path: Path) -> None:
    """Another order than newest first (RunSort) is an index walk too: job type on the
    (job_type, id) index, finish time on the finish-time index (ties by id: only runs sharing
    a finish time are sorted), oldest first on the primary key; never the whole table sorted."""
    orders = {
        "list_runs_job_desc": ("zapjobs_runs_job_type_idx", "zz", 5),
        "list_runs_job_asc": ("zapjobs_runs_job_type_idx", "a", 5),
        "list_runs_finished_desc": ("zapjobs_runs_finished_idx", 10**15, 5),
        "list_runs_finished_asc": ("zapjobs_runs_finished_idx", 0, 5),
        "list_runs_created_asc": ("INTEGER PRIMARY KEY", None, 5),
    }
    for name, (index, value, run_id) in orders.items():
        for cursor in ({"c_value": None, "c_id": None}, {"c_value": value, "c_id": run_id}):
            params = {**filter_params(RunFilter(), 0), **cursor, "limit": 10}
            plan = _plan(db_path, store.queries[name], params)
            assert any(index in step for step in plan), (name, plan)
            assert not any(step.startswith("SCAN r") and "INDEX" not in step for step in plan)
            assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in plan), plan


async def test_operator_reads_are_bounded_by_indexes(store: SQLiteStore, db_path: Path) -> None:
    """stats reads the live runs from their partial indexes and the kept counts, never the
    history; latest_runs seeks one index entry per job type; a search is an id range."""
    stats = _plan(db_path, store.queries["stats"], {"now": 0})
    runs_steps = [step for step in stats if step.startswith(("SCAN r", "SEARCH r"))]
    # pending / running / waiting only
    partial = ("zapjobs_runs_claim_idx", "zapjobs_runs_running_idx", "zapjobs_runs_waiting_idx")
    assert len(runs_steps) == 3, stats
    assert all(any(index in step for index in partial) for step in runs_steps), stats
    groups = _plan(db_path, store.queries["error_groups"], {"since": 0, "limit": 8})
    assert any("zapjobs_runs_failed_idx" in step for step in groups), groups
    latest = _plan(db_path, store.queries["latest_runs"], {"job_types": '["a"]'})
    assert any("zapjobs_runs_job_type_idx" in step for step in latest), latest
    assert not any(step.startswith("SCAN r") or step.startswith("SCAN x") for step in latest)
    for variant, selection in {
        "all": RunFilter(search="nothing"),
        "status": RunFilter(search="nothing", statuses=(RunStatus.FAILED,)),
        "job_type": RunFilter(search="nothing", job_types=("a",)),
    }.items():
        for statement in ("list_runs", "count_runs"):
            params = {**filter_params(selection, 0), "before_id": None, "limit": 10}
            plan = _plan(db_path, store.queries[f"{statement}:{variant}"], params)
            walk = [step for step in plan if step.startswith(("SCAN r", "SEARCH r"))]
            assert walk and all("id>?" in step or "rowid>?" in step for step in walk), plan


# --- the same schema as PostgreSQL ----------------------------------------------------------------


#: Tables and indexes only the PostgreSQL store has (its grants: the grants table, and the live
#: workers whose concurrency a grant leaves room for).
PG_ONLY_TABLES = frozenset({"zapjobs_flow_grants"})
PG_ONLY_INDEXES = frozenset({"zapjobs_heartbeats_live_idx"})


async def test_tables_columns_and_indexes_match_postgresql(
    store: SQLiteStore, db_path: Path, pg_url: str
) -> None:
    pg = PostgresStore(pg_url)
    await pg.open()
    try:
        await pg.migrate()
    finally:
        await pg.close()
    with psycopg.connect(pg_url) as conn:
        pg_columns = set(
            conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
            ).fetchall()
        )
        pg_indexes = {
            name
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                " AND indexname NOT LIKE '%pkey'"
            )
        }
    with sqlite3.connect(db_path) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'zapjobs%'"
            )
        ]
        sqlite_columns = {
            (table, row[1])
            for table in tables
            for row in conn.execute(f"PRAGMA table_info({table})")
        }
        sqlite_indexes = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    # PostgreSQL's grants (migration 0013) spare its limited claims a write per claim; SQLite's
    # claims are one writer's local transactions, with no such cost to spare.
    pg_columns = {(table, column) for table, column in pg_columns if table not in PG_ONLY_TABLES}
    pg_indexes = {
        name
        for name in pg_indexes
        if not name.startswith(tuple(PG_ONLY_TABLES)) and name not in PG_ONLY_INDEXES
    }
    assert sqlite_columns == pg_columns
    assert sqlite_indexes == pg_indexes


async def test_latest_failures_walk_the_failed_finish_time_index(
    store: SQLiteStore, db_path: Path
) -> None:
    """The Overview's latest failures: the end of the failed runs' partial finish-time index,
    sorted by id only among the few it returns (a temp b-tree on the outer query)."""
    plan = _plan(db_path, store.queries["latest_failures"], {"limit": 8})
    runs_steps = [step for step in plan if step.startswith(("SCAN r", "SEARCH r"))]
    assert runs_steps and all("zapjobs_runs_failed_idx" in step for step in runs_steps), plan
    assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 1, plan  # the outer few, by id
