"""Hostile input through the real ``zapjobs`` command (subprocesses, a few dozen examples):
exit code 2 or 3 with no traceback and no password in any output, and no row changed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import make_conninfo

from zapjobs import Settings
from zapjobs.typed import MAX_INPUT_BYTES

from .support import SECRET, snapshot

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPJOBS_")}
    env.update({"PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}", "NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "zapjobs_cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )


@pytest.fixture
def secret_url(pg_url: str) -> Iterator[str]:
    """The test schema's conninfo carrying a password (trust auth ignores it; output must not
    show it), migrated, with the app's job types registered."""
    url = make_conninfo(pg_url, password=SECRET)

    async def prepare() -> None:
        from tests.badinput.bad_jobs import zap as app

        zap = app.with_settings(Settings(database_url=url, auto_migrate=True))
        await zap.open()
        await zap.enqueue("echo", {"keep": "me"})
        await zap.close()

    asyncio.run(prepare())
    yield url


HUGE = "@huge.json"
BAD_UTF8 = os.fsdecode(b"\xff\xfe{}")  # an argv that is not valid UTF-8

CASES: list[Any] = [
    ("json syntax", ["enqueue", "echo", "--input", "{"]),
    ("json NaN", ["enqueue", "echo", "--input", "[NaN]"]),
    ("json lone surrogate", ["enqueue", "echo", "--input", '"\\ud800"']),
    ("json deep nesting", ["enqueue", "echo", "--input", "[" * 50000 + "]" * 50000]),
    ("json invalid utf-8", ["enqueue", "echo", "--input", BAD_UTF8]),
    ("json over the limit", ["enqueue", "echo", "--input", HUGE]),
    ("json wrong type", ["enqueue", "order", "--input", '{"id": "x"}']),
    ("json missing file", ["enqueue", "echo", "--input", "@/nonexistent/file.json"]),
    ("json file not utf-8", ["enqueue", "echo", "--input", "@latin1.json"]),
    ("json file a folder", ["enqueue", "echo", "--input", "@."]),
    ("queue injection", ["enqueue", "echo", "--queue", "x'; DROP TABLE zapjobs_runs; --"]),
    ("unknown job type", ["enqueue", "no-such-job\"'; --"]),
    ("delay overflow", ["enqueue", "echo", "--delay", "1e400"]),
    ("delay garbage", ["enqueue", "echo", "--delay", "soon"]),
    ("at garbage", ["enqueue", "echo", "--at", "yesterday-ish"]),
    ("priority overflow", ["enqueue", "echo", "--priority", "9" * 30]),
    ("cron garbage", ["recurring", "add", "echo", "--cron", "61 * * * * *"]),
    ("cron empty", ["recurring", "add", "echo", "--cron", ""]),
    ("time zone", ["recurring", "add", "echo", "--cron", "0 3 * * *", "--tz", "Mars/Olympus"]),
    ("time zone path", ["recurring", "add", "echo", "--cron", "* * * * *", "--tz", "../../x"]),
    (
        "time zone localtime",
        ["recurring", "add", "echo", "--cron", "0 3 * * *", "--tz", "localtime"],
    ),
    ("time zone Factory", ["recurring", "add", "echo", "--cron", "0 3 * * *", "--tz", "Factory"]),
    (
        "time zone absolute",
        ["recurring", "add", "echo", "--cron", "0 3 * * *", "--tz", "/etc/localtime"],
    ),
    ("cron step overflow", ["recurring", "add", "echo", "--cron", "*/" + "9" * 20 + " * * * *"]),
    (
        "cron huge list",
        ["recurring", "add", "echo", "--cron", ",".join(["1"] * 50_000) + " * * * *"],
    ),
    ("limit overflow", ["runs", "list", "--limit", "9" * 20]),
    ("limit zero", ["runs", "list", "--limit", "0"]),
    ("retry id overflow", ["runs", "retry", "9" * 20, "--yes"]),
    ("interval garbage", ["recurring", "add", "echo", "--every", "-5s"]),
    ("run id text", ["runs", "show", "abc"]),
    ("run id negative", ["runs", "show", "-1"]),
    ("run id overflow", ["runs", "show", "9" * 30]),
    ("retry missing run", ["runs", "retry", "99999999"]),
]


@pytest.mark.parametrize(("name", "args"), CASES)
def test_hostile_cli_input(secret_url: str, tmp_path: Path, name: str, args: list[str]) -> None:
    (tmp_path / "huge.json").write_text('"' + "h" * (MAX_INPUT_BYTES + 1) + '"')
    (tmp_path / "latin1.json").write_bytes('{"name": "Zoë"}'.encode("latin-1"))
    before = snapshot(secret_url)
    result = run_cli("-c", secret_url, "--app", "bad_jobs:zap", *args, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode in (2, 3), f"exit {result.returncode}\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert SECRET not in output
    assert output.strip(), "no message at all"
    assert snapshot(secret_url) == before


PREFIXES = ['x"; DROP TABLE t; --', "a'b", "zap jobs", "UPPER", "x" * 31]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_hostile_table_prefix(secret_url: str, tmp_path: Path, prefix: str) -> None:
    before = snapshot(secret_url)
    result = run_cli("-c", secret_url, "--prefix", prefix, "migrate", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and SECRET not in output
    assert snapshot(secret_url) == before


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://u:{SECRET}@127.0.0.1:1/db",
        f"host=127.0.0.1 port=1 user=u password={SECRET}",
        f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
        f"host=127.0.0.1 port=1 password='{SECRET}' dbname='unclosed",
        f"mysql://u:{SECRET}@127.0.0.1/db",
    ],
)
def test_bad_connection_strings(tmp_path: Path, dsn: str) -> None:
    result = run_cli("-c", dsn, "status", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode in (2, 3), output
    assert "Traceback" not in output
    assert SECRET not in output
