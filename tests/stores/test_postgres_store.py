"""PostgreSQL-only behaviour: NOTIFY across processes' stores, transactional enqueue, claiming
under real concurrency, index-bound plans, prefix validation and connection errors.

The behaviour every store shares is in the conformance suite (test_contract_*.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import PG_BASE_URL
from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one, wait_until
from tests.stores.plans import server_plans
from zapjobs.errors import ConfigurationError, ConnectionFailedError
from zapjobs.models import (
    NewRun,
    Notification,
    Page,
    RunFilter,
    RunStatus,
    Schedule,
    ScheduleKind,
    WorkerInfo,
)
from zapjobs.stores import Store, create_store
from zapjobs.stores.base import ShardedListener
from zapjobs.stores.postgres import PostgresStore
from zapjobs.stores.postgres.notify import WAKE_SHARDS, PostgresListener, channel_name

pytestmark = pytest.mark.postgres


async def _opened(url: str, **kwargs: Any) -> PostgresStore:
    store = PostgresStore(url, **kwargs)
    await store.open()
    await store.migrate()
    return store


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = await _opened(pg_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def other(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A second store instance on the same installation (as another process would have)."""
    store = await _opened(pg_url)
    try:
        yield store
    finally:
        await store.close()


def test_the_store_satisfies_the_protocol() -> None:
    store = PostgresStore("host=127.0.0.1")
    assert isinstance(store, Store)
    assert (store.backend, store.cross_process_notify) == ("postgres", True)


async def test_server_version_names_postgresql(pg: PostgresStore) -> None:
    version = await pg.server_version()
    assert version.startswith("PostgreSQL ")
    major, minor = version.removeprefix("PostgreSQL ").split(".")
    assert int(major) >= 12 and int(minor) >= 0


# --- notifications -------------------------------------------------------------------------------


async def test_a_notify_from_one_store_reaches_a_listener_on_another(
    pg: PostgresStore, other: PostgresStore
) -> None:
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        await other.enqueue([NewRun("a", queue="mail"), NewRun("a", queue="mail")], now=T0)
        await wait_until(lambda: Notification("runs", queue="mail") in received)
        run_id = await start_one(other, "b")
        assert await other.cancel_runs(RunFilter(ids=(run_id,)), now=at(minutes=1)) == [run_id]
        await wait_until(lambda: any(n.kind == "cancel" for n in received))
        assert Notification("cancel", queue="default", run_id=run_id) in received
    finally:
        await listener.close()


async def test_two_installations_in_one_database_do_not_wake_each_other(pg_url: str) -> None:
    mine = await _opened(pg_url, prefix="one_")
    theirs = await _opened(pg_url, prefix="two_")
    received: list[Notification] = []
    listener = await mine.listen(received.append)
    try:
        assert mine.channel != theirs.channel
        await theirs.enqueue([NewRun("a", queue="theirs")], now=T0)
        await mine.enqueue([NewRun("a", queue="marker")], now=T0)
        await wait_until(lambda: Notification("runs", queue="marker") in received)
        assert Notification("runs", queue="theirs") not in received
    finally:
        await listener.close()
        await mine.close()
        await theirs.close()


def test_the_channel_fits_in_a_postgresql_identifier() -> None:
    longest = channel_name("p" * 30, "s" * 63)
    assert len(longest.encode()) <= 63
    assert channel_name("zapjobs_", "a") != channel_name("zapjobs_", "b")
    assert channel_name("zapjobs_", "a") != channel_name("other_", "a")


async def test_the_listener_reconnects_and_asks_for_a_poll(
    pg: PostgresStore, other: PostgresStore
) -> None:
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        pid = _listener_backend_pid(pg)
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await wait_until(lambda: Notification("runs", queue=None) in received, timeout=10)
        assert _listener_backend_pid(pg) != pid
        await other.enqueue([NewRun("a", queue="after")], now=T0)
        await wait_until(lambda: Notification("runs", queue="after") in received)
    finally:
        await listener.close()


async def test_the_listener_keeps_retrying_with_backoff_until_the_server_is_back(
    pg: PostgresStore, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-secret"
    dsn = make_conninfo(pg_url, password=secret)
    failures_left = 3
    attempts: list[float] = []

    async def flaky_connect() -> psycopg.AsyncConnection[Any]:
        nonlocal failures_left
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) > 1 and failures_left > 0:
            failures_left -= 1
            raise psycopg.OperationalError(f"connection refused (password {secret})")
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    received: list[Notification] = []
    listener = PostgresListener(
        connect=flaky_connect,
        dsn=dsn,
        listen_sql=pg.queries["listen"],
        unlisten_sql=pg.queries["unlisten"],
        ping_sql=pg.queries["ping"],
        channel=pg.channel,
        handler=received.append,
        initial_backoff=0.01,
        max_backoff=0.04,
    )
    caplog.set_level(logging.DEBUG, logger="zapjobs.stores.postgres")
    await listener.start()
    try:
        assert listener._conn is not None
        pid = listener._conn.info.backend_pid
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await wait_until(lambda: Notification("runs", queue=None) in received, timeout=10)
        assert failures_left == 0
        assert len(attempts) == 5  # the first connection, three failures, the reconnection
        assert received.count(Notification("runs", queue=None)) == 1
        await pg.enqueue([NewRun("a", queue="back")], now=T0)
        await wait_until(lambda: Notification("runs", queue="back") in received)
    finally:
        await listener.close()
    records = [r for r in caplog.records if r.name == "zapjobs.stores.postgres"]
    messages = [r.getMessage() for r in records]
    assert sum("cannot re-LISTEN" in m for m in messages) == 3
    assert all(secret not in m for m in messages)
    # a lost server is the worker's one outage line to report, not one line per attempt here
    assert all(r.levelno == logging.DEBUG for r in records if "re-LISTEN" in r.getMessage())


async def test_notifications_around_the_pings_are_each_delivered_once(pg: PostgresStore) -> None:
    """The listener reads notifications from a reader callback while idle and through psycopg
    while it pings; pinging all the time, both paths take some and none is lost or doubled."""
    received: list[Notification] = []
    listener = PostgresListener(
        connect=lambda: psycopg.AsyncConnection.connect(pg._db.dsn, autocommit=True),
        dsn=pg._db.dsn,
        listen_sql=pg.queries["listen"],
        unlisten_sql=pg.queries["unlisten"],
        ping_sql=pg.queries["ping"],
        channel=pg.channel,
        handler=received.append,
        ping_interval=0.0005,
    )
    await listener.start()
    queues = [f"q{i}" for i in range(200)]
    try:
        async with await psycopg.AsyncConnection.connect(pg._db.dsn, autocommit=True) as sender:
            for queue in queues:
                payload = json.dumps({"k": "runs", "q": queue})
                await sender.execute("SELECT pg_notify(%s, %s)", (pg.channel, payload))
        await wait_until(lambda: len(received) >= len(queues))
        assert [n.queue for n in received] == queues
    finally:
        await listener.close()


async def test_a_run_enqueued_alone_reaches_only_the_listener_of_its_shard(
    pg: PostgresStore, other: PostgresStore
) -> None:
    """Due now: on the shard channel of its id (only that shard's listener hears it, told the
    shard); due later: on the installation's channel (every listener reads what is next)."""
    evens: list[Notification] = []
    odds: list[Notification] = []
    first = await pg.listen(evens.append)
    second = await other.listen(odds.append)
    try:
        assert isinstance(first, ShardedListener) and isinstance(second, ShardedListener)
        await first.follow_shards(frozenset(range(0, WAKE_SHARDS, 2)))
        await second.follow_shards(frozenset(range(1, WAKE_SHARDS, 2)))
        ids = [await enqueue_one(pg, "a", queue="mail") for _ in range(6)]
        later = await pg.enqueue([NewRun("a", queue="later", run_at=at(hours=1))], now=T0)
        await wait_until(lambda: sum(n.queue == "later" for n in evens + odds) == 2)
        await wait_until(lambda: len(evens) + len(odds) == len(ids) + 2)
        for received, parity in ((evens, 0), (odds, 1)):
            mail = [n for n in received if n.queue == "mail"]
            assert [n.token for n in mail] == [i for i in ids if i % 2 == parity]
            assert all(n.shard == n.token % WAKE_SHARDS for n in mail if n.token is not None)
            [due_later] = [n for n in received if n.queue == "later"]
            assert due_later.shard is None and due_later.due_in is not None
        assert later
    finally:
        await first.close()
        await second.close()


async def test_the_listener_listens_to_the_shards_told_last_after_reconnecting(
    pg: PostgresStore, other: PostgresStore
) -> None:
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        assert isinstance(listener, ShardedListener)
        await listener.follow_shards(frozenset({3}))
        pid = _listener_backend_pid(pg)
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await wait_until(lambda: Notification("runs", queue=None) in received, timeout=10)
        ids = [await enqueue_one(other, "a", queue="mail") for _ in range(WAKE_SHARDS + 1)]
        mine = [i for i in ids if i % WAKE_SHARDS == 3]
        await wait_until(lambda: sum(n.queue == "mail" for n in received) >= len(mine))
        assert [n.token for n in received if n.queue == "mail"] == mine
    finally:
        await listener.close()


def _listener_backend_pid(store: PostgresStore) -> int:
    [listener] = store._listeners
    assert listener._conn is not None
    return listener._conn.info.backend_pid


# --- transactional enqueue -----------------------------------------------------------------------


async def test_enqueue_on_the_callers_async_connection_follows_its_transaction(
    pg: PostgresStore, pg_url: str
) -> None:
    received: list[Notification] = []
    listener = await pg.listen(received.append)
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            rolled_back = await pg.enqueue([NewRun("a", queue="undone")], connection=conn)
            await conn.rollback()
            [committed] = await pg.enqueue([NewRun("a", queue="done")], connection=conn)
            assert await pg.get_run(committed) is None  # not visible before the commit
            await conn.commit()
        assert await pg.get_runs(rolled_back) == []
        run = await pg.get_run(committed)
        assert run is not None and run.queue == "done"
        await wait_until(lambda: Notification("runs", queue="done") in received)
        assert Notification("runs", queue="undone") not in received
    finally:
        await listener.close()


async def test_enqueue_on_the_callers_sync_connection_follows_its_transaction(
    pg: PostgresStore, pg_url: str
) -> None:
    with psycopg.connect(pg_url) as conn:
        rolled_back = await pg.enqueue([NewRun("a"), NewRun("b")], connection=conn)
        conn.rollback()
        committed = await pg.enqueue([NewRun("c"), NewRun("d")], connection=conn)
        conn.commit()
    assert await pg.get_runs(rolled_back) == []
    assert [r.job_type for r in await pg.get_runs(committed)] == ["c", "d"]


async def test_enqueue_on_the_callers_connection_stores_each_runs_max_attempts(
    pg: PostgresStore, pg_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        [one] = await pg.enqueue([NewRun("a", max_attempts=2)], connection=conn)
        batch = await pg.enqueue(
            [NewRun("b", max_attempts=1), NewRun("c", max_attempts=6)], connection=conn
        )
        await conn.commit()
    found = {r.id: r.max_attempts for r in await pg.get_runs([one, *batch])}
    assert [found[i] for i in [one, *batch]] == [2, 1, 6]


async def test_enqueue_on_a_connection_with_another_search_path_finds_the_tables(
    pg: PostgresStore,
) -> None:
    """Statements are schema-qualified, so the caller's search_path does not matter."""
    async with await psycopg.AsyncConnection.connect(PG_BASE_URL) as conn:
        [run_id] = await pg.enqueue([NewRun("a")], connection=conn)
        await conn.commit()
    run = await pg.get_run(run_id)
    assert run is not None and run.status is RunStatus.PENDING


async def test_enqueue_rejects_a_connection_that_is_not_psycopg(pg: PostgresStore) -> None:
    with pytest.raises(ConfigurationError, match="psycopg"):
        await pg.enqueue([NewRun("a")], connection=object())


# --- concurrency ---------------------------------------------------------------------------------


async def test_twenty_concurrent_claimers_share_two_thousand_runs_exactly(pg_url: str) -> None:
    store = await _opened(pg_url, min_size=4, max_size=20)
    try:
        ids = await store.enqueue([NewRun("a") for _ in range(2000)], now=T0)

        async def claimer(worker_id: str) -> list[int]:
            taken: list[int] = []
            while batch := await store.claim(worker_id, ["default"], ["a"], 10, now=T0):
                assert {r.worker_id for r in batch} == {worker_id}
                taken.extend(r.id for r in batch)
            return taken

        results = await asyncio.gather(*(claimer(f"w{i}") for i in range(20)))
        every = [run_id for taken in results for run_id in taken]
        assert len(every) == len(set(every))
        assert sorted(every) == sorted(ids)
        assert await store.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))) == 2000
        owners = {r.id: r.worker_id for r in await store.get_runs(ids)}
        for index, taken in enumerate(results):
            assert {owners[run_id] for run_id in taken} <= {f"w{index}"}
    finally:
        await store.close()


async def test_concurrent_rescuers_rescue_each_run_once(pg_url: str) -> None:
    store = await _opened(pg_url, max_size=10)
    try:
        worker = WorkerInfo("gone", "host", 1, ("default",), started_at=T0, last_seen_at=T0)
        await store.heartbeat(worker, now=T0)
        await store.enqueue([NewRun("a") for _ in range(50)], now=T0)
        claimed = await store.claim("gone", ["default"], ["a"], 50, now=T0)
        results = await asyncio.gather(
            *(
                store.rescue_stale(stale_after=timedelta(minutes=5), now=at(hours=1))
                for _ in range(8)
            )
        )
        retried = [run_id for r in results for run_id in r.runs_retried]
        assert sorted(retried) == sorted(r.id for r in claimed)
        assert [w for r in results for w in r.workers_marked_dead] == ["gone"]
        assert await store.count_runs(RunFilter(statuses=(RunStatus.PENDING,))) == 50
    finally:
        await store.close()


async def test_concurrent_schedulers_fire_a_due_time_once(pg_url: str) -> None:
    store = await _opened(pg_url, max_size=10)
    try:
        await store.set_schedule("tick", Schedule(ScheduleKind.CRON, "0 * * * *"), T0)
        due = NewRun("tick", run_at=T0, schedule_due_at=T0)
        results = await asyncio.gather(
            *(store.fire_schedule("tick", T0, at(hours=1), [due]) for _ in range(8))
        )
        assert sorted(len(ids) for ids in results) == [0] * 7 + [1]
        assert await store.count_runs(RunFilter(job_types=("tick",))) == 1
    finally:
        await store.close()


# --- plans ---------------------------------------------------------------------------------------


async def test_hot_queries_stay_index_bound_with_many_finished_runs(
    pg: PostgresStore, pg_url: str
) -> None:
    """200k finished runs and a backlog of 2,000 pending ones, statistics up to date."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, status, attempt, run_at, created_at,"
            " started_at, finished_at, worker_id)"
            " SELECT 'a', 'default', 'succeeded', 1, t, t, t, t + interval '1 second', 'w'"
            " FROM generate_series(timestamptz '2025-01-01', timestamptz '2025-01-01'"
            " + interval '199999 seconds', interval '1 second') AS t"
        )
        conn.execute(
            "INSERT INTO zapjobs_runs (job_type, queue, run_at, created_at)"
            " SELECT 'a', CASE WHEN i % 2 = 0 THEN 'critical' ELSE 'default' END,"
            " now() - i * interval '1 second', now() FROM generate_series(1, 2000) AS i"
        )
        conn.execute("ANALYZE zapjobs_runs")

    claim = await _plan(
        pg,
        "claim_runs",
        worker_id="w",
        queues=["critical", "default"],
        job_types=["a"],
        limit=10,
        now=None,
    )
    assert "zapjobs_runs_claim_idx" in claim
    assert "Seq Scan on zapjobs_runs" not in claim

    page = await _plan(pg, "list_runs", before_id=None, limit=50, **_no_filter())
    assert "Seq Scan on zapjobs_runs" not in page

    prune = await _plan(pg, "prune_runs", retention=timedelta(days=3650), batch_size=1000, now=None)
    assert "zapjobs_runs_finished_idx" in prune
    assert "Seq Scan on zapjobs_runs" not in prune

    [run] = await pg.claim("w", ["critical", "default"], ["a"], 1)
    assert (run.queue, run.status) == ("critical", RunStatus.RUNNING)


async def _plan(store: PostgresStore, name: str, **params: Any) -> str:
    params.setdefault("channel", store.channel)
    async with store._db.connection() as conn:
        cur = await conn.execute(f"EXPLAIN {store.queries[name]}".encode(), params)
        return "\n".join(row[0] for row in await cur.fetchall())


def _no_filter() -> dict[str, Any]:
    from zapjobs.stores.postgres.rows import filter_params

    return filter_params(RunFilter(), None)


# --- prefixes and connection errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", ['x"; drop table zapjobs_runs; --', "Upper_", "a b", "", "x" * 31, "1abc"]
)
def test_a_dangerous_or_invalid_prefix_is_rejected_before_any_sql(prefix: str) -> None:
    unreachable = "host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=1"
    with pytest.raises(ConfigurationError, match="table prefix"):
        PostgresStore(unreachable, prefix=prefix)
    with pytest.raises(ConfigurationError, match="table prefix"):
        create_store(unreachable, prefix=prefix)


@pytest.mark.parametrize("form", ["uri", "keyvalue"])
async def test_an_unreachable_server_gives_a_one_line_error_without_the_password(
    form: str,
) -> None:
    secret = "s3cr3t-Pa55"
    if form == "uri":
        dsn = f"postgresql://postgres:{secret}@127.0.0.1:1/test?connect_timeout=2"
    else:
        dsn = f"host=127.0.0.1 port=1 dbname=test user=postgres password={secret} connect_timeout=2"
    store = PostgresStore(dsn)
    with pytest.raises(ConnectionFailedError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:1: ")
    assert "refused" in message.lower()
    assert secret not in message
    assert "\n" not in message


async def test_a_rejected_login_gives_the_cause_without_the_password() -> None:
    """The test server trusts every password, so an unknown role stands in for a bad login."""
    secret = "p@ss:w0rd/x"
    params = conninfo_to_dict(PG_BASE_URL)
    dsn = make_conninfo(PG_BASE_URL, user="zapjobs_no_such_role", password=secret)
    store = PostgresStore(dsn)
    with pytest.raises(ConnectionFailedError) as caught:
        await store.open()
    message = str(caught.value)
    host = params.get("host", "localhost")
    assert message.startswith(f"cannot connect to PostgreSQL at {host}:")
    assert 'role "zapjobs_no_such_role" does not exist' in message
    assert secret not in message
    assert "\n" not in message


async def test_a_dropped_connection_becomes_connection_failed_and_the_pool_recovers(
    pg_url: str,
) -> None:
    store = await _opened(pg_url, min_size=1, max_size=1)
    try:
        run_id = await enqueue_one(store)
        async with store._db.connection() as conn:
            pid = conn.info.backend_pid
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(ConnectionFailedError, match="lost the connection"):
            await store.get_run(run_id)
        recovered = await store.list_runs(RunFilter(), Page(limit=10))
        assert [r.id for r in recovered] == [run_id]
    finally:
        await store.close()


async def test_serial_hot_statements_stay_on_one_backend_with_two_idle_in_the_pool(
    pg_url: str,
) -> None:
    """The hot pool hands out its longest-idle connection: the store reuses the one it used
    last instead, so a worker's serial claims keep one backend warm."""
    store = await _opened(pg_url, min_size=1, max_size=4)  # a hot pool of 2
    try:
        hot = store._db._hot
        assert hot is not None
        first, second = await hot.getconn(), await hot.getconn()
        pids = [first.info.backend_pid, second.info.backend_pid]
        await hot.putconn(first)
        await hot.putconn(second)
        for _ in range(4):
            await enqueue_one(store)
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            cur = await admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) AND query ILIKE '%%insert%%'",
                (pids,),
            )
            enqueued_on = [pid for (pid,) in await cur.fetchall()]
        assert len(enqueued_on) == 1, f"the enqueues ran on backends {enqueued_on}"
    finally:
        await store.close()


async def _hot_backend(store: PostgresStore, lane: str) -> int:
    async with store._db.connection(hot=True, lane=lane) as conn:
        return conn.info.backend_pid


async def test_the_completions_and_the_claims_keep_a_hot_connection_each(pg_url: str) -> None:
    """The completer runs beside the claims: each keeps the hot connection it used last, so they
    do not take turns on one backend (which cost the claims of a one-process drain a fifth)."""
    store = await _opened(pg_url, min_size=1, max_size=4)  # a hot pool of 2
    try:
        backends = set()
        for _ in range(3):
            await finish_one(store, RunStatus.SUCCEEDED)  # enqueue, claim, complete
            on_claims = await server_plans(store, lane="claims")
            assert set(on_claims) == {"claim_runs", "enqueue_run"}, on_claims
            assert set(await server_plans(store, lane="completions")) == {"complete_childless"}
            backends.add(
                (await _hot_backend(store, "claims"), await _hot_backend(store, "completions"))
            )
        assert len(backends) == 1, backends
        ((claims, completions),) = backends
        assert claims != completions
    finally:
        await store.close()


async def test_with_a_hot_pool_of_one_claims_and_completions_take_turns_on_it(
    pg_url: str,
) -> None:
    """The claims' parked connection is all a hot pool of one has: a completion takes it rather
    than wait for the pool (which gives nothing back until the next claim)."""
    store = await _opened(pg_url, min_size=1, max_size=1)  # a hot pool of 1
    try:
        for _ in range(3):
            run_id = await finish_one(store, RunStatus.SUCCEEDED)  # asserts the completion
        assert (await store.get_run(run_id)).status is RunStatus.SUCCEEDED
    finally:
        await store.close()


async def test_a_lost_hot_connection_fails_once_and_is_not_used_again(pg_url: str) -> None:
    name = "zapjobs_lost_hot_test"
    store = await _opened(make_conninfo(pg_url, application_name=name), min_size=1, max_size=2)
    try:
        await enqueue_one(store)  # the hot connection is idle, ready for the next
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            )
        with pytest.raises(ConnectionFailedError, match="lost the connection"):
            await enqueue_one(store)
        run_id = await enqueue_one(store)
        claimed = await store.claim("w1", ["default"], ["a"], 10, now=T0)
        assert run_id in [r.id for r in claimed]
    finally:
        await store.close()


async def test_a_lost_connection_replaces_the_idle_hot_one_too(pg_url: str) -> None:
    """What broke one connection (a restart, the network) most likely broke the others: a lost
    general connection replaces the hot connection kept for the next hot statement as well."""
    store = await _opened(pg_url, min_size=1, max_size=2)  # one connection per pool
    try:
        run_id = await enqueue_one(store)
        async with store._db.connection() as conn:
            general_pid = conn.info.backend_pid
        async with store._db.connection(hot=True) as conn:
            hot_pid = conn.info.backend_pid
        async with await psycopg.AsyncConnection.connect(PG_BASE_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (general_pid,))
        with pytest.raises(ConnectionFailedError, match="lost the connection"):
            await store.get_run(run_id)
        await enqueue_one(store)
        async with store._db.connection(hot=True) as conn:
            assert conn.info.backend_pid != hot_pid
    finally:
        await store.close()


async def test_concurrent_hot_statements_share_a_hot_pool_of_one(pg_url: str) -> None:
    """The connection released while another caller waits for the pool goes to that caller
    (not kept for later, which would leave the caller waiting for the pool's timeout)."""
    store = await _opened(pg_url, min_size=1, max_size=1)  # a hot pool of 1
    try:
        ids = await asyncio.gather(*(enqueue_one(store) for _ in range(5)))
        assert len(set(ids)) == 5
    finally:
        await store.close()


async def test_using_a_store_before_open_says_so() -> None:
    from zapjobs.errors import StoreError

    store = PostgresStore("host=127.0.0.1 port=1")
    with pytest.raises(StoreError, match="not open"):
        await store.count_runs(RunFilter())
