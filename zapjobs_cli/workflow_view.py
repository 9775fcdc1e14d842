"""``runs show``'s workflow part: the run's parents and children with their statuses, as text
and as JSON. Job types are untrusted text (display.untrusted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from zapjobs.models import JobRun, RunLinks
from zapjobs_cli.display import display_status, status_text, untrusted


def workflow_dict(run: JobRun, links: RunLinks, now: datetime) -> dict[str, Any]:
    """``{"parents_left", "on_parent_failure", "cancelled_by", "parents": [{"id", "job_type",
    "status"}], "children": [...], "deleted_parents": [ids], "more_children": n}`` (children
    past the listed ones, by id)."""

    def brief(r: JobRun) -> dict[str, Any]:
        return {"id": r.id, "job_type": r.job_type, "status": display_status(r, now)}

    return {
        "parents_left": run.parents_left,
        "on_parent_failure": None if run.on_parent_failure is None else run.on_parent_failure.value,
        "cancelled_by": run.cancelled_by,
        "parents": [brief(r) for r in links.parents],
        "children": [brief(r) for r in links.children],
        "deleted_parents": list(links.deleted_parents),
        "more_children": links.more_children,
    }


def workflow_view(run: JobRun, links: RunLinks, now: datetime) -> RenderableType | None:
    """The parents and children of a run, one line each; None for a run outside any workflow."""
    if not (links.parents or links.children or links.deleted_parents):
        return None
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    table.add_column(overflow="fold")
    for label, runs in (("parent", links.parents), ("child", links.children)):
        for r in runs:
            table.add_row(
                label, str(r.id), status_text(display_status(r, now)), untrusted(r.job_type)
            )
    for run_id in links.deleted_parents:
        table.add_row("parent", str(run_id), Text("deleted", style="dim"), "")
    if links.more_children:
        more = Text(f"and {links.more_children:,} more children", style="dim")
        table.add_row("child", "", more, "")
    heading = Text("workflow", style="bold")
    if run.parents_left is not None and run.on_parent_failure is not None:
        heading.append(
            f" (waits for {run.parents_left} more; a failed parent: {run.on_parent_failure.value})",
            style="dim",
        )
    if run.cancelled_by is not None:
        heading.append(f" cancelled because run {run.cancelled_by} did not succeed", style="dim")
    return Group(Text(), heading, table)
