"""migrate, enqueue -> worker --burst -> runs show, and the run actions (retry, cancel, delete),
through the real entry point on PostgreSQL (and the embedded SQLite store)."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli, migrate
from zapjobs import ZapJobs
from zapjobs.models import NewRun, RunError, RunOutcome, RunStatus
from zapjobs.stores.migrate import load_migrations
from zapjobs.testing import store_of


def statuses(cli: Cli, *run_ids: int) -> dict[int, str]:
    async def read(zap: ZapJobs) -> dict[int, str]:
        return {run_id: (await zap.get_run(run_id)).status.value for run_id in run_ids}

    return cli.query(read)


def test_migrate_status_dry_run_and_apply(pg_cli: Cli) -> None:
    before = pg_cli("migrate", "--status")
    assert before.code == 0, str(before)
    assert "0001" in before.stdout and "pending" in before.stdout

    dry = pg_cli("migrate", "--dry-run", "--sql")
    assert dry.code == 0, str(dry)
    migrations = load_migrations("postgres", "zapjobs_")
    assert f"would apply {len(migrations)} migration(s)" in dry.stderr
    assert "CREATE TABLE" in dry.stdout

    applied = pg_cli("migrate")
    assert applied.code == 0, str(applied)
    for migration in migrations:
        assert f"applied {migration.version:04d}_{migration.name}" in applied.stderr

    after = pg_cli("migrate", "--status", "--json")
    data = json.loads(after.stdout)
    assert data["applied"] == [m.version for m in migrations]
    assert data["pending"] == [] and data["up_to_date"] is True

    again = pg_cli("migrate")
    assert again.code == 0 and "up to date" in again.stderr, str(again)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_enqueue_then_burst_worker_then_show(
    backend: str, request: pytest.FixtureRequest, tmp_path: object
) -> None:
    cli: Cli = request.getfixturevalue("pg_app" if backend == "postgres" else "sqlite_cli")
    if backend == "sqlite":
        migrate(cli.url)
        cli = Cli(cli.url, cli.cwd, {**cli.env, "ZAPJOBS_APP": "cli_jobs:zap"})
    (cli.cwd / "input.json").write_text('{"name": "Grace", "punctuation": "?"}')

    first = cli("enqueue", "greet", "--input", '{"name": "Ada"}')
    second = cli("enqueue", "greet", "--input", "@input.json", "--queue", "default")
    assert first.code == 0 and second.code == 0, str(first) + str(second)
    first_id, second_id = int(first.stdout), int(second.stdout)

    worker = cli("worker", "--burst", "--concurrency", "2")
    assert worker.code == 0, str(worker)
    assert "job types:   fail, greet, wait-forever (3)" in worker.stderr
    assert f"run {first_id} greet succeeded" in worker.stderr
    assert "[greet #" in worker.stderr  # the jobs' own log lines

    shown = cli("runs", "show", str(second_id), "--json")
    run = json.loads(shown.stdout)
    assert run["status"] == "succeeded"
    assert run["output"] == "hello, Grace?"
    assert run["input"] == {"name": "Grace", "punctuation": "?"}

    text = cli("runs", "show", str(first_id))
    assert "succeeded" in text.stdout and '"hello, Ada!"' in text.stdout, str(text)


def test_enqueue_works_without_app_for_stored_job_types(pg_app: Cli) -> None:
    assert pg_app("migrate").code == 0  # with the app: registers its job types (a listing no
    # longer does: read-only commands never write)
    no_app = Cli(
        pg_app.url, pg_app.cwd, {k: v for k, v in pg_app.env.items() if k != "ZAPJOBS_APP"}
    )
    result = no_app("enqueue", "greet", "--input", '{"anything": "goes"}', "--priority", "5")
    assert result.code == 0, str(result)
    run_id = int(result.stdout)

    async def read(zap: ZapJobs) -> tuple[str, int]:
        run = await zap.get_run(run_id)
        return run.queue, run.priority

    assert no_app.query(read) == ("default", 5)


def test_retry_cancel_and_delete_by_id_and_in_bulk(pg_app: Cli) -> None:
    pending = int(pg_app("enqueue", "fail").stdout)
    later = int(pg_app("enqueue", "greet", "--input", '{"name": "L"}', "--delay", "1h").stdout)

    listed = json.loads(pg_app("runs", "list", "--status", "scheduled", "--json").stdout)
    assert [r["id"] for r in listed] == [later]

    cancelled = pg_app("runs", "cancel", str(later))
    assert cancelled.code == 0 and f"cancelled 1 run(s): {later}" in cancelled.stderr
    assert statuses(pg_app, later) == {later: "cancelled"}

    retried = pg_app("runs", "retry", str(later), str(pending))
    assert retried.code == 1, str(retried)  # one of the two could not be retried
    assert f"retried 1 run(s): {later}" in retried.stderr
    assert f"run {pending} not retried: it is pending" in retried.stderr
    assert statuses(pg_app, later, pending) == {later: "pending", pending: "pending"}

    declined = pg_app("runs", "cancel", "--status", "pending", input="n\n")
    assert declined.code == 1 and "Cancel 2 run(s) matching status pending?" in declined.stderr
    assert "not confirmed" in declined.stderr
    assert statuses(pg_app, later, pending) == {later: "pending", pending: "pending"}

    bulk = pg_app("runs", "cancel", "--status", "pending", "--job", "fail", input="y\n")
    assert bulk.code == 0 and f"cancelled 1 run(s): {pending}" in bulk.stderr, str(bulk)
    assert statuses(pg_app, later, pending) == {later: "pending", pending: "cancelled"}

    deleted = pg_app("runs", "delete", "--status", "cancelled", "--yes", "--json")
    assert json.loads(deleted.stdout) == {"action": "delete", "changed": [pending], "unchanged": []}
    remaining = json.loads(pg_app("runs", "list", "--json").stdout)
    assert [r["id"] for r in remaining] == [later]


def test_cancel_a_running_run(pg_app: Cli, processes: list) -> None:
    from tests.cli.conftest import stop
    from tests.cli.waiting import wait_until

    worker = pg_app.start("worker", "--concurrency", "2")
    processes.append(worker)
    run_id = int(pg_app("enqueue", "wait-forever").stdout)
    wait_until(lambda: statuses(pg_app, run_id)[run_id] == "running", "the run to start")

    result = pg_app("runs", "cancel", str(run_id))
    assert result.code == 0, str(result)
    assert f"asked the workers to stop 1 running run(s): {run_id}" in result.stderr
    wait_until(lambda: statuses(pg_app, run_id)[run_id] == "cancelled", "the run to be cancelled")

    async def read(zap: ZapJobs) -> tuple[RunStatus, str | None]:
        run = await zap.get_run(run_id)
        return run.status, run.error.type if run.error else None

    status, error_type = pg_app.query(read)
    assert status is RunStatus.CANCELLED and error_type is not None
    code, _, err = stop(worker)
    assert code == 0, err
    assert "1 cancelled" in err


def test_search_finds_the_error_type_and_says_how_far_it_looked(sqlite_cli: Cli) -> None:
    """The Error column shows the error type: `--search RuntimeError` must find the run; the
    search is bounded to the newest runs and the output says so."""
    migrate(sqlite_cli.url)

    async def fail_one(zap: ZapJobs) -> int:
        await zap.open()
        store = store_of(zap)
        [run_id] = await store.enqueue([NewRun("sync")])
        [run] = await store.claim("w1", ["default"], ["sync"], 1)
        error = RunError("RuntimeError", "upstream said no")
        await store.complete([RunOutcome(run.id, "w1", run.attempt, RunStatus.FAILED, error=error)])
        return run_id

    run_id = sqlite_cli.query(fail_one)
    found = sqlite_cli("runs", "list", "--search", "runtimeerror", "--json")
    assert found.code == 0, str(found)
    assert [r["id"] for r in json.loads(found.stdout)] == [run_id]
    shown = sqlite_cli("runs", "list", "--search", "RuntimeError")
    assert shown.code == 0 and str(run_id) in shown.stdout, str(shown)
    assert "searched the newest 100,000 runs" in shown.stderr, str(shown)
    missed = sqlite_cli("runs", "list", "--search", "no such text")
    assert missed.code == 0 and "searched the newest 100,000 runs" in missed.stderr, str(missed)


def test_runs_show_counts_the_snoozes(sqlite_cli: Cli) -> None:
    """A snoozed run says how often it snoozed, in the text and in --json; the attempt shown
    is the one counted against the budget."""
    migrate(sqlite_cli.url)

    async def snooze_twice(zap: ZapJobs) -> int:
        await zap.open()
        store = store_of(zap)
        [run_id] = await store.enqueue([NewRun("sync")])
        for _ in range(2):
            [run] = await store.claim("w1", ["default"], ["sync"], 1)
            outcome = RunOutcome(run.id, "w1", run.attempt, RunStatus.PENDING, snoozed=True)
            await store.complete([outcome])
        return run_id

    run_id = sqlite_cli.query(snooze_twice)
    shown = sqlite_cli("runs", "show", str(run_id))
    assert shown.code == 0, str(shown)
    assert "snoozed   2 times (attempts not counted)" in shown.stdout, shown.stdout
    data = json.loads(sqlite_cli("runs", "show", str(run_id), "--json").stdout)
    assert (data["snoozes"], data["attempt"]) == (2, 0)
