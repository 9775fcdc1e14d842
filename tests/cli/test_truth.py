"""What the CLI reports is what happened (issue 14, "Truth"), through the real entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg

from tests.cli.conftest import SECRET, Cli, assert_clean_error, run_cli, stop
from tests.cli.waiting import wait_until

# A worker that claims a retried run the instant it is pending again: the retry statement's
# own row comes back "running", as a real worker's claim would leave it a moment later.
INSTANT_CLAIM = """
CREATE FUNCTION claim_at_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'failed' AND NEW.status = 'pending' THEN
        NEW.status := 'running';
        NEW.worker_id := 'quick-worker';
        NEW.attempt := 1;
        NEW.started_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER claim_at_once BEFORE UPDATE ON zapjobs_runs
    FOR EACH ROW EXECUTE FUNCTION claim_at_once();
"""


def failed_run(cli: Cli) -> int:
    enqueued = cli("enqueue", "fail", "--json")
    assert enqueued.code == 0, str(enqueued)
    run_id = int(json.loads(enqueued.stdout)["id"])
    worked = cli("worker", "--burst")
    assert worked.code == 0, str(worked)
    return run_id


def test_retry_reports_retried_even_when_a_worker_claims_the_run_at_once(pg_app: Cli) -> None:
    run_id = failed_run(pg_app)
    with psycopg.connect(pg_app.url, autocommit=True) as conn:
        conn.execute(INSTANT_CLAIM)
    result = pg_app("runs", "retry", str(run_id))
    assert result.code == 0, str(result)
    assert f"retried 1 run(s): {run_id}" in result.stderr, str(result)
    assert "asked the workers to stop" not in result.output, str(result)


def test_cancel_reports_what_its_statement_did(pg_app: Cli) -> None:
    pending = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--json")
    run_id = int(json.loads(pending.stdout)["id"])
    result = pg_app("runs", "cancel", str(run_id), "--json")
    assert result.code == 0, str(result)
    data = json.loads(result.stdout)
    assert data["changed"] == [run_id] and data["stop_requested"] == [], str(result)


def test_declined_bulk_delete_writes_nothing_to_stdout(pg_app: Cli) -> None:
    failed_run(pg_app)
    result = pg_app("runs", "delete", "--status", "failed", "--json", input="n\n")
    assert result.code == 1, str(result)
    assert result.stdout == "", repr(result.stdout)
    assert "not confirmed" in result.stderr


def test_jobs_show_and_list_give_the_timeout_a_worker_enforces(pg_app: Cli) -> None:
    """greet declares no timeout: the worker enforces settings.default_timeout (60 m), and so
    the screens say; a job type's override wins."""
    env = {**pg_app.env, "ZAPJOBS_DEFAULT_TIMEOUT": "45m"}
    cli = Cli(pg_app.url, pg_app.cwd, env)
    shown = cli("jobs", "show", "greet", "--json")
    assert shown.code == 0, str(shown)
    assert json.loads(shown.stdout)["effective_timeout_seconds"] == 2700.0
    text = cli("jobs", "show", "greet")
    assert "45m" in text.stdout and "(default)" in text.stdout, str(text)
    listed = cli("jobs", "list", "--json")
    by_type = {d["job_type"]: d for d in json.loads(listed.stdout)}
    assert by_type["greet"]["effective_timeout_seconds"] == 2700.0
    table = cli("jobs", "list")
    [row] = [line for line in table.stdout.splitlines() if line.lstrip().startswith("greet")]
    assert "45m" in row and "(default)" in row, str(table)


def test_a_run_that_succeeded_after_a_failure_says_whose_error_it_shows(pg_app: Cli) -> None:
    enqueued = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--json")
    run_id = int(json.loads(enqueued.stdout)["id"])
    with psycopg.connect(pg_app.url, autocommit=True) as conn:  # attempt 1 failed, 2 succeeded
        conn.execute(
            "UPDATE zapjobs_runs SET status = 'succeeded', attempt = 2, max_attempts = 4,"
            " started_at = now(), finished_at = now(), worker_id = 'w',"
            " error_type = 'RuntimeError', error_message = 'flaky',"
            " error_traceback = 'Traceback: flaky' WHERE id = %s",
            (run_id,),
        )
    shown = pg_app("runs", "show", str(run_id))
    assert shown.code == 0, str(shown)
    lines = shown.stdout.splitlines()
    assert any(line.split()[:3] == ["attempt", "2", "of"] and "4" in line for line in lines)
    [error] = [line for line in lines if "RuntimeError: flaky" in line]
    assert error.startswith("error of attempt 1 (retried)"), str(shown)
    listed = pg_app("runs", "list")
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(str(run_id))]
    assert "2 of 4" in row and "attempt 1 (retried): RuntimeError" in row, str(listed)


def test_logs_follow_exits_with_the_runs_outcome(pg_app: Cli) -> None:
    run_id = failed_run(pg_app)
    failed = pg_app("runs", "logs", str(run_id), "--follow", "--level", "warn")
    assert failed.code == 1, str(failed)
    assert "about to fail" in failed.stdout, str(failed)  # an error entry passes --level warn
    assert f"run {run_id} failed (attempt 1 of 1): RuntimeError" in failed.stderr, str(failed)
    plain = pg_app("runs", "logs", str(run_id))  # without --follow: the listing's exit code
    assert plain.code == 0, str(plain)

    greeted = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--json")
    ok_id = int(json.loads(greeted.stdout)["id"])
    assert pg_app("worker", "--burst").code == 0
    succeeded = pg_app("runs", "logs", str(ok_id), "-f", "-l", "WARN")
    assert succeeded.code == 0, str(succeeded)
    assert f"run {ok_id} succeeded" in succeeded.stderr, str(succeeded)


def test_status_counts_runs_in_flight_from_the_runs_and_orders_failures_by_finish(
    pg_app: Cli,
) -> None:
    older = failed_run(pg_app)
    newer = failed_run(pg_app)
    running = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--json")
    running_id = int(json.loads(running.stdout)["id"])
    with psycopg.connect(pg_app.url, autocommit=True) as conn:
        conn.execute(  # the older run failed last (say it was retried and failed again)
            "UPDATE zapjobs_runs SET finished_at = now() + interval '1 minute' WHERE id = %s",
            (older,),
        )
        conn.execute(  # running under a worker that no heartbeat row reports
            "UPDATE zapjobs_runs SET status = 'running', attempt = 1, started_at = now(),"
            " worker_id = 'elsewhere' WHERE id = %s",
            (running_id,),
        )
    shown = pg_app("status")
    assert shown.code == 0, str(shown)
    assert "(1 runs in flight)" in shown.stdout, str(shown)
    data = json.loads(pg_app("status", "--json").stdout)
    assert [r["id"] for r in data["latest_failures"]] == [older, newer]


def test_status_watch_refuses_a_zero_interval(pg_app: Cli) -> None:
    assert_clean_error(pg_app("status", "--watch", "--interval", "0s"), 2, "--interval")


def npgsql_form(conninfo: str) -> str:
    """The same database as an Npgsql (.NET) connection string, as the seed's example has it."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(conninfo)
    npgsql = {"host": "Host", "port": "Port", "dbname": "Database", "user": "User Id"}
    text = ";".join(f"{npgsql[k]}={parts[k]}" for k in npgsql if k in parts)
    return f"{text};Password={SECRET}"


def test_migrate_accepts_the_npgsql_connection_string_and_masks_its_password(
    pg_cli: Cli,
) -> None:
    """The shared server trusts local connections, so any password works; it must never show."""
    from psycopg.conninfo import conninfo_to_dict

    schema = conninfo_to_dict(pg_cli.url)["options"].removeprefix("-csearch_path=")
    env = {k: v for k, v in pg_cli.env.items() if k != "ZAPJOBS_DATABASE_URL"}
    env["PGOPTIONS"] = f"-csearch_path={schema}"
    cli = Cli(pg_cli.url, pg_cli.cwd, env)
    dsn = npgsql_form(pg_cli.url)
    migrated = cli("migrate", "-c", dsn)
    assert migrated.code == 0, str(migrated)
    shown = cli("config", "show", "-c", dsn)
    assert shown.code == 0, str(shown)
    assert "password=***" in shown.output, str(shown)
    for result in (migrated, shown):
        assert SECRET not in result.output, str(result)
    assert cli("migrate", "--status", "--json", "-c", dsn).code == 0


def test_a_default_worker_serves_the_critical_queue(pg_app: Cli) -> None:
    enqueued = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "-q", "critical", "--json")
    run_id = int(json.loads(enqueued.stdout)["id"])
    assert pg_app("worker", "--burst").code == 0
    shown = json.loads(pg_app("runs", "show", str(run_id), "--json").stdout)
    assert shown["status"] == "succeeded", shown


def test_only_the_worker_needs_the_app_to_import(pg_app: Cli) -> None:
    """On a machine without the job code, every command but the worker goes on (one warning
    line); the worker refuses."""
    pg_app("enqueue", "greet", "--input", '{"name": "Ada"}')  # greet is in the store now
    env = {**pg_app.env, "ZAPJOBS_APP": "not_on_this_machine.jobs:zap"}
    cli = Cli(pg_app.url, pg_app.cwd, env)
    for args in (
        ("migrate",),
        ("migrate", "--status"),
        ("config", "show"),
        ("health",),
        ("status",),
        ("runs", "list"),
        ("jobs", "list"),
        ("enqueue", "greet", "--input", '{"name": "Bo"}'),
    ):
        result = cli(*args)
        assert result.code == 0, f"{args}: {result}"
        warnings = [line for line in result.stderr.splitlines() if "not_on_this_machine" in line]
        assert len(warnings) == 1 and warnings[0].startswith("warning: "), f"{args}: {result}"
    assert_clean_error(cli("worker", "--burst"), 2, "not_on_this_machine")


def test_migrate_without_any_configuration_creates_nothing(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    result = run_cli("migrate", env=bare_env, cwd=tmp_path)
    assert_clean_error(result, 2, "no zapjobs configuration found")
    assert list(tmp_path.iterdir()) == []
    explicit = run_cli("migrate", "-c", "sqlite:///here.db", env=bare_env, cwd=tmp_path)
    assert explicit.code == 0, str(explicit)
    assert (tmp_path / "here.db").exists()


def test_the_apps_own_database_and_the_config_files_are_both_named(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    (tmp_path / "own_url_app.py").write_text(
        "from zapjobs import ZapJobs\nzap = ZapJobs('sqlite:///from_app.db')\n"
    )
    (tmp_path / "zapjobs.toml").write_text(
        'database_url = "sqlite:///from_toml.db"\napp = "own_url_app:zap"\n'
    )
    migrated = run_cli("migrate", env=bare_env, cwd=tmp_path)
    assert migrated.code == 0, str(migrated)
    [warning] = [line for line in migrated.stderr.splitlines() if "from_app.db" in line]
    assert "from_toml.db" in warning and "make them agree" in warning, str(migrated)
    shown = run_cli("config", "show", env=bare_env, cwd=tmp_path)
    assert shown.code == 0, str(shown)
    assert "from_app.db" in shown.stderr and "from_toml.db" in shown.output, str(shown)
    data = json.loads(run_cli("config", "show", "--json", env=bare_env, cwd=tmp_path).stdout)
    assert data["app_overridden"]["database_url"] == "sqlite:///from_app.db"


def test_enqueue_warns_when_no_live_worker_serves_the_queue(
    pg_app: Cli, processes: list[subprocess.Popen[str]]
) -> None:
    worker = pg_app.start("worker", "--queues", "default,low")
    processes.append(worker)

    def alive() -> bool:
        listed = pg_app.query(lambda zap: zap.list_workers())
        return any(w.stopped_at is None for w in listed)

    wait_until(alive, "the worker's first heartbeat")
    typo = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--queue", "nosuchqueue")
    assert typo.code == 0 and typo.stdout.strip().isdigit(), str(typo)
    [line] = [line for line in typo.stderr.splitlines() if line.strip()]
    assert line.startswith("warning: no live worker serves queue 'nosuchqueue'"), str(typo)
    assert "live workers serve default, low" in line, str(typo)
    served = pg_app("enqueue", "greet", "--input", '{"name": "Bo"}', "--queue", "low")
    assert served.code == 0 and "warning" not in served.stderr, str(served)
    stop(worker)


SCHEDULED_APP = """
from zapjobs import JobContext, ZapJobs

zap = ZapJobs()


@zap.job("heartbeat-report", cron="* * * * *")
async def heartbeat_report(ctx: JobContext[None]) -> None:
    pass
"""


def test_recurring_remove_refuses_a_schedule_the_code_declares(pg_cli: Cli) -> None:
    (pg_cli.cwd / "scheduled_app.py").write_text(SCHEDULED_APP)
    cli = Cli(pg_cli.url, pg_cli.cwd, {**pg_cli.env, "ZAPJOBS_APP": "scheduled_app:zap"})
    assert cli("migrate").code == 0  # stores the job type and its schedule
    refused = cli("recurring", "remove", "heartbeat-report")
    assert_clean_error(refused, 1, "declared in your code", "nothing changed")
    assert "zapjobs jobs pause heartbeat-report" in refused.stderr, str(refused)
    shown = json.loads(cli("jobs", "show", "heartbeat-report", "--json").stdout)
    assert shown["schedule"] is not None

    without_app = pg_cli("recurring", "remove", "heartbeat-report")  # the code is not here
    assert without_app.code == 0, str(without_app)
    assert "the next worker start declares it again" in without_app.stderr, str(without_app)


def test_recurring_add_every_zero_is_refused_in_the_cli_s_words(pg_app: Cli) -> None:
    result = pg_app("recurring", "add", "greet", "--every", "0s")
    assert_clean_error(result, 2, "--every must be at least 1s")
    assert "timedelta" not in result.output and "--every 30s" in result.stderr, str(result)


def test_a_missing_database_or_role_gets_its_own_fix(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    base = "postgresql://postgres@127.0.0.1:5432/"
    no_db = run_cli("status", "-c", base + "zapjobs_no_such_db", env=bare_env, cwd=tmp_path)
    assert_clean_error(no_db, 3, 'database "zapjobs_no_such_db" does not exist')
    assert "createdb zapjobs_no_such_db" in no_db.stderr, str(no_db)
    assert "server is running" not in no_db.stderr, str(no_db)
    role_url = "postgresql://zapjobs_no_such_role@127.0.0.1:5432/test"
    no_role = run_cli("status", "-c", role_url, env=bare_env, cwd=tmp_path)
    assert_clean_error(no_role, 3, 'role "zapjobs_no_such_role" does not exist')
    assert "CREATE ROLE zapjobs_no_such_role" in no_role.stderr, str(no_role)


def test_migrate_status_json_lists_versions_alike(pg_cli: Cli) -> None:
    before = json.loads(pg_cli("migrate", "--status", "--json").stdout)
    assert before["applied"] == [] and before["pending"]
    assert all(isinstance(v, int) for v in before["pending"]), before
    assert [m["version"] for m in before["migrations"]] == before["pending"]
    assert {m["state"] for m in before["migrations"]} == {"pending"}
    assert all(m["name"] for m in before["migrations"])
    assert pg_cli("migrate").code == 0
    after = json.loads(pg_cli("migrate", "--status", "--json").stdout)
    assert after["applied"] == before["pending"] and after["pending"] == []
    assert {m["state"] for m in after["migrations"]} == {"applied"}


FLAKY_APP = """
from datetime import timedelta

from zapjobs import JobContext, RetryPolicy, ZapJobs

zap = ZapJobs()
policy = RetryPolicy(max_retries=2, initial_delay=timedelta(seconds=2), use_jitter=False)


@zap.job("flaky", retry=policy)
async def flaky(ctx: JobContext[None]) -> str:
    if ctx.attempt == 1:
        raise RuntimeError("first try")
    return "second try"
"""


def test_enqueue_wait_says_when_an_attempt_failed_and_a_retry_is_due(
    pg_cli: Cli, processes: list[subprocess.Popen[str]]
) -> None:
    (pg_cli.cwd / "flaky_app.py").write_text(FLAKY_APP)
    env = {**pg_cli.env, "ZAPJOBS_APP": "flaky_app:zap", "ZAPJOBS_POLLING_INTERVAL": "1s"}
    cli = Cli(pg_cli.url, pg_cli.cwd, env)
    assert cli("migrate").code == 0
    processes.append(cli.start("worker"))
    waited = cli("enqueue", "flaky", "--wait", "--timeout", "50s")
    assert waited.code == 0, str(waited)
    assert "attempt 1 of 3 failed: RuntimeError: first try; retrying in " in waited.stderr, str(
        waited
    )
    assert waited.stdout.strip() == '"second try"', str(waited)


def test_runs_list_search_finds_the_error_type_the_error_column_shows(pg_app: Cli) -> None:
    run_id = failed_run(pg_app)
    found = json.loads(pg_app("runs", "list", "--search", "RuntimeError", "--json").stdout)
    assert [r["id"] for r in found] == [run_id]


def test_run_times_say_their_zone_and_local_time_is_offered(pg_app: Cli) -> None:
    run_id = str(failed_run(pg_app))
    listed = pg_app("runs", "list")
    assert "CREATED (UTC)" in listed.stdout, str(listed)
    shown = pg_app("runs", "show", run_id)
    [created] = [line for line in shown.stdout.splitlines() if line.startswith("created")]
    assert created.rstrip().endswith(" UTC"), str(shown)
    logs = pg_app("runs", "logs", run_id)
    assert logs.stdout.split()[1].endswith("Z"), str(logs)

    tokyo = Cli(pg_app.url, pg_app.cwd, {**pg_app.env, "TZ": "Asia/Tokyo"})
    assert "CREATED (JST)" in tokyo("runs", "list", "--local").stdout
    local = tokyo("runs", "show", run_id, "--local", "--json")  # JSON stays UTC
    assert json.loads(local.stdout)["created_at"].endswith("Z")
    [created] = [
        line for line in tokyo("runs", "show", run_id, "--local").stdout.splitlines()
        if line.startswith("created")
    ]  # fmt: skip
    assert created.rstrip().endswith(" JST")
    assert tokyo("runs", "logs", run_id, "--local").stdout.split()[1].endswith("+0900")


def test_status_shows_the_last_failure_to_finish_beyond_the_newest_failed_ids(
    pg_app: Cli,
) -> None:
    """The store orders failures by finish time: an old run that failed last shows, however
    many failed runs were created after it."""
    old = failed_run(pg_app)
    with psycopg.connect(pg_app.url, autocommit=True) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'zapjobs_runs' AND table_schema = current_schema()"
                " AND column_name <> 'id'"
            )
        ]
        listed = ", ".join(columns)
        conn.execute(  # 80 newer failures that finished before the old one's retry failed
            f"INSERT INTO zapjobs_runs ({listed}) SELECT {listed} FROM zapjobs_runs r,"
            " generate_series(1, 80) WHERE r.id = %s",
            (old,),
        )
        conn.execute(
            "UPDATE zapjobs_runs SET finished_at = now() + interval '1 minute' WHERE id = %s",
            (old,),
        )
    data = json.loads(pg_app("status", "--json").stdout)
    assert data["latest_failures"][0]["id"] == old
