"""``zapjobs init``: without questions (flags and --yes), and the wizard driven end to end in a
pseudo-terminal through the real questionary prompts."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

from tests.cli.conftest import SECRET, Cli, assert_clean_error, clean_env, run_cli
from tests.cli.terminal import ENTER, UP, Terminal
from zapjobs import ZapJobs
from zapjobs.stores.migrate import load_migrations


def every_version(backend: str) -> tuple[int, ...]:
    return tuple(m.version for m in load_migrations(backend, "zapjobs_"))


def applied(url: str, prefix: str = "zapjobs_") -> tuple[int, ...]:
    async def read() -> tuple[int, ...]:
        zap = ZapJobs(url, table_prefix=prefix)
        try:
            return (await zap.migration_status()).applied
        finally:
            await zap.close()

    return asyncio.run(read())


def test_init_with_flags_then_run_the_scaffolded_jobs(tmp_path: Path) -> None:
    env = clean_env()
    result = run_cli(
        "init", "--yes", "--queues", "critical,default", "--concurrency", "3",
        "--app", "myjobs:zap", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, str(result)
    config = tomllib.loads((tmp_path / "zapjobs.toml").read_text())
    assert config == {
        "database_url": "sqlite:///zapjobs.db",
        "table_prefix": "zapjobs_",
        "queues": ["critical", "default"],
        "concurrency": 3,
        "app": "myjobs:zap",
    }
    assert (tmp_path / "myjobs.py").exists()
    assert applied(f"sqlite:///{tmp_path / 'zapjobs.db'}") == every_version("sqlite")

    # the written config and the example module work as they are
    enqueued = run_cli(
        "enqueue", "send-welcome-email", "--input", '{"email": "ada@example.com"}',
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert enqueued.code == 0, str(enqueued)
    worker = run_cli("worker", "--burst", env=env, cwd=tmp_path)
    assert worker.code == 0, str(worker)
    assert "queues:      critical, default" in worker.stderr
    assert "concurrency: 3" in worker.stderr
    shown = run_cli("runs", "show", enqueued.stdout.strip(), "--json", env=env, cwd=tmp_path)
    assert json.loads(shown.stdout)["output"] == "welcomed ada@example.com"


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "zapjobs.toml").write_text('app = "mine:zap"\n')
    env = clean_env()
    refused = run_cli("init", "--yes", "--no-scaffold", "--no-migrate", env=env, cwd=tmp_path)
    assert_clean_error(refused, 2, "already exists", "--force")
    assert (tmp_path / "zapjobs.toml").read_text() == 'app = "mine:zap"\n'
    forced = run_cli(
        "init", "--yes", "--force", "--no-scaffold", "--no-migrate", env=env, cwd=tmp_path
    )
    assert forced.code == 0, str(forced)
    assert tomllib.loads((tmp_path / "zapjobs.toml").read_text())["app"] == "jobs:zap"


def test_init_postgres_with_prefix_and_migrate(pg_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "init", "--database-url", pg_url, "--prefix", "cli_", "--yes", "--migrate",
        "--no-scaffold", env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert "connected to" in result.stderr and "PostgreSQL" in result.stderr
    config = tomllib.loads((tmp_path / "zapjobs.toml").read_text())
    assert config["database_url"] == pg_url and config["table_prefix"] == "cli_"
    assert "concurrency" not in config and "worker_count" not in config  # not this machine's CPUs
    assert applied(pg_url, "cli_") == every_version("postgres")
    assert not (tmp_path / "jobs.py").exists()


def test_init_unreachable_database_with_migrate_fails_after_writing(tmp_path: Path) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    result = run_cli(
        "init", "-c", url, "--yes", "--migrate", "--no-scaffold", env=clean_env(), cwd=tmp_path
    )
    assert_clean_error(result, 3, "cannot connect to PostgreSQL at 127.0.0.1:1")
    assert "warning: cannot connect" in result.stderr
    assert SECRET not in result.stderr
    assert (tmp_path / "zapjobs.toml").exists()


def test_init_without_a_terminal_asks_for_flags(tmp_path: Path) -> None:
    result = run_cli("init", env=clean_env(), cwd=tmp_path)
    assert_clean_error(result, 2, "stdin is not a terminal", "--yes")
    assert not (tmp_path / "zapjobs.toml").exists()


def test_wizard_end_to_end(pg_url: str, tmp_path: Path) -> None:
    bad = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    good = f"{pg_url} connect_timeout=5"
    terminal = Terminal(["init"], cwd=tmp_path, env=clean_env())
    try:
        terminal.expect("Where should zapjobs keep its jobs?")
        terminal.send(UP + ENTER)  # PostgreSQL (SQLite is the default without a server URL)
        terminal.expect("PostgreSQL connection string")
        terminal.answer(bad)
        failure = terminal.expect("try again")
        error_line = next(line for line in failure.splitlines() if line.startswith("error:"))
        assert "cannot connect to PostgreSQL at 127.0.0.1:1" in error_line
        assert SECRET not in error_line
        terminal.expect("PostgreSQL connection string")
        terminal.answer(good)
        terminal.expect("connected to")
        terminal.expect("Table prefix:")
        terminal.answer("Bad-Prefix")
        terminal.expect("invalid table prefix")  # the validator's message; the question stays
        terminal.answer("wiz_")
        terminal.expect("Queues, in priority order")
        terminal.answer("critical, default")
        terminal.expect("Jobs one worker runs at once:")
        terminal.answer("4")
        terminal.expect("Where your job code lives")
        terminal.answer("tasks:zap")
        terminal.expect("Write an example jobs module tasks.py")
        terminal.send("y")
        terminal.expect("Create the zapjobs tables now")
        terminal.send("y")
        terminal.expect(f"applied {len(every_version('postgres'))} migration(s)")
        assert terminal.wait() == 0
    finally:
        terminal.close()
    config = tomllib.loads((tmp_path / "zapjobs.toml").read_text())
    assert config == {
        "database_url": good,
        "table_prefix": "wiz_",
        "queues": ["critical", "default"],
        "concurrency": 4,
        "app": "tasks:zap",
    }
    assert "tasks.job(" not in (tmp_path / "tasks.py").read_text()
    assert "@zap.job(" in (tmp_path / "tasks.py").read_text()
    assert applied(pg_url, "wiz_") == every_version("postgres")
    # the wizard's own config works from a sub-folder too
    (tmp_path / "sub").mkdir()
    shown = Cli(pg_url, tmp_path / "sub", clean_env())("config", "show", "--json")
    assert json.loads(shown.stdout)["settings"]["table_prefix"] == "wiz_"


def test_wizard_interrupted_writes_nothing(tmp_path: Path) -> None:
    terminal = Terminal(["init"], cwd=tmp_path, env=clean_env())
    try:
        terminal.expect("Where should zapjobs keep its jobs?")
        terminal.send("\x03")  # Ctrl-C
        assert terminal.wait() == 130
    finally:
        terminal.close()
    assert not (tmp_path / "zapjobs.toml").exists()
    assert "Traceback" not in terminal.text


def test_scaffold_into_a_package_that_does_not_exist_yet_creates_it(tmp_path: Path) -> None:
    env = clean_env()
    result = run_cli(
        "init", "--yes", "--scaffold", "--app", "myproject.jobs:zap", env=env, cwd=tmp_path
    )
    assert result.code == 0, str(result)
    assert (tmp_path / "myproject" / "__init__.py").exists()
    assert (tmp_path / "myproject" / "jobs.py").exists()
    assert "next: zapjobs worker" in result.stderr, str(result)
    worker = run_cli("worker", "--burst", env=env, cwd=tmp_path)
    assert worker.code == 0, str(worker)


def test_without_a_jobs_module_init_says_to_write_one_before_the_worker(tmp_path: Path) -> None:
    result = run_cli(
        "init", "--yes", "--no-scaffold", "--app", "myproject.jobs:zap", env=clean_env(),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert "next: zapjobs worker" not in result.stderr, str(result)
    assert "next: write your job code in myproject/jobs.py" in result.stderr, str(result)
