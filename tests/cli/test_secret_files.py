"""Secrets at rest and in tracebacks, through the real ``zapjobs`` entry point: a config file
holding a password is owner-only, and ``--debug`` tracebacks show no password, not even in the
source lines of the user's own module."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import SECRET, clean_env, run_cli

PG = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual umask (022), under which a file is world-readable unless made otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def init(tmp_path: Path, *args: str) -> str:
    result = run_cli("init", "--yes", *args, env=clean_env(), cwd=tmp_path)
    assert result.code == 0, str(result)
    assert SECRET not in result.output
    return result.stderr


def test_a_config_file_with_a_password_is_owner_only(tmp_path: Path) -> None:
    notes = init(tmp_path, "--database-url", PG, "--app", "jobs:zap")
    config = tmp_path / "zapjobs.toml"
    assert SECRET in config.read_text()
    assert mode(config) == 0o600
    assert "holds the database password, so it is readable by you only (mode 0600)" in notes


def test_a_config_file_without_a_password_keeps_the_usual_mode(tmp_path: Path) -> None:
    init(tmp_path, "--database-url", "sqlite:///jobs.db", "--app", "jobs:zap")
    assert mode(tmp_path / "zapjobs.toml") == 0o644


@pytest.mark.parametrize(
    ("before", "url", "after"),
    [
        (0o644, PG, 0o600),  # a password tightens it
        (0o640, PG, 0o600),
        (0o400 | 0o200, "sqlite:///jobs.db", 0o600),  # no password: kept, never loosened
        (0o660, "sqlite:///jobs.db", 0o660),
    ],
    ids=["644-password", "640-password", "600-no-password", "660-no-password"],
)
def test_force_over_an_existing_file_never_loosens_it(
    tmp_path: Path, before: int, url: str, after: int
) -> None:
    config = tmp_path / "zapjobs.toml"
    config.write_text("# old\n")
    config.chmod(before)
    init(tmp_path, "--force", "--database-url", url, "--app", "jobs:zap")
    assert mode(config) == after
    assert "# old" not in config.read_text()


def test_debug_traceback_masks_a_password_in_the_app_source(tmp_path: Path) -> None:
    """The app fails at import on a line holding a connection string with a password: the
    traceback shows that line, with the password masked (the CLI never learned this DSN)."""
    (tmp_path / "leaky_app.py").write_text(
        "from zapjobs import ZapJobs\n\n"
        f'zap = ZapJobs("postgresql://app:{SECRET}@127.0.0.1:1/db", queues=["bad queue!"])\n'
    )
    (tmp_path / "leaky_kv.py").write_text(
        "from zapjobs import ZapJobs\n\n"
        f'zap = ZapJobs("host=127.0.0.1 port=1 password={SECRET} user=app", worker_count=0)\n'
    )
    for app in ("leaky_app:zap", "leaky_kv:zap"):
        result = run_cli("--debug", "--app", app, "status", env=clean_env(), cwd=tmp_path)
        assert result.code == 2, str(result)
        assert "Traceback" in result.stderr
        assert "zap = ZapJobs(" in result.stderr  # the source line is there ...
        assert "***" in result.stderr
        assert SECRET not in result.output  # ... without the password


def test_debug_traceback_scrubs_the_resolved_password_everywhere(tmp_path: Path) -> None:
    """The resolved DSN's password, written in the app's source in any form (here as a bare
    literal), is scrubbed from the whole traceback."""
    (tmp_path / "token_app.py").write_text(
        f'TOKEN = "{SECRET}"; raise RuntimeError("cannot start")\n'
    )
    env = clean_env(ZAPJOBS_DATABASE_URL=f"host=127.0.0.1 port=1 user=app password={SECRET}")
    # the worker: the one command that must import the app (the others go on without it)
    result = run_cli("--debug", "--app", "token_app", "worker", "--burst", env=env, cwd=tmp_path)
    assert result.code == 2, str(result)
    assert 'TOKEN = "***"' in result.stderr
    assert SECRET not in result.output
