"""Workflows in the memory store: who waits for whom, and what a run finishing does to the runs
that wait for it. Every method is called under the store's lock, so a release happens once.

The same rules as the SQL stores (queries.sql: release_children, rearm_children): an edge is
"done" once its parent's end was applied to its child, so no end is applied twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from zapjobs.models import NewRun, ParentFailure, RunLink, RunLinkPage, RunStatus
from zapjobs.stores.base import unknown_parent
from zapjobs.stores.memory_records import RunRecord

_BAD_ENDS = (RunStatus.FAILED, RunStatus.CANCELLED)


class WorkflowGraph:
    def __init__(self) -> None:
        self.parents: dict[int, dict[int, bool]] = {}  # child -> parent -> done
        self.children: dict[int, list[int]] = {}  # parent -> children, in enqueue order

    def check(self, runs: Mapping[int, RunRecord], new_runs: Sequence[NewRun]) -> None:
        """Refuse a batch naming a run that does not exist (before anything is written)."""
        for new in new_runs:
            for parent in new.parents:
                if parent not in runs:
                    raise unknown_parent(parent)

    def attach(
        self, runs: Mapping[int, RunRecord], record: RunRecord, new: NewRun, now: datetime
    ) -> None:
        """Link a new run to its parents and set its starting state from theirs."""
        if not new.parents:
            return
        edges: dict[int, bool] = {}
        bad: list[int] = []
        for parent_id in new.parents:
            parent = runs[parent_id]
            edges[parent_id] = parent.status.is_final
            self.children.setdefault(parent_id, []).append(record.id)
            if parent.status in _BAD_ENDS:
                bad.append(parent_id)
        self.parents[record.id] = edges
        record.on_parent_failure = new.on_parent_failure
        record.input_from = new.input_from
        record.parents_left = sum(not done for done in edges.values())
        if bad and new.on_parent_failure is ParentFailure.CANCEL:
            record.status, record.finished_at, record.cancelled_by = (
                RunStatus.CANCELLED,
                now,
                min(bad),
            )
        elif record.parents_left:
            record.status = RunStatus.WAITING

    def settle(
        self, runs: Mapping[int, RunRecord], finished: Iterable[int], now: datetime
    ) -> list[int]:
        """Apply the end of each finished run to the runs waiting for it, transitively (a
        cancelled dependent is finished too); the ids that became pending."""
        released: list[int] = []
        todo = list(finished)
        while todo:
            parent = runs[todo.pop(0)]
            for child_id in self.children.get(parent.id, ()):
                edges = self.parents[child_id]
                if edges[parent.id]:
                    continue
                edges[parent.id] = True
                child = runs.get(child_id)
                if child is None or child.status is not RunStatus.WAITING:
                    continue
                if parent.status in _BAD_ENDS and child.on_parent_failure is ParentFailure.CANCEL:
                    child.status, child.finished_at = RunStatus.CANCELLED, now
                    child.cancelled_by = parent.id
                    todo.append(child_id)
                    continue
                child.parents_left = (child.parents_left or 1) - 1
                if child.parents_left == 0:
                    child.status, child.run_at = RunStatus.PENDING, max(child.run_at, now)
                    released.append(child_id)
        return released

    def rearm(self, runs: Mapping[int, RunRecord], retried: Iterable[int]) -> None:
        """Runs that are unfinished again (retried): the dependents they cancelled wait again,
        transitively, unless another parent of theirs failed or was cancelled on its own; a
        dependent still waiting waits for them again."""
        todo = list(retried)
        again: set[int] = set(todo)
        while todo:
            parent_id = todo.pop(0)
            for child_id in self.children.get(parent_id, ()):
                child = runs.get(child_id)
                edges = self.parents[child_id]
                if child is None:
                    continue
                if child.status is RunStatus.WAITING and edges[parent_id]:
                    edges[parent_id] = False
                    child.parents_left = (child.parents_left or 0) + 1
                elif (
                    child.status is RunStatus.CANCELLED
                    and child.cancelled_by == parent_id
                    and not self._failed_elsewhere(runs, child_id, again)
                ):
                    for other, done in edges.items():
                        kept = runs.get(other)
                        final = kept is None or kept.status.is_final
                        edges[other] = done and other not in again and final
                    child.status, child.finished_at, child.cancelled_by = (
                        RunStatus.WAITING,
                        None,
                        None,
                    )
                    child.parents_left = sum(not done for done in edges.values())
                    again.add(child_id)
                    todo.append(child_id)

    def _failed_elsewhere(
        self, runs: Mapping[int, RunRecord], child_id: int, again: set[int]
    ) -> bool:
        for other in self.parents[child_id]:
            parent = runs.get(other)
            if parent is None or other in again:
                continue
            if parent.status is RunStatus.FAILED or (
                parent.status is RunStatus.CANCELLED and parent.cancelled_by is None
            ):
                return True
        return False

    def has_unfinished_child(self, runs: Mapping[int, RunRecord], run_id: int) -> bool:
        return any(c in runs and not runs[c].status.is_final for c in self.children.get(run_id, ()))

    def children_finished_before(
        self, runs: Mapping[int, RunRecord], run_id: int, cutoff: datetime
    ) -> bool:
        """Every child of the run is final and finished before ``cutoff`` (retention)."""
        for c in self.children.get(run_id, ()):
            child = runs.get(c)
            if child is None:
                continue
            if not child.status.is_final or child.finished_at is None:
                return False
            if child.finished_at >= cutoff:
                return False
        return True

    def forget(self, run_ids: Iterable[int]) -> None:
        """Deleted runs: their own edges go; edges naming them as a parent stay (history)."""
        for run_id in run_ids:
            for parent in self.parents.pop(run_id, {}):
                kids = self.children.get(parent, [])
                if run_id in kids:
                    kids.remove(run_id)

    def link_page(self, run_id: int, limit: int) -> RunLinkPage:
        parents = sorted(self.parents.get(run_id, {}))
        children = sorted(self.children.get(run_id, ()))
        return RunLinkPage(
            tuple(parents[:limit]), tuple(children[:limit]), len(parents), len(children)
        )

    def links(self, run_ids: Iterable[int]) -> list[RunLink]:
        wanted = set(run_ids)
        found = {
            RunLink(child, parent)
            for child, edges in self.parents.items()
            for parent in edges
            if child in wanted or parent in wanted
        }
        return sorted(found, key=lambda link: (link.run_id, link.parent_id))
