"""Text from the database reaches the operator's terminal only as literal, visible text: the
CLI's listings, `runs show`, `runs logs`, `status` and `workers list` (piped and on a terminal),
the worker's own console, and `--json` stays exact. Real entry point, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.badinput import untrusted
from tests.badinput.untrusted import (
    CLOSE,
    CR,
    EVIL_JOB_TYPE,
    EVIL_JOB_TYPE_SHOWN,
    EVIL_WORKER_SHOWN,
    EVILS,
    LINK,
    MARKUP,
    OUTPUT,
    SHOWN,
    STYLED,
    TITLE,
    Seeded,
    assert_shown_safely,
)
from tests.cli.conftest import Cli, assert_clean_error, clean_env
from tests.cli.terminal import Terminal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Cli, Seeded]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'evil.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    cli = Cli(url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=url))
    return cli, asyncio.run(untrusted.seed(url))


def test_runs_list_shows_every_error_literally(seeded: tuple[Cli, Seeded]) -> None:
    cli, _ = seeded
    result = cli("runs", "list")
    assert result.code == 0, str(result)
    assert_shown_safely(result.stdout, *(SHOWN[text] for text in EVILS), EVIL_JOB_TYPE_SHOWN)


def test_runs_list_json_is_exact(seeded: tuple[Cli, Seeded]) -> None:
    cli, ids = seeded
    result = cli("runs", "list", "--json")
    assert result.code == 0, str(result)
    runs = {run["id"]: run for run in json.loads(result.stdout)}
    for text, run_id in ids.failed.items():
        assert runs[run_id]["error"]["message"] == text
    assert runs[ids.renamed]["job_type"] == EVIL_JOB_TYPE
    assert runs[ids.succeeded]["output"] == OUTPUT


def test_runs_show_error_traceback_input_and_output_literally(seeded: tuple[Cli, Seeded]) -> None:
    cli, ids = seeded
    for text, run_id in ids.failed.items():
        result = cli("runs", "show", str(run_id))
        assert result.code == 0, str(result)
        assert_shown_safely(result.stdout, f"FileNotFoundError: {SHOWN[text]}")
        assert f"OSError: {SHOWN[text]}" in result.stdout  # the traceback's last line
    succeeded = cli("runs", "show", str(ids.succeeded))
    assert succeeded.code == 0, str(succeeded)
    assert_shown_safely(succeeded.stdout, STYLED, f"{MARKUP} {CLOSE}", "\\u001b]0;PWNED\\u0007")
    renamed = cli("runs", "show", str(ids.renamed))
    assert renamed.code == 0, str(renamed)
    assert_shown_safely(renamed.stdout, EVIL_JOB_TYPE_SHOWN)


def test_runs_logs_message_and_fields_literally(seeded: tuple[Cli, Seeded]) -> None:
    cli, ids = seeded
    for text, run_id in ids.failed.items():
        result = cli("runs", "logs", str(run_id))
        assert result.code == 0, str(result)
        assert_shown_safely(result.stdout, SHOWN[text])
        follow = cli("runs", "logs", str(run_id), "--follow", "--json")
        assert json.loads(follow.stdout.splitlines()[0])["message"] == text


def test_status_and_workers_literally(seeded: tuple[Cli, Seeded]) -> None:
    cli, _ = seeded
    status = cli("status")
    assert status.code == 0, str(status)
    assert_shown_safely(status.stdout, SHOWN[MARKUP], SHOWN[TITLE], SHOWN[CLOSE])
    workers = cli("workers", "list")
    assert workers.code == 0, str(workers)
    assert_shown_safely(workers.stdout, EVIL_WORKER_SHOWN)
    health = cli("health", "--worker", untrusted.EVIL_WORKER)
    assert health.code == 0, str(health)
    assert_shown_safely(health.output, f"worker {EVIL_WORKER_SHOWN}: alive")


def test_an_error_message_quoting_job_text_is_one_visible_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zapjobs_cli.errors import OperationFailed, report

    assert report(OperationFailed(f"failed: FileNotFoundError: {TITLE} {CR}"), debug=False) == 1
    err = capsys.readouterr().err
    assert_shown_safely(err, f"error: failed: FileNotFoundError: {SHOWN[TITLE]} done FAKE\n")


# On a terminal, rich styles the output: its own CSI colour codes are the only escapes allowed.
_FOREIGN_ESCAPE = re.compile(r"\x1b(?!\[[0-9;]*m)")


@pytest.mark.parametrize("command", [["runs", "list"], ["status"], ["runs", "show"]])
def test_on_a_terminal_only_styling_escapes_reach_it(
    seeded: tuple[Cli, Seeded], command: list[str]
) -> None:
    cli, ids = seeded
    if command == ["runs", "show"]:
        command = ["runs", "show", str(ids.failed[TITLE])]
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    terminal = Terminal(command, cwd=cli.cwd, env=env)
    try:
        assert terminal.wait() == 0, terminal.text
    finally:
        terminal.close()
    raw = terminal.raw
    assert "\x1b[" in raw  # styled: the terminal path is the one tested
    assert not _FOREIGN_ESCAPE.search(raw), repr(raw)
    assert "\x07" not in raw and "PWNED" in raw
    assert SHOWN[TITLE] in terminal.text


def test_worker_console_shows_a_failing_jobs_text_literally(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    env = clean_env(ZAPJOBS_DATABASE_URL=url)
    env["PYTHONPATH"] = f"{ROOT}:{env['PYTHONPATH']}"
    cli = Cli(url, tmp_path, env)
    app = "tests.badinput.evil_jobs:zap"
    assert cli("migrate").code == 0
    enqueued = cli("enqueue", "evil-fail", "--app", app)
    assert enqueued.code == 0, str(enqueued)
    result = cli("worker", "--burst", "--app", app, timeout=120)
    assert result.code == 0, str(result)
    console = result.stderr
    finished = [line for line in console.splitlines() if "evil-fail failed" in line]
    assert len(finished) == 1, console
    assert_shown_safely(
        console,
        f"FileNotFoundError: {MARKUP} {SHOWN[TITLE]} {SHOWN[LINK]}",
        f"{STYLED} {SHOWN[CR]}\\n{SHOWN[TITLE]}",  # the job's log line: one line, literal
    )


def test_runs_show_cuts_a_huge_output_and_says_how_to_get_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huge.db'}"
    huge = {"blob": "x" * 2_000_000}
    run_id = asyncio.run(untrusted.seed_output(url, huge))
    cli = Cli(url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=url))
    result = cli("runs", "show", str(run_id))
    assert result.code == 0, str(result)
    hidden = len(json.dumps(huge)) - 10_000
    assert f"… {hidden:,} more characters not shown" in result.stdout
    assert f"`zapjobs runs show {run_id} --json` prints them whole" in result.stdout
    assert len(result.stdout) < 20_000
    whole = cli("runs", "show", str(run_id), "--json")
    assert json.loads(whole.stdout)["output"] == huge


def test_filters_with_brackets_are_one_line_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'filters.db'}"
    cli = Cli(url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=url))
    assert cli("migrate").code == 0
    assert_clean_error(cli("runs", "list", "--job", "[/]"), 2, "invalid job type '[/]'")
    assert_clean_error(cli("runs", "list", "--queue", "[b]x"), 2, "invalid queue name '[b]x'")
    assert_clean_error(cli("runs", "retry", "--job", "[/]", "--yes"), 2, "invalid job type '[/]'")
