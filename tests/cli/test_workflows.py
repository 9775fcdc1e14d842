"""Workflows through the real entry point: enqueue --after, runs show (parents, children),
runs list --status waiting, and bad --after values (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli


def test_enqueue_after_waits_and_show_lists_parents_and_children(pg_app: Cli) -> None:
    first = int(pg_app("enqueue", "greet", "--input", '{"name": "A"}').stdout)
    second = int(pg_app("enqueue", "greet", "--input", '{"name": "B"}').stdout)
    child = pg_app("enqueue", "greet", "--input", '{"name": "C"}', "--after", f"{first},{second}")
    assert child.code == 0, str(child)
    child_id = int(child.stdout)

    waiting = json.loads(pg_app("runs", "list", "--status", "waiting", "--json").stdout)
    assert [r["id"] for r in waiting] == [child_id]

    shown = json.loads(pg_app("runs", "show", str(child_id), "--json").stdout)
    assert shown["status"] == "waiting"
    assert shown["parents_left"] == 2 and shown["on_parent_failure"] == "cancel"
    assert [(p["id"], p["status"]) for p in shown["parents"]] == [
        (first, "pending"),
        (second, "pending"),
    ]
    text = pg_app("runs", "show", str(first))
    assert "workflow" in text.stdout and "child" in text.stdout, str(text)
    assert str(child_id) in text.stdout

    assert pg_app("worker", "--burst").code == 0
    shown = json.loads(pg_app("runs", "show", str(child_id), "--json").stdout)
    assert shown["status"] == "succeeded"
    assert [p["status"] for p in shown["parents"]] == ["succeeded", "succeeded"]
    parent = json.loads(pg_app("runs", "show", str(first), "--json").stdout)
    assert parent["children"] == [{"id": child_id, "job_type": "greet", "status": "succeeded"}]


def test_on_parent_failure_run_lets_the_child_run(pg_app: Cli) -> None:
    failing = int(pg_app("enqueue", "fail").stdout)
    child = pg_app(
        "enqueue",
        "greet",
        "--input",
        '{"name": "Z"}',
        "--after",
        str(failing),
        "--on-parent-failure",
        "run",
    )
    assert child.code == 0, str(child)
    assert pg_app("worker", "--burst").code == 0
    shown = json.loads(pg_app("runs", "show", child.stdout.strip(), "--json").stdout)
    assert shown["status"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--after", "12,x"], "--after takes run ids separated by commas"),
        (["--after", "999999"], "unknown parent run 999999"),
        (["--after", "1", "--on-parent-failure", "maybe"], "--on-parent-failure must be"),
        (["--on-parent-failure", "run"], "--on-parent-failure only applies with --after"),
    ],
)
def test_bad_after_values_exit_2_and_write_nothing(
    pg_app: Cli, args: list[str], message: str
) -> None:
    result = pg_app("enqueue", "greet", "--input", '{"name": "Q"}', *args)
    assert result.code == 2, str(result)
    assert message in result.stderr and "Traceback" not in result.stderr, str(result)
    assert json.loads(pg_app("runs", "list", "--json").stdout) == []


def test_runs_show_bounds_the_children_it_lists(pg_app: Cli) -> None:
    """A run may have thousands of children: `runs show` reads the first 1,000 (every parent
    fits: MAX_PARENTS) and says how many more there are (--json: more_children)."""
    import asyncio

    from zapjobs import ZapJobs
    from zapjobs.models import NewRun
    from zapjobs.testing import store_of

    async def fan_out() -> int:
        async with ZapJobs(pg_app.url) as zap:
            [parent] = await store_of(zap).enqueue([NewRun("greet")])
            await store_of(zap).enqueue([NewRun("greet", parents=(parent,))] * 1_003)
            return parent

    parent = asyncio.run(fan_out())
    shown = json.loads(pg_app("runs", "show", str(parent), "--json").stdout)
    assert len(shown["children"]) == 1_000 and shown["more_children"] == 3
    text = pg_app("runs", "show", str(parent))
    assert "and 3 more children" in text.stdout, str(text)
