"""Run the real ``zapjobs`` entry point (``python -m zapjobs_cli``) as a subprocess, with an
environment of the test's own: no inherited ZAPJOBS_* variables, plain output, and
``tests/cli/apps`` on PYTHONPATH for ``--app cli_jobs:zap``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import pytest

from zapjobs import ZapJobs

APPS = Path(__file__).parent / "apps"
APP = "cli_jobs:zap"
T = TypeVar("T")
SECRET = "s3cret-Pa55word"  # a password that must never show up in any output


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ZAPJOBS_") and k not in {"DATABASE_URL", "NO_COLOR", "COLUMNS"}
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(APPS), env.get("PYTHONPATH")])),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    input: str | None = None,
    timeout: float = 60,
) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "zapjobs_cli", *args],
        env=env,
        cwd=cwd,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zapjobs_cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def assert_clean_error(result: Result, code: int, *fragments: str) -> None:
    """One ``error:`` line on stderr with the fragments, the exit code, no traceback."""
    assert result.code == code, str(result)
    assert "Traceback" not in result.output, str(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, str(result)
    for fragment in fragments:
        assert fragment in errors[0], str(result)


@dataclass(frozen=True)
class Cli:
    """The CLI pointed at one database from a folder of its own."""

    url: str
    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> Result:
        return run_cli(*args, env=self.env, cwd=self.cwd, input=input, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return start_cli(*args, env=self.env, cwd=self.cwd)

    def zap(self) -> ZapJobs:
        """A library handle on the same database, to check from outside what the CLI did."""
        return ZapJobs(self.url)

    def query(self, work: Callable[[ZapJobs], Awaitable[T]]) -> T:
        async def main() -> T:
            zap = self.zap()
            try:
                return await work(zap)
            finally:
                await zap.close()

        return asyncio.run(main())


def migrate(url: str) -> None:
    async def main() -> None:
        zap = ZapJobs(url)
        try:
            await zap.migrate()
        finally:
            await zap.close()

    asyncio.run(main())


@pytest.fixture
def pg_cli(pg_url: str, tmp_path: Path) -> Cli:
    """The CLI on this test's own (unmigrated) PostgreSQL schema, via ZAPJOBS_DATABASE_URL."""
    return Cli(pg_url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=pg_url))


@pytest.fixture
def pg_app(pg_cli: Cli) -> Cli:
    """Migrated, with the test app configured (ZAPJOBS_APP)."""
    migrate(pg_cli.url)
    return Cli(pg_cli.url, pg_cli.cwd, {**pg_cli.env, "ZAPJOBS_APP": APP})


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    return Cli(url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=url))


@pytest.fixture
def bare_env() -> dict[str, str]:
    return clean_env()


def stop(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    """End a background CLI process (SIGTERM, then kill after ``timeout``); its output."""
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
    return int(process.returncode), out, err


class Lines:
    """Collects a stream's lines in a thread, so a test can wait for one to appear."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def has(self, fragment: str) -> bool:
        return any(fragment in line for line in list(self.lines))

    def text(self, timeout: float = 10) -> str:
        """All lines once the stream ended (the process exited)."""
        self._thread.join(timeout)
        return "".join(self.lines)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Background processes a test starts; killed at the end whatever happened."""
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)
