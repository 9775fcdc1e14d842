"""A run's place in its workflow, as a tree: the run at the root, its parents on one branch and
its children on the other, one line each ("#id job_type status", the status coloured as in the
runs table, the job type untrusted text shown literally). Parents above and children below one
level deep, not the whole graph: a workflow is a graph (a fan-in has many roots, a run may have
thousands of children), and each jump shows the next level. Selecting a node (enter) posts
``Tree.NodeSelected`` with the run id as its data."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from zapjobs_cli.display import status_text, untrusted
from zapjobs_cli.tui.viewmodels import Workflow, WorkflowNode

#: characters of a job type shown in a node (the detail's fields show it whole)
JOB_TYPE_CHARS = 60


def node_label(node: WorkflowNode) -> Text:
    text = Text(f"#{node.id} ", style="bold")
    text.append(untrusted(node.job_type, limit=JOB_TYPE_CHARS))
    return text.append(" ").append(status_text(node.status))


def root_label(row_id: int, job_type: str, status: str) -> Text:
    return node_label(WorkflowNode(row_id, job_type, status)).append("  this run", style="dim")


def _parents_label(workflow: Workflow) -> Text:
    """``parents (3)``, what the run still waits for and what a failed parent does to it."""
    text = _branch_label("parents", len(workflow.parents), workflow.more_parents)
    if workflow.parents_left and workflow.on_parent_failure is not None:
        outcome = (
            "a failed one cancels this run"
            if workflow.on_parent_failure == "cancel"
            else "runs even if one fails"
        )
        text.append(f"  waits for {workflow.parents_left:,} more; {outcome}", style="dim")
    if workflow.cancelled_by is not None:
        text.append(f"  #{workflow.cancelled_by} did not succeed: cancelled", style="dim")
    return text


def _branch_label(name: str, shown: int, more: int) -> Text:
    text = Text(f"{name} ({shown + more:,})", style="bold")
    if more:
        text.append(f" first {shown:,} shown", style="dim")
    return text


class WorkflowTree(Tree[int | None]):
    """Rebuilt only when what it shows changes, so the cursor stays where the user put it
    across refreshes."""

    DEFAULT_CSS = """
    WorkflowTree { height: auto; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("workflow"), id=id, classes=classes)
        self.shown: tuple[object, ...] | None = None

    def show(self, row_id: int, job_type: str, status: str, workflow: Workflow) -> None:
        key = (row_id, job_type, status, workflow)
        if key == self.shown:
            return
        self.shown = key
        line = self.cursor_line
        self.clear()
        root = self.root
        root.set_label(root_label(row_id, job_type, status))
        root.data = None
        parents = root.add(_parents_label(workflow), expand=True)
        _add_nodes(parents, workflow.parents, workflow.more_parents)
        for run_id in workflow.deleted_parents:
            parents.add_leaf(Text(f"#{run_id} ", style="bold").append("deleted", style="dim"))
        if not (workflow.parents or workflow.deleted_parents or workflow.more_parents):
            parents.add_leaf(Text("none", style="dim"))
        children = root.add(
            _branch_label("children", len(workflow.children), workflow.more_children),
            expand=True,
        )
        _add_nodes(children, workflow.children, workflow.more_children)
        if not (workflow.children or workflow.more_children):
            children.add_leaf(Text("none", style="dim"))
        root.expand()
        if line >= 0:
            self.cursor_line = line


def _add_nodes(branch: TreeNode[int | None], nodes: tuple[WorkflowNode, ...], more: int) -> None:
    for node in nodes:
        branch.add_leaf(node_label(node), data=node.id)
    if more:
        branch.add_leaf(Text(f"and {more:,} more (zapjobs runs show)", style="dim italic"))
