"""The edges of what a person can type, through the real ``zapjobs`` entry point on a real
PostgreSQL: numbers outside what the database or a worker can hold, and ``--input @file`` that
cannot be read or is not UTF-8. Each gives one ``error:`` line naming the option (or the file)
and what is allowed, exit 2, and writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Result, assert_clean_error
from zapjobs import ZapJobs
from zapjobs.models import RunFilter

HUGE = "9" * 20  # 99999999999999999999: past a bigint


def run_count(cli: Cli) -> int:
    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs(RunFilter())

    return cli.query(count)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["runs", "list", "--limit", HUGE], ["--limit", "from 1 to 10000", HUGE]),
        (["runs", "list", "--limit", "0"], ["--limit", "from 1 to 10000", "got 0"]),
        (["runs", "list", "-n", "-1"], ["--limit", "from 1 to 10000", "got -1"]),
        (["runs", "list", "--limit", "10001"], ["--limit", "from 1 to 10000"]),
        (["runs", "show", HUGE], ["RUN", "from 1 to 9223372036854775807"]),
        (["runs", "logs", "0"], ["RUN", "from 1 to 9223372036854775807", "got 0"]),
        (["runs", "retry", "1", HUGE, "--yes"], ["RUN", HUGE]),
        (["runs", "cancel", HUGE, "--yes"], ["RUN", HUGE]),
        (["runs", "delete", "--yes", "--", "-5"], ["RUN", "got -5"]),
        (["enqueue", "greet", "-p", HUGE], ["--priority", "from -2147483648 to 2147483647"]),
        (["enqueue", "greet", "--priority", "2147483648"], ["--priority", "2147483648"]),
        (["worker", "--burst", "--concurrency", "2147483648"], ["--concurrency", "1 to 10000"]),
        (["worker", "--burst", "-n", "0"], ["--concurrency", "from 1 to 10000", "got 0"]),
        (["bench", "--jobs", HUGE], ["--jobs", "from 1 to 10000000"]),
        (["bench", "--concurrency", "0"], ["--concurrency", "from 1 to 10000"]),
    ],
)
def test_numbers_out_of_range_are_one_line_exit_2(
    pg_app: Cli, args: list[str], fragments: list[str]
) -> None:
    pg_app("enqueue", "greet", "--input", '{"name": "kept"}')
    result = pg_app(*args)
    assert_clean_error(result, 2, *fragments)
    assert "PostgreSQL" not in result.output
    assert run_count(pg_app) == 1


def test_limit_at_its_bounds_is_accepted(pg_app: Cli) -> None:
    for limit in ("1", "10000"):
        result = pg_app("runs", "list", "--limit", limit)
        assert result.code == 0, str(result)


def test_init_workers_out_of_range(tmp_path: Path, pg_cli: Cli) -> None:
    result = pg_cli("init", "--yes", "--workers", HUGE)
    assert_clean_error(result, 2, "--workers", "from 1 to 10000")
    assert not (pg_cli.cwd / "zapjobs.toml").exists()


def test_input_file_that_is_not_utf8(pg_app: Cli) -> None:
    (pg_app.cwd / "latin1.json").write_bytes('{"name": "Zoë"}'.encode("latin-1"))
    result = pg_app("enqueue", "greet", "--input", "@latin1.json")
    assert_clean_error(result, 2, "'latin1.json'", "not UTF-8", "0xeb at offset 12")
    assert result.stderr.count("\n") == 1, str(result)
    assert run_count(pg_app) == 0


def test_stdin_input_that_is_not_utf8(pg_app: Cli) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "zapjobs_cli", "enqueue", "greet", "--input", "@-"],
        input=b'{"name": "\xff"}',
        env=pg_app.env,
        cwd=pg_app.cwd,
        capture_output=True,
        timeout=60,
    )
    result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
    assert_clean_error(result, 2, "standard input", "not UTF-8", "0xff")
    assert run_count(pg_app) == 0


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("missing.json", "No such file or directory"), (".", "Is a directory")],
)
def test_input_file_that_cannot_be_read(pg_app: Cli, name: str, fragment: str) -> None:
    result = pg_app("enqueue", "greet", "--input", f"@{name}")
    assert_clean_error(result, 2, f"cannot read the input file {name!r}", fragment)
    assert result.stderr.count("\n") == 1, str(result)
    assert run_count(pg_app) == 0


def host_zone_env(cli: Cli) -> dict[str, str]:
    """A zone file only this host has (``Custom/Zone``, a copy of UTC), first on the zone path."""
    source = next(Path(root, "UTC") for root in zoneinfo.TZPATH if Path(root, "UTC").is_file())
    (cli.cwd / "zones" / "Custom").mkdir(parents=True)
    shutil.copyfile(source, cli.cwd / "zones" / "Custom" / "Zone")
    path = os.pathsep.join([str(cli.cwd / "zones"), *zoneinfo.TZPATH])
    return {**cli.env, "PYTHONTZPATH": path}


@pytest.mark.parametrize(
    "zone",
    ["localtime", "posixrules", "Factory", "/etc/localtime", "../zoneinfo/UTC", "Custom/Zone"],
)
def test_time_zones_must_be_iana_names(pg_app: Cli, zone: str) -> None:
    cli = Cli(pg_app.url, pg_app.cwd, host_zone_env(pg_app))
    result = cli("recurring", "add", "greet", "--cron", "0 3 * * *", "--tz", zone)
    assert_clean_error(result, 2, f"unknown time zone {zone!r}", "IANA name")
    assert schedules(cli) == []


def schedules(cli: Cli) -> list[str]:
    async def read(zap: ZapJobs) -> list[str]:
        return [d.job_type for d in await zap.list_definitions() if d.schedule is not None]

    return cli.query(read)


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("*/99999999999999999999 * * * *", "minute field: step 99999999999999999999 is out of"),
        ("0 0 */32 * *", "day-of-month field: step 32 is out of range 1-31"),
        ("0 " + ",".join(["2"] * 30) + " * * *", "hour field: a list of 30 items; at most 24"),
        (",".join(["1"] * 50_000) + " * * * *", "at most 1,000 characters"),
    ],
    ids=["huge-step", "step-past-field", "long-list", "50000-items"],
)
def test_absurd_cron_is_refused_naming_the_field(pg_app: Cli, cron: str, fragment: str) -> None:
    result = pg_app("recurring", "add", "greet", "--cron", cron)
    assert_clean_error(result, 2, "invalid cron expression", fragment)
    assert len(result.stderr) < 300, str(result)
    assert schedules(pg_app) == []
