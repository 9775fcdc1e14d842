"""``zapjobs doctor`` through the real entry point, against real databases.

PostgreSQL: a private cluster (tests/chaos/pgcluster.py) with the server's default settings,
one database per test. The shared test server runs with autovacuum off, which the doctor
rightly reports as a problem, so a healthy installation can only be shown on a server of its
own. Each finding is seeded into an otherwise healthy installation and must turn exactly its
own line into a problem and the exit code into 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.chaos.pgcluster import PgCluster, free_port, private_cluster
from tests.cli.conftest import SECRET, Result, clean_env, run_cli
from zapjobs.models import JobDefinition, NewRun, RunOutcome, RunStatus, WorkerInfo
from zapjobs.stores import Store, create_store

pytestmark = pytest.mark.postgres

Seed = Callable[[Store, datetime], Awaitable[None]]

NOT_APPLICABLE_ON_SQLITE = {
    "indexes", "autovacuum", "bloat", "tables", "connections", "transactions", "notify", "clock",
}  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as found:
        yield found


def doctor(url: str, cwd: Path, *more: str) -> tuple[Result, dict[str, Any]]:
    result = run_cli("doctor", "--json", "-c", url, *more, env=clean_env(), cwd=cwd, timeout=120)
    return result, json.loads(result.stdout)


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["verdict"] for c in report["checks"]}


def findings(report: dict[str, Any]) -> dict[str, str]:
    return {n: v for n, v in verdicts(report).items() if v not in {"ok", "not_applicable"}}


def worker(queues: tuple[str, ...] = ("default",)) -> WorkerInfo:
    now = datetime.now(UTC)
    return WorkerInfo("doc-w1", "host-1", 4242, queues, started_at=now, last_seen_at=now)


async def healthy(store: Store, now: datetime) -> None:
    """A live worker on "default"; a run due now, one running, one finished, a log line."""
    await store.register_definitions(
        [JobDefinition("email"), JobDefinition("slow", timeout_seconds=60)]
    )
    await store.heartbeat(worker())
    [finished, running] = await store.enqueue([NewRun("email"), NewRun("email")], now=now)
    claimed = await store.claim("doc-w1", ["default"], ["email"], 2, now=now)
    assert sorted(r.id for r in claimed) == [finished, running]
    outcome = RunOutcome(finished, "doc-w1", 1, RunStatus.SUCCEEDED, output_json="null")
    assert await store.complete([outcome], now=now) == [finished]
    await store.enqueue([NewRun("email")])


def seeded(url: str, *seeds: Seed, migrate: bool = True) -> None:
    async def main() -> None:
        store = create_store(url)
        await store.open()
        try:
            if migrate:
                await store.migrate()
            for seed in seeds:
                await seed(store, datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(main())


# --- findings ----------------------------------------------------------------------------------


async def queue_nobody_serves(store: Store, now: datetime) -> None:
    await store.enqueue([NewRun("email", queue="mail")])


async def run_past_its_timeout(store: Store, now: datetime) -> None:
    started = now - timedelta(minutes=10)  # "slow" has a 60 s timeout
    [run_id] = await store.enqueue([NewRun("slow")], now=started)
    claimed = await store.claim("doc-w1", ["default"], ["slow"], 1, now=started)
    assert [r.id for r in claimed] == [run_id]


async def overdue_run(store: Store, now: datetime) -> None:
    await store.enqueue([NewRun("email", run_at=now - timedelta(minutes=10))])


async def retention_behind(store: Store, now: datetime) -> None:
    long_ago = now - timedelta(days=40)  # job_retention is 30 days
    [run_id] = await store.enqueue([NewRun("email", queue="old")], now=long_ago)
    await store.claim("w-old", ["old"], ["email"], 1, now=long_ago)
    outcome = RunOutcome(run_id, "w-old", 1, RunStatus.FAILED)
    assert await store.complete([outcome], now=long_ago) == [run_id]


async def too_many_worker_processes(store: Store, now: datetime) -> None:
    """Five more live worker processes: with the first, 6 x 17 connections > 100 - 3 reserved."""
    budget = store.connection_budget()
    assert budget is not None and budget.per_process(1) * 6 == 102
    for pid in range(5):
        await store.heartbeat(replace(worker(), id=f"doc-p{pid}", pid=pid + 1))


def invalid_index(url: str) -> None:
    """What an interrupted CREATE INDEX CONCURRENTLY leaves behind."""
    with (
        psycopg.connect(url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY zapjobs_runs_doc ON zapjobs_runs (queue)")


def runs_autovacuum_off(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE zapjobs_runs SET (autovacuum_enabled = false)")


# --- tests -------------------------------------------------------------------------------------


def test_a_healthy_installation_is_all_ok_and_exits_0(cluster: PgCluster, tmp_path: Path) -> None:
    url = cluster.url(cluster.create_database())
    seeded(url, healthy)

    result, report = doctor(url, tmp_path)

    assert result.code == 0, result
    assert set(verdicts(report).values()) == {"ok"}, result
    assert report["ok"] is True and report["outcome"] == "healthy"
    assert verdicts(report)["notify"] == "ok"  # the NOTIFY round trip on the real server
    shown = run_cli("doctor", "-c", url, env=clean_env(), cwd=tmp_path, timeout=120)
    assert shown.code == 0, shown
    lines = [line for line in shown.stdout.splitlines()[1:] if not line.startswith(" ")]
    assert len(lines) == len(report["checks"]) and all(line.startswith("ok ") for line in lines)
    assert "healthy: 0 problem(s), 0 warning(s)" in shown.stderr


@pytest.mark.parametrize(
    ("seed", "check", "words"),
    [
        (queue_nobody_serves, "queues", "no live worker serving them: mail"),
        (run_past_its_timeout, "timeouts", "past its 1m timeout"),
        (overdue_run, "overdue", "1 run(s) due for more than 1m"),
        (retention_behind, "retention", "retention is not running"),
        (
            too_many_worker_processes,
            "connections",
            "6 worker process(es) may open up to 102 of the 97",
        ),
    ],
)
def test_each_seeded_finding_is_its_own_problem_line_and_exits_1(
    cluster: PgCluster, tmp_path: Path, seed: Seed, check: str, words: str
) -> None:
    url = cluster.url(cluster.create_database())
    seeded(url, healthy, seed)

    result, report = doctor(url, tmp_path)

    assert result.code == 1, result
    assert findings(report) == {check: "problem"}, result
    [line] = [c for c in report["checks"] if c["name"] == check]
    assert words in line["summary"] + " ".join(line["details"]) and line["advice"]
    assert report["outcome"] == "findings"


@pytest.mark.parametrize(
    ("damage", "check"),
    [(invalid_index, "indexes"), (runs_autovacuum_off, "autovacuum")],
)
def test_damaged_schema_or_settings_are_problem_lines(
    cluster: PgCluster, tmp_path: Path, damage: Callable[[str], None], check: str
) -> None:
    url = cluster.url(cluster.create_database())
    seeded(url, healthy)
    damage(url)

    result, report = doctor(url, tmp_path)

    assert result.code == 1, result
    assert findings(report) == {check: "problem"}, result


def test_an_unmigrated_database_exits_3_with_the_migrations_line(
    cluster: PgCluster, tmp_path: Path
) -> None:
    url = cluster.url(cluster.create_database())

    result, report = doctor(url, tmp_path)

    assert result.code == 3, result
    assert verdicts(report)["migrations"] == "problem"
    assert verdicts(report)["database"] == "ok" and verdicts(report)["notify"] == "ok"
    assert verdicts(report)["workers"] == "skipped"
    assert report["outcome"] == "unusable"


def test_an_unreachable_database_exits_3_with_one_line_and_no_password(tmp_path: Path) -> None:
    url = f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/nothing?connect_timeout=3"

    result, report = doctor(url, tmp_path)

    assert result.code == 3, result
    assert [(c["name"], c["verdict"]) for c in report["checks"]] == [("database", "problem")]
    assert SECRET not in result.output
    assert "Traceback" not in result.output


def test_warnings_count_only_with_strict(cluster: PgCluster, tmp_path: Path) -> None:
    url = cluster.url(cluster.create_database())

    async def scheduled_only(store: Store, now: datetime) -> None:
        await store.enqueue([NewRun("email", queue="later", run_at=now + timedelta(hours=1))])

    seeded(url, healthy, scheduled_only)

    relaxed, report = doctor(url, tmp_path)
    strict, _ = doctor(url, tmp_path, "--strict")

    assert findings(report) == {"queues": "warning"}
    assert (relaxed.code, strict.code) == (0, 1), (relaxed, strict)


def test_the_json_shape_is_stable(cluster: PgCluster, tmp_path: Path) -> None:
    url = cluster.url(cluster.create_database())
    seeded(url, healthy)

    _, report = doctor(url, tmp_path)

    assert set(report) == {"ok", "outcome", "strict", "database", "checked_at", "counts", "checks"}
    assert set(report["counts"]) == {"ok", "warning", "problem", "not_applicable", "skipped"}
    assert [c["name"] for c in report["checks"]] == [
        "database", "migrations", "indexes", "autovacuum", "bloat", "tables", "connections",
        "transactions", "notify", "clock", "workers", "queues", "overdue", "timeouts",
        "retention",
    ]  # fmt: skip
    for check in report["checks"]:
        assert set(check) == {"name", "title", "verdict", "summary", "advice", "details"}
    assert report["checked_at"].endswith("Z")


# --- SQLite ------------------------------------------------------------------------------------


def test_on_sqlite_the_server_checks_are_not_applicable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seeded(url, healthy)

    result, report = doctor(url, tmp_path)

    assert result.code == 0, result
    assert {n for n, v in verdicts(report).items() if v == "not_applicable"} == (
        NOT_APPLICABLE_ON_SQLITE
    )
    assert findings(report) == {}

    seeded(url, queue_nobody_serves)
    result, report = doctor(url, tmp_path)
    assert result.code == 1, result
    assert findings(report) == {"queues": "problem"}


def test_untrusted_names_are_shown_literally(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    hostile = "[bold red]mail[/]\x1b[2J"

    async def hostile_queue(store: Store, now: datetime) -> None:
        await store.enqueue([NewRun("email", queue=hostile)])

    seeded(url, healthy, hostile_queue)

    shown = run_cli("doctor", "-c", url, env=clean_env(), cwd=tmp_path, timeout=120)

    assert shown.code == 1, shown
    assert "\x1b" not in shown.stdout
    assert "serving them: [bold red]mail[/]\\x1b[2J" in shown.stdout
