"""The CLI as a user of the public API: `health --worker` reads one worker, the renamed flags and
settings keep their old names with a one-line notice, schedule pausing says what it pauses, and
a bare string of queues never becomes a queue per letter."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, clean_env, migrate, run_cli
from zapjobs import WorkerInfo, ZapJobs
from zapjobs.stores.sqlite.store import SQLiteStore
from zapjobs.testing import store_of
from zapjobs_cli.main import main


def seed_workers(url: str, *worker_ids: str) -> None:
    async def seed() -> None:
        zap = ZapJobs(url)
        try:
            await zap.open()
            now = zap.now()
            for worker_id in worker_ids:
                await store_of(zap).heartbeat(
                    WorkerInfo(worker_id, "web-1", 1, ("default",), now, now, concurrency=2)
                )
        finally:
            await zap.close()

    asyncio.run(seed())


def test_health_of_one_worker_reads_that_worker_only(
    sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(sqlite_cli.url)
    seed_workers(sqlite_cli.url, "web-1-1-aa", "web-1-2-bb")

    async def every_worker(self: SQLiteStore) -> list[WorkerInfo]:
        raise AssertionError("health --worker listed every worker")

    monkeypatch.setattr(SQLiteStore, "list_workers", every_worker)
    argv = ["-c", sqlite_cli.url, "health", "--worker", "web-1-2-bb", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["worker"]["id"] == "web-1-2-bb"
    assert report["worker"]["concurrency"] == 2
    assert main(["-c", sqlite_cli.url, "health", "--worker", "nobody"]) == 1
    assert "worker 'nobody' is not known" in capsys.readouterr().err


def test_health_of_one_worker_through_the_installed_command(sqlite_cli: Cli) -> None:
    migrate(sqlite_cli.url)
    seed_workers(sqlite_cli.url, "web-1-1-aa")
    result = sqlite_cli("health", "--worker", "web-1-1-aa", "--json")
    assert result.code == 0, str(result)
    assert json.loads(result.stdout)["worker"]["id"] == "web-1-1-aa"


def test_a_settings_string_of_one_queue_is_one_queue(sqlite_cli: Cli) -> None:
    (sqlite_cli.cwd / "one_queue.py").write_text(
        "from zapjobs import Settings, ZapJobs\n"
        "zap = ZapJobs(settings=Settings(queues='critical'))\n"
        "@zap.job('hello', queue='critical')\n"
        "async def hello(ctx):\n"
        "    return None\n"
    )
    migrate(sqlite_cli.url)
    env = {**sqlite_cli.env, "PYTHONPATH": f"{sqlite_cli.cwd}:{sqlite_cli.env['PYTHONPATH']}"}
    enqueued = run_cli("--app", "one_queue:zap", "enqueue", "hello", env=env, cwd=sqlite_cli.cwd)
    assert enqueued.code == 0, str(enqueued)
    worked = run_cli("--app", "one_queue:zap", "worker", "--burst", env=env, cwd=sqlite_cli.cwd)
    assert worked.code == 0, str(worked)
    assert "queues:      critical\n" in worked.stderr, str(worked)
    assert "1 claimed, 1 succeeded" in worked.stderr, str(worked)


def test_worker_queues_flag_is_validated_once_with_one_message(sqlite_cli: Cli) -> None:
    migrate(sqlite_cli.url)
    result = run_cli(
        "--app", "cli_jobs:zap", "worker", "--burst", "--queues", "critical,critical, default",
        env=sqlite_cli.env, cwd=sqlite_cli.cwd,
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert "queues:      critical, default\n" in result.stderr
    bad = run_cli(
        "--app", "cli_jobs:zap", "worker", "--burst", "--queues", "ok,bad queue",
        env=sqlite_cli.env, cwd=sqlite_cli.cwd,
    )  # fmt: skip
    assert bad.code == 2 and "error: invalid queue name 'bad queue'" in bad.stderr, str(bad)
    assert "Traceback" not in bad.stderr


def test_init_workers_flag_is_a_deprecated_alias_of_concurrency(tmp_path: Path) -> None:
    result = run_cli(
        "init", "--yes", "--workers", "3", "--no-scaffold", "--no-migrate",
        env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert "warning: --workers is deprecated; use --concurrency" in result.stderr
    config = tomllib.loads((tmp_path / "zapjobs.toml").read_text())
    assert config["concurrency"] == 3 and "worker_count" not in config


def test_worker_count_in_the_config_file_works_with_a_one_line_notice(sqlite_cli: Cli) -> None:
    (sqlite_cli.cwd / "zapjobs.toml").write_text("worker_count = 3\n")
    migrate(sqlite_cli.url)
    result = run_cli(
        "--app", "cli_jobs:zap", "worker", "--burst", env=sqlite_cli.env, cwd=sqlite_cli.cwd
    )
    assert result.code == 0, str(result)
    assert "concurrency: 3" in result.stderr
    notices = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert notices == [
        f"warning: {sqlite_cli.cwd / 'zapjobs.toml'}: the setting 'worker_count' is deprecated;"
        " use 'concurrency' (same meaning)"
    ], str(result)
    shown = run_cli("config", "show", "--json", env=sqlite_cli.env, cwd=sqlite_cli.cwd)
    assert shown.code == 0, str(shown)
    assert "concurrency" in shown.stdout


def test_jobs_pause_says_it_pauses_the_schedule(sqlite_cli: Cli) -> None:
    help_text = run_cli("jobs", "pause", "--help", env=sqlite_cli.env, cwd=sqlite_cli.cwd)
    assert "recurring schedule" in help_text.stdout
    assert "runs already" in help_text.stdout and "enqueued still execute" in help_text.stdout
    migrate(sqlite_cli.url)
    env = {**sqlite_cli.env, "ZAPJOBS_APP": "cli_jobs:zap"}
    paused = run_cli("jobs", "pause", "greet", env=env, cwd=sqlite_cli.cwd)
    assert paused.code == 0, str(paused)
    shown = run_cli("jobs", "show", "greet", "--json", env=env, cwd=sqlite_cli.cwd)
    assert json.loads(shown.stdout)["schedule_paused"] is True
    assert json.loads(shown.stdout)["paused"] is True  # the deprecated key, kept
