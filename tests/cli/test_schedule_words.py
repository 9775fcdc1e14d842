"""One word for a job type's recurring schedule through the real entry point: ``jobs list`` and
``jobs show`` say "active" or "paused" under a "schedule state" label, as the dashboard's Jobs
view does, and "-" for a job type without a schedule (it has no schedule to be active)."""

from __future__ import annotations

from tests.cli.conftest import Cli


def _line(text: str, start: str) -> list[str]:
    """The words of the one line that starts with ``start`` + a space."""
    [line] = [line for line in text.splitlines() if line.startswith(start + " ")]
    return line.split()


def test_jobs_list_and_show_name_the_schedule_state_alike(pg_app: Cli) -> None:
    added = pg_app("recurring", "add", "greet", "--every", "1h", "--input", '{"name": "x"}')
    assert added.code == 0, str(added)
    listed = pg_app("jobs", "list")
    assert listed.code == 0, str(listed)
    assert "SCHED. STATE" in listed.stdout
    assert _line(listed.stdout, "greet")[2] == "active"
    assert _line(listed.stdout, "fail")[2] == "-"  # no schedule: neither active nor paused
    assert _line(pg_app("jobs", "show", "fail").stdout, "schedule state")[2:] == ["-"]

    assert pg_app("jobs", "pause", "greet").code == 0
    assert _line(pg_app("jobs", "list").stdout, "greet")[2] == "paused"
    assert _line(pg_app("jobs", "show", "greet").stdout, "schedule state")[2:] == ["paused"]


def test_jobs_list_and_show_write_the_timeout_as_settings_do(pg_app: Cli) -> None:
    """A timeout is a setting: written as `zapjobs config show` and the dashboard write it
    ("1h"), not as a measured span ("1h00m")."""
    assert "1h (default)" in " ".join(_line(pg_app("jobs", "list").stdout, "greet"))
    assert _line(pg_app("jobs", "show", "greet").stdout, "timeout")[1:] == ["1h", "(default)"]
