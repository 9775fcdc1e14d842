"""The run detail's workflow tree: parents and children with their statuses, bounded, job types
shown literally, and enter on a node opening that run's detail (escape coming back)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest
from textual.pilot import Pilot
from textual.widgets.tree import TreeNode

from tests.tui.conftest import SIZE, dashboard, press, settle
from tests.tui.fakes import WorkflowSource
from tests.tui.seed import finish, make_zap
from zapjobs.models import RunFilter, RunOutcome, RunStatus
from zapjobs.testing import store_of
from zapjobs_cli.display import STATUS_STYLES
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.workflow_tree import WorkflowTree

Compare = Any


def branches(tree: WorkflowTree) -> dict[str, list[TreeNode[int | None]]]:
    return {str(b.label).split(" ")[0]: list(b.children) for b in tree.root.children}


def status_style(node: TreeNode[int | None], status: str) -> str:
    """The style the label gives the word ``status`` (the runs table's colour for it)."""
    label = node.label
    start = label.plain.rindex(status)
    [style] = {str(s.style) for s in label.spans if s.start == start}
    return style


async def test_the_tree_shows_parents_and_children_and_enter_opens_a_child() -> None:
    zap = make_zap("memory://")
    await zap.open()
    try:
        done = await finish(zap, "email-sender", 2, RunStatus.SUCCEEDED)
        pending = await zap.enqueue("email-sender", {"n": 9})
        callback = await zap.enqueue("generate-report", None, after=[*done, pending])
        child = await zap.enqueue("email-sender", None, after=[callback])
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(callback)
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, RunDetailScreen)
            tree = screen.query_one(WorkflowTree)
            assert tree.display
            assert str(tree.root.label).startswith(f"#{callback} generate-report waiting")
            found = branches(tree)
            assert [(n.data, str(n.label)) for n in found["parents"]] == [
                (done[0], f"#{done[0]} email-sender succeeded"),
                (done[1], f"#{done[1]} email-sender succeeded"),
                (pending, f"#{pending} email-sender pending"),
            ]
            assert status_style(found["parents"][0], "succeeded") == STATUS_STYLES["succeeded"]
            assert status_style(found["parents"][2], "pending") == STATUS_STYLES["pending"]
            [child_node] = found["children"]
            assert (child_node.data, str(child_node.label)) == (
                child,
                f"#{child} email-sender waiting",
            )

            await press(pilot, "w")
            assert tree.has_focus
            tree.move_cursor(child_node)
            await press(pilot, "enter")
            opened = app.screen
            assert isinstance(opened, RunDetailScreen) and opened.run_id == child
            parents = branches(opened.query_one(WorkflowTree))["parents"]
            assert [n.data for n in parents] == [callback]

            await press(pilot, "escape")
            assert cast(RunDetailScreen, app.screen).run_id == callback
    finally:
        await zap.close()


async def test_a_parent_deleted_since_is_shown_as_deleted() -> None:
    zap = make_zap("memory://")
    await zap.open()
    try:
        [parent] = await finish(zap, "email-sender", 1, RunStatus.SUCCEEDED)
        child = await zap.enqueue("generate-report", None, after=[parent])
        store = store_of(zap)
        [claimed] = await store.claim("seed-worker", ["low"], ["generate-report"], 1)
        outcome = RunOutcome(child, "seed-worker", claimed.attempt, RunStatus.SUCCEEDED)
        await store.complete([replace(outcome, output_json="{}")])
        assert await zap.delete_runs(RunFilter(ids=(parent,))) == [parent]
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(child)
            await settle(pilot)
            [node] = branches(app.screen.query_one(WorkflowTree))["parents"]
            assert (node.data, str(node.label)) == (None, f"#{parent} deleted")
    finally:
        await zap.close()


async def test_a_run_outside_any_workflow_shows_no_tree() -> None:
    source = WorkflowSource()
    async with dashboard(source).run_test(size=SIZE) as pilot:
        await settle(pilot)
        pilot.app.open_run(21)  # type: ignore[attr-defined]
        await settle(pilot)
        assert not pilot.app.screen.query_one(WorkflowTree).display


async def test_the_tree_is_bounded_and_shows_job_types_literally() -> None:
    source = WorkflowSource()
    hostile = "[bold red]evil[/]\x1b[2J"
    source.all_runs = [replace(r, job_type=hostile) if r.id == 45 else r for r in source.all_runs]
    async with dashboard(source).run_test(size=SIZE) as pilot:
        await settle(pilot)
        pilot.app.open_run(WorkflowSource.CALLBACK)  # type: ignore[attr-defined]
        await settle(pilot)
        tree = pilot.app.screen.query_one(WorkflowTree)
        children = branches(tree)["children"]
        assert str(tree.root.children[1].label) == "children (55) first 50 shown"
        assert [n.data for n in children[:50]] == list(range(45, 95))
        assert str(children[-1].label) == "and 5 more (zapjobs runs show)"
        assert str(children[0].label) == "#45 [bold red]evil[/]\\x1b[2J waiting"


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_run_detail_of_a_run_in_a_workflow(snap_compare: Compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_run(WorkflowSource.CALLBACK)  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(dashboard(WorkflowSource()), terminal_size=size, run_before=run_before)
