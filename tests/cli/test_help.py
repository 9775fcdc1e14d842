"""Every command explains itself: ``--help`` works without any configuration and shows an
example; the root help lists the exit codes. (In-process: help needs no database.)"""

from __future__ import annotations

import pytest

from zapjobs_cli.main import main

COMMANDS = [
    ["init"], ["migrate"], ["worker"], ["enqueue"], ["status"], ["health"], ["prune"], ["demo"],
    ["dashboard"], ["jobs", "list"], ["jobs", "show"], ["jobs", "trigger"], ["jobs", "pause"],
    ["jobs", "resume"], ["recurring", "add"], ["recurring", "remove"], ["runs", "list"],
    ["runs", "show"], ["runs", "logs"], ["runs", "retry"], ["runs", "cancel"], ["runs", "delete"],
    ["workers", "list"], ["config", "show"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"zapjobs {' '.join(command)}" in out  # the usage line
    assert "Example" in out


def test_root_help_lists_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for fragment in ("0 ok", "1 the operation failed", "2 usage error", "3 cannot reach", "130"):
        assert fragment in out


def test_help_works_with_a_broken_config(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    (tmp_path / "zapjobs.toml").write_text("this is [ not toml")
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--help"]) == 0
    assert main(["status"]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_type_for_flags_and_plain_argument_names(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out
    [usage] = [line for line in out.splitlines() if "Usage:" in line]
    assert "{" not in usage and usage == usage.replace("job_type", "JOB_TYPE"), usage
