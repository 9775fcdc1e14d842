"""Every error a person can run into: one ``error:`` line saying what to do, the documented exit
code, no traceback (unless --debug), and never the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import SECRET, Cli, assert_clean_error, clean_env, run_cli
from tests.cli.fake_pg import password_rejecting_server


def test_no_config_anywhere(tmp_path: Path, bare_env: dict[str, str]) -> None:
    result = run_cli("runs", "list", env=bare_env, cwd=tmp_path)
    assert_clean_error(result, 2, "no zapjobs configuration found", "zapjobs init")
    assert not (tmp_path / "zapjobs.db").exists()  # no empty database left behind


def test_unreachable_database(tmp_path: Path, bare_env: dict[str, str]) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    result = run_cli("runs", "list", "-c", url, env=bare_env, cwd=tmp_path)
    assert_clean_error(result, 3, "cannot connect to PostgreSQL at 127.0.0.1:1")
    assert SECRET not in result.output


def test_wrong_password(tmp_path: Path, bare_env: dict[str, str]) -> None:
    with password_rejecting_server() as port:
        url = f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/test"
        result = run_cli("status", env={**bare_env, "DATABASE_URL": url}, cwd=tmp_path)
    assert_clean_error(result, 3, "password authentication failed")
    assert SECRET not in result.output


def test_debug_shows_the_traceback_without_the_password(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    url = f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=test"
    result = run_cli("--debug", "jobs", "list", "-c", url, env=bare_env, cwd=tmp_path)
    assert result.code == 3, str(result)
    assert "Traceback" in result.stderr
    assert "error: cannot connect" in result.stderr
    assert SECRET not in result.output


def test_not_migrated(pg_cli: Cli) -> None:
    result = pg_cli("runs", "list")
    assert_clean_error(result, 3, "not migrated", "zapjobs migrate")


def test_bad_config_file_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "zapjobs.toml").write_text('polling_interval = "often"\n')
    result = run_cli("status", env=clean_env(), cwd=tmp_path)
    assert_clean_error(result, 2, str(tmp_path / "zapjobs.toml"), "'polling_interval'")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["enqueue", "no-such-job"], ["unknown job type 'no-such-job'", "greet"]),
        (["enqueue", "greet", "--input", "{bad"], ["--input is not valid JSON"]),
        (["enqueue", "greet", "--input", "@missing.json"], ["cannot read the input file"]),
        (["enqueue", "greet", "--input", '{"nam": 1}'], ["invalid input for job 'greet'", "nam"]),
        (["enqueue", "greet", "--delay", "5x"], ["invalid --delay '5x'", "15s"]),
        (["enqueue", "greet", "--at", "tomorrow"], ["invalid --at", "ISO-8601"]),
        (["recurring", "add", "greet", "--cron", "61 * * *"], ["cron"]),
        (["recurring", "add", "greet", "--every", "soon"], ["invalid --every"]),
        (["runs", "show", "999"], ["run 999 does not exist"]),
        (["runs", "retry", "999"], ["run 999 does not exist"]),
        (["runs", "logs", "999"], ["run 999 does not exist"]),
        (["runs", "list", "--status", "done"], ["unknown status 'done'"]),
        (["runs", "cancel"], ["say which runs to cancel"]),
        (["jobs", "pause", "no-such-job"], ["unknown job type 'no-such-job'"]),
    ],
)
def test_usage_errors(pg_app: Cli, args: list[str], fragments: list[str]) -> None:
    result = pg_app(*args)
    assert_clean_error(result, 2, *fragments)


def test_unknown_command_and_option_are_usage_errors(tmp_path: Path) -> None:
    result = run_cli("runs", "list", "--colour", env=clean_env(), cwd=tmp_path)
    assert result.code == 2, str(result)
    assert "No such option" in result.stderr
    assert "Traceback" not in result.output


def test_health_of_an_unreachable_database(tmp_path: Path, bare_env: dict[str, str]) -> None:
    import json

    url = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    result = run_cli("health", "--json", "-c", url, env=bare_env, cwd=tmp_path)
    assert result.code == 3, str(result)
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["database"]["reachable"] is False
    assert "cannot connect" in report["database"]["error"]
    assert report["database"]["url"] == "postgresql://postgres:***@127.0.0.1:1/test"
    assert SECRET not in result.output
