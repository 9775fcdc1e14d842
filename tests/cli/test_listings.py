"""Job types, schedules and the --json shape of every listing."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli
from tests.cli.test_render import RUN_KEYS

JOB_KEYS = {
    "job_type", "queue", "schedule_paused", "paused", "max_retries", "timeout_seconds",
    "max_retries_override", "timeout_seconds_override", "effective_max_retries",
    "effective_timeout_seconds", "schedule",
    "next_due_at", "last_due_at", "last_run_id", "updated_at", "unique",
    "max_concurrency", "rate_limit", "max_concurrency_override", "rate_limit_override",
    "effective_max_concurrency", "effective_rate_limit",
}  # fmt: skip
WORKER_KEYS = {
    "id", "host", "pid", "queues", "state", "concurrency", "running", "started_at",
    "last_seen_at", "stopped_at", "dead_at",
}  # fmt: skip


def json_of(cli: Cli, *args: str) -> object:
    result = cli(*args, "--json")
    assert result.code == 0, str(result)
    return json.loads(result.stdout)


def test_jobs_pause_resume_trigger_and_recurring(pg_app: Cli) -> None:
    jobs = json_of(pg_app, "jobs", "list")
    assert isinstance(jobs, list)
    assert [j["job_type"] for j in jobs] == ["fail", "greet", "wait-forever"]
    assert all(set(j) == JOB_KEYS for j in jobs)

    assert pg_app("jobs", "pause", "greet").code == 0
    assert json_of(pg_app, "jobs", "show", "greet")["paused"] is True  # type: ignore[index]
    assert pg_app("jobs", "resume", "greet").code == 0
    assert json_of(pg_app, "jobs", "show", "greet")["paused"] is False  # type: ignore[index]

    added = json_of(pg_app, "recurring", "add", "fail", "--every", "30m")
    assert added["schedule"]["kind"] == "interval"  # type: ignore[index]
    assert added["next_due_at"] is not None  # type: ignore[index]
    cron = json_of(
        pg_app, "recurring", "add", "greet", "--cron", "0 3 * * *", "--tz", "Europe/Paris",
        "--input", '{"name": "nightly"}',
    )  # fmt: skip
    assert cron["schedule"] == {  # type: ignore[index]
        "kind": "cron",
        "expression": "0 3 * * *",
        "timezone": "Europe/Paris",
        "catch_up": "latest",
        "input": {"name": "nightly", "punctuation": "!"},
    }
    assert pg_app("recurring", "remove", "fail").code == 0
    assert json_of(pg_app, "jobs", "show", "fail")["schedule"] is None  # type: ignore[index]

    triggered = pg_app("jobs", "trigger", "greet")  # the schedule's input
    assert triggered.code == 0, str(triggered)
    run = json_of(pg_app, "runs", "show", triggered.stdout.strip())
    assert run["input"] == {"name": "nightly", "punctuation": "!"}  # type: ignore[index]

    status = pg_app("status")
    assert "cron 0 3 * * * (Europe/Paris)" in status.stdout, str(status)


def test_json_shapes_of_listings(pg_app: Cli) -> None:
    assert pg_app("enqueue", "greet", "--input", '{"name": "J"}').code == 0
    assert pg_app("enqueue", "fail").code == 0
    assert pg_app("worker", "--burst").code == 0

    runs = json_of(pg_app, "runs", "list")
    assert isinstance(runs, list) and len(runs) == 2
    assert all(set(r) == RUN_KEYS for r in runs)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]  # newest first
    failed = json_of(pg_app, "runs", "list", "--status", "failed", "--job", "fail", "--since", "1h")
    assert [r["job_type"] for r in failed] == ["fail"]  # type: ignore[union-attr]

    logs = json_of(pg_app, "runs", "logs", str(runs[0]["id"]))
    assert logs[0] == {  # type: ignore[index]
        "id": logs[0]["id"],  # type: ignore[index]
        "run_id": runs[0]["id"],
        "level": "error",
        "message": "about to fail",
        "logged_at": logs[0]["logged_at"],  # type: ignore[index]
        "fields": {},
        "attempt": 1,
    }
    # then the entry the worker wrote for the failed attempt, which keeps its error
    assert [e["message"].split(":")[0] for e in logs[1:]] == ["attempt 1 failed"]  # type: ignore[index,union-attr]
    greet_id = str(runs[1]["id"])
    assert [e["message"] for e in json_of(pg_app, "runs", "logs", greet_id)] == ["greeting"]  # type: ignore[union-attr]
    assert json_of(pg_app, "runs", "logs", greet_id, "--level", "warning") == []

    workers = json_of(pg_app, "workers", "list")
    assert isinstance(workers, list) and len(workers) == 1
    assert set(workers[0]) == WORKER_KEYS and workers[0]["state"] == "stopped"

    status = json_of(pg_app, "status")
    assert isinstance(status, dict)
    assert set(status) == {
        "now", "database", "runs", "throughput", "workers", "recurring", "latest_failures",
        "error_groups", "unserved_queues",
    }  # fmt: skip
    assert status["runs"]["succeeded"] == 1 and status["runs"]["failed"] == 1
    assert status["runs"]["by_queue"][0]["queue"] == "default"
    assert sum(p["succeeded"] + p["failed"] for p in status["throughput"]) == 2
    assert status["workers"]["stopped"] == 1 and status["workers"]["active"] == []
    assert [r["id"] for r in status["latest_failures"]] == [runs[0]["id"]]
    assert status["error_groups"][0]["error_type"] == "RuntimeError"

    pruned = json_of(pg_app, "prune")
    assert pruned == {"runs_deleted": 0, "logs_deleted": 0, "workers_deleted": 0}


def test_jobs_show_gives_the_declared_unique_settings(sqlite_cli: Cli) -> None:
    """What a job type's code declared (by input, period, states) is stored with its
    definition, so `jobs show` tells it without the app (and --json keeps the shape)."""
    app = Cli(sqlite_cli.url, sqlite_cli.cwd, {**sqlite_cli.env, "ZAPJOBS_APP": "unique_jobs:zap"})
    assert app("migrate").code == 0
    assert app("jobs", "list").code == 0  # registers the app's definitions
    shown = sqlite_cli("jobs", "show", "sync-account")  # no app: read from the store
    assert shown.code == 0, str(shown)
    assert "by input; a run holds its key while pending, running" in shown.stdout, shown.stdout
    report = json_of(sqlite_cli, "jobs", "show", "nightly-report")
    assert report["unique"] == {  # type: ignore[index]
        "by_input": False,
        "period_seconds": 600.0,
        "states": ["pending", "running", "succeeded", "failed", "cancelled"],
    }
    assert json_of(sqlite_cli, "jobs", "show", "plain")["unique"] is None  # type: ignore[index]
    assert (
        "by unique_key only, one per 10m window"
        in sqlite_cli("jobs", "show", "nightly-report").stdout
    )


def test_runs_list_by_worker_and_finish_time(sqlite_cli: Cli) -> None:
    """Issue 14 (23): `runs list --worker ID` (what a worker holds) and --finished-since/until."""
    import asyncio

    from zapjobs import ZapJobs
    from zapjobs.models import NewRun, RunOutcome, RunStatus
    from zapjobs.testing import store_of

    async def seed() -> tuple[int, int, int]:
        async with ZapJobs(sqlite_cli.url, auto_migrate=True) as zap:
            store = store_of(zap)
            ids = await store.enqueue([NewRun("a") for _ in range(3)])
            [held] = await store.claim("w-a", ["default"], ["a"], 1)
            [done] = await store.claim("w-b", ["default"], ["a"], 1)
            ended = RunOutcome(done.id, "w-b", done.attempt, RunStatus.SUCCEEDED)
            await store.complete([ended])
            return held.id, done.id, ids[2]

    held, done, _ = asyncio.run(seed())
    by_worker = json_of(sqlite_cli, "runs", "list", "--worker", "w-a")
    assert [r["id"] for r in by_worker] == [held]  # type: ignore[index, union-attr]
    finished = json_of(sqlite_cli, "runs", "list", "--finished-since", "1h")
    assert [r["id"] for r in finished] == [done]  # type: ignore[index, union-attr]
    assert json_of(sqlite_cli, "runs", "list", "--finished-until", "1h") == []
    wrong = sqlite_cli("runs", "list", "--finished-since", "soon")
    assert wrong.code == 2 and "invalid --finished-since 'soon'" in wrong.stderr, str(wrong)


def test_runs_list_sorted_by_a_column(sqlite_cli: Cli) -> None:
    """Issue 14 (23): `runs list --sort job|finished|created`, with --ascending/--descending."""
    import asyncio

    from zapjobs import ZapJobs
    from zapjobs.models import NewRun, RunOutcome, RunStatus
    from zapjobs.testing import store_of

    async def seed() -> list[int]:
        async with ZapJobs(sqlite_cli.url, auto_migrate=True) as zap:
            store = store_of(zap)
            ids = await store.enqueue([NewRun("b"), NewRun("c"), NewRun("a"), NewRun("b")])
            for job_type in ("c", "a"):  # c finishes before a
                [run] = await store.claim("w", ["default"], [job_type], 1)
                await store.complete([RunOutcome(run.id, "w", run.attempt, RunStatus.SUCCEEDED)])
            return ids

    b1, c, a, b2 = asyncio.run(seed())

    def listed(*args: str) -> list[int]:
        return [r["id"] for r in json_of(sqlite_cli, "runs", "list", *args)]  # type: ignore[index, union-attr]

    assert listed("--sort", "job") == [a, b1, b2, c]
    assert listed("--sort", "job", "--descending") == [c, b2, b1, a]
    assert listed("--sort", "finished") == [a, c, b2, b1]  # unfinished last, newest first
    assert listed("--sort", "created", "--ascending") == [b1, c, a, b2]
    assert listed("--sort", "job", "--limit", "2") == [a, b1]
    table = sqlite_cli("runs", "list", "--sort", "job", "--limit", "2")
    assert table.code == 0 and "showing the first 2 of 4 runs" in table.stderr, str(table)
    wrong = sqlite_cli("runs", "list", "--sort", "duration")
    assert wrong.code == 2 and "--sort" in wrong.stderr, str(wrong)
